package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/catalog"
	"orderflow.io/orderflow/internal/temporal"
)

// The original OrderFlow's documented request, byte for byte.
const seedBody = `{"customerID":"CUST-001","totalAmount":1299.99,
       "items":[{"productID":"PROD-001","quantity":1,"unitPrice":1299.99}]}`

type harness struct {
	c      client.Client
	s      *Server
	h      http.Handler
	broken bool
}

func newHarness(t testing.TB, objs ...client.Object) *harness {
	c := fake.NewClientBuilder().WithScheme(v1alpha1.NewScheme()).WithObjects(objs...).WithStatusSubresource(&v1alpha1.Order{}).Build()
	hs := &harness{c: c}
	s := &Server{
		Namespace: "shop", Orders: c, Auth: NoAuth{Client: c}, Events: NewBroadcaster(temporal.UI{}), Log: logr.Discard(), MaxBody: 4096,
		Products: func(context.Context) ([]catalog.Product, error) {
			if hs.broken {
				return nil, errors.New("database down")
			}
			return catalog.DemoCatalog, nil
		},
	}
	hs.s, hs.h = s, s.Handler(nil)
	return hs
}

func (h *harness) do(method, path, body string) (int, map[string]any) {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

func errorOf(t *testing.T, body map[string]any) (code, field string) {
	t.Helper()
	e, ok := body["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %v", body)
	}
	if e["message"] == "" {
		t.Fatalf("error without message: %v", e)
	}
	f, _ := e["field"].(string)
	return e["code"].(string), f
}

func order(name string, phase v1alpha1.OrderPhase) *v1alpha1.Order {
	o := &v1alpha1.Order{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
		Spec: v1alpha1.OrderSpec{CustomerID: "C1", Items: []v1alpha1.OrderItem{{ProductID: "PROD-001", Quantity: 1}}}}
	o.Status.Phase = phase
	return o
}

func TestTheOriginalCreateCallCreatesAnOrderResource(t *testing.T) {
	h := newHarness(t)
	code, body := h.do("POST", "/api/orders", seedBody)
	if code != http.StatusCreated {
		t.Fatalf("status %d: %v", code, body)
	}
	id, _ := body["id"].(string)
	if !strings.HasPrefix(id, "order-") || body["phase"] != "Pending" {
		t.Fatalf("body %v", body)
	}
	var o v1alpha1.Order
	if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: "shop", Name: id}, &o); err != nil {
		t.Fatal(err)
	}
	if o.Spec.CustomerID != "CUST-001" || len(o.Spec.Items) != 1 || o.Spec.Items[0].UnitPrice != "1299.99" || o.Spec.Items[0].Quantity != 1 {
		t.Fatalf("spec %+v", o.Spec)
	}
}

func TestGetAnswersTheOrderOr404(t *testing.T) {
	h := newHarness(t, order("o1", v1alpha1.PhaseProcessing))
	code, body := h.do("GET", "/api/orders/o1", "")
	if code != 200 || body["id"] != "o1" || body["phase"] != "Processing" {
		t.Fatalf("%d %v", code, body)
	}
	code, body = h.do("GET", "/api/orders/nope", "")
	if c, _ := errorOf(t, body); code != 404 || c != "NotFound" {
		t.Fatalf("%d %v", code, body)
	}
	code, body = h.do("GET", "/api/orders", "")
	if list, _ := body["orders"].([]any); code != 200 || len(list) != 1 {
		t.Fatalf("%d %v", code, body)
	}
}

func TestCancelIsAcceptedWhileRunningAndRefusedOnceFinished(t *testing.T) {
	h := newHarness(t, order("running", v1alpha1.PhaseProcessing), order("done", v1alpha1.PhaseCompleted))
	if code, body := h.do("POST", "/api/orders/running/cancel", ""); code != http.StatusAccepted {
		t.Fatalf("%d %v", code, body)
	}
	var o v1alpha1.Order
	if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: "shop", Name: "running"}, &o); err != nil || !o.Spec.Cancel {
		t.Fatalf("spec.cancel not set: %+v %v", o.Spec, err)
	}
	code, body := h.do("POST", "/api/orders/done/cancel", "")
	if c, _ := errorOf(t, body); code != http.StatusConflict || c != "OrderFinished" {
		t.Fatalf("%d %v", code, body)
	}
	code, body = h.do("POST", "/api/orders/nope/cancel", "")
	if code != 404 {
		t.Fatalf("%d %v", code, body)
	}
}

