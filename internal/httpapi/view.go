package httpapi

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/orders"
	"orderflow.io/orderflow/internal/temporal"
)

// orderView is an Order as the REST API shows it.
type orderView struct {
	ID string `json:"id"`
	// Namespace is the Order's: ?namespace= reads it again.
	Namespace       string     `json:"namespace"`
	CustomerID      string     `json:"customerID"`
	CustomerEmail   string     `json:"customerEmail,omitempty"`
	Items           []itemView `json:"items"`
	Currency        string     `json:"currency,omitempty"`
	CancelRequested bool       `json:"cancelRequested"`
	Phase           string     `json:"phase"`
	Step            string     `json:"step,omitempty"`
	Total           string     `json:"total,omitempty"`
	Reason          string     `json:"reason,omitempty"`
	Message         string     `json:"message,omitempty"`
	PaymentID       string     `json:"paymentID,omitempty"`
	RefundID        string     `json:"refundID,omitempty"`
	// Refunds are the partial refunds asked (spec.refunds) and how each
	// stands; Refunded is the sum made.
	Refunds  []refundView `json:"refunds,omitempty"`
	Refunded string       `json:"refunded,omitempty"`
	// Amendment says how the last change of items or email stands: its
	// state (Amended, Amending, Reverted or the reason it was refused) and
	// message.
	Amendment *amendmentView `json:"amendment,omitempty"`
	// Fulfillment is how the order's parcel stands (status.fulfillment).
	Fulfillment    *v1alpha1.FulfillmentStatus `json:"fulfillment,omitempty"`
	WorkflowID     string                      `json:"workflowID,omitempty"`
	WorkflowURL    string                      `json:"workflowURL,omitempty"`
	CreatedAt      *time.Time                  `json:"createdAt,omitempty"`
	StartTime      *time.Time                  `json:"startTime,omitempty"`
	CompletionTime *time.Time                  `json:"completionTime,omitempty"`
	Terminal       bool                        `json:"terminal"`
}

type refundView struct {
	ID         string                `json:"id"`
	Items      []v1alpha1.RefundItem `json:"items,omitempty"`
	Amount     string                `json:"amount,omitempty"`
	Reason     string                `json:"reason,omitempty"`
	Restock    bool                  `json:"restock,omitempty"`
	State      v1alpha1.RefundState  `json:"state"`
	Refunded   string                `json:"refunded,omitempty"`
	ProviderID string                `json:"providerID,omitempty"`
	Time       *time.Time            `json:"time,omitempty"`
	Message    string                `json:"message,omitempty"`
}

type itemView struct {
	ProductID string `json:"productID"`
	Quantity  int32  `json:"quantity"`
	UnitPrice string `json:"unitPrice,omitempty"`
}

// amendmentView is how an order's last change stands.
type amendmentView struct {
	State    string `json:"state"`
	Accepted bool   `json:"accepted"`
	Message  string `json:"message,omitempty"`
}

func viewOf(o *v1alpha1.Order, ui temporal.UI) orderView {
	v := orderView{
		ID: o.Name, Namespace: o.Namespace, CustomerID: o.Spec.CustomerID, CustomerEmail: o.Spec.CustomerEmail,
		Currency: o.Spec.Currency, CancelRequested: o.Spec.Cancel,
		Phase: string(o.Status.Phase), Step: string(o.Status.Step), Total: o.Status.Total,
		Reason: o.Status.Reason, Message: o.Status.Message,
		PaymentID: o.Status.PaymentID, RefundID: o.Status.RefundID,
		Terminal: o.Status.Phase.Terminal(),
	}
	if v.Phase == "" {
		v.Phase = string(contract.PhasePending)
	}
	if o.Status.Currency != "" {
		v.Currency = o.Status.Currency
	}
	for _, it := range o.Spec.Items {
		v.Items = append(v.Items, itemView{ProductID: it.ProductID, Quantity: it.Quantity, UnitPrice: it.UnitPrice})
	}
	v.Refunded = o.Status.Refunded
	v.Fulfillment = o.Status.Fulfillment
	if c := meta.FindStatusCondition(o.Status.Conditions, v1alpha1.ConditionAmended); c != nil {
		v.Amendment = &amendmentView{State: c.Reason, Accepted: c.Status == metav1.ConditionTrue, Message: c.Message}
	}
	for _, req := range o.Spec.Refunds {
		rv := refundView{ID: req.ID, Items: req.Items, Amount: req.Amount, Reason: req.Reason, Restock: req.Restock, State: v1alpha1.RefundPending}
		for _, st := range o.Status.Refunds {
			if st.ID == req.ID {
				rv.State, rv.Refunded, rv.ProviderID, rv.Message = st.State, st.Amount, st.ProviderID, st.Message
				if st.Time != nil {
					t := st.Time.Time
					rv.Time = &t
				}
			}
		}
		v.Refunds = append(v.Refunds, rv)
	}
	if wf := o.Status.Workflow; wf != nil {
		v.WorkflowID, v.WorkflowURL = wf.ID, wf.URL
	} else if o.Name != "" {
		v.WorkflowURL = ui.Workflow(contract.WorkflowID(o.Namespace, o.Name), "")
	}
	if !o.CreationTimestamp.IsZero() {
		t := o.CreationTimestamp.Time
		v.CreatedAt = &t
	}
	if o.Status.StartTime != nil {
		t := o.Status.StartTime.Time
		v.StartTime = &t
	}
	if o.Status.CompletionTime != nil {
		t := o.Status.CompletionTime.Time
		v.CompletionTime = &t
	}
	return v
}

// detailView is one order as GET /api/orders/{id} shows it: the order, its
// steps with their times, and what PostgreSQL recorded of it.
type detailView struct {
	orderView
	Steps         []stepView            `json:"steps"`
	Payments      []orders.Payment      `json:"payments,omitempty"`
	Notifications []orders.Notification `json:"notifications,omitempty"`
}

type stepView struct {
	Step string    `json:"step"`
	At   time.Time `json:"at"`
}

// stepsOf lists the steps the order completed, in order, with the time each
// completed (its condition's transition time).
func stepsOf(o *v1alpha1.Order) []stepView {
	out := []stepView{}
	for _, step := range contract.Steps {
		if c := meta.FindStatusCondition(o.Status.Conditions, string(step)); c != nil && c.Status == metav1.ConditionTrue {
			out = append(out, stepView{Step: string(step), At: c.LastTransitionTime.Time})
		}
	}
	return out
}

// recordKey is the key of the order's record in PostgreSQL.
func recordKey(o *v1alpha1.Order) string {
	id := ""
	if wf := o.Status.Workflow; wf != nil {
		id = wf.ID
	}
	return contract.RecordKey(id, string(o.UID), o.Namespace, o.Name)
}
