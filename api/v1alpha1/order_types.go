package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// OrderSpec is what the customer ordered. customerID, currency and
// paymentMethod are fixed at creation; items and customerEmail may change
// until the payment is captured (an amendment: the workflow accepts or
// refuses it, and the Amended condition says which); cancel can go from
// false to true, never back; refunds only grow.
//
// +kubebuilder:validation:XValidation:rule="self.customerID == oldSelf.customerID",message="customerID is immutable",fieldPath=".customerID"
// +kubebuilder:validation:XValidation:rule="has(self.currency) == has(oldSelf.currency) && (!has(self.currency) || self.currency == oldSelf.currency)",message="currency is immutable",fieldPath=".currency"
// +kubebuilder:validation:XValidation:rule="has(self.paymentMethod) == has(oldSelf.paymentMethod) && (!has(self.paymentMethod) || self.paymentMethod == oldSelf.paymentMethod)",message="paymentMethod is immutable",fieldPath=".paymentMethod"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.cancel) || !oldSelf.cancel || (has(self.cancel) && self.cancel)",message="cancel cannot be undone once true",fieldPath=".cancel"
// +kubebuilder:validation:XValidation:rule="has(self.fulfillment) == has(oldSelf.fulfillment) && (!has(self.fulfillment) || self.fulfillment == oldSelf.fulfillment)",message="fulfillment is immutable",fieldPath=".fulfillment"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.refunds) || has(self.refunds) && oldSelf.refunds.all(o, self.refunds.exists(n, n == o))",message="refunds are append-only: an entry never changes or goes away",fieldPath=".refunds"
type OrderSpec struct {
	// customerID identifies the customer: 1-64 characters, letters and digits
	// first, then letters, digits, '.', '_' or '-'.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9._-]*$`
	CustomerID string `json:"customerID"`

	// customerEmail is where notifications about the order go.
	// +optional
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:Pattern=`^[^@\s]+@[^@\s]+\.[^@\s]+$`
	CustomerEmail string `json:"customerEmail,omitempty"`

	// items are the products ordered, one entry per product.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=100
	// +listType=map
	// +listMapKey=productID
	Items []OrderItem `json:"items"`

	// currency is the ISO 4217 code the order is priced in; it defaults to
	// the catalog's currency.
	// +optional
	// +kubebuilder:validation:Pattern=`^[A-Z]{3}$`
	Currency string `json:"currency,omitempty"`

	// paymentMethod is the payment method token to charge; it defaults to
	// pm_card_visa.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_]+$`
	PaymentMethod string `json:"paymentMethod,omitempty"`

	// cancel requests cancellation of the order. It is one-way: once true it
	// cannot be set back to false. A Completed order refuses it.
	// +optional
	Cancel bool `json:"cancel,omitempty"`

	// deletionPolicy says what deleting the Order does while it runs: Cancel
	// (the default) cancels it, runs the compensations and lets the Order go
	// once they are done; Orphan lets the Order go at once and leaves its
	// workflow running, so the Order can be applied again (here or in
	// another cluster on the same Temporal and PostgreSQL) and pick it up.
	// +optional
	// +kubebuilder:validation:Enum=Cancel;Orphan
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// ttlSecondsAfterFinished deletes the Order this long after it finished
	// (Completed, Failed or Cancelled), like a Job's. Its record stays in
	// PostgreSQL: applying the Order again shows the recorded outcome. Not
	// for Orders a GitOps tool owns: it would apply them again. At most one
	// year (31536000).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=31536000
	TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`

	// refunds are partial refunds of a Completed order, append-only: each
	// entry is made once (the provider's idempotency key is
	// refund-<namespace>/<name>/<id>), even after a delete and re-apply,
	// and never changes or goes away. A refund that would take back more
	// than was captured is refused, visibly; the others go on.
	// +optional
	// +kubebuilder:validation:MaxItems=100
	// +listType=map
	// +listMapKey=id
	Refunds []RefundRequest `json:"refunds,omitempty"`
	// fulfillment ships the order once it completed: the workflow books
	// the parcel with the carrier and follows it to delivery. Without it
	// the manager's default carrier, if it has one, applies. Fixed at
	// creation.
	// +optional
	Fulfillment *FulfillmentSpec `json:"fulfillment,omitempty"`
}

// FulfillmentSpec says how an order is shipped.
//
// +kubebuilder:validation:XValidation:rule="!has(self.shipBy) || (duration(self.shipBy) >= duration('1m') && duration(self.shipBy) <= duration('8760h'))",message="shipBy must be between 1m and 8760h"
type FulfillmentSpec struct {
	// carrier is a carrier the worker knows: sandbox (built in) or
	// webhook (a fulfillment service).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`
	Carrier string `json:"carrier"`
	// shipBy is how long the parcel may take to ship after it was booked
	// (a Go duration, 1m to 8760h; default 48h): past it the order is
	// marked late, with a Warning Event and an email to the customer.
	// +optional
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	ShipBy string `json:"shipBy,omitempty"`
}

