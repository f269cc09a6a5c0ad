// Package workflows owns the order workflow and its activities.
//
// One workflow runs per order; its id is derived from the order's identity,
// the Order's namespace and name (WorkflowID), so an Order deleted and
// applied again is the same order, never a second one. The
// steps run in order: CreateOrder, ReserveInventory, ProcessPayment,
// SendNotification. After each step that moved something, its compensation
// is registered (release the reservation, refund the payment); a business
// failure or a cancellation runs them in reverse, then records the outcome
// and notifies the customer.
//
// Cancellation is a signal (CancelSignal), not Temporal's cancellation: the
// workflow checks it between steps, so a step that may have moved money is
// always allowed to finish and is then compensated, never abandoned halfway.
// A cancel that arrives once the customer was notified is refused and
// reported in Progress.CancelRefused.
//
// Progress is published twice on the happy path, each publish one status
// write for the controller: once the order is accepted and its stock
// reserved (the two database steps run as local activities in one workflow
// task), and once it completed (the payment, the notification milliseconds
// later and the completion together; every step's time is in it). A cancel
// or failure publishes Cancelling and the end. It goes out as the memo
// ProgressMemoKey and the search attribute OrderUpdatedAt, so the
// controller reads the progress of every order that changed with one
// visibility query. Nothing is published before the first
// step: the controller shows Pending until then.
package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"

	"orderflow.io/orderflow/api/v1alpha1"
)

const (
	// TaskQueue is the task queue of the order workflow and its activities.
	TaskQueue = "orderflow"
	// CancelSignal asks a running order to cancel; its payload is a CancelRequest.
	CancelSignal = "cancel"
	// ProgressQuery answers the current Progress.
	ProgressQuery = "progress"
	// ProgressMemoKey is the memo key holding the current Progress.
	ProgressMemoKey = "progress"
	// LegacyWorkflowIDPrefix starts the ids of the workflows of orders
	// placed before identity by namespace and name: order-<uid>.
	LegacyWorkflowIDPrefix = "order-"
)

// UpdatedAt is the search attribute the workflow sets at each progress
// change; the controller lists executions by it.
var UpdatedAt = temporal.NewSearchAttributeKeyTime("OrderUpdatedAt")

// Key is the identity of the order an Order in namespace with name places:
// its record in PostgreSQL and its payments' idempotency keys derive from it.
func Key(namespace, name string) string { return namespace + "/" + name }

// WorkflowID is the id of the workflow of the order in namespace with name.
func WorkflowID(namespace, name string) string { return "order/" + Key(namespace, name) }

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

// Item is one line of an order.
type Item struct {
	ProductID string `json:"productID"`
	Quantity  int32  `json:"quantity"`
	UnitPrice string `json:"unitPrice,omitempty"`
}

// DefaultPaymentMethod is charged when an order names none.
const DefaultPaymentMethod = "pm_card_visa"

// CancelRequest is the payload of CancelSignal.
type CancelRequest struct {
	// Reason is Cancelled (spec.cancel or REST) or Deleted (the Order was deleted).
	Reason string `json:"reason"`
}

// Progress is what the workflow reports about its order.
type Progress struct {
	// Seq grows by one at every published change.
	Seq       int64               `json:"seq"`
	Namespace string              `json:"namespace"`
	Name      string              `json:"name"`
	Phase     v1alpha1.OrderPhase `json:"phase"`
	// Step is the last completed step; Steps says when each completed.
	Step           v1alpha1.OrderStep `json:"step,omitempty"`
	Steps          []StepRecord       `json:"steps,omitempty"`
	Total          string             `json:"total,omitempty"`
	Currency       string             `json:"currency,omitempty"`
	Reason         string             `json:"reason,omitempty"`
	Message        string             `json:"message,omitempty"`
	PaymentID      string             `json:"paymentID,omitempty"`
	RefundID       string             `json:"refundID,omitempty"`
	StartTime      time.Time          `json:"startTime"`
	CompletionTime *time.Time         `json:"completionTime,omitempty"`
	UpdateTime     time.Time          `json:"updateTime"`
	// CancelRefused is set when a cancel arrived after the order completed
	// its last step.
	CancelRefused bool `json:"cancelRefused,omitempty"`
	// Fingerprint is the input's: what this workflow's order is.
	Fingerprint string `json:"fingerprint,omitempty"`
	// Restored is set when the order had been processed already (its
	// workflow gone from Temporal) and this is its recorded outcome.
	Restored bool `json:"restored,omitempty"`
}

// StepRecord says when a step completed.
type StepRecord struct {
	Step v1alpha1.OrderStep `json:"step"`
	Time time.Time          `json:"time"`
}