func TestProductsShowPriceAndStock(t *testing.T) {
	h := newHarness(t)
	code, body := h.do("GET", "/api/products", "")
	list, _ := body["products"].([]any)
	if code != 200 || len(list) != 3 {
		t.Fatalf("%d %v", code, body)
	}
	first := list[0].(map[string]any)
	if first["productID"] != "PROD-001" || first["price"] != "1299.99" || first["stock"] != float64(1000) {
		t.Fatalf("%v", first)
	}
	h.broken = true
	code, body = h.do("GET", "/api/products", "")
	if c, _ := errorOf(t, body); code != 503 || c != "CatalogUnavailable" || strings.Contains(body["error"].(map[string]any)["message"].(string), "database down") {
		t.Fatalf("%d %v", code, body)
	}
}

func TestBadRequestsAreRefusedWithAnErrorNamingTheField(t *testing.T) {
	item := func(extra string) string {
		return `{"customerID":"C1","items":[{"productID":"PROD-001","quantity":1` + extra + `}]}`
	}
	for _, tc := range []struct {
		name, body, code, field string
		status                  int
	}{
		{"malformed", `{"customerID":`, "InvalidJSON", "", 400},
		{"not an object", `[1,2]`, "InvalidType", "", 400},
		{"empty", ``, "InvalidJSON", "", 400},
		{"trailing data", seedBody + `{}`, "InvalidJSON", "", 400},
		{"unknown field", `{"customerID":"C1","items":[],"coupon":"X"}`, "UnknownField", "coupon", 400},
		{"unknown item field", item(`,"color":"red"`), "UnknownField", "color", 400},
		{"customer as number", `{"customerID":7,"items":[]}`, "InvalidType", "customerID", 400},
		{"items as object", `{"customerID":"C1","items":{}}`, "InvalidType", "items", 400},
		{"no customer", `{"items":[{"productID":"P","quantity":1}]}`, "MissingField", "customerID", 400},
		{"no items", `{"customerID":"C1","items":[]}`, "MissingField", "items", 400},
		{"no product", `{"customerID":"C1","items":[{"quantity":1}]}`, "MissingField", "items[0].productID", 400},
		{"no quantity", `{"customerID":"C1","items":[{"productID":"P"}]}`, "MissingField", "items[0].quantity", 400},
		{"quantity as string", `{"customerID":"C1","items":[{"productID":"P","quantity":"1"}]}`, "InvalidQuantity", "items[0].quantity", 400},
		{"fractional quantity", `{"customerID":"C1","items":[{"productID":"P","quantity":1.5}]}`, "InvalidQuantity", "items[0].quantity", 400},
		{"zero quantity", `{"customerID":"C1","items":[{"productID":"P","quantity":0}]}`, "InvalidQuantity", "items[0].quantity", 400},
		{"negative price", item(`,"unitPrice":-1`), "InvalidAmount", "items[0].unitPrice", 400},
		{"over-precise price", item(`,"unitPrice":1.999`), "InvalidAmount", "items[0].unitPrice", 400},
		{"price as bool", item(`,"unitPrice":true`), "InvalidAmount", "items[0].unitPrice", 400},
		{"price as bad string", item(`,"unitPrice":"12,50"`), "InvalidAmount", "items[0].unitPrice", 400},
		{"total mismatch", `{"customerID":"C1","totalAmount":10,"items":[{"productID":"P","quantity":2,"unitPrice":4.99}]}`, "TotalMismatch", "totalAmount", 400},
		{"total without prices", `{"customerID":"C1","totalAmount":10,"items":[{"productID":"P","quantity":2}]}`, "InvalidAmount", "totalAmount", 400},
		{"negative total", `{"customerID":"C1","totalAmount":-1,"items":[{"productID":"P","quantity":1,"unitPrice":1}]}`, "InvalidAmount", "totalAmount", 400},
		{"huge body", `{"customerID":"` + strings.Repeat("x", 5000) + `","items":[]}`, "BodyTooLarge", "", 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := newHarness(t).do("POST", "/api/orders", tc.body)
			c, f := errorOf(t, body)
			if code != tc.status || c != tc.code || f != tc.field {
				t.Fatalf("got %d %s field %q; want %d %s field %q (%v)", code, c, f, tc.status, tc.code, tc.field, body)
			}
		})
	}
}

