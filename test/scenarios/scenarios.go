// Package scenarios holds the kubectl scenarios of OrderFlow's users: the
// samples with every outcome, a running order cancelled, a running order
// deleted, a completed order refunded in part, a running order changed. The
// e2e suite runs them against the local stack and the cluster suite against
// the chart on a real node: the same tests, pointed at another kubeconfig
// and database.
package scenarios

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// Target is the deployment the scenarios run against.
type Target struct {
	// Root is the repository root (the samples are under config/samples).
	Root string
	// Namespace the Orders go to.
	Namespace string
	// Kubectl runs kubectl against the deployment with the given arguments
	// (and stdin, when not empty) and returns its combined output.
	Kubectl func(stdin string, args ...string) (string, error)
	// DB is the deployment's PostgreSQL.
	DB Queryer
}

// Queryer is a PostgreSQL connection or pool.
type Queryer interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (tg Target) kubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := tg.Kubectl("", append([]string{"-n", tg.Namespace}, args...)...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (tg Target) waitJSONPath(t testing.TB, object, path, want string) {
	t.Helper()
	tg.kubectl(t, "wait", object, "--for=jsonpath="+path+"="+want, "--timeout=60s")
}

func (tg Target) queryInt(t testing.TB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := tg.DB.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// key is the identity of the order an Order places: its record's key.
func (tg Target) key(name string) string { return tg.Namespace + "/" + name }

// Samples applies config/samples/ (one Order per outcome) and checks what
// kubectl shows and what PostgreSQL holds.
func Samples(t *testing.T, tg Target) {
	stockBefore := tg.queryInt(t, `SELECT stock FROM products WHERE id = 'PROD-002'`)
	laptopsBefore := tg.queryInt(t, `SELECT stock FROM products WHERE id = 'PROD-001'`)

	tg.kubectl(t, "apply", "-f", filepath.Join(tg.Root, "config", "samples"))
	tg.kubectl(t, "wait", "--for=condition=Ready", "order/order-001", "--timeout=60s")
	tg.waitJSONPath(t, "order/order-002", "{.status.phase}", "Failed")
	tg.waitJSONPath(t, "order/order-003", "{.status.phase}", "Failed")
	tg.waitJSONPath(t, "order/order-004", "{.status.phase}", "Cancelled")

	for _, args := range [][]string{{"get", "orders"}, {"get", "ord"}, {"get", "orderflow"}, {"get", "orders.orderflow.io"}} {
		out := tg.kubectl(t, args...)
		for _, col := range []string{"CUSTOMER", "TOTAL", "PHASE", "STEP", "AGE", "order-001", "Completed", "1399.79"} {
			if !strings.Contains(out, col) {
				t.Fatalf("kubectl %s lacks %s:\n%s", strings.Join(args, " "), col, out)
			}
		}
	}
	wide := tg.kubectl(t, "get", "orders", "-o", "wide")
	for _, s := range []string{"WORKFLOW", "MESSAGE", "not enough stock of PROD-003", "the card was declined"} {
		if !strings.Contains(wide, s) {
			t.Fatalf("kubectl get orders -o wide lacks %q:\n%s", s, wide)
		}
	}
	if r := tg.kubectl(t, "get", "order", "order-002", "-o", "jsonpath={.status.reason}"); r != "OutOfStock" {
		t.Fatalf("order-002 reason %q", r)
	}
	if r := tg.kubectl(t, "get", "order", "order-003", "-o", "jsonpath={.status.reason}"); r != "PaymentDeclined" {
		t.Fatalf("order-003 reason %q", r)
	}

	describe := tg.kubectl(t, "describe", "order", "order-001")
	for _, s := range []string{"Events:", "Accepted", "InventoryReserved", "PaymentCaptured", "CustomerNotified", "Order completed"} {
		if !strings.Contains(describe, s) {
			t.Fatalf("kubectl describe lacks %s:\n%s", s, describe)
		}
	}

	// PostgreSQL agrees: order-001 took one laptop and two mice, order-003's
	// mouse went back when the card was declined.
	if got := tg.queryInt(t, `SELECT stock FROM products WHERE id = 'PROD-002'`); got != stockBefore-2 {
		t.Fatalf("PROD-002 stock %d -> %d; want -2", stockBefore, got)
	}
	if got := tg.queryInt(t, `SELECT stock FROM products WHERE id = 'PROD-001'`); got != laptopsBefore-1 {
		t.Fatalf("PROD-001 stock %d -> %d; want -1", laptopsBefore, got)
	}
	if n := tg.queryInt(t, `SELECT count(*) FROM payments WHERE order_key = $1 AND kind = 'capture'`, tg.key("order-001")); n != 1 {
		t.Fatalf("order-001 has %d captures", n)
	}
	for _, name := range []string{"order-002", "order-003", "order-004"} {
		if n := tg.queryInt(t, `SELECT count(*) FROM payments WHERE order_key = $1`, tg.key(name)); n != 0 {
			t.Fatalf("%s has %d payments", name, n)
		}
	}
}

const runningOrder = `apiVersion: orderflow.io/v1alpha1
kind: Order
metadata:
  name: %s
spec:
  customerID: CUST-009
  items:
  - productID: PROD-002
    quantity: 3
`

// The scenarios below need a charge to take a while (the sandbox's
// latency, a second on both suites' stacks) to act while it is in flight.

func (tg Target) applyOrder(t testing.TB, name string) {
	t.Helper()
	if out, err := tg.Kubectl(fmt.Sprintf(runningOrder, name), "-n", tg.Namespace, "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply %s: %v\n%s", name, err, out)
	}
}

// CancelRunning cancels an order while its payment is in flight: it ends
// Cancelled, refunded, its stock back.
func CancelRunning(t *testing.T, tg Target) {
	before := tg.queryInt(t, `SELECT stock FROM products WHERE id = 'PROD-002'`)
	tg.applyOrder(t, "cancel-me")
	tg.waitJSONPath(t, "order/cancel-me", "{.status.step}", "InventoryReserved")
	tg.kubectl(t, "patch", "order", "cancel-me", "--type", "merge", "-p", `{"spec":{"cancel":true}}`)
	tg.waitJSONPath(t, "order/cancel-me", "{.status.phase}", "Cancelled")
	if n := tg.queryInt(t, `SELECT count(*) FROM payments WHERE order_key = $1 AND kind = 'refund'`, tg.key("cancel-me")); n != 1 {
		t.Fatalf("%d refunds", n)
	}
	if got := tg.queryInt(t, `SELECT stock FROM products WHERE id = 'PROD-002'`); got != before {
		t.Fatalf("stock %d -> %d after a cancelled order", before, got)
	}
	if out := tg.kubectl(t, "describe", "order", "cancel-me"); !strings.Contains(out, "Cancelled") {
		t.Fatalf("describe lacks the cancellation:\n%s", out)
	}
}

// DeleteRunning deletes a running order: it is cancelled (compensated)
// before it goes.
func DeleteRunning(t *testing.T, tg Target) {
	tg.applyOrder(t, "delete-me")
	tg.waitJSONPath(t, "order/delete-me", "{.status.step}", "InventoryReserved")
	id := tg.key("delete-me")
	start := time.Now()
	tg.kubectl(t, "delete", "order", "delete-me", "--timeout=60s")
	t.Logf("deleting a running order took %s (compensation included)", time.Since(start).Round(time.Millisecond))
	if _, err := tg.Kubectl("", "-n", tg.Namespace, "get", "order", "delete-me"); err == nil {
		t.Fatal("the order is still there")
	}
	if n := tg.queryInt(t, `SELECT count(*) FROM orders WHERE key = $1 AND status = 'cancelled'`, id); n != 1 {
		t.Fatal("the deleted order is not recorded as cancelled")
	}
	if n := tg.queryInt(t, `SELECT count(*) FROM inventory_reservations WHERE order_key = $1 AND status = 'held'`, id); n != 0 {
		t.Fatal("the deleted order still holds stock")
	}
	captures := tg.queryInt(t, `SELECT count(*) FROM payments WHERE order_key = $1 AND kind = 'capture'`, id)
	refunds := tg.queryInt(t, `SELECT count(*) FROM payments WHERE order_key = $1 AND kind = 'refund'`, id)
	if captures != refunds {
		t.Fatalf("%d captures, %d refunds", captures, refunds)
	}
}

// Invalid applies an Order the CRD's validation refuses: the API server
// names the field.
func Invalid(t *testing.T, tg Target) {
	out, err := tg.Kubectl(`apiVersion: orderflow.io/v1alpha1
kind: Order
metadata: {name: bad}
spec:
  customerID: C
  items: [{productID: PROD-001, quantity: 0}]
`, "-n", tg.Namespace, "apply", "-f", "-")
	if err == nil || !strings.Contains(out, "spec.items[0].quantity") {
		t.Fatalf("an Order with quantity 0: %v\n%s", err, out)
	}
}

// PartialRefunds refunds a Completed order in part with kubectl, as the
// README shows: by item with restock and by amount. Each is made once at
// the provider (its own books) and shown; a refund over what is left is
// refused visibly, and an edit that drops a refund is refused naming the
// field.
func PartialRefunds(t *testing.T, tg Target) {
	before := tg.queryInt(t, `SELECT stock FROM products WHERE id = 'PROD-002'`)
	tg.applyOrder(t, "refund-me") // 3 × 49.90 = 149.70
	tg.kubectl(t, "wait", "--for=condition=Ready", "order/refund-me", "--timeout=60s")
	tg.kubectl(t, "patch", "order", "refund-me", "--type", "merge", "-p", `{"spec":{"refunds":[
		{"id":"damaged","items":[{"productID":"PROD-002","quantity":1}],"reason":"damaged","restock":true},
		{"id":"goodwill","amount":"20.00","reason":"late delivery"}]}}`)
	tg.waitJSONPath(t, "order/refund-me", "{.status.refunded}", "69.90")
	states := tg.kubectl(t, "get", "order", "refund-me", "-o", `jsonpath={range .status.refunds[*]}{.id}={.state} {end}`)
	if states != "damaged=Refunded goodwill=Refunded " {
		t.Fatalf("refunds shown as %q", states)
	}
	// Counted at the provider, in its own books.
	var n, cents int
	if err := tg.DB.QueryRow(context.Background(), `SELECT count(*), coalesce(sum(r.amount_cents), 0) FROM payment_sandbox.refunds r
		JOIN payment_sandbox.charges c ON c.id = r.charge_id WHERE c.idempotency_key = $1`, "capture-"+tg.key("refund-me")).Scan(&n, &cents); err != nil {
		t.Fatal(err)
	}
	if n != 2 || cents != 6990 {
		t.Fatalf("the provider made %d refunds of %d cents, want 2 of 6990", n, cents)
	}
	if got := tg.queryInt(t, `SELECT stock FROM products WHERE id = 'PROD-002'`); got != before-2 {
		t.Fatalf("PROD-002 stock %d -> %d; want -2 (3 sold, 1 put back)", before, got)
	}

	// 79.80 is left: 80.00 is refused, and the order stays Completed.
	tg.kubectl(t, "patch", "order", "refund-me", "--type", "json", "-p",
		`[{"op":"add","path":"/spec/refunds/-","value":{"id":"too-much","amount":"80.00"}}]`)
	tg.waitJSONPath(t, "order/refund-me", "{.status.refunds[2].state}", "Refused")
	tg.kubectl(t, "wait", "--for=condition=Ready", "order/refund-me", "--timeout=10s")
	if out := tg.kubectl(t, "describe", "order", "refund-me"); !strings.Contains(out, "RefundRefused") || !strings.Contains(out, "79.80") {
		t.Fatalf("describe does not show the refusal naming what is left:\n%s", out)
	}
	out, err := tg.Kubectl("", "-n", tg.Namespace, "patch", "order", "refund-me", "--type", "json", "-p", `[{"op":"remove","path":"/spec/refunds/0"}]`)
	if err == nil || !strings.Contains(out, "spec.refunds") || !strings.Contains(out, "append-only") {
		t.Fatalf("dropping a refund: %v\n%s", err, out)
	}
}

// amendable is an Order with an edit window: its payment waits 8 s after
// its stock is reserved, so it can still be changed.
const amendable = `apiVersion: orderflow.io/v1alpha1
kind: Order
metadata:
  name: %s
  annotations: {orderflow.io/edit-window: 8s}
spec:
  customerID: CUST-010
  items:
%s`

func (tg Target) applyItems(t testing.TB, name, items string) {
	t.Helper()
	if out, err := tg.Kubectl(fmt.Sprintf(amendable, name, items), "-n", tg.Namespace, "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply %s: %v\n%s", name, err, out)
	}
}

