package v1alpha1

// OrderPhase is where an order stands as a whole.
// +kubebuilder:validation:Enum=Pending;Processing;Completed;Failed;Cancelling;Cancelled
type OrderPhase string

const (
	PhasePending    OrderPhase = "Pending"
	PhaseProcessing OrderPhase = "Processing"
	PhaseCompleted  OrderPhase = "Completed"
	PhaseFailed     OrderPhase = "Failed"
	PhaseCancelling OrderPhase = "Cancelling"
	PhaseCancelled  OrderPhase = "Cancelled"
)

// Terminal reports whether no more work happens for an order in this phase.
func (p OrderPhase) Terminal() bool {
	return p == PhaseCompleted || p == PhaseFailed || p == PhaseCancelled
}

// OrderStep is a step of the order workflow, named for what it achieved.
// +kubebuilder:validation:Enum=Accepted;InventoryReserved;PaymentCaptured;CustomerNotified
type OrderStep string

const (
	StepAccepted          OrderStep = "Accepted"
	StepInventoryReserved OrderStep = "InventoryReserved"
	StepPaymentCaptured   OrderStep = "PaymentCaptured"
	StepCustomerNotified  OrderStep = "CustomerNotified"
)

// Steps lists the workflow steps in the order they run.
var Steps = []OrderStep{StepAccepted, StepInventoryReserved, StepPaymentCaptured, StepCustomerNotified}

// Condition types. Ready, Reconciling and Stalled follow kstatus, so Flux,
// Argo CD and `kubectl wait` read an Order right. Each step of Steps is a
// condition type too, True once the step completed.
const (
	ConditionReady         = "Ready"
	ConditionReconciling   = "Reconciling"
	ConditionStalled       = "Stalled"
	ConditionCancelRefused = "CancelRefused"
)

// Reasons for failure or cancellation (status.reason and condition reasons).
const (
	ReasonOutOfStock         = "OutOfStock"
	ReasonUnknownProduct     = "UnknownProduct"
	ReasonPriceChanged       = "PriceChanged"
	ReasonCurrencyMismatch   = "CurrencyMismatch"
	ReasonPaymentDeclined    = "PaymentDeclined"
	ReasonNotificationFailed = "NotificationFailed"
	ReasonCancelled          = "Cancelled"
	// ReasonNameReused: an Order was applied under a namespace/name already
	// used for an order with a different spec; nothing was charged.
	ReasonNameReused     = "NameReused"
	ReasonDeleted        = "Deleted"
	ReasonWorkflowFailed = "WorkflowFailed"
)

// Reasons for the kstatus conditions and events.
const (
	ReasonCompleted       = "Completed"
	ReasonPending         = "Pending"
	ReasonInProgress      = "InProgress"
	ReasonOrderCompleted  = "OrderCompleted"
	ReasonWorkflowStarted = "WorkflowStarted"
	ReasonTemporalError   = "TemporalUnavailable"
	ReasonCancelRequested = "CancelRequested"
	ReasonCancelRefused   = "CancelRefused"
	// ReasonReattached: a re-created Order found its order already
	// processed and shows the recorded outcome; nothing was charged again.
	ReasonReattached = "Reattached"
)
