//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"orderflow.io/orderflow/internal/contract"
)

const emailOrder = `apiVersion: orderflow.io/v1alpha1
kind: Order
metadata:
  name: %s
spec:
  customerID: CUST-MAIL
  customerEmail: %s
  items:
  - productID: PROD-001
    quantity: 1
  - productID: PROD-002
    quantity: 2
`

// An Order with a customer email, through the whole stack: the customer
// gets an email (read back from mailpit), Temporal's history holds no
// customer data in clear, the worker's codec server decrypts it, and the
// worker and manager export the Temporal SDK's metrics.
func TestAnOrderEmailsTheCustomerAndKeepsTheirDataOutOfTemporal(t *testing.T) {
	name, email := "mail-me", "jane.e2e@customer.example"
	f := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(f, []byte(fmt.Sprintf(emailOrder, name, email)), 0o644); err != nil {
		t.Fatal(err)
	}
	kubectl(t, "apply", "-f", f)
	waitJSONPath(t, "order/"+name, "{.status.step}", "CustomerNotified")

	t.Run("email", func(t *testing.T) {
		var msgs struct {
			Messages []struct {
				ID, MessageID, Subject string
			}
		}
		getJSON(t, "http://127.0.0.1:18025/api/v1/search?query=to:"+email, &msgs)
		if len(msgs.Messages) != 1 || msgs.Messages[0].Subject != "Your order default/"+name+" is confirmed" {
			t.Fatalf("mailpit holds %+v for %s; want one confirmation", msgs.Messages, email)
		}
		var body struct{ Text string }
		getJSON(t, "http://127.0.0.1:18025/api/v1/message/"+msgs.Messages[0].ID, &body)
		if !strings.Contains(body.Text, "Total: 1399.79 USD") {
			t.Fatalf("the email does not give the total:\n%s", body.Text)
		}
	})

	wid := contract.WorkflowID("default", name)
	// A client without the codec sees what Temporal stores.
	tc, err := client.Dial(client.Options{HostPort: "127.0.0.1:17233"})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hist, err := tc.WorkflowService().GetWorkflowExecutionHistory(ctx, &workflowservice.GetWorkflowExecutionHistoryRequest{
		Namespace: "default", Execution: &commonpb.WorkflowExecution{WorkflowId: wid}, MaximumPageSize: 1000,
	})
	if err != nil {
		t.Fatal(err)
	}
	desc, err := tc.DescribeWorkflowExecution(ctx, wid, "")
	if err != nil {
		t.Fatal(err)
	}
	var stored []byte
	for _, ev := range hist.GetHistory().GetEvents() {
		b, _ := proto.Marshal(ev)
		stored = append(stored, b...)
	}
	memo, _ := proto.Marshal(desc.GetWorkflowExecutionInfo().GetMemo())
	stored = append(stored, memo...)

	t.Run("history", func(t *testing.T) {
		if len(hist.GetHistory().GetEvents()) < 10 {
			t.Fatalf("%d events; want the whole order's history", len(hist.GetHistory().GetEvents()))
		}
		// The email, a product, the total in any of its forms, the customer.
		for _, clear := range []string{email, "PROD-001", "Laptop", "1399.79", "139979", "1299.99", "CUST-MAIL"} {
			if bytes.Contains(stored, []byte(clear)) {
				t.Errorf("Temporal stores %q in clear", clear)
			}
		}
		if desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			t.Fatalf("workflow %s", desc.GetWorkflowExecutionInfo().GetStatus())
		}
	})

	t.Run("codec server", func(t *testing.T) {
		input := hist.GetHistory().GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetInput()
		body, _ := protojson.Marshal(input)
		req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:19092/codec/decode", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Namespace", "default")
		req.Header.Set("Origin", "http://localhost:18233")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		var decoded commonpb.Payloads
		if resp.StatusCode != http.StatusOK || protojson.Unmarshal(out, &decoded) != nil || len(decoded.Payloads) != 1 {
			t.Fatalf("decode: %s %s", resp.Status, out)
		}
		if !bytes.Contains(decoded.Payloads[0].GetData(), []byte(email)) {
			t.Fatalf("the decoded input does not hold the order: %s", decoded.Payloads[0].GetData())
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:18233" {
			t.Fatalf("no CORS answer for the Temporal UI's origin: %v", resp.Header)
		}
	})

	t.Run("SDK metrics", func(t *testing.T) {
		worker := getText(t, "http://127.0.0.1:19092/metrics")
		for _, m := range []string{"temporal_workflow_task_execution_latency_seconds_bucket", "temporal_activity_schedule_to_start_latency_seconds_bucket",
			"temporal_worker_task_slots_available", "temporal_num_pollers", "temporal_request_total"} {
			if !strings.Contains(worker, m) {
				t.Errorf("the worker's /metrics has no %s", m)
			}
		}
		if manager := getText(t, "http://127.0.0.1:19090/metrics"); !strings.Contains(manager, "temporal_request_total") {
			t.Errorf("the manager's /metrics has no temporal_request_total")
		}
	})
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(getText(t, url)), v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
}

func getText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return string(b)
}
