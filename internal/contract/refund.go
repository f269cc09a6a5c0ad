package contract

import "time"

// RefundWorkflowType is the registered name of the workflow that makes one
// partial refund of a completed order (spec.refunds). It runs on TaskQueue.
const RefundWorkflowType = "RefundWorkflow"

// RefundWorkflowID is the id of the workflow making refund id of the order
// in namespace with name.
func RefundWorkflowID(namespace, name, id string) string {
	return "refund/" + Key(namespace, name) + "/" + id
}

// RefundKey is the key a partial refund goes by: the provider's idempotency
// key is "refund-" followed by it.
func RefundKey(namespace, name, id string) string { return Key(namespace, name) + "/" + id }

// Refund states, as status.refunds shows them.
const (
	RefundPending  = "Pending"
	RefundRefunded = "Refunded"
	RefundRefused  = "Refused"
)

// RefundInput is one entry of an Order's spec.refunds: the refund
// workflow's input.
type RefundInput struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	ID        string `json:"id"`
	// Items are the lines refunded, or Amount the sum: exactly one is set.
	Items   []RefundItem `json:"items,omitempty"`
	Amount  string       `json:"amount,omitempty"`
	Reason  string       `json:"reason,omitempty"`
	Restock bool         `json:"restock,omitempty"`
	// Rest refunds whatever is left of the capture (the refund of a lost
	// parcel); Items and Amount are then empty.
	Rest bool `json:"rest,omitempty"`
	// CustomerEmail is where the customer is told (the Order's spec).
	CustomerEmail string `json:"customerEmail,omitempty"`
}

// RefundItem is a quantity of one product of the order.
type RefundItem struct {
	ProductID string `json:"productID"`
	Quantity  int32  `json:"quantity"`
}

// RefundResult is how a refund ended: Refunded, with the provider's id, or
// Refused, with the reason in Message.
type RefundResult struct {
	State      string    `json:"state"`
	Amount     string    `json:"amount,omitempty"`
	Currency   string    `json:"currency,omitempty"`
	ProviderID string    `json:"providerID,omitempty"`
	Time       time.Time `json:"time"`
	Message    string    `json:"message,omitempty"`
}
