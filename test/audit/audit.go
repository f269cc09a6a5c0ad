// Package audit places a mix of Orders meant for every outcome and checks,
// once they finished, what the money, the stock and the workflows say
// against what each was meant to do. Money is counted at the provider, in
// the sandbox provider's own books, not in OrderFlow's payments table: per
// order at most one charge; a completed order charged its total once and
// never refunded; an order that did not complete with every captured cent
// refunded; OrderFlow's records agreeing with the provider's. Stock is
// counted in PostgreSQL: no reservation left held, stock moved once per
// completed order. And one workflow run per order. The fault suite and the
// cluster suite share it.
package audit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	clientretry "k8s.io/client-go/util/retry"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/money"
	"orderflow.io/orderflow/internal/payment"
)

// Env is where the orders run: the Kubernetes API, the Temporal namespace
// "default" and the PostgreSQL database of the deployment under audit, and
// the product every completing order buys.
type Env struct {
	Kube     crclient.Client
	Temporal client.Client
	DB       *pgxpool.Pool
	Product  string
	// Provider is where money is counted; nil: the sandbox provider's
	// books in DB.
	Provider Provider
	// NoDeclines is for a gateway that cannot decline a card (stripe-mock):
	// the mix then has no orders meant to be declined.
	NoDeclines bool

	mu        sync.Mutex
	replanned map[string]Kind
}

// Replan records that the test changed what the named order is meant to
// do (it cancelled an order meant to complete, say): Audit checks it as
// that kind.
func (e *Env) Replan(name string, k Kind) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.replanned == nil {
		e.replanned = map[string]Kind{}
	}
	e.replanned[name] = k
}

func (e *Env) provider() Provider {
	if e.Provider != nil {
		return e.Provider
	}
	return sandboxBooks{e.DB}
}

func (e *Env) kind(p Placed) Kind {
	e.mu.Lock()
	defer e.mu.Unlock()
	if k, ok := e.replanned[p.Name]; ok {
		return k
	}
	return p.Kind
}

// Kind is what an order is meant to do; the mix covers every outcome.
type Kind int

const (
	Completes Kind = iota
	OutOfStock
	Declined
	Cancelled
	Deleted
)

// KindOf is the kind of the i-th order of a mix: 60% complete, 10% each
// run out of stock, are declined, cancelled or deleted.
func KindOf(i int) Kind {
	switch i % 10 {
	case 6:
		return OutOfStock
	case 7:
		return Declined
	case 8:
		return Cancelled
	case 9:
		return Deleted
	}
	return Completes
}

// Placed is an Order Place created.
type Placed struct {
	Name     string
	Key      string // the order's identity: its record's key
	Kind     Kind
	Manifest *v1alpha1.Order
}

// Place creates n Orders in namespace ns, a mix of every outcome (Kind),
// 16 at a time, cancels and deletes the ones meant for that shortly after,
// and calls inject (in its own goroutine) once a third are placed; it
// returns when every order is placed and inject returned. inject runs off
// the test's goroutine: it reports with t.Error, never t.Fatal. With
// reapply, the Orders not meant to be deleted get deletionPolicy Orphan,
// for ApplyAgain.
func (e *Env) Place(t testing.TB, ns string, n int, reapply bool, inject func()) []Placed {
	ctx := context.Background()
	var mu sync.Mutex
	var orders []Placed
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			k := KindOf(i)
			if k == Declined && e.NoDeclines {
				k = Completes
			}
			o := &v1alpha1.Order{}
			o.Namespace, o.Name = ns, fmt.Sprintf("o-%04d", i)
			o.Spec = v1alpha1.OrderSpec{CustomerID: "FAULTS", Items: []v1alpha1.OrderItem{{ProductID: e.Product, Quantity: int32(1 + i%3)}}}
			switch k {
			case OutOfStock:
				o.Spec.Items = []v1alpha1.OrderItem{{ProductID: "PROD-003", Quantity: 1}}
			case Declined:
				o.Spec.PaymentMethod = "pm_card_chargeDeclined"
			}
			if i%4 == 1 {
				// A quarter ship with the sandbox carrier, whatever they are
				// meant to do: only the completed may ever be booked.
				o.Spec.Fulfillment = &v1alpha1.FulfillmentSpec{Carrier: "sandbox"}
			}
			if reapply && k != Deleted {
				o.Spec.DeletionPolicy = v1alpha1.DeletionOrphan
			}
			manifest := o.DeepCopy()
			if err := Retry(func() error { return e.Kube.Create(ctx, o) }); err != nil {
				t.Errorf("create %s: %v", o.Name, err)
				return
			}
			mu.Lock()
			orders = append(orders, Placed{Name: o.Name, Key: contract.Key(o.Namespace, o.Name), Kind: k, Manifest: manifest})
			mu.Unlock()
			switch k {
			case Cancelled:
				time.Sleep(200 * time.Millisecond)
				patch := crclient.RawPatch("application/merge-patch+json", []byte(`{"spec":{"cancel":true}}`))
				if err := Retry(func() error { return e.Kube.Patch(ctx, o, patch) }); err != nil {
					t.Errorf("cancel %s: %v", o.Name, err)
				}
			case Deleted:
				time.Sleep(200 * time.Millisecond)
				if err := Retry(func() error { return crclient.IgnoreNotFound(e.Kube.Delete(ctx, o)) }); err != nil {
					t.Errorf("delete %s: %v", o.Name, err)
				}
			}
		}(i)
		if i == n/3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				inject()
			}()
		}
	}
	wg.Wait()
	return orders
}

