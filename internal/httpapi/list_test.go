package httpapi

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/orders"
)

// orders makes n Orders created a second apart (o-000 the oldest), every
// third Failed and the rest Completed, customers C0 to C2 in turn.
func someOrders(n int) []client.Object {
	base := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	var objs []client.Object
	for i := range n {
		phase := v1alpha1.PhaseCompleted
		if i%3 == 0 {
			phase = v1alpha1.PhaseFailed
		}
		o := order(fmt.Sprintf("o-%03d", i), phase)
		o.CreationTimestamp = metav1.NewTime(base.Add(time.Duration(i) * time.Second))
		o.Spec.CustomerID = fmt.Sprintf("C%d", i%3)
		objs = append(objs, o)
	}
	return objs
}

func names(body map[string]any) []string {
	var out []string
	for _, o := range body["orders"].([]any) {
		out = append(out, o.(map[string]any)["id"].(string))
	}
	return out
}

// TestListingPagesNewestFirstAndEveryOrderOnce pages through three API
// replicas in turn (each a server of its own, as two Pods behind a Service
// or one restarted): a continue token works on any of them.
func TestListingPagesNewestFirstAndEveryOrderOnce(t *testing.T) {
	objs := someOrders(25)
	replicas := []*harness{newHarness(t, objs...), newHarness(t, objs...), newHarness(t, objs...)}
	var seen []string
	next := ""
	for pages := 0; ; pages++ {
		path := "/api/orders?limit=10"
		if next != "" {
			path += "&continue=" + url.QueryEscape(next)
		}
		code, body := replicas[pages%len(replicas)].do("GET", path, "")
		if code != 200 {
			t.Fatalf("%s: %d %v", path, code, body)
		}
		seen = append(seen, names(body)...)
		next, _ = body["continue"].(string)
		if next == "" {
			if pages != 2 {
				t.Fatalf("%d pages; want 3 of 10, 10 and 5", pages+1)
			}
			break
		}
	}
	if len(seen) != 25 || seen[0] != "o-024" || seen[24] != "o-000" {
		t.Fatalf("listed %v", seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] >= seen[i-1] {
			t.Fatalf("not newest first, or a repeat: %v", seen)
		}
	}
}

func TestListingFiltersByPhaseAndCustomer(t *testing.T) {
	h := newHarness(t, someOrders(12)...)
	_, body := h.do("GET", "/api/orders?phase=Failed", "")
	if got := strings.Join(names(body), " "); got != "o-009 o-006 o-003 o-000" {
		t.Fatalf("Failed: %s", got)
	}
	_, body = h.do("GET", "/api/orders?customerID=C1&phase=Completed&namespace=shop", "")
	if got := strings.Join(names(body), " "); got != "o-010 o-007 o-004 o-001" {
		t.Fatalf("C1 Completed: %s", got)
	}
}

func TestBadListQueriesAreRefusedNamingTheProblem(t *testing.T) {
	h := newHarness(t, someOrders(3)...)
	_, first := h.do("GET", "/api/orders?limit=1", "")
	token := first["continue"].(string)
	tampered := strings.Replace(token, token[:4], "AAAA", 1)
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"v":1,"t":1,"n":"../../secrets"}`))
	for query, want := range map[string]string{
		"limit=0":                 "limit",
		"limit=-3":                "limit",
		"limit=501":               "limit",
		"limit=ten":               "limit",
		"phase=Done":              "phase",
		"namespace=other":         "namespace",
		"continue=garbage":        "continue",
		"continue=" + tampered:    "continue",
		"continue=" + forged:      "continue",
		"sort=name":               "sort",
		"access_token=eyJhbGciOi": "access_token",
		"limit=5&token=abc":       "token",
	} {
		code, body := h.do("GET", "/api/orders?"+query, "")
		if code != 400 {
			t.Errorf("%s: %d %v; want 400", query, code, body)
			continue
		}
		if _, field := errorOf(t, body); field != want {
			t.Errorf("%s: the error names %q; want %q", query, field, want)
		}
	}
}

func TestAnOrdersOwnPageShowsItsStepsAndRecords(t *testing.T) {
	o := order("o-1", v1alpha1.PhaseCompleted)
	at := metav1.NewTime(time.Date(2026, 11, 27, 9, 0, 1, 0, time.UTC))
	o.Status.Conditions = []metav1.Condition{
		{Type: "Accepted", Status: metav1.ConditionTrue, Reason: "Accepted", LastTransitionTime: at},
		{Type: "InventoryReserved", Status: metav1.ConditionTrue, Reason: "InventoryReserved", LastTransitionTime: at},
		{Type: "PaymentCaptured", Status: metav1.ConditionFalse, Reason: "Waiting", LastTransitionTime: at},
	}
	h := newHarness(t, o)
	var asked string
	h.s.Records = func(_ context.Context, key string) (orders.Records, error) {
		asked = key
		return orders.Records{Payments: []orders.Payment{{ID: "pay_1", Kind: "capture", Amount: "1299.99", Currency: "USD"}}}, nil
	}
	code, body := h.do("GET", "/api/orders/o-1", "")
	if code != 200 || asked != "shop/o-1" {
		t.Fatalf("%d, records asked for %q", code, asked)
	}
	steps := body["steps"].([]any)
	if len(steps) != 2 || steps[1].(map[string]any)["step"] != "InventoryReserved" {
		t.Fatalf("steps %v", steps)
	}
	if p := body["payments"].([]any); len(p) != 1 || p[0].(map[string]any)["id"] != "pay_1" {
		t.Fatalf("payments %v", p)
	}
	req := httptest.NewRequest("GET", "/orders/o-1", nil)
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "<title>OrderFlow</title>") {
		t.Fatalf("the order's page answered %d", rec.Code)
	}
}
