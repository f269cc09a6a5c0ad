//go:build e2e

package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
)

const apiURL = "http://localhost:18080"

// curl runs a curl command line as the original OrderFlow's docs write it,
// against the suite's API port, and returns the body and status code.
func curl(t *testing.T, line string) (map[string]any, string) {
	t.Helper()
	line = strings.ReplaceAll(line, "http://localhost:8080", apiURL)
	out, err := exec.Command("bash", "-c", line+` -s -w '\n%{http_code}'`).Output()
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	text := strings.TrimSpace(string(out))
	i := strings.LastIndex(text, "\n")
	var body map[string]any
	if err := json.Unmarshal([]byte(text[:i]), &body); err != nil {
		t.Fatalf("%s answered non-JSON: %s", line, text)
	}
	return body, text[i+1:]
}

func TestTheOriginalCurlCallsWorkAsDocumented(t *testing.T) {
	body, code := curl(t, `curl -X POST http://localhost:8080/api/orders -H "Content-Type: application/json" \
  -d '{"customerID":"CUST-001","totalAmount":1299.99,
       "items":[{"productID":"PROD-001","quantity":1,"unitPrice":1299.99}]}'`)
	id, _ := body["id"].(string)
	if code != "201" || id == "" {
		t.Fatalf("create answered %s %v", code, body)
	}
	t.Logf("POST /api/orders -> %s %v", code, body)

	body, code = curl(t, `curl http://localhost:8080/api/orders/`+id)
	if code != "200" || body["id"] != id || body["phase"] == nil {
		t.Fatalf("get answered %s %v", code, body)
	}

	// The charge takes a second on this stack: the order is still running.
	body, code = curl(t, `curl -X POST http://localhost:8080/api/orders/`+id+`/cancel`)
	if code != "202" {
		t.Fatalf("cancel answered %s %v", code, body)
	}
	waitJSONPath(t, "order/"+id, "{.status.phase}", "Cancelled")
	body, code = curl(t, `curl -X POST http://localhost:8080/api/orders/`+id+`/cancel`)
	if code != "409" {
		t.Fatalf("a second cancel answered %s %v; want 409", code, body)
	}

	// The order is a resource: kubectl sees what the API created.
	if out := kubectl(t, "get", "order", id, "-o", "jsonpath={.spec.customerID}"); out != "CUST-001" {
		t.Fatalf("kubectl sees customer %q", out)
	}
	body, code = curl(t, `curl http://localhost:8080/api/orders/no-such-order`)
	if code != "404" || body["error"] == nil {
		t.Fatalf("missing order answered %s %v", code, body)
	}
}

// TestACompletedOrderIsRefundedInPartThroughTheAPI asks two refunds at once
// of a Completed order with curl: both are appended (neither overwrites the
// other), made, and shown in the order's view; the same id again is 409.
func TestACompletedOrderIsRefundedInPartThroughTheAPI(t *testing.T) {
	body, code := curl(t, `curl -X POST http://localhost:8080/api/orders -H "Content-Type: application/json" \
  -d '{"customerID":"CUST-REST","items":[{"productID":"PROD-002","quantity":2}]}'`)
	id, _ := body["id"].(string)
	if code != "201" || id == "" {
		t.Fatalf("create answered %s %v", code, body)
	}
	waitJSONPath(t, "order/"+id, "{.status.phase}", "Completed")
	codes := make(chan string, 2)
	for _, refund := range []string{
		`{"id":"damaged","items":[{"productID":"PROD-002","quantity":1}],"reason":"damaged","restock":true}`,
		`{"id":"goodwill","amount":"5.00"}`,
	} {
		go func() {
			// Not curl(): a goroutine must not end the test.
			out, err := exec.Command("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
				apiURL+"/api/orders/"+id+"/refunds", "-H", "Content-Type: application/json", "-d", refund).Output()
			if err != nil {
				codes <- err.Error()
				return
			}
			codes <- string(out)
		}()
	}
	for range 2 {
		if code := <-codes; code != "202" {
			t.Fatalf("a refund answered %s", code)
		}
	}
	waitJSONPath(t, "order/"+id, "{.status.refunded}", "54.90")
	body, code = curl(t, `curl http://localhost:8080/api/orders/`+id)
	refunds, _ := body["refunds"].([]any)
	if code != "200" || len(refunds) != 2 {
		t.Fatalf("the order's view: %s %v", code, body)
	}
	for _, r := range refunds {
		if m, _ := r.(map[string]any); m["state"] != "Refunded" || m["providerID"] == "" {
			t.Fatalf("refund %v, want Refunded with the provider's id", r)
		}
	}
	body, code = curl(t, `curl -X POST http://localhost:8080/api/orders/`+id+`/refunds -d '{"id":"goodwill","amount":"1.00"}'`)
	if code != "409" {
		t.Fatalf("the same refund id again answered %s %v; want 409", code, body)
	}
}

// TestTheAPIServesItsMetrics scrapes the API's /metrics: its own request
// metrics and the Kubernetes client's, from one page.
func TestTheAPIServesItsMetrics(t *testing.T) {
	resp, err := http.Get(apiURL + "/api/products")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = http.Get(apiURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics answered %d: %.300s", resp.StatusCode, body)
	}
	for _, want := range []string{"orderflow_api_requests_total", "rest_client_requests_total", "go_goroutines", "process_cpu_seconds_total"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