func TestAmountsAreConvertedExactly(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`1299.99`, "1299.99"}, {`"1299.99"`, "1299.99"}, {`1299.990`, "1299.99"}, {`1.29999e3`, "1299.99"},
		{`0.1`, "0.10"}, {`49.9`, "49.90"}, {`"0"`, "0.00"}, {`100`, "100.00"},
	} {
		body := `{"customerID":"C1","items":[{"productID":"P","quantity":3,"unitPrice":` + tc.in + `}]}`
		spec, aerr := decodeCreate(strings.NewReader(body))
		if aerr != nil || spec.Items[0].UnitPrice != tc.want {
			t.Errorf("unitPrice %s -> %q, %v; want %s", tc.in, spec.Items[0].UnitPrice, aerr, tc.want)
		}
	}
	// 0.1 + 0.2 as floats is 0.30000000000000004; as decimals it is 0.30.
	body := `{"customerID":"C1","totalAmount":0.3,"items":[{"productID":"A","quantity":1,"unitPrice":0.1},{"productID":"B","quantity":1,"unitPrice":0.2}]}`
	if _, aerr := decodeCreate(strings.NewReader(body)); aerr != nil {
		t.Fatalf("0.1 + 0.2 != 0.3: %v", aerr)
	}
}

func TestUnknownRoutesAnswerJSON(t *testing.T) {
	code, body := newHarness(t).do("GET", "/api/nothing", "")
	if c, _ := errorOf(t, body); code != 404 || c != "NotFound" {
		t.Fatalf("%d %v", code, body)
	}
	req := httptest.NewRequest("GET", "/", nil)
	rec := httptest.NewRecorder()
	newHarness(t).h.ServeHTTP(rec, req)
	if rec.Code != 200 || !bytes.Contains(rec.Body.Bytes(), []byte("<title>OrderFlow</title>")) {
		t.Fatalf("page: %d", rec.Code)
	}
}

func FuzzDecodeCreate(f *testing.F) {
	for _, s := range []string{seedBody, `{}`, `{"customerID":"C","items":[{"productID":"P","quantity":1,"unitPrice":"0.10"}]}`,
		`{"customerID":"C","totalAmount":"1e2","items":[{"productID":"P","quantity":100,"unitPrice":1}]}`, `[`, `null`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		spec, aerr := decodeCreate(strings.NewReader(body))
		if aerr != nil {
			if aerr.Status < 400 || aerr.Status > 499 || aerr.Code == "" || aerr.Message == "" {
				t.Fatalf("bad error %+v", aerr)
			}
			return
		}
		if spec.CustomerID == "" || len(spec.Items) == 0 {
			t.Fatalf("accepted an incomplete order: %+v", spec)
		}
		for _, it := range spec.Items {
			if it.ProductID == "" || it.Quantity < 1 || it.Quantity > 10000 {
				t.Fatalf("accepted item %+v", it)
			}
		}
	})
}

