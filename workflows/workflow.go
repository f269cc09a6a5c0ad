package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"orderflow.io/orderflow/internal/contract"
)

// Activity options. Forward steps and compensations retry transient errors
// with exponential backoff for as long as it takes; business failures come
// back NonRetryable and end the order. Notification gives up after a while,
// so a dead webhook fails the order instead of holding it forever.
//
// The steps that only touch PostgreSQL (CreateOrder, ReserveInventory,
// ReleaseInventory, FinishOrder) run as local activities: in the worker
// that runs the workflow task, recorded as a marker, with no task of their
// own to dispatch. That halves the tasks Temporal handles per order. They
// are idempotent on the order's UID, which a local activity needs: one that
// ran but whose workflow task was lost with its worker runs again. The
// payment, the refund and the notification reach outside the database and
// stay ordinary activities, each retried on its own with its own timeout.
var (
	stepRetry = &temporal.RetryPolicy{
		InitialInterval:    100 * time.Millisecond,
		BackoffCoefficient: 2,
		MaximumInterval:    10 * time.Second,
	}
	stepOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         stepRetry,
	}
	localOptions = workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         stepRetry,
	}
	notifyOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    100 * time.Millisecond,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
			MaximumAttempts:    20,
		},
	}
)

// OrderWorkflow processes one order; see the package comment. It returns the
// final Progress; a failed or cancelled order is a result, not an error.
func OrderWorkflow(ctx workflow.Context, in contract.OrderInput) (contract.Progress, error) {
	r := &orderRun{in: in, key: in.RecordKey()}
	now := workflow.Now(ctx)
	r.p = contract.Progress{Namespace: in.Namespace, Name: in.Name, Phase: contract.PhasePending, StartTime: now, Fingerprint: in.Fingerprint}
	if in.Cancel {
		r.cancel = &contract.CancelRequest{Reason: contract.ReasonCancelled}
	}
	if err := workflow.SetQueryHandler(ctx, contract.ProgressQuery, func() (contract.Progress, error) { return r.p, nil }); err != nil {
		return contract.Progress{}, err
	}
	signals := workflow.GetSignalChannel(ctx, contract.CancelSignal)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var req contract.CancelRequest
			signals.Receive(ctx, &req)
			if req.Reason == "" {
				req.Reason = contract.ReasonCancelled
			}
			if r.cancel == nil {
				r.cancel = &req
			}
		}
	})
	ctx = workflow.WithActivityOptions(ctx, stepOptions)
	ctx = workflow.WithLocalActivityOptions(ctx, localOptions)
	// Orders started before the database steps became local activities
	// replay them as the ordinary activities they were.
	r.localDatabaseSteps = workflow.GetVersion(ctx, localDatabaseStepsChange, workflow.DefaultVersion, 1) == 1
	// Orders started before it publish their progress after the payment too.
	r.quietPayment = workflow.GetVersion(ctx, quietPaymentChange, workflow.DefaultVersion, 1) == 1
	// Orders started before amendments take none: an Update finds no
	// handler and is refused.
	r.amendable = workflow.GetVersion(ctx, amendmentsChange, workflow.DefaultVersion, 1) == 1
	if r.amendable {
		r.p.OrderUID, r.p.Items = in.UID, in.Items
		if err := workflow.SetUpdateHandlerWithOptions(ctx, contract.AmendUpdate, r.amend,
			workflow.UpdateHandlerOptions{Validator: r.validateAmend}); err != nil {
			return contract.Progress{}, err
		}
	}
	return r.run(ctx)
}

