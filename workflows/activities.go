package workflows

import (
	"cmp"
	"context"
	"strings"

	"go.temporal.io/sdk/temporal"

	"orderflow.io/orderflow/internal/amendments"
	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/db"
	"orderflow.io/orderflow/internal/failure"
	"orderflow.io/orderflow/internal/fulfillment"
	"orderflow.io/orderflow/internal/inventory"
	"orderflow.io/orderflow/internal/money"
	"orderflow.io/orderflow/internal/notification"
	"orderflow.io/orderflow/internal/orders"
	"orderflow.io/orderflow/internal/payment"
	"orderflow.io/orderflow/internal/refunds"
)

// notificationErrorType marks a delivery failure, retried a bounded number
// of times before it fails the order.
const notificationErrorType = contract.ReasonNotificationFailed

// Activities are the steps and compensations of the order workflow. Each is
// idempotent: a retry after a crash finds what the first attempt did.
type Activities struct {
	Orders    *orders.Service
	Inventory *inventory.Service
	Payments  *payment.Service
	Notifier  *notification.Notifier
	Refunds   *refunds.Service
	Amends    *amendments.Service
	Carriers  fulfillment.Carriers
	Shipments *fulfillment.Store
	// Outcomes, when set, counts finished orders by status.
	Outcomes func(status string)
}

// CreateResult is what CreateOrder recorded: the order's total, and the key
// its record and payments go by. Finished is set when the order had been
// processed already: its outcome as the workflow reports it.
type CreateResult struct {
	Total    string             `json:"total"`
	Currency string             `json:"currency"`
	Key      string             `json:"key,omitempty"`
	Finished *contract.Progress `json:"finished,omitempty"`
}

// PaymentInput is what ProcessPayment charges. Key is the order's record
// key; its wire name stays "uid", which histories and activities in flight
// carry (as in NotifyInput and FinishInput).
type PaymentInput struct {
	Key           string `json:"uid"`
	Total         string `json:"total"`
	Currency      string `json:"currency"`
	PaymentMethod string `json:"paymentMethod"`
}

// NotifyInput is a notification to send.
type NotifyInput struct {
	Key       string `json:"uid"`
	Order     string `json:"order"`
	Kind      string `json:"kind"`
	Recipient string `json:"recipient,omitempty"`
	Message   string `json:"message"`
}

// AmendInput is an amendment of the order under Key.
type AmendInput struct {
	Key           string          `json:"key"`
	Fingerprint   string          `json:"fingerprint"`
	CustomerEmail string          `json:"customerEmail,omitempty"`
	Items         []contract.Item `json:"items"`
}

// FinishInput records an order's outcome. (Histories recorded before the
// contract's words carry the phase in lower case.)
type FinishInput struct {
	Key     string         `json:"uid"`
	Phase   contract.Phase `json:"status"`
	Reason  string         `json:"reason,omitempty"`
	Message string         `json:"message,omitempty"`
}

// CreateOrder records the order and prices it from the catalog.
func (a *Activities) CreateOrder(ctx context.Context, in contract.OrderInput) (CreateResult, error) {
	o := orders.NewOrder{
		Key: in.RecordKey(), ObjectUID: in.UID, Fingerprint: in.Fingerprint, Namespace: in.Namespace, Name: in.Name,
		CustomerID: in.CustomerID, CustomerEmail: in.CustomerEmail, Currency: in.Currency, Items: in.Items,
	}
	p, err := a.Orders.Create(ctx, o)
	if err != nil {
		return CreateResult{}, asTemporal(err)
	}
	res := CreateResult{Total: p.Total.String(), Currency: p.Currency, Key: p.Key}
	if f := p.Finished; f != nil {
		res.Finished = recorded(in, res, f)
		if a.Shipments != nil {
			// A parcel it shipped shows as it ended.
			if res.Finished.Fulfillment, err = a.Shipments.Find(ctx, cmp.Or(res.Key, in.RecordKey())); err != nil {
				return CreateResult{}, err
			}
		}
	}
	return res, nil
}