// ApplyAgain deletes every Order not meant to be deleted and applies its
// manifest again once it is gone, 16 at a time.
func (e *Env) ApplyAgain(t testing.TB, orders []Placed) {
	ctx := context.Background()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, p := range orders {
		if p.Kind == Deleted {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(p Placed) {
			defer wg.Done()
			defer func() { <-sem }()
			o := p.Manifest.DeepCopy()
			if err := Retry(func() error { return crclient.IgnoreNotFound(e.Kube.Delete(ctx, o)) }); err != nil {
				t.Errorf("delete %s: %v", p.Name, err)
				return
			}
			err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
				err := e.Kube.Get(ctx, crclient.ObjectKeyFromObject(o), &v1alpha1.Order{})
				return apierrors.IsNotFound(err), nil
			})
			if err != nil {
				t.Errorf("%s was not deleted", p.Name)
				return
			}
			if err := Retry(func() error { return e.Kube.Create(ctx, p.Manifest.DeepCopy()) }); err != nil {
				t.Errorf("apply %s again: %v", p.Name, err)
			}
		}(p)
	}
	wg.Wait()
}

// Retry calls f until it succeeds or fails for good (invalid, already
// there), for 30 s: the API server may be down on purpose.
func Retry(f func() error) error {
	return clientretry.OnError(wait.Backoff{Duration: 250 * time.Millisecond, Steps: 120}, func(err error) bool {
		return !apierrors.IsInvalid(err) && !apierrors.IsAlreadyExists(err)
	}, f)
}

