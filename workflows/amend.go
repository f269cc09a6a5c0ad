package workflows

import (
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"orderflow.io/orderflow/internal/contract"
)

// takeTurn waits, before the step next, for the amendments under way or
// queued (they go first), and before the payment for the order's edit
// window, in which it can still be amended or cancelled.
func (r *orderRun) takeTurn(ctx workflow.Context, next contract.Step) error {
	if next == contract.StepPaymentCaptured && r.in.EditWindow > 0 {
		if _, err := workflow.AwaitWithTimeout(ctx, r.in.EditWindow, func() bool { return r.cancel != nil }); err != nil {
			return err
		}
	}
	return workflow.Await(ctx, func() bool { return !r.busy && r.queued == 0 })
}

// tooLate is the message of an amendment refused because the order went
// past its payment or is ending.
func (r *orderRun) tooLate() string {
	if r.cancel != nil || r.p.Phase == contract.PhaseCancelling || r.p.Phase.Terminal() {
		return "the order is ending: it can no longer be changed"
	}
	return "the payment was captured (or is being captured): items and email change only before it"
}

// validateAmend refuses, before it is recorded, an amendment that comes
// after the payment started or that an amendment of a later generation
// has overtaken.
func (r *orderRun) validateAmend(_ workflow.Context, req contract.AmendRequest) error {
	if r.frozen {
		return temporal.NewApplicationError(r.tooLate(), contract.ReasonTooLate)
	}
	if req.Generation <= r.amendedGeneration {
		return temporal.NewApplicationError(fmt.Sprintf("generation %d was overtaken by generation %d", req.Generation, r.amendedGeneration), contract.ReasonTooLate)
	}
	if len(req.Items) == 0 {
		return temporal.NewApplicationError("an amendment names the order's items", contract.ReasonUnknownProduct)
	}
	return nil
}

// amend changes the running order's items and email: in its turn (never
// beside a step), re-priced and re-reserved by AmendOrder, all or nothing.
// A refusal is an answer, not an error: the order goes on as it was, and
// the answer is published with the progress.
func (r *orderRun) amend(ctx workflow.Context, req contract.AmendRequest) (contract.AmendResult, error) {
	r.queued++
	err := workflow.Await(ctx, func() bool { return !r.busy })
	r.queued--
	if err != nil {
		return contract.AmendResult{}, err
	}
	r.busy = true
	defer func() { r.busy = false }()
	res := contract.AmendResult{Generation: req.Generation}
	switch {
	case r.frozen:
		res.Reason, res.Message = contract.ReasonTooLate, r.tooLate()
	case req.Generation <= r.amendedGeneration:
		res.Reason, res.Message = contract.ReasonTooLate, fmt.Sprintf("generation %d was overtaken by generation %d", req.Generation, r.amendedGeneration)
	default:
		total := ""
		if r.recorded {
			var a *Activities
			ctx := workflow.WithLocalActivityOptions(workflow.WithActivityOptions(ctx, stepOptions), localOptions)
			in := AmendInput{Key: r.key, Fingerprint: req.Fingerprint, CustomerEmail: req.CustomerEmail, Items: req.Items}
			if err := r.database(ctx, a.AmendOrder, in).Get(ctx, &total); err != nil {
				var appErr *temporal.ApplicationError
				if !errors.As(err, &appErr) || !appErr.NonRetryable() {
					return contract.AmendResult{}, err
				}
				res.Reason, res.Message = classify(err)
				break
			}
		}
		// Before CreateOrder ran, the new items are what it records.
		r.in.Items, r.in.CustomerEmail, r.in.Fingerprint = req.Items, req.CustomerEmail, req.Fingerprint
		r.p.Items, r.p.Fingerprint = req.Items, req.Fingerprint
		if total != "" {
			r.p.Total = total
		}
		res.Accepted, res.Reason, res.Total = true, contract.ReasonAmended, r.p.Total
		res.Message = "the order runs with the changed " + changed(req)
	}
	res.Time = workflow.Now(ctx)
	r.amendedGeneration = req.Generation
	r.p.Amendment = &res
	return res, r.publish(ctx)
}

// changed names what an amendment carries.
func changed(req contract.AmendRequest) string {
	var lines []string
	for _, it := range req.Items {
		lines = append(lines, fmt.Sprintf("%s×%d", it.ProductID, it.Quantity))
	}
	return "items (" + strings.Join(lines, ", ") + ")"
}
