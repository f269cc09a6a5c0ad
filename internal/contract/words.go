package contract

// Phase is where an order stands as a whole.
type Phase string

const (
	PhasePending    Phase = "Pending"
	PhaseProcessing Phase = "Processing"
	PhaseCompleted  Phase = "Completed"
	PhaseFailed     Phase = "Failed"
	PhaseCancelling Phase = "Cancelling"
	PhaseCancelled  Phase = "Cancelled"
)

// Terminal reports whether no more work happens for an order in this phase.
func (p Phase) Terminal() bool {
	return p == PhaseCompleted || p == PhaseFailed || p == PhaseCancelled
}

// Step is a step of the order workflow, named for what it achieved.
type Step string

const (
	StepAccepted          Step = "Accepted"
	StepInventoryReserved Step = "InventoryReserved"
	StepPaymentCaptured   Step = "PaymentCaptured"
	StepCustomerNotified  Step = "CustomerNotified"
)

// Steps lists the workflow steps in the order they run.
var Steps = []Step{StepAccepted, StepInventoryReserved, StepPaymentCaptured, StepCustomerNotified}

// Reasons an order failed or was cancelled: status.reason, the reason of a
// business failure, and the error type of a non-retryable activity error.
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
	ReasonNameReused = "NameReused"
	// ReasonDeleted: the Order was deleted while its order ran.
	ReasonDeleted        = "Deleted"
	ReasonWorkflowFailed = "WorkflowFailed"
)

// ReasonRefundRefused: a partial refund was not made (it would take back
// more than was captured, names what the order does not hold, or the
// provider refused it).
const ReasonRefundRefused = "RefundRefused"
