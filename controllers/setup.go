package controllers

import (
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"golang.org/x/time/rate"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"orderflow.io/orderflow/internal/temporal"
)

// Options configure the Order controller.
type Options struct {
	// TemporalNamespace holds the order workflows.
	TemporalNamespace string
	// TemporalUI is the base URL of the Temporal UI for status links.
	TemporalUI string
	// ProgressInterval is how often the watcher lists changed workflows;
	// ProgressOverlap how far back each listing reaches past the newest
	// change seen.
	ProgressInterval time.Duration
	ProgressOverlap  time.Duration
	// ProgressIdleInterval is the longest wait between listings while no
	// order runs or changes; a started or cancelled order brings the
	// watcher back to ProgressInterval at once.
	ProgressIdleInterval time.Duration
	// Resync requeues running orders as a safety net; ResyncReads bounds
	// the workflow reads (Describe) that net makes per second.
	Resync                  time.Duration
	ResyncReads             float64
	MaxConcurrentReconciles int
	// DefaultTTL deletes finished Orders that set no ttlSecondsAfterFinished
	// this long after they finished; 0: never.
	DefaultTTL time.Duration
	// DataConverter is the Temporal client's (it decrypts the progress
	// memo when payloads are encrypted); nil means the SDK's default.
	DataConverter converter.DataConverter
}

// DefaultOptions are the manager's defaults.
func DefaultOptions() Options {
	return Options{
		TemporalNamespace: "default",
		ProgressInterval:  50 * time.Millisecond,
		ProgressOverlap:   500 * time.Millisecond,
		// An idle stack costs Temporal one listing a second, not twenty.
		ProgressIdleInterval: time.Second,
		Resync:               time.Minute,
		// Bounds the safety net's reads of Temporal when many Orders run
		// (docs/performance.md).
		ResyncReads: 20,
		// A reconcile mostly waits on the API server (docs/performance.md).
		MaxConcurrentReconciles: 16,
	}
}

// Setup registers the Order controller and its progress watcher with mgr.
// The watcher runs on the leader only, like the controller.
func Setup(mgr ctrl.Manager, tc client.Client, opts Options) (*OrderReconciler, error) {
	events := make(chan event.GenericEvent, 1024)
	cache := temporal.NewProgressCache()
	metrics := NewMetrics(mgr.GetCache())
	wf := &temporal.OrderWorkflows{Client: tc, Namespace: opts.TemporalNamespace,
		UI: temporal.UI{Address: opts.TemporalUI, Namespace: opts.TemporalNamespace}, Calls: metrics.TemporalCalls,
		Converter: opts.DataConverter}
	watcher := &temporal.ProgressWatcher{
		Client: tc, Namespace: opts.TemporalNamespace, Cache: cache, Events: events, Converter: opts.DataConverter,
		Interval: opts.ProgressInterval, Overlap: opts.ProgressOverlap, IdleInterval: opts.ProgressIdleInterval,
		Polls: func() { metrics.TemporalCalls.WithLabelValues("ListWorkflowExecutions").Inc() },
		Seen:  func(d time.Duration) { metrics.ProgressDelay.Observe(d.Seconds()) },
	}
	wf.Moved = watcher.Wake
	if err := mgr.Add(watcher); err != nil {
		return nil, err
	}
	r := &OrderReconciler{
		Client:                  mgr.GetClient(),
		Recorder:                mgr.GetEventRecorder("orderflow-manager"),
		Workflows:               wf,
		Progress:                cache,
		ProgressEvents:          events,
		Resync:                  opts.Resync,
		ResyncReads:             rate.NewLimiter(rate.Limit(opts.ResyncReads), max(1, int(opts.ResyncReads))),
		MaxConcurrentReconciles: opts.MaxConcurrentReconciles,
		DefaultTTL:              opts.DefaultTTL,
		Metrics:                 metrics,
	}
	return r, r.SetupWithManager(mgr)
}
