package temporal

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"orderflow.io/orderflow/internal/contract"
)

// ProgressCache holds the latest Snapshot of each order workflow that runs
// or changed recently, keyed by workflow id. The watcher fills it and
// evicts closed workflows once its query no longer returns them; the
// reconciler reads it.
type ProgressCache struct {
	mu   sync.Mutex
	byID map[string]Snapshot
}

// NewProgressCache returns an empty cache.
func NewProgressCache() *ProgressCache {
	return &ProgressCache{byID: map[string]Snapshot{}}
}

// Get returns the snapshot of a workflow, if one is cached.
func (c *ProgressCache) Get(workflowID string) (Snapshot, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.byID[workflowID]
	return s, ok
}

// Put stores s unless the cache holds a newer snapshot of the workflow,
// and reports whether it changed anything the status shows.
func (c *ProgressCache) Put(workflowID string, s Snapshot) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.byID[workflowID]
	if ok && (old.Progress.Seq > s.Progress.Seq || (old.Progress.Seq == s.Progress.Seq && old.Closed && !s.Closed)) {
		return false
	}
	c.byID[workflowID] = s
	return !ok || old.Progress.Seq != s.Progress.Seq || old.Closed != s.Closed || old.RunID != s.RunID
}

// EvictClosedBefore drops the settled workflows (Snapshot.Settled) that
// last changed before t.
func (c *ProgressCache) EvictClosedBefore(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, s := range c.byID {
		if s.Settled() && s.Changed.Before(t) {
			delete(c.byID, id)
		}
	}
}

// Running returns how many cached workflows may still change: an order in
// flight, or a parcel followed (Snapshot.Settled is false). While there
// are any, the watcher lists at its full rate: one query per interval,
// however many.
func (c *ProgressCache) Running() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, s := range c.byID {
		if !s.Settled() {
			n++
		}
	}
	return n
}

// Len returns how many workflows are cached.
func (c *ProgressCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byID)
}

// ProgressWatcher lists, with one visibility query per interval, the order
// workflows whose progress changed since the last poll, stores their
// progress in the cache and tells Changed of each changed order. It is the
// safety net of the HistoryFollower: visibility is eventually consistent
// (seconds behind on a loaded server), so it only finds what a follower
// missed or was not started for.
//
// The query asks for OrderUpdatedAt (set by the workflow at every change,
// its last one included) at or after a watermark: the newest change seen,
// less an overlap, so a change that becomes visible a little late is still
// found (one later than the overlap is left to the reconciler's resync).
// Duplicates are dropped by the progress sequence number. The query is a
// range over the search attribute's index, so its cost follows the changes
// it returns, not the workflows kept (docs/performance.md has the numbers).
//
// A workflow that ends without publishing its last progress (terminated,
// timed out, failed on an error) has no OrderUpdatedAt for its end, so a
// second query, every EndedInterval, lists the workflows that ended that way
// within EndedOverlap of the newest change seen.
//
// How late a change becomes visible depends on the load on Temporal's
// visibility store: under a burst, records written seconds apart become
// visible out of order. So the overlap adapts: when a new change turns up
// already behind the newest one seen, the overlap grows to twice that
// lateness (at most a minute) for the next minute, then falls back.
type ProgressWatcher struct {
	Client    client.Client
	Namespace string
	Cache     *ProgressCache
	// Changed is told each order whose progress changed.
	Changed func(namespace, name string)
	// Converter decodes the progress memo (the client's; nil: the default).
	Converter converter.DataConverter
	// Interval between polls; Overlap re-reads changes that older.
	Interval time.Duration
	Overlap  time.Duration
	// EndedInterval between listings of workflows that ended without a
	// last progress (default 2 s); EndedOverlap is how far back from the
	// newest change seen they reach (default 10 s).
	EndedInterval time.Duration
	EndedOverlap  time.Duration
	// IdleInterval is the longest wait between polls while no order runs
	// or changes (default: Interval, no backing off): the waits double up to
	// it, and Wake or a change brings them back to Interval.
	IdleInterval time.Duration
	// Polls counts the visibility queries made.
	Polls func()
	// Seen, when set, is told how long after a change the watcher saw it.
	Seen func(delay time.Duration)

	wakeOnce sync.Once
	woken    chan struct{}
}

// Wake makes the watcher poll at once and at its full rate again: the
// controller calls it when it starts or signals a workflow.
func (w *ProgressWatcher) Wake() {
	select {
	case w.wake() <- struct{}{}:
	default: // a wake is pending already
	}
}

func (w *ProgressWatcher) wake() chan struct{} {
	w.wakeOnce.Do(func() { w.woken = make(chan struct{}, 1) })
	return w.woken
}

