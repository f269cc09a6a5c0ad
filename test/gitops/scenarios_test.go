//go:build gitops

package gitops

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTheKustomizationIsReadyOnlyOnceEveryOrderCompleted commits 20 Orders:
// the Kustomization turns Ready only when every one is Completed. A commit
// adding an order that will be declined makes it not Ready, naming that
// Order. Once the Orders are done, Flux finds nothing to change: repeated
// reconciliations write nothing to them.
func TestTheKustomizationIsReadyOnlyOnceEveryOrderCompleted(t *testing.T) {
	r := newRepo(t, "health")
	for i := range 20 {
		r.write(fmt.Sprintf("orders/h%02d.yaml", i), order(fmt.Sprintf("h%02d", i), "CUST-H", "PROD-002", 1, "", ""))
	}
	r.push("20 orders")
	k := r.await("True", 2*time.Minute)
	phases := kubectl(t, "-n", r.ns, "get", "orders", "-o", `jsonpath={range .items[*]}{.status.phase}{"\n"}{end}`)
	if n := strings.Count(phases, "Completed"); n != 20 {
		t.Fatalf("the Kustomization is Ready (%s) with %d of 20 Orders Completed:\n%s", k.message, n, phases)
	}

	r.write("orders/declined.yaml", order("declined", "CUST-H", "PROD-002", 1, "", "  paymentMethod: pm_card_chargeDeclined\n"))
	r.push("an order that will be declined")
	k = r.await("False", 2*time.Minute)
	if !strings.Contains(k.message, "Order/health/declined") {
		t.Fatalf("the Kustomization's message does not name the declined Order: %s: %s", k.reason, k.message)
	}
	t.Logf("Flux reports: Ready=False %s: %s", k.reason, k.message)

	// No drift: the finished Orders are left alone.
	r.remove("orders/declined.yaml")
	r.push("the declined order goes")
	r.await("True", 2*time.Minute)
	before := kubectl(t, "-n", r.ns, "get", "orders", "-o", `jsonpath={range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}`)
	for range 3 {
		r.reconcile()
		time.Sleep(2 * time.Second)
	}
	r.await("True", time.Minute)
	if after := kubectl(t, "-n", r.ns, "get", "orders", "-o", `jsonpath={range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}`); after != before {
		t.Fatalf("reconciliations wrote to finished Orders:\nbefore %s\nafter  %s", before, after)
	}
}

// TestPrunedOrdersFollowTheirDeletionPolicyAndComeBackAsTheyWere removes
// Orders from git: a finished one goes (its records stay) and, put back,
// shows its recorded outcome (Reattached, the same paymentID, nothing
// charged again); a running one with deletionPolicy Cancel is cancelled,
// one with Orphan goes on and completes, and put back shows it completed.
func TestPrunedOrdersFollowTheirDeletionPolicyAndComeBackAsTheyWere(t *testing.T) {
	r := newRepo(t, "prune")
	done := order("done", "CUST-P", "PROD-002", 1, "", "")
	r.write("orders/done.yaml", done)
	r.push("a finished order")
	r.await("True", 2*time.Minute)
	paymentID := r.jsonpath("done", "{.status.paymentID}")

	window := "  annotations: {orderflow.io/edit-window: 20s}\n"
	r.write("orders/cancel.yaml", order("cancel", "CUST-P", "PROD-002", 1, window, ""))
	r.write("orders/orphan.yaml", order("orphan", "CUST-P", "PROD-002", 1, window, "  deletionPolicy: Orphan\n"))
	r.push("two orders in their edit window")
	r.waitFor("cancel", "{.status.step}", "InventoryReserved")
	r.waitFor("orphan", "{.status.step}", "InventoryReserved")

	r.remove("orders/done.yaml")
	r.remove("orders/cancel.yaml")
	r.remove("orders/orphan.yaml")
	r.push("all three removed")
	r.waitPruned("done", "cancel", "orphan")
	if st := queryInt(t, `SELECT count(*) FROM orders WHERE key = $1 AND status = 'completed'`, r.key("done")); st != 1 {
		t.Fatal("the pruned finished order's record is gone")
	}
	if st := queryInt(t, `SELECT count(*) FROM orders WHERE key = $1 AND status = 'cancelled'`, r.key("cancel")); st != 1 {
		t.Fatal("the pruned running order (deletionPolicy Cancel) is not recorded cancelled")
	}
	if n, _, _ := charges(t, r.key("cancel")); n != 0 {
		t.Fatalf("the cancelled order was charged %d time(s)", n)
	}
	deadline := time.Now().Add(90 * time.Second)
	for queryInt(t, `SELECT count(*) FROM orders WHERE key = $1 AND status = 'completed'`, r.key("orphan")) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the orphaned order did not complete without its Order")
		}
		time.Sleep(time.Second)
	}

	// The finished and the orphaned order put back (the cancelled one
	// would come back Cancelled, which a Kustomization that waits reports).
	r.write("orders/done.yaml", done)
	r.write("orders/orphan.yaml", order("orphan", "CUST-P", "PROD-002", 1, window, "  deletionPolicy: Orphan\n"))
	r.push("two of the removed orders put back")
	r.await("True", 2*time.Minute)
	if got := r.jsonpath("done", "{.status.paymentID}"); got != paymentID {
		t.Fatalf("put back: paymentID %s; want the recorded %s", got, paymentID)
	}
	if out := kubectl(t, "-n", r.ns, "describe", "order", "done"); !strings.Contains(out, "Reattached") {
		t.Fatalf("put back without saying it was reattached:\n%s", out)
	}
	for _, name := range []string{"done", "orphan"} {
		if n, _, _ := charges(t, r.key(name)); n != 1 {
			t.Fatalf("%s: %d charges at the provider after it came back; want 1", name, n)
		}
	}
	if p := r.phase("orphan"); p != "Completed" {
		t.Fatalf("the orphaned order put back shows %s; want Completed", p)
	}
}

