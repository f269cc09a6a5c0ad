package temporal

import (
	"context"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"orderflow.io/orderflow/internal/contract"
)

// scriptedHistory answers history long polls from a script: one answer
// (events, or an error) per call, each call's page token the index of its
// answer.
type scriptedHistory struct {
	client.Client
	mu      sync.Mutex
	answers []any // []*historypb.HistoryEvent or error
	calls   []string
}

func (s *scriptedHistory) WorkflowService() workflowservice.WorkflowServiceClient {
	return historyService{s: s}
}

type historyService struct {
	workflowservice.WorkflowServiceClient
	s *scriptedHistory
}

func (h historyService) GetWorkflowExecutionHistory(ctx context.Context, req *workflowservice.GetWorkflowExecutionHistoryRequest, opts ...grpc.CallOption) (*workflowservice.GetWorkflowExecutionHistoryResponse, error) {
	return h.s.history(ctx, req, opts...)
}

func (s *scriptedHistory) history(_ context.Context, req *workflowservice.GetWorkflowExecutionHistoryRequest, _ ...grpc.CallOption) (*workflowservice.GetWorkflowExecutionHistoryResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !req.GetWaitNewEvent() {
		panic("a follower's poll must wait for new events")
	}
	s.calls = append(s.calls, string(req.GetNextPageToken()))
	if len(s.answers) == 0 {
		return nil, serviceerror.NewNotFound("no more script")
	}
	a := s.answers[0]
	s.answers = s.answers[1:]
	if err, ok := a.(error); ok {
		return nil, err
	}
	token := []byte("t" + string(rune('0'+len(s.calls))))
	events := a.([]*historypb.HistoryEvent)
	for _, ev := range events {
		if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED {
			token = nil
		}
	}
	return &workflowservice.GetWorkflowExecutionHistoryResponse{History: &historypb.History{Events: events}, NextPageToken: token}, nil
}