type orderRun struct {
	in contract.OrderInput
	// key is what the order's record and payments go by.
	key    string
	p      contract.Progress
	cancel *contract.CancelRequest
	// recorded is set once CreateOrder ran, so the order has a row to
	// attach a notification to.
	recorded bool
	// compensations undo completed steps, run last first.
	compensations []func(workflow.Context) error
	// localDatabaseSteps runs the PostgreSQL-only steps as local activities.
	localDatabaseSteps bool
	// reserved is set once ReserveInventory ran in this run's history.
	reserved bool
	// restored is set when CreateOrder found the order processed already.
	restored bool
	// quietPayment leaves the captured payment to the next publish: the
	// customer is notified milliseconds later, and that publish carries
	// the payment's time too. One status write per order less.
	quietPayment bool
	// amendable takes amendments (AmendUpdate) until the payment starts.
	amendable bool
	// busy is held by the step or the amendment under way: they take
	// turns, so an amendment never runs beside a step.
	busy bool
	// queued counts amendments waiting for their turn; they go before
	// the next step.
	queued int
	// frozen is set once the payment starts or the order unwinds: from
	// then on amendments are refused.
	frozen bool
	// amendedGeneration is the generation of the last amendment decided.
	amendedGeneration int64
}

// amendmentsChange names the change that lets a running order be amended
// before its payment (and wait its edit window), for workflow.GetVersion.
const amendmentsChange = "amendments"

// quietPaymentChange names the change that stopped publishing progress
// right after the payment, for workflow.GetVersion.
const quietPaymentChange = "quiet-payment"

// releaseAfterLostTaskChange names the change that releases inventory when a
// cancel lands before the reservation is in the history, for
// workflow.GetVersion.
const releaseAfterLostTaskChange = "release-after-lost-task"

// localDatabaseStepsChange names the change that made the database steps
// local activities, for workflow.GetVersion.
const localDatabaseStepsChange = "local-database-steps"

// database runs a step that only touches PostgreSQL.
func (r *orderRun) database(ctx workflow.Context, activity any, args ...any) workflow.Future {
	if r.localDatabaseSteps {
		return workflow.ExecuteLocalActivity(ctx, activity, args...)
	}
	return workflow.ExecuteActivity(ctx, activity, args...)
}

type step struct {
	name contract.Step
	do   func(workflow.Context) error
	// database marks a step that only touches PostgreSQL.
	database bool
}

func (r *orderRun) run(ctx workflow.Context) (contract.Progress, error) {
	var a *Activities
	steps := []step{
		{contract.StepAccepted, r.createOrder, true},
		{contract.StepInventoryReserved, r.reserveInventory, true},
		{contract.StepPaymentCaptured, r.processPayment, false},
		{contract.StepCustomerNotified, r.notifyCompleted, false},
	}
	for i, s := range steps {
		if r.amendable {
			if err := r.takeTurn(ctx, s.name); err != nil {
				return r.p, err
			}
		}
		if r.cancel != nil {
			return r.unwind(ctx, contract.PhaseCancelled, r.cancel.Reason, cancelMessage(r.cancel.Reason))
		}
		if s.name == contract.StepPaymentCaptured {
			r.frozen = true
		}
		r.busy = true
		err := s.do(ctx)
		r.busy = false
		if err != nil {
			reason, message := classify(err)
			return r.unwind(ctx, contract.PhaseFailed, reason, message)
		}
		if r.restored {
			// Processed before: show how it ended, move nothing.
			return r.p, r.publish(ctx)
		}
		r.p.Phase = contract.PhaseProcessing
		r.p.Step = s.name
		r.p.Steps = append(r.p.Steps, contract.StepRecord{Step: s.name, Time: workflow.Now(ctx)})
		if s.name == contract.StepCustomerNotified {
			break // Completed follows at once: one publish says both
		}
		if r.localDatabaseSteps && steps[i+1].database {
			// The next step runs in this same workflow task, so nobody
			// could see this progress before the next one replaces it.
			continue
		}
		if r.quietPayment && s.name == contract.StepPaymentCaptured {
			continue // the completion publishes it with its time
		}
		if err := r.publish(ctx); err != nil {
			return r.p, err
		}
	}
	// The customer was told: from here on the order is complete, and a
	// cancel that arrived meanwhile is refused.
	err := r.database(ctx, a.FinishOrder, FinishInput{Key: r.key, Phase: contract.PhaseCompleted}).Get(ctx, nil)
	if err != nil {
		return r.p, err
	}
	r.p.Phase = contract.PhaseCompleted
	r.p.CancelRefused = r.cancel != nil
	r.complete(ctx)
	// Orders started before fulfillment, and those not shipped, end here.
	// One that ships says so with its completion (a fulfillment with no
	// state yet), so the controller knows to follow it on.
	ship := r.in.Fulfillment != nil && workflow.GetVersion(ctx, fulfillmentChange, workflow.DefaultVersion, 1) == 1
	if ship {
		r.p.Fulfillment = &contract.Fulfillment{Carrier: r.in.Fulfillment.Carrier, ShipmentID: contract.ShipmentID(r.in.Namespace, r.in.Name)}
	}
	if err := r.publish(ctx); err != nil {
		return r.p, err
	}
	if ship {
		return r.fulfil(ctx)
	}
	return r.p, nil
}

