package temporal

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/go-logr/logr"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"orderflow.io/orderflow/internal/contract"
)

// HistoryFollower follows the history of each running order workflow it is
// asked to, the way Temporal's own tools follow a workflow: one long poll
// (GetWorkflowExecutionHistory waiting for new events) per workflow, which
// the history service answers as soon as an event is appended. Each
// progress the workflow publishes is an event of its own (the memo upsert),
// and so is its close, however it closed; both are stored in the cache and
// told to Changed at once. History is consistent the moment the workflow
// moves, unlike visibility, which the ProgressWatcher lists as a slow
// safety net.
//
// A workflow that goes on after its order completed, to follow a parcel
// (Snapshot.Parked), is followed until it says so, then left to the
// watcher.
//
// A follower costs one open call while its workflow waits and one call per
// batch of events; nothing while no order runs. It starts from the first
// event, so a follower started after a manager restart or a leader
// handover catches up from history alone; the cache drops what it had seen
// already by the progress sequence number. While Temporal cannot be
// reached each follower retries with a jittered backoff up to MaxBackoff.
type HistoryFollower struct {
	Client    client.Client
	Namespace string
	Cache     *ProgressCache
	// Changed is told each order whose progress changed or whose workflow
	// closed.
	Changed func(namespace, name string)
	// Converter decodes the progress memo (the client's; nil: the default).
	Converter converter.DataConverter
	// Max bounds the workflows followed at once (0: 5000); past it, Follow
	// declines and the safety net sees to the order.
	Max int
	// MaxBackoff bounds the wait between retries of a failed poll (0: 30 s).
	MaxBackoff time.Duration
	// Coalesce is the pause after an answer that carried no progress before
	// the next poll, so that one poll takes the events of a workflow task
	// together rather than one answer each (negative: none; 0: 20 ms). A
	// progress is never held back: it is reported as it arrives.
	Coalesce time.Duration
	// Calls, when set, counts the history polls made.
	Calls func()
	// Seen, when set, is told how long after a change the follower saw it.
	Seen func(delay time.Duration)

	mu        sync.Mutex
	ctx       context.Context
	following map[string]struct{}
	wg        sync.WaitGroup
}

// Follow starts following the workflow's run unless it is followed
// already, and reports whether it is followed. Before Start, or once the
// follower stopped or holds Max workflows, it declines.
func (f *HistoryFollower) Follow(workflowID, runID string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ctx == nil || f.ctx.Err() != nil {
		return false
	}
	if _, ok := f.following[workflowID]; ok {
		return true
	}
	limit := f.Max
	if limit <= 0 {
		limit = 5000
	}
	if len(f.following) >= limit {
		return false
	}
	f.following[workflowID] = struct{}{}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.follow(f.ctx, workflowID, runID)
		f.mu.Lock()
		delete(f.following, workflowID)
		f.mu.Unlock()
	}()
	return true
}

// Following returns how many workflows are followed.
func (f *HistoryFollower) Following() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.following)
}

// Start lets Follow start followers until ctx ends, then waits for them to
// stop. It implements manager.Runnable (the leader's only, like the
// controller).
func (f *HistoryFollower) Start(ctx context.Context) error {
	f.mu.Lock()
	f.ctx = ctx
	f.following = map[string]struct{}{}
	f.mu.Unlock()
	<-ctx.Done()
	f.wg.Wait()
	return nil
}

// pollTimeout bounds one long poll: longer than the history service holds
// one open (20 s by default), so an empty answer, not a deadline, ends it.
const pollTimeout = 70 * time.Second

// follow polls the run's history until the run closed, is gone, or ctx ends.
func (f *HistoryFollower) follow(ctx context.Context, workflowID, runID string) {
	log := logr.FromContextOrDiscard(ctx).WithName("history-follower").WithValues("workflowID", workflowID)
	maxBackoff := f.MaxBackoff
	if maxBackoff <= 0 {
		maxBackoff = 30 * time.Second
	}
	coalesce := f.Coalesce
	if coalesce == 0 {
		coalesce = 20 * time.Millisecond
	}
	var last contract.Progress
	var token []byte
	failures := 0
	for ctx.Err() == nil {
		if f.Calls != nil {
			f.Calls()
		}
		pollCtx, cancel := context.WithTimeout(ctx, pollTimeout)
		resp, err := f.Client.WorkflowService().GetWorkflowExecutionHistory(pollCtx, &workflowservice.GetWorkflowExecutionHistoryRequest{
			Namespace:              f.Namespace,
			Execution:              &commonpb.WorkflowExecution{WorkflowId: workflowID, RunId: runID},
			NextPageToken:          token,
			WaitNewEvent:           true,
			HistoryEventFilterType: enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT,
			SkipArchival:           true,
		})
		cancel()
		var nf *serviceerror.NotFound
		switch {
		case ctx.Err() != nil:
			return
		case errors.As(err, &nf):
			return // gone (retention): the reconciler's reads see to it
		case err != nil:
			failures++
			if failures == 1 || failures%20 == 0 {
				log.Error(err, "Following the workflow's history failed; retrying", "failures", failures)
			}
			wait := min(maxBackoff, time.Second<<min(failures-1, 10))
			select {
			case <-time.After(wait/2 + rand.N(wait/2+1)):
			case <-ctx.Done():
				return
			}
			continue
		}
		failures = 0
		events := resp.GetHistory().GetEvents()
		progressed := false
		for _, ev := range events {
			snap, ok := f.snapshotAt(ev, runID, &last)
			if !ok || last.Name == "" {
				continue
			}
			progressed = true
			if f.Cache.Put(workflowID, snap) {
				if f.Seen != nil {
					f.Seen(time.Since(snap.Changed))
				}
				f.Changed(last.Namespace, last.Name)
			}
			if snap.Closed || snap.Parked() {
				// A parked workflow's changes (a parcel's news) are few and
				// not urgent: the watcher lists them. A long poll held for
				// days per parcel would crowd out the orders in flight.
				return
			}
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			return // the run closed and its history was read to the end
		}
		if len(events) > 0 && !progressed && coalesce > 0 {
			select {
			case <-time.After(coalesce):
			case <-ctx.Done():
				return
			}
		}
	}
}

// snapshotAt turns a progress or close event into a Snapshot; last holds the
// newest progress seen, which a close carries on.
func (f *HistoryFollower) snapshotAt(ev *historypb.HistoryEvent, runID string, last *contract.Progress) (Snapshot, bool) {
	at := ev.GetEventTime().AsTime()
	status := enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	switch ev.GetEventType() {
	case enumspb.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
		memo := ev.GetWorkflowPropertiesModifiedEventAttributes().GetUpsertedMemo().GetFields()[contract.ProgressMemoKey]
		if memo == nil {
			return Snapshot{}, false
		}
		snap, err := snapshotOf(f.Converter, runID, status, memo)
		if err != nil {
			return Snapshot{}, false
		}
		*last = snap.Progress
		return snap, true
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
		status = enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
		status = enumspb.WORKFLOW_EXECUTION_STATUS_FAILED
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
		status = enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
		status = enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
		status = enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
		status = enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW
	default:
		return Snapshot{}, false
	}
	snap := Snapshot{RunID: runID, Closed: true, CloseStatus: closeStatusName(status), Progress: *last, Fetched: time.Now(), Changed: at}
	return snap, true
}