func progressEvent(t *testing.T, seq int64, phase contract.Phase) *historypb.HistoryEvent {
	t.Helper()
	memo, err := converter.GetDefaultDataConverter().ToPayload(contract.Progress{Seq: seq, Namespace: "shop", Name: "o1", Phase: phase, UpdateTime: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return &historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED, EventTime: timestamppb.Now(),
		Attributes: &historypb.HistoryEvent_WorkflowPropertiesModifiedEventAttributes{WorkflowPropertiesModifiedEventAttributes: &historypb.WorkflowPropertiesModifiedEventAttributes{
			UpsertedMemo: &commonpb.Memo{Fields: map[string]*commonpb.Payload{contract.ProgressMemoKey: memo}}}}}
}

func otherEvent(kind enumspb.EventType) *historypb.HistoryEvent {
	return &historypb.HistoryEvent{EventType: kind, EventTime: timestamppb.Now()}
}

// follow runs a follower over the script until it stops following, and
// returns what it told Changed and the snapshot it cached.
func follow(t *testing.T, h *scriptedHistory) ([]string, Snapshot) {
	t.Helper()
	var mu sync.Mutex
	var changed []string
	f := &HistoryFollower{Client: h, Namespace: "default", Cache: NewProgressCache(), MaxBackoff: 10 * time.Millisecond,
		Changed: func(ns, name string) {
			mu.Lock()
			defer mu.Unlock()
			changed = append(changed, ns+"/"+name)
		}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error)
	go func() { done <- f.Start(ctx) }()
	for !f.Follow("order/shop/o1", "run-1") {
		time.Sleep(time.Millisecond) // until Start ran
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.Following() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the follower did not stop at the workflow's close")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	snap, _ := f.Cache.Get("order/shop/o1")
	mu.Lock()
	defer mu.Unlock()
	return changed, snap
}

// TestTheFollowerReportsEachProgressAndTheCloseFromHistory: every progress
// event and the close reach Changed, each once, in order; events that are
// not progress do not; the follower stops at the close.
func TestTheFollowerReportsEachProgressAndTheCloseFromHistory(t *testing.T) {
	h := &scriptedHistory{answers: []any{
		[]*historypb.HistoryEvent{otherEvent(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED), otherEvent(enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED)},
		[]*historypb.HistoryEvent{otherEvent(enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED), progressEvent(t, 1, contract.PhaseProcessing)},
		[]*historypb.HistoryEvent{}, // the long poll's empty answer
		[]*historypb.HistoryEvent{progressEvent(t, 1, contract.PhaseProcessing)}, // read again: no change
		[]*historypb.HistoryEvent{progressEvent(t, 2, contract.PhaseCompleted), otherEvent(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED)},
	}}
	changed, snap := follow(t, h)
	if len(changed) != 3 {
		t.Fatalf("Changed told %v; want the two progresses and the close", changed)
	}
	if !snap.Closed || snap.CloseStatus != "Completed" || snap.Progress.Seq != 2 || snap.Progress.Phase != contract.PhaseCompleted {
		t.Fatalf("cached %+v", snap)
	}
	if len(h.calls) != 5 || h.calls[0] != "" || h.calls[1] != "t1" || h.calls[4] != "t4" {
		t.Fatalf("polls with tokens %q; want each to go on from the last", h.calls)
	}
}

// TestTheFollowerRetriesWhileTemporalIsDownAndReportsATermination: a
// workflow terminated with no last progress of its own still reaches the
// controller as closed, after polls failed on the way.
func TestTheFollowerRetriesWhileTemporalIsDownAndReportsATermination(t *testing.T) {
	h := &scriptedHistory{answers: []any{
		[]*historypb.HistoryEvent{progressEvent(t, 1, contract.PhaseProcessing)},
		serviceerror.NewUnavailable("temporal restarting"),
		serviceerror.NewUnavailable("temporal restarting"),
		[]*historypb.HistoryEvent{otherEvent(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED)},
	}}
	changed, snap := follow(t, h)
	if len(changed) != 2 || !snap.Closed || snap.CloseStatus != "Terminated" || snap.Progress.Seq != 1 {
		t.Fatalf("Changed told %v, cached %+v", changed, snap)
	}
	if len(h.calls) != 4 || h.calls[1] != h.calls[2] || h.calls[2] != h.calls[3] {
		t.Fatalf("polls with tokens %q; want the failed ones retried from the same token", h.calls)
	}
}

// TestTheFollowerLeavesAParkedWorkflowToTheWatcher: once an order
// completed and its workflow follows a parcel, the follower reports that
// progress and stops: it holds no long poll for days. The cache keeps the
// parked workflow (not settled) and counts it among those that may still
// change, so the watcher lists at its full rate.
func TestTheFollowerLeavesAParkedWorkflowToTheWatcher(t *testing.T) {
	parked := progressEvent(t, 2, contract.PhaseCompleted)
	memo, err := converter.GetDefaultDataConverter().ToPayload(contract.Progress{Seq: 2, Namespace: "shop", Name: "o1",
		Phase: contract.PhaseCompleted, UpdateTime: time.Now(), Fulfillment: &contract.Fulfillment{Carrier: "sandbox", State: contract.ShipmentBooked}})
	if err != nil {
		t.Fatal(err)
	}
	parked.GetWorkflowPropertiesModifiedEventAttributes().UpsertedMemo.Fields[contract.ProgressMemoKey] = memo
	h := &scriptedHistory{answers: []any{
		[]*historypb.HistoryEvent{progressEvent(t, 1, contract.PhaseProcessing)},
		[]*historypb.HistoryEvent{parked},
		[]*historypb.HistoryEvent{}, // never asked for: the follower stopped
	}}
	changed, snap := follow(t, h)
	if len(changed) != 2 || snap.Closed || !snap.Parked() || snap.Settled() {
		t.Fatalf("Changed told %v, cached %+v", changed, snap)
	}
	if len(h.calls) != 2 {
		t.Fatalf("%d polls; want the follower to stop at the parked progress", len(h.calls))
	}
	c := NewProgressCache()
	c.Put("order/shop/o1", snap)
	c.EvictClosedBefore(time.Now().Add(time.Hour))
	if _, ok := c.Get("order/shop/o1"); !ok || c.Running() != 1 {
		t.Fatalf("a parked workflow: kept %v, running %d; want kept, and the watcher at its full rate", ok, c.Running())
	}
}