// endedAbnormally matches the executions that end without the workflow
// publishing its last progress.
const endedAbnormally = "ExecutionStatus IN ('Failed', 'Canceled', 'Terminated', 'TimedOut')"

// Start polls until ctx ends. It implements manager.Runnable.
func (w *ProgressWatcher) Start(ctx context.Context) error {
	log := logr.FromContextOrDiscard(ctx).WithName("progress-watcher")
	endedInterval, endedOverlap := w.EndedInterval, w.EndedOverlap
	if endedInterval <= 0 {
		endedInterval = 2 * time.Second
	}
	if endedOverlap <= 0 {
		endedOverlap = 10 * time.Second
	}
	watermark := time.Now().Add(-time.Minute)
	// seen is the newest change seen; widened is the overlap grown by late
	// changes, until widenedUntil.
	seen, evicted := watermark, watermark
	var widened time.Duration
	var widenedUntil, endedPolled time.Time
	idle := w.IdleInterval
	if idle < w.Interval {
		idle = w.Interval
	}
	// interval is the wait before the next poll: Interval while orders run
	// or change, doubling up to IdleInterval while nothing does.
	interval := w.Interval
	timer := time.NewTimer(interval)
	defer timer.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-w.wake():
			interval = w.Interval
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
		timer.Reset(interval)
		failed := func(err error) {
			failures++
			if failures == 1 || failures%100 == 0 {
				log.Error(err, "Listing workflow progress failed", "failures", failures)
			}
		}
		newest, late, err := w.poll(ctx, "OrderUpdatedAt >= '%s'", watermark, seen)
		if err != nil {
			failed(err)
			continue
		}
		failures = 0
		if newest.After(seen) || w.Cache.Running() > 0 {
			interval = w.Interval
		} else {
			interval = min(2*interval, idle)
		}
		if time.Since(endedPolled) >= max(endedInterval, interval) {
			// What ended abnormally is not "late": it leaves the overlap alone.
			if n, _, err := w.poll(ctx, endedAbnormally+" AND CloseTime >= '%s'", seen.Add(-endedOverlap), newest); err != nil {
				failed(err)
			} else {
				newest, endedPolled = n, time.Now()
			}
		}
		seen = newest
		now := time.Now()
		if grown := min(2*late, time.Minute); grown > w.Overlap && grown >= widened {
			widened, widenedUntil = grown, now.Add(time.Minute)
			log.V(1).Info("Progress arrives late: overlap widened", "lateness", late, "overlap", widened)
		} else if now.After(widenedUntil) {
			widened = 0
		}
		// A widened overlap moves the watermark back: changes it re-reads
		// are dropped by their sequence numbers.
		watermark = newest.Add(-max(w.Overlap, widened))
		// The queries no longer return closed workflows that changed before
		// this (unless the overlap widens, and then they come back as one
		// more no-op reconcile).
		if evict := watermark.Add(-endedOverlap); evict.After(evicted) {
			evicted = evict
			w.Cache.EvictClosedBefore(evict)
		}
	}
}

// poll runs one visibility query, the filter with the time since in place
// of its %s, and returns the newest change it saw and how far the
// latest-arriving new change was behind seen, the newest change seen before.
func (w *ProgressWatcher) poll(ctx context.Context, filter string, since, seen time.Time) (newest time.Time, late time.Duration, err error) {
	// Fixed width: the bound must compare right however the visibility
	// store compares datetimes.
	query := fmt.Sprintf(filter, since.UTC().Format("2006-01-02T15:04:05.000000000Z"))
	newest = seen
	var token []byte
	for {
		if w.Polls != nil {
			w.Polls()
		}
		resp, err := w.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: w.Namespace, Query: query, PageSize: 1000, NextPageToken: token,
		})
		if err != nil {
			return seen, 0, err
		}
		for _, ex := range resp.GetExecutions() {
			snap, err := snapshotOf(w.Converter, ex.GetExecution().GetRunId(), ex.GetStatus(), ex.GetMemo().GetFields()[contract.ProgressMemoKey])
			if err != nil || snap.Progress.Name == "" {
				continue
			}
			if ex.GetCloseTime() != nil && ex.GetCloseTime().AsTime().After(snap.Changed) {
				snap.Changed = ex.GetCloseTime().AsTime()
			}
			if snap.Changed.After(newest) {
				newest = snap.Changed
			}
			if !w.Cache.Put(ex.GetExecution().GetWorkflowId(), snap) {
				continue
			}
			if w.Seen != nil {
				w.Seen(time.Since(snap.Changed))
			}
			late = max(late, seen.Sub(snap.Changed))
			w.Changed(snap.Progress.Namespace, snap.Progress.Name)
		}
		token = resp.GetNextPageToken()
		if len(token) == 0 {
			return newest, late, nil
		}
	}
}
