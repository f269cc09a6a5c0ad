// Package money holds amounts of money as integer minor units (cents) and
// converts them to and from the decimal strings used at the edges of the
// system. No floating point is involved anywhere.
package money

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// Amount is an amount of money in minor units (cents for USD and EUR).
type Amount int64

// MaxAmount bounds parsed amounts: twelve digits before the point, which
// keeps any sum of 100 items of 10000 units far from int64 overflow.
const MaxAmount Amount = 999_999_999_999_99

// ErrInvalid is wrapped by every parse error.
var ErrInvalid = errors.New("invalid amount")

// Parse reads a non-negative decimal string with at most two decimals:
// "12", "12.5", "12.50". Signs, exponents, spaces and thousands separators
// are refused.
func Parse(s string) (Amount, error) {
	whole, frac, hasPoint := strings.Cut(s, ".")
	if whole == "" || len(whole) > 12 || !digits(whole) {
		return 0, fmt.Errorf("%w %q: want a decimal like 12.34", ErrInvalid, s)
	}
	if len(whole) > 1 && whole[0] == '0' {
		return 0, fmt.Errorf("%w %q: leading zero", ErrInvalid, s)
	}
	if hasPoint && (frac == "" || !digits(frac)) {
		return 0, fmt.Errorf("%w %q: want a decimal like 12.34", ErrInvalid, s)
	}
	if len(frac) > 2 {
		return 0, fmt.Errorf("%w %q: more than two decimals", ErrInvalid, s)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w %q: %v", ErrInvalid, s, err)
	}
	cents := int64(0)
	if frac != "" {
		f, _ := strconv.ParseInt(frac, 10, 64)
		if len(frac) == 1 {
			f *= 10
		}
		cents = f
	}
	return Amount(w*100 + cents), nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String formats the amount with exactly two decimals: "1299.99", "-0.50".
func (a Amount) String() string {
	sign := ""
	v := int64(a)
	if v < 0 {
		sign = "-"
		if v == math.MinInt64 {
			return "-92233720368547758.08"
		}
		v = -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// Mul returns a*n, or an error if the result overflows.
func (a Amount) Mul(n int64) (Amount, error) {
	if n != 0 && (int64(a) > math.MaxInt64/n || int64(a) < math.MinInt64/n) {
		return 0, fmt.Errorf("amount %s times %d overflows", a, n)
	}
	return Amount(int64(a) * n), nil
}

// Add returns a+b, or an error if the result overflows.
func (a Amount) Add(b Amount) (Amount, error) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, fmt.Errorf("amount %s plus %s overflows", a, b)
	}
	return s, nil
}

var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// ParseNumber reads an amount written as a JSON number or as a decimal
// string, exactly: 1299.99, 1299.990 and 1.29999e3 are all 1299.99, while
// 0.001 is refused. No float is involved, so 0.1 + 0.2 style surprises
// cannot happen.
func ParseNumber(text string) (Amount, error) {
	if len(text) > 64 {
		return 0, fmt.Errorf("%w: %d characters is too long", ErrInvalid, len(text))
	}
	if !jsonNumber.MatchString(text) {
		return 0, fmt.Errorf("%w %q: want a decimal like 12.34", ErrInvalid, text)
	}
	r, ok := new(big.Rat).SetString(text)
	if !ok {
		return 0, fmt.Errorf("%w %q: want a decimal like 12.34", ErrInvalid, text)
	}
	if r.Sign() < 0 {
		return 0, fmt.Errorf("%w %q: negative", ErrInvalid, text)
	}
	cents := new(big.Rat).Mul(r, big.NewRat(100, 1))
	if !cents.IsInt() {
		return 0, fmt.Errorf("%w %q: more than two decimals", ErrInvalid, text)
	}
	n := cents.Num()
	if !n.IsInt64() || Amount(n.Int64()) > MaxAmount {
		return 0, fmt.Errorf("%w %q: too large", ErrInvalid, text)
	}
	return Amount(n.Int64()), nil
}