// WaitFinished waits until every Order is terminal or gone.
func (e *Env) WaitFinished(t testing.TB, ns string, orders []Placed) time.Time {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		var list v1alpha1.OrderList
		if err := e.Kube.List(ctx, &list, crclient.InNamespace(ns)); err != nil {
			return false, nil // the API server may be down on purpose
		}
		for _, o := range list.Items {
			if !o.Status.Phase.Terminal() || !o.DeletionTimestamp.IsZero() {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		var list v1alpha1.OrderList
		_ = e.Kube.List(context.Background(), &list, crclient.InNamespace(ns))
		stuck := 0
		for _, o := range list.Items {
			if !o.Status.Phase.Terminal() {
				stuck++
			}
		}
		t.Fatalf("%d orders not finished after 5 minutes", stuck)
	}
	return time.Now()
}

func (e *Env) Stock(t testing.TB) int64 {
	var n int64
	if err := e.DB.QueryRow(context.Background(), `SELECT stock FROM products WHERE id = $1`, e.Product).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Result is what an audit found: its findings (each a failed check,
// reported to the test) and the money counted at the provider.
type Result struct {
	Findings int
	// Captures counts the charges the provider holds for the orders.
	Captures int
	// DoubleCharges counts the orders the provider charged more than once.
	DoubleCharges int
	// Unrefunded is the money captured from orders that did not complete
	// and not refunded, in cents.
	Unrefunded money.Amount
	// Refunds counts the partial refunds the provider made for completed
	// orders; DoubleRefunds those beyond the ones OrderFlow made.
	Refunds, DoubleRefunds int
	// Shipments counts the shipments checked against their orders.
	Shipments int
}

// OK reports whether the audit found nothing wrong.
func (r Result) OK() bool { return r.Findings == 0 }

func (r Result) String() string {
	if r.OK() {
		return "ok"
	}
	return fmt.Sprintf("FAILED (%d findings)", r.Findings)
}

// Summary is the audit's counts in a line, for a test's log.
func (r Result) Summary() string {
	return fmt.Sprintf("%s: %d captures at the provider, %d double charges, %s unrefunded, %d partial refunds (%d double), %d shipments checked",
		r, r.Captures, r.DoubleCharges, r.Unrefunded, r.Refunds, r.DoubleRefunds, r.Shipments)
}

// Audit checks what the money (at the provider) and the stock say against
// what each order was meant to do, failing the test on each finding.
func (e *Env) Audit(t testing.TB, ns string, orders []Placed, stockBefore int64) Result {
	t.Helper()
	ctx := context.Background()
	var res Result
	var reserved int64
	fail := func(format string, args ...any) {
		res.Findings++
		if res.Findings <= 20 {
			t.Errorf(format, args...)
		}
	}
	books, err := e.provider().Books(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range orders {
		p.Kind = e.kind(p)
		o := &v1alpha1.Order{}
		err := e.Kube.Get(ctx, crclient.ObjectKey{Namespace: ns, Name: p.Name}, o)
		gone := apierrors.IsNotFound(err)
		if err != nil && !gone {
			t.Fatal(err)
		}
		var status, reason string
		var qty, total int64
		err = e.DB.QueryRow(ctx, `SELECT o.status, o.reason, o.total_cents, coalesce(sum(i.quantity), 0) FROM orders o
			LEFT JOIN order_items i ON i.order_key = o.key WHERE o.key = $1 GROUP BY o.status, o.reason, o.total_cents`, p.Key).Scan(&status, &reason, &total, &qty)
		if errors.Is(err, pgx.ErrNoRows) {
			status = "" // cancelled or deleted before anything was recorded
		} else if err != nil {
			t.Fatal(err)
		}
		var held int
		if err := e.DB.QueryRow(ctx, `SELECT count(*) FROM inventory_reservations WHERE order_key = $1 AND status = 'held'`, p.Key).Scan(&held); err != nil {
			t.Fatal(err)
		}
		if held != 0 {
			fail("%s: %d reservations still held by a finished order", p.Name, held)
		}
		phase := o.Status.Phase
		switch {
		case gone:
			if p.Kind != Deleted {
				fail("%s disappeared", p.Name)
			}
		case phase == v1alpha1.PhaseCompleted:
			if p.Kind != Completes && !(p.Kind == Cancelled || p.Kind == Deleted) {
				fail("%s (%d) completed", p.Name, p.Kind)
			}
		case phase == v1alpha1.PhaseFailed:
			want := map[Kind]string{OutOfStock: contract.ReasonOutOfStock, Declined: contract.ReasonPaymentDeclined}[p.Kind]
			if want == "" || o.Status.Reason != want {
				fail("%s (%d) failed with %s: %s", p.Name, p.Kind, o.Status.Reason, o.Status.Message)
			}
		case phase == v1alpha1.PhaseCancelled:
			if p.Kind != Cancelled {
				fail("%s (%d) cancelled", p.Name, p.Kind)
			}
		default:
			fail("%s ended %q", p.Name, phase)
		}
		if !gone && phase.Terminal() && status != "" && status != strings.ToLower(string(phase)) {
			fail("%s: status %s but PostgreSQL says %s", p.Name, phase, status)
		}
		if status == "completed" {
			reserved += qty - e.auditRestock(ctx, p, fail)
		}
		e.auditMoney(ctx, p, status, money.Amount(total), books[p.Key], &res, fail)
		if !gone {
			e.auditRefundStatus(ctx, p, o, fail)
		}
		resp, err := e.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default",
			Query: fmt.Sprintf("WorkflowId = '%s'", contract.WorkflowID(ns, p.Name))})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(resp.GetExecutions()); n > 1 {
			fail("%s has %d workflow runs", p.Name, n)
		}
	}
	res.Shipments = e.auditShipments(ctx, ns, books, fail)
	if after := e.Stock(t); stockBefore-after != reserved {
		fail("stock %d -> %d, but completed orders reserved %d", stockBefore, after, reserved)
	}
	return res
}

// auditMoney checks one order's account at the provider against its outcome
// and against OrderFlow's payments records.
func (e *Env) auditMoney(ctx context.Context, p Placed, status string, total money.Amount, a payment.Account, res *Result, fail func(string, ...any)) {
	res.Captures += len(a.Charges)
	if len(a.Charges) > 1 {
		res.DoubleCharges++
		fail("%s: the provider charged it %d times (keys %v)", p.Name, len(a.Charges), keys(a))
	}
	if status == "completed" {
		switch {
		case len(a.Charges) == 0:
			fail("%s completed, but the provider holds no charge for it", p.Name)
		case a.Charges[0].Amount != total:
			fail("%s: the provider captured %s; the order's total is %s", p.Name, a.Charges[0].Amount, total)
		}
		made, n := e.refundsMade(ctx, p, fail)
		res.Refunds += refundsOf(a)
		if a.Refunded() != made || refundsOf(a) != n {
			res.DoubleRefunds += max(0, refundsOf(a)-n)
			fail("%s completed with %d partial refunds of %s made, but the provider made %d refunds of %s", p.Name, n, made, refundsOf(a), a.Refunded())
		}
	} else if left := a.Captured() - a.Refunded(); left != 0 {
		res.Unrefunded += left
		fail("%s %s: the provider captured %s and refunded %s", p.Name, cmp.Or(status, "unrecorded"), a.Captured(), a.Refunded())
	}
	// OrderFlow's records agree with the provider's.
	rows, err := e.DB.Query(ctx, `SELECT id, kind, amount_cents FROM payments WHERE order_key = $1`, p.Key)
	if err != nil {
		fail("%s: payments: %v", p.Name, err)
		return
	}
	defer rows.Close()
	charged := map[string]money.Amount{}
	for _, c := range a.Charges {
		charged[c.ID] = c.Amount
	}
	var captures, refunds int
	for rows.Next() {
		var id, kind string
		var cents int64
		if err := rows.Scan(&id, &kind, &cents); err != nil {
			fail("%s: payments: %v", p.Name, err)
			return
		}
		switch kind {
		case "capture":
			captures++
			if amount, ok := charged[id]; !ok || amount != money.Amount(cents) {
				fail("%s: OrderFlow records capture %s of %s, which the provider does not hold", p.Name, id, money.Amount(cents))
			}
		case "refund":
			refunds++
		}
	}
	if captures != len(a.Charges) {
		fail("%s: OrderFlow records %d captures; the provider holds %d charges", p.Name, captures, len(a.Charges))
	}
	if (a.Refunded() > 0) != (refunds > 0) {
		fail("%s: OrderFlow records %d refunds; the provider refunded %s", p.Name, refunds, a.Refunded())
	}
}

// refundsMade is what OrderFlow recorded of an order's partial refunds:
// the sum and the number made.
func (e *Env) refundsMade(ctx context.Context, p Placed, fail func(string, ...any)) (money.Amount, int) {
	var cents int64
	var n int
	if err := e.DB.QueryRow(ctx, `SELECT coalesce(sum(amount_cents), 0), count(*) FROM order_refunds WHERE order_key = $1 AND state = 'refunded'`,
		p.Key).Scan(&cents, &n); err != nil {
		fail("%s: order_refunds: %v", p.Name, err)
	}
	return money.Amount(cents), n
}

// auditRestock checks that what the order's refunds with restock returned
// was put back once, and returns how much.
func (e *Env) auditRestock(ctx context.Context, p Placed, fail func(string, ...any)) int64 {
	var returned, refunded int64
	if err := e.DB.QueryRow(ctx, `SELECT coalesce(sum(quantity), 0) FROM inventory_returns WHERE order_key = $1`, p.Key).Scan(&returned); err != nil {
		fail("%s: inventory_returns: %v", p.Name, err)
	}
	if err := e.DB.QueryRow(ctx, `SELECT coalesce(sum(i.quantity), 0) FROM order_refund_items i
		JOIN order_refunds r ON r.order_key = i.order_key AND r.refund_id = i.refund_id
		WHERE i.order_key = $1 AND r.state = 'refunded' AND r.restock`, p.Key).Scan(&refunded); err != nil {
		fail("%s: order_refund_items: %v", p.Name, err)
	}
	if returned != refunded {
		fail("%s: its refunds with restock returned %d units, but %d went back in stock", p.Name, refunded, returned)
	}
	return returned
}

// auditRefundStatus checks that the Order shows every refund as recorded:
// none left Pending, each made one with the provider id and amount on record.
func (e *Env) auditRefundStatus(ctx context.Context, p Placed, o *v1alpha1.Order, fail func(string, ...any)) {
	for _, r := range o.Status.Refunds {
		var state, providerID string
		var cents int64
		err := e.DB.QueryRow(ctx, `SELECT state, provider_id, amount_cents FROM order_refunds WHERE order_key = $1 AND refund_id = $2`, p.Key, r.ID).
			Scan(&state, &providerID, &cents)
		switch {
		case r.State == v1alpha1.RefundPending:
			fail("%s: refund %s still shows Pending", p.Name, r.ID)
		case r.State == v1alpha1.RefundRefunded && (err != nil || state != "refunded" || providerID != r.ProviderID || money.Amount(cents).String() != r.Amount):
			fail("%s: refund %s shows %s %s (%s); on record: %s %s (%s) %v", p.Name, r.ID, r.State, r.Amount, r.ProviderID, state, money.Amount(cents), providerID, err)
		}
	}
	if len(o.Status.Refunds) != len(o.Spec.Refunds) {
		fail("%s: %d refunds asked, %d shown", p.Name, len(o.Spec.Refunds), len(o.Status.Refunds))
	}
}

func refundsOf(a payment.Account) (n int) {
	for _, c := range a.Charges {
		n += c.Refunds
	}
	return n
}

func keys(a payment.Account) []string {
	var out []string
	for _, c := range a.Charges {
		out = append(out, c.IdempotencyKey)
	}
	return out
}

// Hit is what a fault met at the instant it struck: the orders in flight
// (placed, not finished) and the charges in flight at the provider (booked,
// not answered).
type Hit struct {
	Orders, Charges int
}

// InFlight counts, at this instant, the namespace's orders in flight in
// OrderFlow's records and the charges in flight at the provider.
func (e *Env) InFlight(ctx context.Context, ns string) (Hit, error) {
	var h Hit
	if err := e.DB.QueryRow(ctx, `SELECT count(*) FROM orders WHERE starts_with(key, $1) AND status NOT IN ('completed', 'failed', 'cancelled')`, ns+"/").Scan(&h.Orders); err != nil {
		return h, err
	}
	n, err := e.provider().ChargesInFlight(ctx, ns+"/")
	h.Charges = n
	return h, err
}

// AwaitCharges waits, for at most timeout, until a charge of the namespace
// is in flight at the provider, and returns what is in flight then (or at
// the timeout): faults are struck mid-charge.
func (e *Env) AwaitCharges(ctx context.Context, ns string, timeout time.Duration) (Hit, error) {
	deadline := time.Now().Add(timeout)
	for {
		h, err := e.InFlight(ctx, ns)
		if err != nil || h.Charges > 0 && h.Orders > 0 || time.Now().After(deadline) {
			return h, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// auditShipments checks the shipments booked for the orders of ns against
// their orders and the provider's books: every shipped order completed and
// was charged once; none both delivered and refunded as lost.
func (e *Env) auditShipments(ctx context.Context, ns string, books map[string]payment.Account, fail func(string, ...any)) (checked int) {
	rows, err := e.DB.Query(ctx, `
		SELECT s.order_key, s.state, o.status,
			EXISTS (SELECT 1 FROM order_refunds r WHERE r.order_key = s.order_key AND r.refund_id = $2 AND r.state <> 'refused')
		FROM shipments s JOIN orders o ON o.key = s.order_key WHERE s.order_key LIKE $1`, ns+"/%", contract.LostRefundID)
	if err != nil {
		fail("shipments: %v", err)
		return 0
	}
	defer rows.Close()
	for rows.Next() {
		checked++
		var key, state, status string
		var lostRefund bool
		if err := rows.Scan(&key, &state, &status, &lostRefund); err != nil {
			fail("shipments: %v", err)
			return checked
		}
		if status != "completed" {
			fail("%s was shipped (%s) but is %s", key, state, status)
		}
		if a := books[key]; len(a.Charges) != 1 || a.Captured() <= 0 {
			fail("%s was shipped (%s) but the provider holds %d charge(s) for it", key, state, len(a.Charges))
		}
		if state == contract.ShipmentDelivered && lostRefund {
			fail("%s was both delivered and refunded as lost", key)
		}
	}
	if err := rows.Err(); err != nil {
		fail("shipments: %v", err)
	}
	return checked
}
