package workflows_test

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/payment"
	"orderflow.io/orderflow/workflows"
)

// TestShippingOnTheRealStack ships orders with the sandbox carrier on the
// real server and PostgreSQL: its own workflow signals the carrier's
// events to the order's; a delivered parcel ends the order's workflow
// Delivered; a lost one is refunded at the provider, all of it, once.
func TestShippingOnTheRealStack(t *testing.T) {
	e := realWorker(t)
	for _, c := range []struct {
		script, want, history string
		refunded              bool
	}{
		{"deliver", contract.ShipmentDelivered, "shipped", false},
		{"chaos", contract.ShipmentDelivered, "", false},
		{"lose", contract.ShipmentLost, "parcel-lost", true},
	} {
		in := newOrder("PROD-002", 2, "")
		in.Fulfillment = &contract.FulfillmentInput{Carrier: "sandbox", ShipBy: time.Hour, Script: c.script}
		p := e.run(t, in)
		f := p.Fulfillment
		if p.Phase != contract.PhaseCompleted || f == nil || f.State != c.want || !f.Ended || f.ShippedTime == nil {
			t.Fatalf("%s: progress %+v, fulfillment %+v", c.script, p, f)
		}
		if got := e.count(t, `SELECT count(*) FROM shipments WHERE order_key = $1 AND state = $2`, in.RecordKey(), c.want); got != 1 {
			t.Fatalf("%s: the shipment's record does not say %s", c.script, c.want)
		}
		charged := e.charged(t, in)
		refunded := e.count(t, `SELECT coalesce(sum(r.amount_cents), 0)::int FROM payment_sandbox.refunds r
			JOIN payment_sandbox.charges c ON c.id = r.charge_id WHERE c.idempotency_key = $1`, payment.CaptureKey(in.RecordKey()))
		if len(charged) != 1 || c.refunded != (refunded == charged[0]) || !c.refunded && refunded != 0 {
			t.Fatalf("%s: the provider charged %v and refunded %d", c.script, charged, refunded)
		}
		if c.refunded && (f.Refund == nil || f.Refund.State != contract.RefundRefunded) {
			t.Fatalf("%s: refund %+v", c.script, f.Refund)
		}
		if c.history != "" {
			e.saveHistory(t, in.WorkflowID(), c.history)
		}
		// Run again once Temporal forgot it (a new workflow): the record
		// shows how the parcel ended; nothing ships or moves again.
		run, err := e.tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: in.WorkflowID() + "-again", TaskQueue: contract.TaskQueue}, workflows.OrderWorkflow, in)
		if err != nil {
			t.Fatal(err)
		}
		var again contract.Progress
		if err := run.Get(context.Background(), &again); err != nil {
			t.Fatal(err)
		}
		if g := again.Fulfillment; !again.Restored || g == nil || g.State != c.want || g.TrackingNumber != f.TrackingNumber || !g.Ended {
			t.Fatalf("%s run again: %+v, fulfillment %+v", c.script, again, g)
		}
		if n := len(e.charged(t, in)); n != 1 {
			t.Fatalf("%s run again: %d charges", c.script, n)
		}
	}
}
