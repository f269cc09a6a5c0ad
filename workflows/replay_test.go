package workflows_test

import (
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"testing"

	"go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"orderflow.io/orderflow/internal/temporal"
	"orderflow.io/orderflow/workflows"
)

// TestReplay replays histories recorded on a real server (see
// -update-histories): a change that makes the workflow non-deterministic
// for orders already in flight fails here. history-v0-* were recorded before
// the database steps became local activities, history-v1-* before orders
// were keyed by namespace/name (their input has no key: they go by UID),
// history-v2-* while progress was still published after the payment; they
// stay while orders that old can be in flight. history-refund* are partial
// refunds (RefundWorkflow); history-shipped and history-parcel-lost ship a
// completed order (fulfillment, a lost parcel refunded). Each replays on a worker
// without payload encryption and on one with it (the codec passes payloads
// written before encryption through): turning encryption on does not break
// orders in flight.
func TestReplay(t *testing.T) {
	keys, err := temporal.ParseCodecKeys("test=" + base64.StdEncoding.EncodeToString(make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
	encrypting, err := temporal.DataConverter(keys)
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join("testdata", "history-*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded histories under testdata/ (%v): run the integration tests with -update-histories", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			for _, dc := range []converter.DataConverter{converter.GetDefaultDataConverter(), encrypting} {
				r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: dc})
				if err != nil {
					t.Fatal(err)
				}
				r.RegisterWorkflow(workflows.OrderWorkflow)
				r.RegisterWorkflow(workflows.RefundWorkflow)
				if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func protoJSON(ev *history.HistoryEvent) (json.RawMessage, error) {
	return protojson.Marshal(ev)
}