// kstatus is what Flux, Argo CD and Helm's --wait read of the Order: the
// real library's verdict on what kubectl gets.
func (tg Target) kstatus(t testing.TB, name string) status.Status {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON([]byte(tg.kubectl(t, "get", "order", name, "-o", "json"))); err != nil {
		t.Fatal(err)
	}
	res, err := status.Compute(u)
	if err != nil {
		t.Fatal(err)
	}
	return res.Status
}

// charges reads the provider's books: how many charges of the order, and
// their cents in all.
func (tg Target) charges(t testing.TB, name string) (n, cents int) {
	t.Helper()
	if err := tg.DB.QueryRow(context.Background(), `SELECT count(*), coalesce(sum(amount_cents), 0)::int FROM payment_sandbox.charges WHERE idempotency_key = $1`,
		"capture-"+tg.key(name)).Scan(&n, &cents); err != nil {
		t.Fatal(err)
	}
	return n, cents
}

// Amendments changes an Order with kubectl apply, as a GitOps tool would:
// before its payment the change is made (the stock follows, the provider is
// charged the new total once); after it, the change is refused visibly
// (Amended False TooLate, a Warning Event, kstatus Failed) and moves
// nothing, until the manifest is put back (kstatus Current). Deleted and
// applied again, the amended manifest finds its order.
func Amendments(t *testing.T, tg Target) {
	const placed = "  - {productID: PROD-002, quantity: 3}\n"
	const changed = "  - {productID: PROD-002, quantity: 1}\n  - {productID: PROD-001, quantity: 1}\n"
	mice, laptops := tg.queryInt(t, `SELECT stock FROM products WHERE id = 'PROD-002'`), tg.queryInt(t, `SELECT stock FROM products WHERE id = 'PROD-001'`)
	tg.applyItems(t, "amend-me", placed)
	tg.waitJSONPath(t, "order/amend-me", "{.status.step}", "InventoryReserved")
	tg.applyItems(t, "amend-me", changed)
	tg.kubectl(t, "wait", "--for=condition=Amended", "order/amend-me", "--timeout=60s")
	if total := tg.kubectl(t, "get", "order", "amend-me", "-o", "jsonpath={.status.total}"); total != "1349.89" {
		t.Fatalf("total %s after the change; want 1349.89 (1299.99 + 49.90)", total)
	}
	if m, l := tg.queryInt(t, `SELECT stock FROM products WHERE id = 'PROD-002'`), tg.queryInt(t, `SELECT stock FROM products WHERE id = 'PROD-001'`); m != mice-1 || l != laptops-1 {
		t.Fatalf("stock PROD-002 %d -> %d, PROD-001 %d -> %d; want one of each held", mice, m, laptops, l)
	}
	tg.kubectl(t, "wait", "--for=condition=Ready", "order/amend-me", "--timeout=60s")
	if n, cents := tg.charges(t, "amend-me"); n != 1 || cents != 134989 {
		t.Fatalf("the provider holds %d charge(s) of %d cents; want one of 134989", n, cents)
	}

	tg.applyItems(t, "amend-me", "  - {productID: PROD-002, quantity: 5}\n")
	tg.waitJSONPath(t, "order/amend-me", `{.status.conditions[?(@.type=="Amended")].reason}`, "TooLate")
	if got := tg.kstatus(t, "amend-me"); got != status.FailedStatus {
		t.Fatalf("a refused change reads %s; want Failed", got)
	}
	if out := tg.kubectl(t, "describe", "order", "amend-me"); !strings.Contains(out, "TooLate") || !strings.Contains(out, "payment was captured") {
		t.Fatalf("describe does not show the refused change:\n%s", out)
	}
	tg.applyItems(t, "amend-me", changed)
	tg.waitJSONPath(t, "order/amend-me", `{.status.conditions[?(@.type=="Amended")].reason}`, "Reverted")
	if got := tg.kstatus(t, "amend-me"); got != status.CurrentStatus {
		t.Fatalf("put back, the Order reads %s; want Current", got)
	}

	tg.kubectl(t, "delete", "order", "amend-me", "--timeout=60s")
	tg.applyItems(t, "amend-me", changed)
	tg.kubectl(t, "wait", "--for=condition=Ready", "order/amend-me", "--timeout=60s")
	if n, cents := tg.charges(t, "amend-me"); n != 1 || cents != 134989 {
		t.Fatalf("applied again: the provider holds %d charge(s) of %d cents; want still one of 134989", n, cents)
	}
	if total := tg.kubectl(t, "get", "order", "amend-me", "-o", "jsonpath={.status.total}"); total != "1349.89" {
		t.Fatalf("applied again: total %s; want 1349.89", total)
	}
}

