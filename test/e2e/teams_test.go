//go:build e2e

package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// A team keeps its Orders in a namespace of its own: on the local stack
// (which serves every namespace) an order is created there through the
// API, processed like any other, listed across namespaces and alone when
// the list names the namespace, read and cancelled there; the page shows
// that namespace's orders alone when its selector names it.
func TestATeamsOrdersInTheirOwnNamespace(t *testing.T) {
	if out, err := kubectlErr("create", "namespace", "shop-eu"); err != nil && !strings.Contains(out, "AlreadyExists") {
		t.Fatalf("%v\n%s", err, out)
	}
	body, code := curl(t, `curl -X POST 'http://localhost:8080/api/orders?namespace=shop-eu' -H "Content-Type: application/json" \
  -d '{"customerID":"EU-001","items":[{"productID":"PROD-002","quantity":1}]}'`)
	id, _ := body["id"].(string)
	if code != "201" || body["namespace"] != "shop-eu" || id == "" {
		t.Fatalf("create in shop-eu answered %s %v", code, body)
	}
	kubectl(t, "-n", "shop-eu", "wait", "--for=condition=Ready", "order/"+id, "--timeout=60s")

	listed := func(query string) map[string]bool {
		t.Helper()
		body, code := curl(t, `curl 'http://localhost:8080/api/orders?limit=500`+query+`'`)
		if code != "200" {
			t.Fatalf("list%s answered %s %v", query, code, body)
		}
		seen := map[string]bool{}
		for _, o := range body["orders"].([]any) {
			v := o.(map[string]any)
			seen[v["namespace"].(string)] = true
		}
		return seen
	}
	if all := listed(""); !all["shop-eu"] || !all["default"] {
		t.Fatalf("the list across namespaces shows %v; want default and shop-eu", all)
	}
	if eu := listed("&namespace=shop-eu"); len(eu) != 1 || !eu["shop-eu"] {
		t.Fatalf("the list of shop-eu shows %v", eu)
	}
	if body, code := curl(t, `curl http://localhost:8080/api/orders/`+id+`?namespace=shop-eu`); code != "200" || body["phase"] != "Completed" {
		t.Fatalf("get in shop-eu answered %s %v", code, body)
	}
	if body, code := curl(t, `curl http://localhost:8080/api/orders/`+id); code != "404" {
		t.Fatalf("get in the API's own namespace answered %s %v; want 404", code, body)
	}
	if body, code := curl(t, `curl -X POST http://localhost:8080/api/orders/`+id+`/cancel?namespace=shop-eu`); code != "409" {
		t.Fatalf("cancel of a completed order in shop-eu answered %s %v; want 409", code, body)
	}
	if body, code := curl(t, `curl 'http://localhost:8080/api/orders?namespace=Not_A_Namespace'`); code != "400" {
		t.Fatalf("a bad namespace answered %s %v; want 400", code, body)
	}

	ctx := browser(t, 1280, 900)
	if err := chromedp.Do(ctx, chromedp.Navigate(apiURL+"/?namespace=shop-eu")); err != nil {
		t.Fatal(err)
	}
	shows(t, ctx, id, "Completed")
	until(t, ctx, "the selector naming shop-eu", `document.getElementById("nsel").value === "shop-eu"`)
	others, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll("tr[data-key]")].filter((tr) => !tr.dataset.key.startsWith("shop-eu/")).length`))
	if err != nil || others != 0 {
		t.Fatalf("the page narrowed to shop-eu shows %d rows of other namespaces (%v)", others, err)
	}
	until(t, ctx, "the new-order form offering shop-eu", `document.getElementById("cns").value === "shop-eu"`)
}
