package contract

import (
	"strconv"
	"time"
)

// AmendUpdate is the Temporal Update that changes a running order's items
// or email before its payment is captured; its argument is an
// AmendRequest, its result an AmendResult.
const AmendUpdate = "amend"

// ReasonTooLate: an amendment came after the order's payment was captured
// (or while it was being captured), or after the order ended.
const ReasonTooLate = "TooLate"

// ReasonAmended: an amendment was accepted; the order runs with it.
const ReasonAmended = "Amended"

// AmendUpdateID is the id of the Update carrying the Order's spec at
// generation: a reconcile that sends it again sends the same Update, and
// Temporal answers it once.
func AmendUpdateID(generation int64) string { return "amend-" + strconv.FormatInt(generation, 10) }

// AmendRequest is a change of a placed order: the Order's items and email
// at Generation, and their Fingerprint.
type AmendRequest struct {
	Generation    int64  `json:"generation"`
	Fingerprint   string `json:"fingerprint"`
	CustomerEmail string `json:"customerEmail,omitempty"`
	Items         []Item `json:"items"`
}

// AmendResult is the answer to an AmendRequest: accepted, with the new
// total, or refused with a reason (TooLate, OutOfStock, UnknownProduct,
// PriceChanged, CurrencyMismatch) and a message naming what was refused.
type AmendResult struct {
	Generation int64     `json:"generation"`
	Accepted   bool      `json:"accepted"`
	Reason     string    `json:"reason"`
	Message    string    `json:"message"`
	Total      string    `json:"total,omitempty"`
	Time       time.Time `json:"time"`
}
