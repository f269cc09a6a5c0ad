package workflows

import (
	"context"

	"go.temporal.io/sdk/temporal"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/db"
	"orderflow.io/orderflow/internal/failure"
	"orderflow.io/orderflow/internal/inventory"
	"orderflow.io/orderflow/internal/money"
	"orderflow.io/orderflow/internal/notification"
	"orderflow.io/orderflow/internal/orders"
	"orderflow.io/orderflow/internal/payment"
)

// notificationErrorType marks a delivery failure, retried a bounded number
// of times before it fails the order.
const notificationErrorType = v1alpha1.ReasonNotificationFailed

// Activities are the steps and compensations of the order workflow. Each is
// idempotent: a retry after a crash finds what the first attempt did.
type Activities struct {
	Orders    *orders.Service
	Inventory *inventory.Service
	Payments  *payment.Service
	Notifier  *notification.Notifier
	// Outcomes, when set, counts finished orders by status.
	Outcomes func(status string)
}

// CreateResult is what CreateOrder recorded: the order's total, and the key
// its record and payments go by. Finished is set when the order had been
// processed already: its outcome as the workflow reports it.
type CreateResult struct {
	Total    string    `json:"total"`
	Currency string    `json:"currency"`
	Key      string    `json:"key,omitempty"`
	Finished *Progress `json:"finished,omitempty"`
}

// PaymentInput is what ProcessPayment charges.
type PaymentInput struct {
	UID           string `json:"uid"`
	Total         string `json:"total"`
	Currency      string `json:"currency"`
	PaymentMethod string `json:"paymentMethod"`
}

// NotifyInput is a notification to send.
type NotifyInput struct {
	UID       string `json:"uid"`
	Order     string `json:"order"`
	Kind      string `json:"kind"`
	Recipient string `json:"recipient,omitempty"`
	Message   string `json:"message"`
}

// FinishInput records an order's outcome.
type FinishInput struct {
	UID     string `json:"uid"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// CreateOrder records the order and prices it from the catalog.
func (a *Activities) CreateOrder(ctx context.Context, in OrderInput) (CreateResult, error) {
	o := orders.NewOrder{
		Key: in.RecordKey(), ObjectUID: in.UID, Fingerprint: in.Fingerprint, Namespace: in.Namespace, Name: in.Name,
		CustomerID: in.CustomerID, CustomerEmail: in.CustomerEmail, Currency: in.Currency,
	}
	for _, it := range in.Items {
		o.Items = append(o.Items, orders.NewItem{ProductID: it.ProductID, Quantity: it.Quantity, UnitPrice: it.UnitPrice})
	}
	p, err := a.Orders.Create(ctx, o)
	if err != nil {
		return CreateResult{}, asTemporal(err)
	}
	res := CreateResult{Total: p.Total.String(), Currency: p.Currency, Key: p.Key}
	if f := p.Finished; f != nil {
		res.Finished = recorded(in, res, f)
	}
	return res, nil
}

// recorded is the Progress of an order that finished before, from its
// record.
func recorded(in OrderInput, res CreateResult, f *orders.Outcome) *Progress {
	p := &Progress{
		Namespace: in.Namespace, Name: in.Name, Total: res.Total, Currency: res.Currency,
		Reason: f.Reason, Message: f.Message, PaymentID: f.PaymentID, RefundID: f.RefundID,
		StartTime: f.PlacedAt, Fingerprint: in.Fingerprint, Restored: true,
	}
	switch f.Status {
	case orders.StatusCompleted:
		p.Phase = v1alpha1.PhaseCompleted
	case orders.StatusCancelled:
		p.Phase = v1alpha1.PhaseCancelled
	default:
		p.Phase = v1alpha1.PhaseFailed
	}
	for _, step := range v1alpha1.Steps {
		if at, ok := f.Steps[step]; ok {
			p.Step = step
			p.Steps = append(p.Steps, StepRecord{Step: step, Time: at})
		}
	}
	completed := f.Completed
	p.CompletionTime = &completed
	return p
}

// ReserveInventory reserves stock for every item, or none.
func (a *Activities) ReserveInventory(ctx context.Context, uid string) error {
	return asTemporal(a.Inventory.Reserve(ctx, uid))
}

// ReleaseInventory puts back the order's held stock.
func (a *Activities) ReleaseInventory(ctx context.Context, uid string) error {
	return asTemporal(a.Inventory.Release(ctx, uid))
}

// ProcessPayment captures the order total once and returns the payment id.
func (a *Activities) ProcessPayment(ctx context.Context, in PaymentInput) (string, error) {
	amount, err := money.Parse(in.Total)
	if err != nil {
		return "", temporal.NewNonRetryableApplicationError("total: "+err.Error(), v1alpha1.ReasonWorkflowFailed, nil)
	}
	id, err := a.Payments.Capture(ctx, in.UID, amount, in.Currency, in.PaymentMethod)
	return id, asTemporal(err)
}

// RefundPayment refunds the order's capture, if there is one, and returns
// the refund id.
func (a *Activities) RefundPayment(ctx context.Context, uid string) (string, error) {
	id, err := a.Payments.Refund(ctx, uid)
	return id, asTemporal(err)
}

// SendNotification records and delivers a notification to the customer.
func (a *Activities) SendNotification(ctx context.Context, in NotifyInput) error {
	err := a.Notifier.Send(ctx, notification.Notification{
		OrderUID: in.UID, Order: in.Order, Kind: in.Kind, Recipient: in.Recipient, Message: in.Message,
	})
	if err != nil {
		return temporal.NewApplicationErrorWithCause(err.Error(), notificationErrorType, err)
	}
	return nil
}

// FinishOrder records the order's outcome; completing commits its stock.
func (a *Activities) FinishOrder(ctx context.Context, in FinishInput) error {
	if err := a.Orders.SetStatus(ctx, in.UID, in.Status, in.Reason, in.Message); err != nil {
		return err
	}
	if a.Outcomes != nil {
		a.Outcomes(in.Status)
	}
	return nil
}

// asTemporal turns business failures into NonRetryable application errors
// whose type is the failure reason; other errors stay retryable.
func asTemporal(err error) error {
	if err == nil {
		return nil
	}
	if f, ok := failure.As(err); ok {
		return temporal.NewNonRetryableApplicationError(f.Message, f.Reason, nil)
	}
	return err
}

// NewActivities wires the activities to the domain services on d.
func NewActivities(d *db.DB, gateway payment.Gateway, notifier *notification.Notifier) *Activities {
	if notifier.DB == nil {
		notifier.DB = d
	}
	return &Activities{
		Orders:    &orders.Service{DB: d},
		Inventory: &inventory.Service{DB: d},
		Payments:  &payment.Service{DB: d, Gateway: gateway},
		Notifier:  notifier,
	}
}
