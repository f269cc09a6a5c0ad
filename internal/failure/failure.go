// Package failure marks business failures: outcomes such as "out of stock"
// or "card declined" that end an order with a reason and must never be
// retried, as opposed to transient errors (database down, gateway timeout)
// that are.
package failure

import (
	"errors"
	"fmt"
)

// Error is a business failure with a CamelCase reason, one of the contract's Reason* words.
type Error struct {
	Reason  string
	Message string
}

func (e *Error) Error() string { return e.Reason + ": " + e.Message }

// New returns a business failure with the given reason and message.
func New(reason, format string, args ...any) error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// As returns the business failure in err's chain, if there is one.
func As(err error) (*Error, bool) {
	var f *Error
	ok := errors.As(err, &f)
	return f, ok
}
