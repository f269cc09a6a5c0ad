package workflows

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/workflow"

	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/refunds"
)

// RefundWorkflow makes one partial refund of a completed order (an entry of
// its Order's spec.refunds; the workflow id is contract.RefundWorkflowID).
// The refund is decided once against the capture (AcceptRefund), made at
// the provider under its own idempotency key (MakeRefund), its items put
// back in stock when asked (RestockRefund) and the customer told. Every
// step answers from the refund's record when it ran before, so running the
// workflow again (an Order applied again, a workflow Temporal forgot) moves
// nothing twice. It returns how the refund ended; a refused refund is a
// result, not an error.
func RefundWorkflow(ctx workflow.Context, in contract.RefundInput) (contract.RefundResult, error) {
	var a *Activities
	ctx = workflow.WithActivityOptions(ctx, stepOptions)
	ctx = workflow.WithLocalActivityOptions(ctx, localOptions)
	var d refunds.Decision
	if err := workflow.ExecuteLocalActivity(ctx, a.AcceptRefund, in).Get(ctx, &d); err != nil {
		return contract.RefundResult{}, err
	}
	if d.State == contract.RefundPending {
		if err := workflow.ExecuteActivity(ctx, a.MakeRefund, in).Get(ctx, &d); err != nil {
			return contract.RefundResult{}, err
		}
	}
	if d.State != contract.RefundRefunded {
		return d.Result(), nil
	}
	if d.Restock {
		if err := workflow.ExecuteLocalActivity(ctx, a.RestockRefund, d.OrderKey, in.ID).Get(ctx, nil); err != nil {
			return contract.RefundResult{}, err
		}
	}
	message := fmt.Sprintf("%s %s of your order %s were refunded", d.Amount, d.Currency, in.Name)
	if in.Reason != "" {
		message += " (" + in.Reason + ")"
	}
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, notifyOptions), a.SendNotification, NotifyInput{
		Key: d.OrderKey, Order: contract.Key(in.Namespace, in.Name), Kind: "refund-" + in.ID, Recipient: in.CustomerEmail, Message: message + ".",
	}).Get(ctx, nil)
	if err != nil {
		// The money moved: the refund stands whether or not the customer
		// can be reached.
		workflow.GetLogger(ctx).Warn("Customer not notified of a refund", "refund", contract.RefundKey(in.Namespace, in.Name, in.ID), "error", err)
	}
	return d.Result(), nil
}

// AcceptRefund decides a partial refund once: accepted and counted against
// the capture, or refused with why.
func (a *Activities) AcceptRefund(ctx context.Context, in contract.RefundInput) (refunds.Decision, error) {
	d, err := a.Refunds.Accept(ctx, in)
	return d, asTemporal(err)
}

// MakeRefund has the provider refund an accepted refund, once.
func (a *Activities) MakeRefund(ctx context.Context, in contract.RefundInput) (refunds.Decision, error) {
	d, err := a.Refunds.Make(ctx, in.Namespace, in.Name, in.ID)
	return d, asTemporal(err)
}

// RestockRefund puts back in stock what a refund with restock returns, once.
func (a *Activities) RestockRefund(ctx context.Context, orderKey, id string) error {
	return asTemporal(a.Refunds.Restock(ctx, orderKey, id))
}