// recorded is the Progress of an order that finished before, from its
// record.
func recorded(in contract.OrderInput, res CreateResult, f *orders.Outcome) *contract.Progress {
	p := &contract.Progress{
		Namespace: in.Namespace, Name: in.Name, Total: res.Total, Currency: res.Currency,
		Reason: f.Reason, Message: f.Message, PaymentID: f.PaymentID, RefundID: f.RefundID,
		StartTime: f.PlacedAt, Fingerprint: in.Fingerprint, Restored: true,
	}
	p.Phase = f.Phase
	for _, step := range contract.Steps {
		if at, ok := f.Steps[step]; ok {
			p.Step = step
			p.Steps = append(p.Steps, contract.StepRecord{Step: step, Time: at})
		}
	}
	completed := f.Completed
	p.CompletionTime = &completed
	return p
}

// ReserveInventory reserves stock for every item, or none.
func (a *Activities) ReserveInventory(ctx context.Context, key string) error {
	return asTemporal(a.Inventory.Reserve(ctx, key))
}

// AmendOrder changes the items and email of an order not yet paid, re-priced
// and re-reserved, all or nothing, and returns its new total. A change that
// cannot be made (TooLate, OutOfStock, UnknownProduct, PriceChanged,
// CurrencyMismatch) is a NonRetryable error of that type.
func (a *Activities) AmendOrder(ctx context.Context, in AmendInput) (string, error) {
	total, err := a.Amends.Apply(ctx, amendments.Change{Key: in.Key, Fingerprint: in.Fingerprint, Email: in.CustomerEmail, Items: in.Items})
	if err != nil {
		return "", asTemporal(err)
	}
	return total.String(), nil
}

// ReleaseInventory puts back the order's held stock.
func (a *Activities) ReleaseInventory(ctx context.Context, key string) error {
	return asTemporal(a.Inventory.Release(ctx, key))
}

// ProcessPayment captures the order total once and returns the payment id.
func (a *Activities) ProcessPayment(ctx context.Context, in PaymentInput) (string, error) {
	amount, err := money.Parse(in.Total)
	if err != nil {
		return "", temporal.NewNonRetryableApplicationError("total: "+err.Error(), contract.ReasonWorkflowFailed, nil)
	}
	id, err := a.Payments.Capture(ctx, in.Key, amount, in.Currency, in.PaymentMethod)
	return id, asTemporal(err)
}

// RefundPayment refunds the order's capture, if there is one, and returns
// the refund id.
func (a *Activities) RefundPayment(ctx context.Context, key string) (string, error) {
	id, err := a.Payments.Refund(ctx, key)
	return id, asTemporal(err)
}

// SendNotification records and delivers a notification to the customer.
func (a *Activities) SendNotification(ctx context.Context, in NotifyInput) error {
	err := a.Notifier.Send(ctx, notification.Notification{
		OrderKey: in.Key, Order: in.Order, Kind: in.Kind, Recipient: in.Recipient, Message: in.Message,
	})
	if err != nil {
		return temporal.NewApplicationErrorWithCause(err.Error(), notificationErrorType, err)
	}
	return nil
}

// FinishOrder records the order's outcome; completing commits its stock.
// Only an outcome that contradicts the one recorded is a NonRetryable
// failure.
func (a *Activities) FinishOrder(ctx context.Context, in FinishInput) error {
	phase := in.Phase
	for _, p := range []contract.Phase{contract.PhaseCompleted, contract.PhaseFailed, contract.PhaseCancelled} {
		if strings.EqualFold(string(in.Phase), string(p)) {
			phase = p
		}
	}
	if err := a.Orders.Finish(ctx, in.Key, phase, in.Reason, in.Message); err != nil {
		// An outcome that contradicts the recorded one is final; the
		// database out of reach (connections exhausted, a restart) is
		// retried: failing the workflow there would leave a captured
		// payment unrefunded and its stock held.
		return asTemporal(err)
	}
	if a.Outcomes != nil {
		a.Outcomes(strings.ToLower(string(phase)))
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
	inv := &inventory.Service{DB: d}
	pay := &payment.Service{DB: d, Gateway: gateway}
	return &Activities{
		Orders:    &orders.Service{DB: d},
		Inventory: inv,
		Payments:  pay,
		Notifier:  notifier,
		Refunds:   &refunds.Service{DB: d, Payments: pay, Inventory: inv},
		Amends:    &amendments.Service{DB: d},
		Shipments: &fulfillment.Store{DB: d},
	}
}