func TestRefundsAreAppendedToACompletedOrderOnce(t *testing.T) {
	h := newHarness(t, order("done", v1alpha1.PhaseCompleted), order("running", v1alpha1.PhaseProcessing))
	refunds := func() []v1alpha1.RefundRequest {
		var o v1alpha1.Order
		if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: "shop", Name: "done"}, &o); err != nil {
			t.Fatal(err)
		}
		return o.Spec.Refunds
	}
	code, body := h.do("POST", "/api/orders/done/refunds", `{"id":"damaged","items":[{"productID":"PROD-001","quantity":1}],"reason":"damaged","restock":true}`)
	if code != http.StatusAccepted {
		t.Fatalf("%d %v", code, body)
	}
	code, body = h.do("POST", "/api/orders/done/refunds", `{"id":"goodwill","amount":20.5}`)
	if code != http.StatusAccepted {
		t.Fatalf("%d %v", code, body)
	}
	got := refunds()
	if len(got) != 2 || got[0].ID != "damaged" || !got[0].Restock || got[0].Items[0].Quantity != 1 || got[1].ID != "goodwill" || got[1].Amount != "20.50" {
		t.Fatalf("spec.refunds %+v", got)
	}
	for _, tc := range []struct {
		path, body, code, field string
		status                  int
	}{
		{"done", `{"id":"damaged","amount":"1.00"}`, "RefundExists", "id", http.StatusConflict},
		{"running", `{"id":"r1","amount":"1.00"}`, "OrderNotCompleted", "", http.StatusConflict},
		{"done", `{"amount":"1.00"}`, "MissingField", "id", http.StatusBadRequest},
		{"done", `{"id":"r2"}`, "MissingField", "items", http.StatusBadRequest},
		{"done", `{"id":"r2","amount":"1.00","items":[{"productID":"PROD-001","quantity":1}]}`, "InvalidRefund", "amount", http.StatusBadRequest},
		{"done", `{"id":"r2","amount":"1.005"}`, "InvalidAmount", "amount", http.StatusBadRequest},
		{"done", `{"id":"r2","amount":"0"}`, "InvalidAmount", "amount", http.StatusBadRequest},
		{"done", `{"id":"r2","items":[{"productID":"PROD-001","quantity":0}]}`, "InvalidQuantity", "items[0].quantity", http.StatusBadRequest},
		{"done", `{"id":"r2","amount":"1.00","card":"4242"}`, "UnknownField", "card", http.StatusBadRequest},
	} {
		code, body := h.do("POST", "/api/orders/"+tc.path+"/refunds", tc.body)
		c, f := errorOf(t, body)
		if code != tc.status || c != tc.code || f != tc.field {
			t.Errorf("%s: %d %s %s, want %d %s %s", tc.body, code, c, f, tc.status, tc.code, tc.field)
		}
	}
	if len(refunds()) != 2 {
		t.Fatalf("a refused request changed spec.refunds: %+v", refunds())
	}
}

func TestAmendmentsChangeARunningOrdersSpecUntilItsPayment(t *testing.T) {
	reserved := order("reserved", v1alpha1.PhaseProcessing)
	reserved.Status.Step = v1alpha1.StepInventoryReserved
	paid := order("paid", v1alpha1.PhaseProcessing)
	paid.Status.Step = v1alpha1.StepPaymentCaptured
	h := newHarness(t, reserved, paid, order("done", v1alpha1.PhaseCompleted))
	spec := func(name string) v1alpha1.OrderSpec {
		var o v1alpha1.Order
		if err := h.c.Get(context.Background(), client.ObjectKey{Namespace: "shop", Name: name}, &o); err != nil {
			t.Fatal(err)
		}
		return o.Spec
	}
	code, body := h.do("PATCH", "/api/orders/reserved", `{"items":[{"productID":"PROD-002","quantity":2,"unitPrice":"49.90"}],"customerEmail":"b@example.com"}`)
	if code != http.StatusAccepted {
		t.Fatalf("%d %v", code, body)
	}
	if got := spec("reserved"); len(got.Items) != 1 || got.Items[0].ProductID != "PROD-002" || got.Items[0].Quantity != 2 ||
		got.Items[0].UnitPrice != "49.90" || got.CustomerEmail != "b@example.com" || got.CustomerID != "C1" {
		t.Fatalf("spec after the amendment %+v", got)
	}
	for _, tc := range []struct {
		path, body, code, field string
		status                  int
	}{
		{"paid", `{"items":[{"productID":"PROD-001","quantity":2}]}`, "TooLate", "", http.StatusConflict},
		{"done", `{"customerEmail":"c@example.com"}`, "TooLate", "", http.StatusConflict},
		{"reserved", `{}`, "MissingField", "items", http.StatusBadRequest},
		{"reserved", `{"items":[]}`, "MissingField", "items", http.StatusBadRequest},
		{"reserved", `{"items":[{"productID":"PROD-001","quantity":0}]}`, "InvalidQuantity", "items[0].quantity", http.StatusBadRequest},
		{"reserved", `{"customerID":"C2"}`, "UnknownField", "customerID", http.StatusBadRequest},
		{"nope", `{"customerEmail":"c@example.com"}`, "NotFound", "", http.StatusNotFound},
	} {
		code, body := h.do("PATCH", "/api/orders/"+tc.path, tc.body)
		c, f := errorOf(t, body)
		if code != tc.status || c != tc.code || f != tc.field {
			t.Errorf("%s %s: %d %s %s, want %d %s %s", tc.path, tc.body, code, c, f, tc.status, tc.code, tc.field)
		}
	}
	if got := spec("paid"); got.Items[0].Quantity != 1 {
		t.Fatalf("a refused amendment changed the spec: %+v", got)
	}
}