// ShipmentState is where an order's parcel stands.
// +kubebuilder:validation:Enum=Booked;Shipped;Delivered;Exception;Lost
type ShipmentState string

// FulfillmentStatus is how an order's parcel stands.
type FulfillmentStatus struct {
	// state is Booked, Shipped, Delivered, Exception or Lost; empty while
	// the booking is made.
	// +optional
	State ShipmentState `json:"state,omitempty"`
	// carrier ships the parcel.
	Carrier string `json:"carrier"`
	// trackingNumber is the carrier's.
	// +optional
	TrackingNumber string `json:"trackingNumber,omitempty"`
	// shipBy is the shipping deadline.
	// +optional
	ShipBy *metav1.Time `json:"shipBy,omitempty"`
	// shippedTime is when the carrier took the parcel.
	// +optional
	ShippedTime *metav1.Time `json:"shippedTime,omitempty"`
	// deliveredTime is when the parcel arrived.
	// +optional
	DeliveredTime *metav1.Time `json:"deliveredTime,omitempty"`
	// message is the carrier's word on an exception or a loss, or why the
	// booking was refused.
	// +optional
	Message string `json:"message,omitempty"`
}

// RefundRequest is one partial refund: some items of the order, or an
// amount.
//
// +kubebuilder:validation:XValidation:rule="has(self.items) != has(self.amount)",message="a refund names items or an amount, not both"
// +kubebuilder:validation:XValidation:rule="self.id != 'parcel-lost'",message="parcel-lost is the refund of a parcel the carrier lost, made by OrderFlow: choose another id",fieldPath=".id"
// +kubebuilder:validation:XValidation:rule="!has(self.restock) || !self.restock || has(self.items)",message="restock needs items: an amount puts nothing back in stock"
type RefundRequest struct {
	// id names the refund within the order: 1-32 characters, lower-case
	// letters, digits and '-'.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`
	ID string `json:"id"`

	// items are the order's lines refunded, at the price they were charged.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=100
	// +listType=map
	// +listMapKey=productID
	Items []RefundItem `json:"items,omitempty"`

	// amount is the sum refunded, a decimal string with at most two
	// decimals ("49.90"), in the order's currency.
	// +optional
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:Pattern=`^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$`
	Amount string `json:"amount,omitempty"`

	// reason says why, for the customer and the records.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Reason string `json:"reason,omitempty"`

	// restock puts the refunded items back in stock (items refunds only).
	// +optional
	Restock bool `json:"restock,omitempty"`
}

// RefundItem is a quantity of one product of the order.
type RefundItem struct {
	// productID is a product of the order.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	ProductID string `json:"productID"`

	// quantity is how many units are refunded.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	Quantity int32 `json:"quantity"`
}

// RefundState is where a partial refund stands.
// +kubebuilder:validation:Enum=Pending;Refunded;Refused
type RefundState string

const (
	// RefundPending: the refund is being made.
	RefundPending RefundState = "Pending"
	// RefundRefunded: the provider refunded it.
	RefundRefunded RefundState = "Refunded"
	// RefundRefused: it was not made; message says why.
	RefundRefused RefundState = "Refused"
)

// RefundStatus is how one entry of spec.refunds stands.
type RefundStatus struct {
	// id is the entry's id.
	ID string `json:"id"`
	// state is Pending, Refunded or Refused.
	State RefundState `json:"state"`
	// amount is the sum refunded (or asked for, when refused), a decimal string.
	// +optional
	Amount string `json:"amount,omitempty"`
	// providerID is the payment provider's id of the refund.
	// +optional
	ProviderID string `json:"providerID,omitempty"`
	// time is when the refund was made or refused.
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
	// message says why a refund was refused.
	// +optional
	Message string `json:"message,omitempty"`
}

// DeletionPolicy says what deleting a running Order does to its workflow.
type DeletionPolicy string

const (
	// DeletionCancel cancels the workflow; the Order goes once it unwound.
	DeletionCancel DeletionPolicy = "Cancel"
	// DeletionOrphan leaves the workflow running; the Order goes at once.
	DeletionOrphan DeletionPolicy = "Orphan"
)