// TestAnEditOfAFixedFieldIsReportedByFlux changes a customerID in git: Flux
// reports the API server's refusal naming the field; the Order is untouched.
func TestAnEditOfAFixedFieldIsReportedByFlux(t *testing.T) {
	r := newRepo(t, "fixed")
	r.write("orders/f1.yaml", order("f1", "CUST-F", "PROD-002", 1, "", ""))
	r.push("an order")
	r.await("True", 2*time.Minute)
	rv := r.jsonpath("f1", "{.metadata.resourceVersion}")
	r.write("orders/f1.yaml", order("f1", "CUST-OTHER", "PROD-002", 1, "", ""))
	r.push("its customer changed")
	k := r.await("False", 2*time.Minute)
	if !strings.Contains(k.message, "customerID is immutable") || !strings.Contains(k.message, "f1") {
		t.Fatalf("Flux does not report the refused field: %s: %s", k.reason, k.message)
	}
	t.Logf("Flux reports: Ready=False %s: %s", k.reason, k.message)
	if got := r.jsonpath("f1", "{.metadata.resourceVersion} {.spec.customerID}"); got != rv+" CUST-F" {
		t.Fatalf("the Order changed: %s (was %s CUST-F)", got, rv)
	}
	r.git("revert", "--no-edit", "HEAD")
	r.push("reverted")
	r.await("True", 2*time.Minute)
}

// TestCancelByCommit sets cancel: true on a running order in git: it is
// cancelled, nothing stays charged.
func TestCancelByCommit(t *testing.T) {
	r := newRepo(t, "cancel")
	window := "  annotations: {orderflow.io/edit-window: 30s}\n"
	r.write("orders/c1.yaml", order("c1", "CUST-C", "PROD-002", 2, window, ""))
	r.push("an order in its edit window")
	r.waitFor("c1", "{.status.step}", "InventoryReserved")
	r.write("orders/c1.yaml", order("c1", "CUST-C", "PROD-002", 2, window, "  cancel: true\n"))
	r.push("cancelled")
	r.waitFor("c1", "{.status.phase}", "Cancelled")
	if n, _, refunds := charges(t, r.key("c1")); n != refunds {
		t.Fatalf("cancelled with %d charge(s) and %d refund(s) at the provider", n, refunds)
	}
	if held := queryInt(t, `SELECT count(*) FROM inventory_reservations WHERE order_key = $1 AND status = 'held'`, r.key("c1")); held != 0 {
		t.Fatal("the cancelled order still holds stock")
	}
}