func (r *orderRun) createOrder(ctx workflow.Context) error {
	var a *Activities
	var res CreateResult
	r.recorded = true
	if err := r.database(ctx, a.CreateOrder, r.in).Get(ctx, &res); err != nil {
		return err
	}
	if res.Key != "" {
		r.key = res.Key // an earlier record of the same order
	}
	if res.Finished != nil {
		seq := r.p.Seq
		r.p, r.restored = *res.Finished, true
		r.p.Seq = seq
		return nil
	}
	r.p.Total, r.p.Currency = res.Total, res.Currency
	return nil
}

func (r *orderRun) reserveInventory(ctx workflow.Context) error {
	var a *Activities
	if err := r.database(ctx, a.ReserveInventory, r.key).Get(ctx, nil); err != nil {
		return err
	}
	r.reserved = true
	r.compensations = append(r.compensations, func(ctx workflow.Context) error {
		return r.database(ctx, a.ReleaseInventory, r.key).Get(ctx, nil)
	})
	return nil
}

// releaseLostReservation releases what a lost workflow task may have
// reserved. Local activities act before their workflow task completes: a
// worker killed after ReserveInventory ran but before the task was recorded
// leaves a reservation the history does not show. The task runs again, and
// if a cancel arrived meanwhile, the new run sees it first and never reaches
// the reservation, so nothing would release it. Release is a no-op when
// nothing is held.
func (r *orderRun) releaseLostReservation(ctx workflow.Context) error {
	if !r.localDatabaseSteps || r.reserved || r.in.Cancel {
		return nil // nothing ran before the cancel, or the release is registered
	}
	if workflow.GetVersion(ctx, releaseAfterLostTaskChange, workflow.DefaultVersion, 1) != 1 {
		return nil
	}
	var a *Activities
	return r.database(ctx, a.ReleaseInventory, r.key).Get(ctx, nil)
}

func (r *orderRun) processPayment(ctx workflow.Context) error {
	var a *Activities
	method := r.in.PaymentMethod
	if method == "" {
		method = contract.DefaultPaymentMethod
	}
	in := PaymentInput{Key: r.key, Total: r.p.Total, Currency: r.p.Currency, PaymentMethod: method}
	if err := workflow.ExecuteActivity(ctx, a.ProcessPayment, in).Get(ctx, &r.p.PaymentID); err != nil {
		return err
	}
	r.compensations = append(r.compensations, func(ctx workflow.Context) error {
		return workflow.ExecuteActivity(ctx, a.RefundPayment, r.key).Get(ctx, &r.p.RefundID)
	})
	return nil
}

func (r *orderRun) notifyCompleted(ctx workflow.Context) error {
	return r.notify(ctx, "completed", fmt.Sprintf("Your order %s of %s %s is confirmed.", r.in.Name, r.p.Total, r.p.Currency))
}