// OrderItem is one product line of an order.
type OrderItem struct {
	// productID is the catalog id of the product.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9._-]*$`
	ProductID string `json:"productID"`

	// quantity is how many units are ordered, 1 to 10000.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	Quantity int32 `json:"quantity"`

	// unitPrice is the price per unit the customer agreed to, as a decimal
	// string with at most two decimals ("1299.99"). When set, the order fails
	// with PriceChanged if the catalog price differs.
	// +optional
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:Pattern=`^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$`
	UnitPrice string `json:"unitPrice,omitempty"`
}

// WorkflowRef points at the Temporal workflow that processes an order.
type WorkflowRef struct {
	// id is the workflow id, derived from the Order's namespace and name
	// (order/<namespace>/<name>; Orders placed before that keep the
	// order-<uid> of their workflow).
	ID string `json:"id,omitempty"`
	// runID is the id of the workflow run.
	// +optional
	RunID string `json:"runID,omitempty"`
	// url links to the workflow in the Temporal UI.
	// +optional
	URL string `json:"url,omitempty"`
}

// OrderStatus mirrors the progress of the order's workflow.
type OrderStatus struct {
	// observedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// phase is where the order stands as a whole.
	// +optional
	Phase OrderPhase `json:"phase,omitempty"`

	// step is the last step the workflow completed.
	// +optional
	Step OrderStep `json:"step,omitempty"`

	// total is the order total priced from the catalog, a decimal string.
	// +optional
	Total string `json:"total,omitempty"`

	// currency is the ISO 4217 code of total.
	// +optional
	Currency string `json:"currency,omitempty"`

	// reason is a CamelCase word saying why the order failed or was cancelled.
	// +optional
	Reason string `json:"reason,omitempty"`

	// message says in words why the order failed or was cancelled.
	// +optional
	Message string `json:"message,omitempty"`

	// paymentID is the id of the captured payment.
	// +optional
	PaymentID string `json:"paymentID,omitempty"`

	// refundID is the id of the refund, when the payment was refunded.
	// +optional
	RefundID string `json:"refundID,omitempty"`

	// items are what the order runs with: spec.items as placed, or as
	// last amended.
	// +optional
	// +listType=map
	// +listMapKey=productID
	// +kubebuilder:validation:MaxItems=100
	Items []OrderItem `json:"items,omitempty"`

	// fingerprint identifies what the order runs with (customer, email,
	// items, currency, payment method). It differs from the spec's while
	// an amendment is being applied or after one was refused.
	// +optional
	Fingerprint string `json:"fingerprint,omitempty"`

	// refunds says how each entry of spec.refunds stands.
	// +optional
	// +listType=map
	// +listMapKey=id
	Refunds []RefundStatus `json:"refunds,omitempty"`

	// refunded is the sum of the partial refunds made, a decimal string.
	// +optional
	Refunded string `json:"refunded,omitempty"`

	// fulfillment is how the order's parcel stands (spec.fulfillment).
	// +optional
	Fulfillment *FulfillmentStatus `json:"fulfillment,omitempty"`
	// workflow is the Temporal workflow processing the order.
	// +optional
	Workflow *WorkflowRef `json:"workflow,omitempty"`

	// startTime is when the workflow started processing the order.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// completionTime is when the order reached a terminal phase.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// conditions are Ready, Reconciling and Stalled (for kstatus, Flux and
	// Argo CD), one per workflow step, CancelRefused when a cancel request
	// came too late, Amended once the items or email were changed,
	// Refunded once partial refunds were asked, and Shipped and Delivered
	// for a parcel.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// Order is an e-commerce order processed by a Temporal workflow.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ord,categories=orderflow
// +kubebuilder:printcolumn:name="Customer",type=string,JSONPath=`.spec.customerID`
// +kubebuilder:printcolumn:name="Total",type=string,JSONPath=`.status.total`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Step",type=string,JSONPath=`.status.step`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Workflow",type=string,JSONPath=`.status.workflow.id`,priority=1
// +kubebuilder:printcolumn:name="Fulfillment",type=string,JSONPath=`.status.fulfillment.state`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`,priority=1
type Order struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the order as placed.
	// +required
	Spec OrderSpec `json:"spec"`

	// status is the order's progress, written by the controller. Until
	// the controller first writes it, the API server fills in
	// observedGeneration 0 when it reads the Order, so kstatus, Flux and
	// Argo CD see an Order nobody picked up yet as in progress, never as
	// done.
	// +optional
	// +kubebuilder:default={observedGeneration: 0}
	Status OrderStatus `json:"status,omitempty"`
}

// OrderList is a list of Orders.
//
// +kubebuilder:object:root=true
type OrderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Order `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Order{}, &OrderList{})
}