// TestChangesAndRefundsByCommit changes an order's items by commit before
// its payment (accepted: charged the new total) and after it (refused: the
// Kustomization reports the stalled Order until the commit is reverted),
// then appends refunds by commit: each made once, also when Flux applies
// the commit again and after the Order is pruned and restored.
func TestChangesAndRefundsByCommit(t *testing.T) {
	r := newRepo(t, "changes")
	window := "  annotations: {orderflow.io/edit-window: 15s}\n"
	r.write("orders/a1.yaml", order("a1", "CUST-A", "PROD-002", 3, window, ""))
	r.push("an order in its edit window")
	r.waitFor("a1", "{.status.step}", "InventoryReserved")
	r.write("orders/a1.yaml", order("a1", "CUST-A", "PROD-002", 1, window, ""))
	r.push("one mouse, not three")
	r.waitFor("a1", `{.status.conditions[?(@.type=="Amended")].status}`, "True")
	r.await("True", 2*time.Minute)
	if n, cents, _ := charges(t, r.key("a1")); n != 1 || cents != 4990 {
		t.Fatalf("the provider holds %d charge(s) of %d cents; want one of 4990", n, cents)
	}

	r.write("orders/a1.yaml", order("a1", "CUST-A", "PROD-002", 2, window, ""))
	r.push("two mice, after the payment")
	k := r.await("False", 2*time.Minute)
	if !strings.Contains(k.message, "Order/changes/a1") {
		t.Fatalf("the Kustomization does not report the refused change: %s: %s", k.reason, k.message)
	}
	t.Logf("Flux reports: Ready=False %s: %s", k.reason, k.message)
	r.git("revert", "--no-edit", "HEAD")
	r.push("reverted")
	r.await("True", 2*time.Minute)

	refunds := "  refunds:\n  - {id: goodwill, amount: \"5.00\", reason: late}\n"
	r.write("orders/a1.yaml", order("a1", "CUST-A", "PROD-002", 1, window, refunds))
	r.push("a refund")
	r.waitFor("a1", "{.status.refunded}", "5.00")
	r.reconcile()
	r.await("True", 2*time.Minute)
	r.remove("orders/a1.yaml")
	r.push("pruned")
	r.waitPruned("a1")
	r.git("revert", "--no-edit", "HEAD")
	r.push("restored")
	r.await("True", 2*time.Minute)
	r.waitFor("a1", "{.status.refunds[0].state}", "Refunded")
	if n, cents, refunded := charges(t, r.key("a1")); n != 1 || cents != 4990 || refunded != 1 {
		t.Fatalf("after re-applies and a restore the provider holds %d charge(s) of %d cents and %d refund(s); want one of 4990 and one refund", n, cents, refunded)
	}
}

// TestTwoHundredOrdersInOneCommit prints how long 200 Orders in one commit
// take until the Kustomization is Ready, and the API server writes to
// Orders per order.
func TestTwoHundredOrdersInOneCommit(t *testing.T) {
	r := newRepo(t, "many")
	r.await("True", time.Minute)
	for i := range 200 {
		r.write(fmt.Sprintf("orders/m%03d.yaml", i), order(fmt.Sprintf("m%03d", i), "CUST-M", "PROD-002", 1, "", ""))
	}
	writesBefore := orderWrites(t)
	start := time.Now()
	r.push("200 orders")
	r.await("True", 5*time.Minute)
	took := time.Since(start)
	completed := strings.Count(kubectl(t, "-n", r.ns, "get", "orders", "-o", `jsonpath={range .items[*]}{.status.phase}{"\n"}{end}`), "Completed")
	writes := orderWrites(t) - writesBefore
	t.Logf("\n| orders | Completed when Ready | push to Ready | API writes to Orders | per order |\n|---|---|---|---|---|\n| 200 | %d | %s | %.0f | %.2f |",
		completed, took.Round(100*time.Millisecond), writes, writes/200)
	if completed != 200 {
		t.Fatalf("Ready with %d of 200 Completed", completed)
	}
}

// orderWrites sums the API server's write requests to Orders (create,
// update, patch, apply, delete; status included).
func orderWrites(t testing.TB) float64 {
	t.Helper()
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(kubectl(t, "get", "--raw", "/metrics")))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") || !strings.Contains(line, `resource="orders"`) {
			continue
		}
		write := false
		for _, v := range []string{`verb="POST"`, `verb="PUT"`, `verb="PATCH"`, `verb="APPLY"`, `verb="DELETE"`, `verb="CREATE"`, `verb="UPDATE"`} {
			write = write || strings.Contains(line, v)
		}
		if !write {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}
