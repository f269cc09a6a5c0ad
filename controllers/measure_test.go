package controllers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	eventsv1 "k8s.io/api/events/v1"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/contract"
)

// TestMeasureStatusLagAndWritesPerOrder runs 200 orders, 20 a second, and
// prints how long a workflow step takes to show in the Order's status (as
// a watch sees it) and how many API writes an order costs. It prints
// numbers; it asserts only what is not a matter of timing: every order
// completes, and none costs more than the budget of DESIGN.md §1: the
// create, a status write for Pending and one per progress the workflow
// publishes (two), the finalizer's removal (the admission policy put it on),
// one Event — six in all.
func TestMeasureStatusLagAndWritesPerOrder(t *testing.T) {
	c := kube(t)
	s := running(t)
	ns := namespace(t, c)
	ctx := context.Background()
	const orders, rate = 200, 20

	type seen struct {
		at     time.Time
		status v1alpha1.OrderStatus
	}
	var mu sync.Mutex
	events := map[string][]seen{}
	wc, err := crclient.NewWithWatch(stackConfig(), crclient.Options{Scheme: c.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wc.Watch(ctx, &v1alpha1.OrderList{}, crclient.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	go func() {
		for ev := range w.ResultChan() {
			now := time.Now()
			if o, ok := ev.Object.(*v1alpha1.Order); ok {
				mu.Lock()
				events[o.Name] = append(events[o.Name], seen{now, *o.Status.DeepCopy()})
				mu.Unlock()
			}
		}
	}()

	tick := time.NewTicker(time.Second / rate)
	var created []*v1alpha1.Order
	for i := 0; i < orders; i++ {
		<-tick.C
		o := newOrder(ns, fmt.Sprintf("m-%03d", i)).items(item("BULK", 1, "")).build()
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		created = append(created, o)
	}
	tick.Stop()
	for _, o := range created {
		got := waitFor(t, c, o, "Completed", phase(v1alpha1.PhaseCompleted))
		o.UID = got.UID
	}
	time.Sleep(300 * time.Millisecond)

	var lags []time.Duration
	var writes []int
	mu.Lock()
	defer mu.Unlock()
	for _, o := range created {
		// The workflow's own record of when each step completed.
		desc, err := s.tc.DescribeWorkflowExecution(ctx, contract.WorkflowID(o.Namespace, o.Name), "")
		if err != nil {
			t.Fatal(err)
		}
		var p contract.Progress
		if err := converter.GetDefaultDataConverter().FromPayload(desc.GetWorkflowExecutionInfo().GetMemo().GetFields()[contract.ProgressMemoKey], &p); err != nil {
			t.Fatal(err)
		}
		evs := events[o.Name]
		n, other := 0, 0
		for i := 1; i < len(evs); i++ {
			a, _ := json.Marshal(evs[i-1].status)
			b, _ := json.Marshal(evs[i].status)
			if string(a) != string(b) {
				n++
			} else {
				other++ // metadata: the finalizer
			}
		}
		writes = append(writes, n)
		if n > statusBudget || other > 1 {
			t.Errorf("order %s cost %d status writes and %d other writes; want at most %d and 1", o.Name, n, other, statusBudget)
		}
		for _, step := range p.Steps {
			for _, ev := range evs {
				if hasStep(ev.status, v1alpha1.OrderStep(step.Step)) {
					lags = append(lags, ev.at.Sub(step.Time))
					break
				}
			}
		}
	}
	slices.Sort(lags)
	slices.Sort(writes)
	total := 0
	for _, n := range writes {
		total += n
	}
	pct := func(q float64) time.Duration { return lags[int(q*float64(len(lags)-1))].Round(time.Millisecond) }
	t.Logf("status lag over %d step changes of %d orders (%d/s): p50 %s, p99 %s, max %s", len(lags), orders, rate, pct(0.5), pct(0.99), pct(1))
	t.Logf("status writes per order: mean %.2f, max %d (budget %d)", float64(total)/float64(orders), writes[len(writes)-1], statusBudget)
	var evl eventsv1.EventList
	if err := c.List(ctx, &evl, crclient.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	perOrder := map[string]int{}
	for _, e := range evl.Items {
		perOrder[e.Regarding.Name]++
	}
	for _, o := range created {
		if perOrder[o.Name] != 1 {
			t.Errorf("order %s has %d Events; want 1 (Completed)", o.Name, perOrder[o.Name])
		}
	}
}

// statusBudget is the status writes a completed order may cost: Pending,
// then one per progress the workflow publishes.
const statusBudget = 3

func hasStep(st v1alpha1.OrderStatus, step v1alpha1.OrderStep) bool {
	for _, c := range st.Conditions {
		if c.Type == string(step) && c.Status == "True" {
			return true
		}
	}
	return false
}
