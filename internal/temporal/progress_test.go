package temporal

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/types/known/timestamppb"

	"orderflow.io/orderflow/internal/contract"
)

// lateVisibility is a visibility store whose records become visible at a
// given poll, not in the order of their change times, as under a burst.
type lateVisibility struct {
	client.Client
	mu      sync.Mutex
	polls   int
	records []lateRecord
	// ended are workflows that ended abnormally, found only by the
	// listing of abnormal ends.
	ended []lateRecord
}

type lateRecord struct {
	name      string
	changed   time.Time
	visibleAt int
}

func (v *lateVisibility) ListWorkflow(_ context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	// "OrderUpdatedAt >= 'T'", or "ExecutionStatus IN (...) AND CloseTime
	// >= 'T'" for the abnormal ends: the bound is the last quoted value.
	quoted := strings.Split(req.Query, "'")
	since, err := time.Parse(time.RFC3339Nano, quoted[len(quoted)-2])
	if err != nil {
		return nil, err
	}
	records, status := v.records, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	if strings.HasPrefix(req.Query, "ExecutionStatus") {
		records, status = v.ended, enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED
	} else {
		v.polls++
	}
	resp := &workflowservice.ListWorkflowExecutionsResponse{}
	for _, r := range records {
		if r.visibleAt > v.polls || r.changed.Before(since) {
			continue
		}
		// A terminated workflow's last progress is older than its close.
		memo, err := converter.GetDefaultDataConverter().ToPayload(contract.Progress{Namespace: "shop", Name: r.name, Seq: 1, UpdateTime: r.changed.Add(-time.Hour)})
		if status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			memo, err = converter.GetDefaultDataConverter().ToPayload(contract.Progress{Namespace: "shop", Name: r.name, Seq: 1, UpdateTime: r.changed})
		}
		if err != nil {
			return nil, err
		}
		ex := &workflowpb.WorkflowExecutionInfo{
			Execution: &commonpb.WorkflowExecution{WorkflowId: "order-" + r.name, RunId: "run-" + r.name},
			Memo:      &commonpb.Memo{Fields: map[string]*commonpb.Payload{contract.ProgressMemoKey: memo}},
			Status:    status,
		}
		if status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			ex.CloseTime = timestamppb.New(r.changed)
		}
		resp.Executions = append(resp.Executions, ex)
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
	w := &ProgressWatcher{Client: v, Namespace: "default", Cache: NewProgressCache(),
		Interval: 5 * time.Millisecond, Overlap: 500 * time.Millisecond}
	got := watch(t, v, w)
	want := []string{"newest", "late-300ms", "late-550ms", "late-1s", "late-1.9s", "late-3.5s"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("changes seen %v; want %v", got, want)
	}
}

// TestTheProgressWatcherFindsWorkflowsThatEndedWithoutALastProgress ends a
// workflow (terminated, say) 3 s behind the newest change: the progress
// listing cannot see it, the listing of abnormal ends does.
func TestTheProgressWatcherFindsWorkflowsThatEndedWithoutALastProgress(t *testing.T) {
	t0 := time.Now().Add(-10 * time.Second)
	v := &lateVisibility{
		records: []lateRecord{{"running", t0.Add(5 * time.Second), 1}},
		ended:   []lateRecord{{"terminated", t0.Add(2 * time.Second), 3}},
	}
	w := &ProgressWatcher{Client: v, Namespace: "default", Cache: NewProgressCache(),
		Interval: 5 * time.Millisecond, Overlap: 500 * time.Millisecond, EndedInterval: 20 * time.Millisecond}
	got := watch(t, v, w)
	if fmt.Sprint(got) != "[running terminated]" {
		t.Fatalf("changes seen %v", got)
	}
	if snap, ok := w.Cache.Get("order-terminated"); !ok || !snap.Closed {
		t.Fatalf("cached %+v, %v", snap, ok)
	}
}

// watch runs the watcher for 15 progress polls and returns the Orders it
// sent to the controller.
func watch(t *testing.T, v *lateVisibility, w *ProgressWatcher) []string {
	t.Helper()
	var mu sync.Mutex
	var got []string
	w.Changed = func(_, name string) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, name)
	}
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
	mu.Lock()
	defer mu.Unlock()
	return got
}

func TestAnOlderReportDoesNotReplaceANewerOne(t *testing.T) {
	c := NewProgressCache()
	if !c.Put("w", Snapshot{Progress: contract.Progress{Seq: 3}}) {
		t.Fatal("first put reported no change")
	}
	if c.Put("w", Snapshot{Progress: contract.Progress{Seq: 2}}) {
		t.Fatal("an older snapshot replaced a newer one")
	}
	if c.Put("w", Snapshot{Progress: contract.Progress{Seq: 3}}) {
		t.Fatal("the same snapshot reported a change")
	}
	if s, _ := c.Get("w"); s.Progress.Seq != 3 {
		t.Fatalf("seq %d", s.Progress.Seq)
	}
}

// quietVisibility is a visibility store where nothing changes; it counts
// the listings.
type quietVisibility struct {
	client.Client
	lists atomic.Int64
}

func (q *quietVisibility) ListWorkflow(context.Context, *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	q.lists.Add(1)
	return &workflowservice.ListWorkflowExecutionsResponse{}, nil
}

// TestAnIdleWatcherBacksOffAndWakesAtOnce: with nothing running and
// nothing changing, the watcher's listings slow down to IdleInterval; a
// Wake (a workflow started) brings a listing at once.
func TestAnIdleWatcherBacksOffAndWakesAtOnce(t *testing.T) {
	q := &quietVisibility{}
	w := &ProgressWatcher{Client: q, Namespace: "default", Cache: NewProgressCache(), Changed: func(string, string) {},
		Interval: 10 * time.Millisecond, Overlap: time.Millisecond, IdleInterval: 300 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = w.Start(ctx) }()
	time.Sleep(1500 * time.Millisecond)
	idle := q.lists.Load()
	// At full rate it would have listed ~150 times; backing off: 10, 20,
	// 40, ... 300 ms, about ten.
	if idle > 25 {
		t.Fatalf("%d listings in 1.5 s of nothing happening; want the watcher to back off", idle)
	}
	w.Wake()
	deadline := time.Now().Add(100 * time.Millisecond)
	for q.lists.Load() == idle {
		if time.Now().After(deadline) {
			t.Fatal("no listing within 100 ms of a Wake")
		}
		time.Sleep(time.Millisecond)
	}
}