const shippable = `apiVersion: orderflow.io/v1alpha1
kind: Order
metadata:
  name: %s
  annotations: {orderflow.io/sandbox-carrier: %s}
spec:
  customerID: CUST-020
  customerEmail: parcel@example.com
  items:
  - {productID: PROD-002, quantity: 1}
  fulfillment: {carrier: sandbox, shipBy: 1h}
`

// Fulfillment ships orders with the sandbox carrier, as kubectl shows
// them: Ready once paid and notified, then Booked → Shipped → Delivered
// (kubectl wait --for=condition=Delivered), events sent twice and out of
// order applied once, a lost parcel refunded at the provider, and the
// carrier fixed once placed.
func Fulfillment(t *testing.T, tg Target) {
	for name, script := range map[string]string{"ship-me": "deliver", "ship-chaos": "chaos", "ship-lost": "lose"} {
		if out, err := tg.Kubectl(fmt.Sprintf(shippable, name, script), "-n", tg.Namespace, "apply", "-f", "-"); err != nil {
			t.Fatalf("kubectl apply %s: %v\n%s", name, err, out)
		}
	}
	tg.kubectl(t, "wait", "--for=condition=Ready", "order/ship-me", "order/ship-chaos", "order/ship-lost", "--timeout=60s")
	tg.kubectl(t, "wait", "--for=condition=Delivered", "order/ship-me", "order/ship-chaos", "--timeout=90s")
	for _, name := range []string{"ship-me", "ship-chaos"} {
		got := tg.kubectl(t, "get", "order", name, "-o", `jsonpath={.status.fulfillment.state} {.status.fulfillment.trackingNumber} {.status.conditions[?(@.type=="Shipped")].status}`)
		if f := strings.Fields(got); len(f) != 3 || f[0] != "Delivered" || !strings.HasPrefix(f[1], "SBX") || f[2] != "True" {
			t.Fatalf("%s: %q; want Delivered, an SBX tracking number, Shipped True", name, got)
		}
		if state := tg.queryString(t, `SELECT state FROM shipments WHERE order_key = $1`, tg.key(name)); state != "Delivered" {
			t.Fatalf("%s: the shipment's record says %s", name, state)
		}
		if n, _ := tg.charges(t, name); n != 1 {
			t.Fatalf("%s: %d charges at the provider", name, n)
		}
	}
	if wide := tg.kubectl(t, "get", "order", "ship-me", "-o", "wide"); !strings.Contains(wide, "FULFILLMENT") || !strings.Contains(wide, "Delivered") {
		t.Fatalf("kubectl get -o wide shows no fulfillment:\n%s", wide)
	}

	tg.waitJSONPath(t, "order/ship-lost", `{.status.conditions[?(@.type=="Delivered")].reason}`, "ParcelLost")
	tg.waitJSONPath(t, "order/ship-lost", "{.status.refunds[0].state}", "Refunded")
	_, cents := tg.charges(t, "ship-lost")
	refunded := tg.queryInt(t, `SELECT coalesce(sum(r.amount_cents), 0)::int FROM payment_sandbox.refunds r
		JOIN payment_sandbox.charges c ON c.id = r.charge_id WHERE c.idempotency_key = $1`, "capture-"+tg.key("ship-lost"))
	if refunded != cents || cents == 0 {
		t.Fatalf("lost parcel: the provider refunded %d of %d cents captured; want all", refunded, cents)
	}
	if out := tg.kubectl(t, "describe", "order", "ship-lost"); !strings.Contains(out, "ParcelLost") {
		t.Fatalf("describe does not show the lost parcel:\n%s", out)
	}
	if out, err := tg.Kubectl("", "-n", tg.Namespace, "patch", "order", "ship-me", "--type", "merge", "-p", `{"spec":{"fulfillment":{"carrier":"webhook"}}}`); err == nil || !strings.Contains(out, "fulfillment is immutable") {
		t.Fatalf("changing the carrier: %v\n%s", err, out)
	}
}

func (tg Target) queryString(t testing.TB, q string, args ...any) string {
	t.Helper()
	var s string
	if err := tg.DB.QueryRow(context.Background(), q, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s
}
