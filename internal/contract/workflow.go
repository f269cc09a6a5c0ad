package contract

import (
	"time"

	"go.temporal.io/sdk/temporal"
)

// The order workflow's names, as the worker registers them and the
// controller, the API and the tests address them.
const (
	// WorkflowType is the order workflow's registered name.
	WorkflowType = "OrderWorkflow"
	// TaskQueue is the task queue of the order workflow and its activities.
	TaskQueue = "orderflow"
	// CancelSignal asks a running order to cancel; its payload is a CancelRequest.
	CancelSignal = "cancel"
	// ProgressQuery answers the current Progress.
	ProgressQuery = "progress"
	// ProgressMemoKey is the memo key holding the current Progress.
	ProgressMemoKey = "progress"
)

// UpdatedAt is the search attribute the workflow sets at each progress
// change; the controller's safety net lists executions by it.
var UpdatedAt = temporal.NewSearchAttributeKeyTime("OrderUpdatedAt")

// DefaultPaymentMethod is charged when an order names none.
const DefaultPaymentMethod = "pm_card_visa"

// OrderInput is an order as placed: the workflow's input.
type OrderInput struct {
	// Key is the order's identity (Key); empty in the input of orders placed
	// before identity by name, which are keyed by UID.
	Key string `json:"key,omitempty"`
	// UID is the Order object that placed the order.
	UID           string `json:"uid"`
	Namespace     string `json:"namespace"`
	Name          string `json:"name"`
	CustomerID    string `json:"customerID"`
	CustomerEmail string `json:"customerEmail,omitempty"`
	Items         []Item `json:"items"`
	Currency      string `json:"currency,omitempty"`
	PaymentMethod string `json:"paymentMethod,omitempty"`
	// Cancel is set when the order was cancelled before its workflow started.
	Cancel bool `json:"cancel,omitempty"`
	// Fingerprint identifies what was ordered (customer, items, currency,
	// payment method): an Order applied again under the same name with
	// another fingerprint is not this order.
	Fingerprint string `json:"fingerprint,omitempty"`
	// EditWindow is how long the payment waits after the stock is
	// reserved, so the order can still be amended (AmendUpdate); 0: none.
	EditWindow time.Duration `json:"editWindow,omitempty"`
	// Fulfillment, when set, ships the order once it completed.
	Fulfillment *FulfillmentInput `json:"fulfillment,omitempty"`
}

// RecordKey is the key of the order's record in PostgreSQL and of its
// payments: Key, or the UID for orders placed before identity by name.
func (in OrderInput) RecordKey() string {
	if in.Key != "" {
		return in.Key
	}
	return in.UID
}

// WorkflowID is the id of the order's workflow.
func (in OrderInput) WorkflowID() string {
	if in.Key != "" {
		return WorkflowID(in.Namespace, in.Name)
	}
	return LegacyWorkflowIDPrefix + in.UID
}

// Item is one line of an order, the same shape from the REST body to the
// order's record: the product, how many, and the unit price the customer
// agreed to (empty: none).
type Item struct {
	ProductID string `json:"productID"`
	Quantity  int32  `json:"quantity"`
	UnitPrice string `json:"unitPrice,omitempty"`
}

// CancelRequest is the payload of CancelSignal.
type CancelRequest struct {
	// Reason is Cancelled (spec.cancel or REST) or Deleted (the Order was deleted).
	Reason string `json:"reason"`
}

// Progress is what the workflow reports about its order.
type Progress struct {
	// Seq grows by one at every published change.
	Seq       int64  `json:"seq"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Phase     Phase  `json:"phase"`
	// Step is the last completed step; Steps says when each completed.
	Step           Step         `json:"step,omitempty"`
	Steps          []StepRecord `json:"steps,omitempty"`
	Total          string       `json:"total,omitempty"`
	Currency       string       `json:"currency,omitempty"`
	Reason         string       `json:"reason,omitempty"`
	Message        string       `json:"message,omitempty"`
	PaymentID      string       `json:"paymentID,omitempty"`
	RefundID       string       `json:"refundID,omitempty"`
	StartTime      time.Time    `json:"startTime"`
	CompletionTime *time.Time   `json:"completionTime,omitempty"`
	UpdateTime     time.Time    `json:"updateTime"`
	// CancelRefused is set when a cancel arrived after the order completed
	// its last step.
	CancelRefused bool `json:"cancelRefused,omitempty"`
	// Fingerprint is the input's: what this workflow's order is.
	Fingerprint string `json:"fingerprint,omitempty"`
	// Restored is set when the order had been processed already (its
	// workflow gone from Temporal) and this is its recorded outcome.
	Restored bool `json:"restored,omitempty"`
	// OrderUID is the UID of the Order object the workflow was started
	// for: a change of that Order's spec is an amendment, not another
	// order under a used name.
	OrderUID string `json:"orderUID,omitempty"`
	// Items are what the order runs with, after any accepted amendment.
	Items []Item `json:"items,omitempty"`
	// Amendment is the answer to the last amendment the workflow decided.
	Amendment *AmendResult `json:"amendment,omitempty"`
	// Fulfillment is how the order's shipment stands, once it is booked.
	Fulfillment *Fulfillment `json:"fulfillment,omitempty"`
}

// StepRecord says when a step completed.
type StepRecord struct {
	Step Step      `json:"step"`
	Time time.Time `json:"time"`
}
