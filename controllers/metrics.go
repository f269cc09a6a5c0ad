package controllers

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"orderflow.io/orderflow/api/v1alpha1"
)

// Metrics are the order metrics the manager exports besides
// controller-runtime's own.
type Metrics struct {
	transitions *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	byPhase     *prometheus.Desc
	followed    *prometheus.Desc
	mu          sync.Mutex
	reader      client.Reader
	followers   func() int
	// temporalCalls counts the calls the manager makes to Temporal, by kind.
	TemporalCalls *prometheus.CounterVec
	// ProgressDelay observes how long after a workflow's change the watcher
	// first saw it: Temporal's visibility lag plus the wait for a listing,
	// the part of the status lag before the reconcile.
	ProgressDelay prometheus.Histogram
}

var (
	metricsOnce sync.Once
	theMetrics  *Metrics
)

// NewMetrics registers the order metrics with controller-runtime's
// registry, once per process. reader lists Orders (from the cache) when
// the orders-by-phase gauge is scraped.
func NewMetrics(reader client.Reader) *Metrics {
	metricsOnce.Do(func() { theMetrics = newMetrics() })
	theMetrics.mu.Lock()
	theMetrics.reader = reader
	theMetrics.mu.Unlock()
	return theMetrics
}

func newMetrics() *Metrics {
	m := &Metrics{
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orderflow_order_transitions_total",
			Help: "Order phase transitions written to status, by new phase.",
		}, []string{"phase"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "orderflow_order_duration_seconds",
			Help:    "Time from an Order's creation to its terminal phase.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}, []string{"phase"}),
		byPhase: prometheus.NewDesc("orderflow_orders", "Orders by phase.", []string{"phase"}, nil),
		followed: prometheus.NewDesc("orderflow_progress_followed_workflows",
			"Workflows whose history the manager follows: its open long polls on Temporal.", nil, nil),
		TemporalCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orderflow_manager_temporal_calls_total",
			Help: "Calls the manager made to Temporal, by kind.",
		}, []string{"call"}),
		ProgressDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "orderflow_progress_seen_delay_seconds",
			Help:    "Time from a workflow's progress change to the manager's first sight of it (history follower or visibility watcher).",
			Buckets: []float64{.01, .025, .05, .075, .1, .15, .2, .3, .5, .75, 1, 2, 5},
		}),
	}
	metrics.Registry.MustRegister(m.transitions, m.duration, m.TemporalCalls, m.ProgressDelay, m)
	return m
}

func (m *Metrics) observe(o *v1alpha1.Order, old, now *v1alpha1.OrderStatus) {
	if old.Phase == now.Phase {
		return
	}
	m.transitions.WithLabelValues(string(now.Phase)).Inc()
	if now.Phase.Terminal() && now.CompletionTime != nil {
		m.duration.WithLabelValues(string(now.Phase)).Observe(now.CompletionTime.Sub(o.CreationTimestamp.Time).Seconds())
	}
}

// following has the followed-workflows gauge read n.
func (m *Metrics) following(n func() int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.followers = n
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.byPhase; ch <- m.followed }

// Collect implements prometheus.Collector: it counts the cached Orders.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	reader, followers := m.reader, m.followers
	m.mu.Unlock()
	if followers != nil {
		ch <- prometheus.MustNewConstMetric(m.followed, prometheus.GaugeValue, float64(followers()))
	}
	var list v1alpha1.OrderList
	// Read only: no copy of every cached Order per scrape.
	if err := reader.List(context.Background(), &list, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	counts := map[v1alpha1.OrderPhase]int{}
	for i := range list.Items {
		phase := list.Items[i].Status.Phase
		if phase == "" {
			phase = v1alpha1.PhasePending
		}
		counts[phase]++
	}
	for _, p := range []v1alpha1.OrderPhase{v1alpha1.PhasePending, v1alpha1.PhaseProcessing, v1alpha1.PhaseCompleted,
		v1alpha1.PhaseFailed, v1alpha1.PhaseCancelling, v1alpha1.PhaseCancelled} {
		ch <- prometheus.MustNewConstMetric(m.byPhase, prometheus.GaugeValue, float64(counts[p]), string(p))
	}
}
