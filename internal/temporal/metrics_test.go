package temporal

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestSDKMetricsReachTheRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, err := MetricsHandler(reg, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	h.WithTags(map[string]string{"task_queue": "orderflow"}).Timer("temporal_workflow_task_execution_latency").Record(30 * time.Millisecond)
	h.Counter("temporal_request_failure").Inc(1)
	h.Gauge("temporal_worker_task_slots_available").Update(200)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*dto.MetricFamily{}
	for _, f := range families {
		got[f.GetName()] = f
	}
	lat := got["temporal_workflow_task_execution_latency_seconds"]
	if lat == nil || lat.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("no latency histogram in seconds: %v", slices.Collect(maps.Keys(got)))
	}
	// 30 ms lands in the 0.05 s bucket, not in the first one.
	for _, b := range lat.Metric[0].GetHistogram().GetBucket() {
		if b.GetUpperBound() == 0.025 && b.GetCumulativeCount() != 0 || b.GetUpperBound() == 0.05 && b.GetCumulativeCount() != 1 {
			t.Fatalf("bucket %v: %d", b.GetUpperBound(), b.GetCumulativeCount())
		}
	}
	if got["temporal_request_failure_total"].GetType() != dto.MetricType_COUNTER || got["temporal_worker_task_slots_available"] == nil {
		t.Fatalf("families: %v", slices.Collect(maps.Keys(got)))
	}
}
