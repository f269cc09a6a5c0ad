// Package workflows owns the order workflow and its activities.
//
// One workflow runs per Order; its id is derived from the Order's UID. The
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
// Progress is published after every step (the two database steps, which run
// as local activities in one workflow task, together; the last step and
// completion together) as the memo ProgressMemoKey and the search attribute
// OrderUpdatedAt, so the controller reads the progress of every order that
// changed with one visibility query. Nothing is published before the first
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
	// WorkflowIDPrefix starts every order workflow id.
	WorkflowIDPrefix = "order-"
)

// UpdatedAt is the search attribute the workflow sets at each progress
// change; the controller lists executions by it.
var UpdatedAt = temporal.NewSearchAttributeKeyTime("OrderUpdatedAt")

// WorkflowID is the id of the workflow of the Order with the given UID.
func WorkflowID(orderUID string) string { return WorkflowIDPrefix + orderUID }

// OrderInput is an order as placed: the workflow's input.
type OrderInput struct {
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
}

// StepRecord says when a step completed.
type StepRecord struct {
	Step v1alpha1.OrderStep `json:"step"`
	Time time.Time          `json:"time"`
}
