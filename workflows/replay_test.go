package workflows_test

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"orderflow.io/orderflow/workflows"
)

// TestReplay replays histories recorded on a real server (see
// -update-histories): a change that makes the workflow non-deterministic
// for orders already in flight fails here. history-v0-* were recorded before
// the database steps became local activities, history-v1-* before orders
// were keyed by namespace/name (their input has no key: they go by UID),
// history-v2-* while progress was still published after the payment; they
// stay while orders that old can be in flight.
func TestReplay(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "history-*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded histories under testdata/ (%v): run the integration tests with -update-histories", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflow(workflows.OrderWorkflow)
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func protoJSON(ev *history.HistoryEvent) (json.RawMessage, error) {
	return protojson.Marshal(ev)
}
