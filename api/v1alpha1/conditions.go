package v1alpha1

import "orderflow.io/orderflow/internal/contract"

// OrderPhase is where an order stands as a whole: the contract's Phase as
// the CRD types it (its schema lists the words).
// +kubebuilder:validation:Enum=Pending;Processing;Completed;Failed;Cancelling;Cancelled
type OrderPhase string

// The phases, under the names the CRD's users know (internal/contract owns
// the words).
const (
	PhasePending    = OrderPhase(contract.PhasePending)
	PhaseProcessing = OrderPhase(contract.PhaseProcessing)
	PhaseCompleted  = OrderPhase(contract.PhaseCompleted)
	PhaseFailed     = OrderPhase(contract.PhaseFailed)
	PhaseCancelling = OrderPhase(contract.PhaseCancelling)
	PhaseCancelled  = OrderPhase(contract.PhaseCancelled)
)

// OrderStep is a step of the order workflow, named for what it achieved:
// the contract's Step as the CRD types it.
// +kubebuilder:validation:Enum=Accepted;InventoryReserved;PaymentCaptured;CustomerNotified
type OrderStep string

// The steps, in the order they run (contract.Steps).
const (
	StepAccepted          = OrderStep(contract.StepAccepted)
	StepInventoryReserved = OrderStep(contract.StepInventoryReserved)
	StepPaymentCaptured   = OrderStep(contract.StepPaymentCaptured)
	StepCustomerNotified  = OrderStep(contract.StepCustomerNotified)
)

// Condition types. Ready, Reconciling and Stalled follow kstatus, so Flux,
// Argo CD and `kubectl wait` read an Order right. Each step of Steps is a
// condition type too (contract.Steps), True once the step completed.
// Why an order failed or was cancelled is one of the contract's Reason*
// words.
const (
	ConditionReady         = "Ready"
	ConditionReconciling   = "Reconciling"
	ConditionStalled       = "Stalled"
	ConditionCancelRefused = "CancelRefused"
	// ConditionRefunded is about spec.refunds: True once everything
	// captured was refunded; False while refunds are made
	// (PartiallyRefunded) or when one was refused (RefundRefused).
	ConditionRefunded = "Refunded"
	// ConditionAmended is about a change of spec.items or customerEmail:
	// True when the order runs with it (Amended), False when it was
	// refused (the reason says why: TooLate, OutOfStock, UnknownProduct,
	// PriceChanged, CurrencyMismatch; Stalled is True with it until the
	// spec is put back), is being applied (Amending) or was put back
	// (Reverted).
	ConditionAmended = "Amended"
	// ConditionShipped and ConditionDelivered follow an order's parcel
	// (spec.fulfillment): Shipped True once the carrier has it, Delivered
	// True once it arrived; False with the reason where it stands
	// (Booking, Booked, InTransit, ShipmentException, ShipByMissed,
	// ParcelLost, BookingRefused).
	ConditionShipped   = "Shipped"
	ConditionDelivered = "Delivered"
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
	// Partial refunds (condition Refunded and the Events).
	ReasonRefunded          = "Refunded"
	ReasonPartiallyRefunded = "PartiallyRefunded"
	ReasonRefundRefused     = contract.ReasonRefundRefused
	// Amendments (condition Amended and the Events).
	ReasonAmended  = contract.ReasonAmended
	ReasonTooLate  = contract.ReasonTooLate
	ReasonAmending = "Amending"
	ReasonReverted = "Reverted"
	// ReasonInvalidAnnotation: an orderflow.io annotation of the Order
	// could not be read; its default applies.
	ReasonInvalidAnnotation = "InvalidAnnotation"
	// Fulfillment (conditions Shipped and Delivered and the Events).
	ReasonBooking        = "Booking"
	ReasonBooked         = contract.ReasonBooked
	ReasonShipped        = contract.ReasonShipped
	ReasonInTransit      = contract.ReasonInTransit
	ReasonDelivered      = contract.ReasonDelivered
	ReasonShipException  = contract.ReasonShipException
	ReasonParcelLost     = contract.ReasonParcelLost
	ReasonShipByMissed   = contract.ReasonShipByMissed
	ReasonBookingRefused = contract.ReasonBookingRefused
)

// SandboxCarrierAnnotation picks the sandbox carrier's script for an
// Order's parcel (deliver, lose, stuck, exception, chaos): a test knob of
// the built-in sandbox carrier, ignored by real ones.
const SandboxCarrierAnnotation = "orderflow.io/sandbox-carrier"

// EditWindowAnnotation sets an Order's edit window: how long its payment
// waits after the stock is reserved, so the order can still be amended. A
// Go duration from 0s to 24h; it overrides the manager's --edit-window.
const EditWindowAnnotation = "orderflow.io/edit-window"

// Terminal reports whether no more work happens for an order in this phase.
func (p OrderPhase) Terminal() bool { return contract.Phase(p).Terminal() }
