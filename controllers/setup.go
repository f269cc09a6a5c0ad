package controllers

import (
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"golang.org/x/time/rate"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/temporal"
)

// Options configure the Order controller.
type Options struct {
	// TemporalNamespace holds the order workflows.
	TemporalNamespace string
	// TemporalUI is the base URL of the Temporal UI for status links.
	TemporalUI string
	// ProgressFollowMax bounds the workflows whose history is followed at
	// once; orders past it are left to the safety nets.
	ProgressFollowMax int
	// ProgressInterval is how often the safety net lists changed workflows
	// in visibility; ProgressOverlap how far back each listing reaches past
	// the newest change seen.
	ProgressInterval time.Duration
	ProgressOverlap  time.Duration
	// ProgressIdleInterval is the longest wait between listings while no
	// order runs or changes.
	ProgressIdleInterval time.Duration
	// Resync requeues running orders as a safety net; ResyncReads bounds
	// the workflow reads (Describe) that net makes per second.
	Resync                  time.Duration
	ResyncReads             float64
	MaxConcurrentReconciles int
	// DefaultTTL deletes finished Orders that set no ttlSecondsAfterFinished
	// this long after they finished; 0: never.
	DefaultTTL time.Duration
	// FirstStatusWait is how long a new order's first status write waits
	// for its workflow's first progress, to make them one write.
	FirstStatusWait time.Duration
	// EditWindow is how long an order waits after its stock is reserved
	// before its payment, so it can still be amended; an Order's
	// orderflow.io/edit-window annotation sets its own. 0: none.
	EditWindow time.Duration
	// DefaultCarrier ships Orders that set no spec.fulfillment (empty:
	// not shipped); DefaultShipBy is the deadline of those that set no
	// shipBy (0: 48h).
	DefaultCarrier string
	DefaultShipBy  time.Duration
	// DataConverter is the Temporal client's (it decrypts the progress
	// memo when payloads are encrypted); nil means the SDK's default.
	DataConverter converter.DataConverter
}

// DefaultOptions are the manager's defaults.
func DefaultOptions() Options {
	return Options{
		TemporalNamespace: "default",
		ProgressFollowMax: 5000,
		// Status follows history; visibility, seconds behind on a loaded
		// server, is only the safety net: a listing every 5 s while orders
		// run, every 30 s at idle (docs/performance.md).
		ProgressInterval:     5 * time.Second,
		ProgressOverlap:      10 * time.Second,
		ProgressIdleInterval: 30 * time.Second,
		Resync:               time.Minute,
		// Bounds the safety net's reads of Temporal when many Orders run
		// (docs/performance.md).
		ResyncReads: 20,
		// A reconcile mostly waits on the API server (docs/performance.md).
		MaxConcurrentReconciles: 16,
		// Long enough for a workflow's first progress at a steady rate
		// (its first two steps take ~100 ms), short enough that kstatus
		// readers (Flux, Argo CD) soon see the Order Reconciling
		// (docs/performance.md).
		FirstStatusWait: 300 * time.Millisecond,
	}
}

// Setup registers the Order controller, its history follower and its
// progress watcher with mgr. Both run on the leader only, like the
// controller.
func Setup(mgr ctrl.Manager, tc client.Client, opts Options) (*OrderReconciler, error) {
	events := make(chan event.GenericEvent, 1024)
	cache := temporal.NewProgressCache()
	metrics := NewMetrics(mgr.GetCache())
	wf := &temporal.OrderWorkflows{Client: tc, Namespace: opts.TemporalNamespace,
		UI: temporal.UI{Address: opts.TemporalUI, Namespace: opts.TemporalNamespace}, Calls: metrics.TemporalCalls,
		Converter: opts.DataConverter}
	changed := func(namespace, name string) {
		o := &v1alpha1.Order{}
		o.Namespace, o.Name = namespace, name
		events <- event.GenericEvent{Object: o}
	}
	follower := &temporal.HistoryFollower{
		Client: tc, Namespace: opts.TemporalNamespace, Cache: cache, Changed: changed, Converter: opts.DataConverter,
		Max:   opts.ProgressFollowMax,
		Calls: func() { metrics.TemporalCalls.WithLabelValues("GetWorkflowExecutionHistory").Inc() },
		Seen:  func(d time.Duration) { metrics.ProgressDelay.Observe(d.Seconds()) },
	}
	watcher := &temporal.ProgressWatcher{
		Client: tc, Namespace: opts.TemporalNamespace, Cache: cache, Changed: changed, Converter: opts.DataConverter,
		Interval: opts.ProgressInterval, Overlap: opts.ProgressOverlap, IdleInterval: opts.ProgressIdleInterval,
		EndedInterval: opts.ProgressIdleInterval, EndedOverlap: opts.ProgressOverlap,
		Polls: func() { metrics.TemporalCalls.WithLabelValues("ListWorkflowExecutions").Inc() },
	}
	for _, runnable := range []manager.Runnable{follower, watcher} {
		if err := mgr.Add(runnable); err != nil {
			return nil, err
		}
	}
	metrics.following(follower.Following)
	r := &OrderReconciler{
		Client:                  mgr.GetClient(),
		Recorder:                mgr.GetEventRecorder("orderflow-manager"),
		Workflows:               wf,
		Progress:                cache,
		ProgressEvents:          events,
		Follow:                  follower.Follow,
		Resync:                  opts.Resync,
		ResyncReads:             rate.NewLimiter(rate.Limit(opts.ResyncReads), max(1, int(opts.ResyncReads))),
		MaxConcurrentReconciles: opts.MaxConcurrentReconciles,
		DefaultTTL:              opts.DefaultTTL,
		FirstStatusWait:         opts.FirstStatusWait,
		EditWindow:              opts.EditWindow,
		DefaultCarrier:          opts.DefaultCarrier,
		DefaultShipBy:           opts.DefaultShipBy,
		Metrics:                 metrics,
	}
	return r, r.SetupWithManager(mgr)
}