func (r *orderRun) notify(ctx workflow.Context, kind, message string) error {
	var a *Activities
	ctx = workflow.WithActivityOptions(ctx, notifyOptions)
	return workflow.ExecuteActivity(ctx, a.SendNotification, NotifyInput{
		Key: r.key, Order: r.in.Namespace + "/" + r.in.Name, Kind: kind, Recipient: r.in.CustomerEmail, Message: message,
	}).Get(ctx, nil)
}

// unwind runs the registered compensations last first, records the outcome
// and tells the customer. Compensations retry until they succeed: a refund
// or a release must not be skipped.
func (r *orderRun) unwind(ctx workflow.Context, phase contract.Phase, reason, message string) (contract.Progress, error) {
	var a *Activities
	logger := workflow.GetLogger(ctx)
	r.frozen = true
	r.p.Reason, r.p.Message = reason, message
	if reason == contract.ReasonNameReused {
		// Another order holds this name: its record is not this run's to
		// touch, and nothing was done for this one.
		r.p.Phase = phase
		r.complete(ctx)
		return r.p, r.publish(ctx)
	}
	if phase == contract.PhaseCancelled {
		r.p.Phase = contract.PhaseCancelling
		if err := r.publish(ctx); err != nil {
			return r.p, err
		}
	}
	for i := len(r.compensations) - 1; i >= 0; i-- {
		if err := r.compensations[i](ctx); err != nil {
			return r.p, fmt.Errorf("compensation: %w", err)
		}
	}
	if phase == contract.PhaseCancelled {
		if err := r.releaseLostReservation(ctx); err != nil {
			return r.p, fmt.Errorf("compensation: %w", err)
		}
	}
	if err := r.database(ctx, a.FinishOrder, FinishInput{Key: r.key, Phase: phase, Reason: reason, Message: message}).Get(ctx, nil); err != nil {
		return r.p, err
	}
	// The outcome stands whether or not the customer can be reached.
	// (The notification's kind is the phase in lower case: failed, cancelled.)
	kind := strings.ToLower(string(phase))
	if !r.recorded {
		// Cancelled before anything was recorded: nobody to tell about it.
	} else if err := r.notify(ctx, kind, fmt.Sprintf("Your order %s was %s: %s", r.in.Name, kind, message)); err != nil {
		logger.Warn("Customer not notified", "order", r.in.Name, "error", err)
	}
	r.p.Phase = phase
	r.complete(ctx)
	return r.p, r.publish(ctx)
}

func (r *orderRun) complete(ctx workflow.Context) {
	t := workflow.Now(ctx)
	r.p.CompletionTime = &t
}

// publish makes the current progress visible to the controller.
func (r *orderRun) publish(ctx workflow.Context) error {
	r.p.Seq++
	r.p.UpdateTime = workflow.Now(ctx)
	if err := workflow.UpsertMemo(ctx, map[string]interface{}{contract.ProgressMemoKey: r.p}); err != nil {
		return err
	}
	return workflow.UpsertTypedSearchAttributes(ctx, contract.UpdatedAt.ValueSet(r.p.UpdateTime))
}

// classify turns a step's error into a failure reason and message.
func classify(err error) (reason, message string) {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.NonRetryable() && appErr.Type() != "" {
		return appErr.Type(), appErr.Message()
	}
	if errors.As(err, &appErr) && appErr.Type() == notificationErrorType {
		return contract.ReasonNotificationFailed, appErr.Message()
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		return contract.ReasonWorkflowFailed, "a step timed out: " + timeoutErr.Error()
	}
	return contract.ReasonWorkflowFailed, err.Error()
}

func cancelMessage(reason string) string {
	if reason == contract.ReasonDeleted {
		return "the Order was deleted before it completed"
	}
	return "cancelled at the customer's request"
}
