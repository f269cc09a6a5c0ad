package audit

import (
	"context"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
)

// Refunds are the partial refunds AppendRefunds asks of every Completed
// order: one item back in stock, then 0.50. An order of one unit (1.00) has
// nothing left for the second, which is refused: the mix covers both.
func (e *Env) Refunds() []v1alpha1.RefundRequest {
	return []v1alpha1.RefundRequest{
		{ID: "damaged", Items: []v1alpha1.RefundItem{{ProductID: e.Product, Quantity: 1}}, Reason: "damaged", Restock: true},
		{ID: "goodwill", Amount: "0.50", Reason: "late"},
	}
}

// AppendRefunds appends Refunds to the spec of every Completed Order of
// the namespace, as a person or a commit would, 16 at a time, and calls
// inject once a third of them have been asked.
func (e *Env) AppendRefunds(t testing.TB, ns string, inject func()) int {
	ctx := context.Background()
	var list v1alpha1.OrderList
	if err := e.Kube.List(ctx, &list, crclient.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var completed []v1alpha1.Order
	for _, o := range list.Items {
		if o.Status.Phase == v1alpha1.PhaseCompleted {
			completed = append(completed, o)
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, o := range completed {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := Retry(func() error {
				return retry.RetryOnConflict(retry.DefaultRetry, func() error {
					cur := &v1alpha1.Order{}
					if err := e.Kube.Get(ctx, crclient.ObjectKeyFromObject(&o), cur); err != nil {
						return err
					}
					cur.Spec.Refunds = e.Refunds()
					return e.Kube.Update(ctx, cur)
				})
			})
			if err != nil {
				t.Errorf("refund %s: %v", o.Name, err)
			}
		}()
		if i == len(completed)/3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				inject()
			}()
		}
	}
	wg.Wait()
	return len(completed)
}

// WaitRefunded waits until every Order of the namespace that asks for
// refunds shows each of them made or refused.
func (e *Env) WaitRefunded(t testing.TB, ns string) time.Time {
	t.Helper()
	left := 0
	err := wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		var list v1alpha1.OrderList
		if err := e.Kube.List(ctx, &list, crclient.InNamespace(ns)); err != nil {
			return false, nil
		}
		left = 0
		for _, o := range list.Items {
			shown := 0
			for _, r := range o.Status.Refunds {
				if r.State != v1alpha1.RefundPending {
					shown++
				}
			}
			if shown != len(o.Spec.Refunds) {
				left++
			}
		}
		return left == 0, nil
	})
	if err != nil {
		t.Fatalf("%d orders do not show all their refunds after 5 minutes", left)
	}
	return time.Now()
}

// RefundsInFlight counts, at this instant, the namespace's orders with a
// refund accepted and not yet made, and those refunds.
func (e *Env) RefundsInFlight(ctx context.Context, ns string) (Hit, error) {
	var h Hit
	err := e.DB.QueryRow(ctx, `SELECT count(DISTINCT order_key), count(*) FROM order_refunds WHERE starts_with(order_key, $1) AND state = 'accepted'`,
		ns+"/").Scan(&h.Orders, &h.Charges)
	return h, err
}

// AwaitRefunds waits, for at most timeout, until a refund of the namespace
// is in flight, and returns what is in flight then (or at the timeout).
func (e *Env) AwaitRefunds(ctx context.Context, ns string, timeout time.Duration) (Hit, error) {
	deadline := time.Now().Add(timeout)
	for {
		h, err := e.RefundsInFlight(ctx, ns)
		if err != nil || h.Charges > 0 || time.Now().After(deadline) {
			return h, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
