package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"orderflow.io/orderflow/workflows"
)

// lateVisibility is a visibility store whose records become visible at a
// given poll, not in the order of their change times, as under a burst.
type lateVisibility struct {
	client.Client
	mu      sync.Mutex
	polls   int
	records []lateRecord
}

type lateRecord struct {
	name      string
	changed   time.Time
	visibleAt int
}

func (v *lateVisibility) ListWorkflow(_ context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.polls++
	// "OrderUpdatedAt >= 'T' OR ...": the watermark is the first quoted value.
	since, err := time.Parse(time.RFC3339Nano, strings.Split(req.Query, "'")[1])
	if err != nil {
		return nil, err
	}
	resp := &workflowservice.ListWorkflowExecutionsResponse{}
	for _, r := range v.records {
		if r.visibleAt > v.polls || r.changed.Before(since) {
			continue
		}
		memo, err := converter.GetDefaultDataConverter().ToPayload(workflows.Progress{Namespace: "shop", Name: r.name, Seq: 1, UpdateTime: r.changed})
		if err != nil {
			return nil, err
		}
		resp.Executions = append(resp.Executions, &workflowpb.WorkflowExecutionInfo{
			Execution: &commonpb.WorkflowExecution{WorkflowId: "order-" + r.name, RunId: "run-" + r.name},
			Memo:      &commonpb.Memo{Fields: map[string]*commonpb.Payload{workflows.ProgressMemoKey: memo}},
		})
	}
	return resp, nil
}

// TestTheProgressWatcherWidensItsOverlapWhenChangesArriveLate feeds changes
// that become visible further and further behind the newest one: each is
// within twice the lateness of the one before, so a watcher that widens its
// overlap finds them all; one with a fixed 500 ms overlap misses all but
// the first two.
func TestTheProgressWatcherWidensItsOverlapWhenChangesArriveLate(t *testing.T) {
	t0 := time.Now().Add(-10 * time.Second)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	v := &lateVisibility{records: []lateRecord{
		{"newest", at(5000), 1},
		{"late-300ms", at(4700), 3},
		{"late-550ms", at(4450), 5},
		{"late-1s", at(4000), 7},
		{"late-1.9s", at(3100), 9},
		{"late-3.5s", at(1500), 11},
	}}
	events := make(chan event.GenericEvent, 100)
	w := &ProgressWatcher{Client: v, Namespace: "default", Cache: NewProgressCache(), Events: events,
		Interval: 5 * time.Millisecond, Overlap: 500 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Start(ctx) }()
	deadline := time.After(10 * time.Second)
	for {
		v.mu.Lock()
		polls := v.polls
		v.mu.Unlock()
		if polls > 15 {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("only %d polls in 10 s", polls)
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	close(events)
	var got []string
	for ev := range events {
		got = append(got, ev.Object.GetName())
	}
	want := []string{"newest", "late-300ms", "late-550ms", "late-1s", "late-1.9s", "late-3.5s"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("changes seen %v; want %v", got, want)
	}
}
