package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
)

func TestTheAPIServerRefusesInvalidOrdersNamingTheField(t *testing.T) {
	c := kube(t)
	ns := namespace(t, c)
	many := make([]v1alpha1.OrderItem, 101)
	for i := range many {
		many[i] = item(fmt.Sprintf("P-%d", i), 1, "")
	}
	for _, tc := range []struct {
		name  string
		edit  func(*v1alpha1.OrderSpec)
		field string
	}{
		{"no customer", func(s *v1alpha1.OrderSpec) { s.CustomerID = "" }, "spec.customerID"},
		{"customer too long", func(s *v1alpha1.OrderSpec) { s.CustomerID = strings.Repeat("c", 65) }, "spec.customerID"},
		{"customer starts with a dash", func(s *v1alpha1.OrderSpec) { s.CustomerID = "-C1" }, "spec.customerID"},
		{"customer with a space", func(s *v1alpha1.OrderSpec) { s.CustomerID = "C 1" }, "spec.customerID"},
		{"customer with a slash", func(s *v1alpha1.OrderSpec) { s.CustomerID = "C/1" }, "spec.customerID"},
		{"email without @", func(s *v1alpha1.OrderSpec) { s.CustomerEmail = "nobody" }, "spec.customerEmail"},
		{"no items", func(s *v1alpha1.OrderSpec) { s.Items = nil }, "spec.items"},
		{"empty items", func(s *v1alpha1.OrderSpec) { s.Items = []v1alpha1.OrderItem{} }, "spec.items"},
		{"101 items", func(s *v1alpha1.OrderSpec) { s.Items = many }, "spec.items"},
		{"duplicate product", func(s *v1alpha1.OrderSpec) {
			s.Items = []v1alpha1.OrderItem{item("PROD-001", 1, ""), item("PROD-001", 2, "")}
		}, "spec.items[1]"},
		{"item without product", func(s *v1alpha1.OrderSpec) { s.Items = []v1alpha1.OrderItem{item("", 1, "")} }, "spec.items[0].productID"},
		{"product with a space", func(s *v1alpha1.OrderSpec) { s.Items = []v1alpha1.OrderItem{item("PROD 1", 1, "")} }, "spec.items[0].productID"},
		{"quantity zero", func(s *v1alpha1.OrderSpec) { s.Items = []v1alpha1.OrderItem{item("PROD-001", 0, "")} }, "spec.items[0].quantity"},
		{"quantity negative", func(s *v1alpha1.OrderSpec) { s.Items = []v1alpha1.OrderItem{item("PROD-001", -1, "")} }, "spec.items[0].quantity"},
		{"quantity over 10000", func(s *v1alpha1.OrderSpec) { s.Items = []v1alpha1.OrderItem{item("PROD-001", 10001, "")} }, "spec.items[0].quantity"},
		{"price with three decimals", func(s *v1alpha1.OrderSpec) { s.Items = []v1alpha1.OrderItem{item("PROD-001", 1, "1.999")} }, "spec.items[0].unitPrice"},
		{"negative price", func(s *v1alpha1.OrderSpec) { s.Items = []v1alpha1.OrderItem{item("PROD-001", 1, "-1.00")} }, "spec.items[0].unitPrice"},
		{"price with exponent", func(s *v1alpha1.OrderSpec) { s.Items = []v1alpha1.OrderItem{item("PROD-001", 1, "1e3")} }, "spec.items[0].unitPrice"},
		{"price with comma", func(s *v1alpha1.OrderSpec) { s.Items = []v1alpha1.OrderItem{item("PROD-001", 1, "1,299.99")} }, "spec.items[0].unitPrice"},
		{"price with leading zero", func(s *v1alpha1.OrderSpec) { s.Items = []v1alpha1.OrderItem{item("PROD-001", 1, "01.00")} }, "spec.items[0].unitPrice"},
		{"price ending in a point", func(s *v1alpha1.OrderSpec) { s.Items = []v1alpha1.OrderItem{item("PROD-001", 1, "12.")} }, "spec.items[0].unitPrice"},
		{"lower-case currency", func(s *v1alpha1.OrderSpec) { s.Currency = "usd" }, "spec.currency"},
		{"four-letter currency", func(s *v1alpha1.OrderSpec) { s.Currency = "USDT" }, "spec.currency"},
		{"payment method with a dash", func(s *v1alpha1.OrderSpec) { s.PaymentMethod = "pm-card" }, "spec.paymentMethod"},
		{"unknown deletion policy", func(s *v1alpha1.OrderSpec) { s.DeletionPolicy = "Delete" }, "spec.deletionPolicy"},
		{"negative TTL", func(s *v1alpha1.OrderSpec) { s.TTLSecondsAfterFinished = ptr(int32(-1)) }, "spec.ttlSecondsAfterFinished"},
		{"TTL over a year", func(s *v1alpha1.OrderSpec) { s.TTLSecondsAfterFinished = ptr(int32(31536001)) }, "spec.ttlSecondsAfterFinished"},
		{"refund with items and an amount", func(s *v1alpha1.OrderSpec) {
			s.Refunds = []v1alpha1.RefundRequest{{ID: "r1", Amount: "1.00", Items: []v1alpha1.RefundItem{{ProductID: "PROD-001", Quantity: 1}}}}
		}, "spec.refunds[0]"},
		{"refund with neither", func(s *v1alpha1.OrderSpec) { s.Refunds = []v1alpha1.RefundRequest{{ID: "r1"}} }, "spec.refunds[0]"},
		{"refund id with capitals", func(s *v1alpha1.OrderSpec) { s.Refunds = []v1alpha1.RefundRequest{{ID: "R1", Amount: "1.00"}} }, "spec.refunds[0].id"},
		{"refund amount with three decimals", func(s *v1alpha1.OrderSpec) {
			s.Refunds = []v1alpha1.RefundRequest{{ID: "r1", Amount: "1.001"}}
		}, "spec.refunds[0].amount"},
		{"refund ids not unique", func(s *v1alpha1.OrderSpec) {
			s.Refunds = []v1alpha1.RefundRequest{{ID: "r1", Amount: "1.00"}, {ID: "r1", Amount: "2.00"}}
		}, "spec.refunds[1]"},
		{"restock of an amount", func(s *v1alpha1.OrderSpec) {
			s.Refunds = []v1alpha1.RefundRequest{{ID: "r1", Amount: "1.00", Restock: true}}
		}, "spec.refunds[0]"},
		{"a refund id OrderFlow keeps for lost parcels", func(s *v1alpha1.OrderSpec) {
			s.Refunds = []v1alpha1.RefundRequest{{ID: "parcel-lost", Amount: "1.00"}}
		}, "spec.refunds[0].id"},
		{"fulfillment without a carrier", func(s *v1alpha1.OrderSpec) { s.Fulfillment = &v1alpha1.FulfillmentSpec{} }, "spec.fulfillment.carrier"},
		{"carrier with capitals", func(s *v1alpha1.OrderSpec) { s.Fulfillment = &v1alpha1.FulfillmentSpec{Carrier: "UPS"} }, "spec.fulfillment.carrier"},
		{"shipBy not a duration", func(s *v1alpha1.OrderSpec) {
			s.Fulfillment = &v1alpha1.FulfillmentSpec{Carrier: "sandbox", ShipBy: "two days"}
		}, "spec.fulfillment.shipBy"},
		{"shipBy too short", func(s *v1alpha1.OrderSpec) {
			s.Fulfillment = &v1alpha1.FulfillmentSpec{Carrier: "sandbox", ShipBy: "30s"}
		}, "spec.fulfillment"},
		{"shipBy over a year", func(s *v1alpha1.OrderSpec) {
			s.Fulfillment = &v1alpha1.FulfillmentSpec{Carrier: "sandbox", ShipBy: "8761h"}
		}, "spec.fulfillment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOrder(ns, "invalid").build()
			tc.edit(&o.Spec)
			err := c.Create(context.Background(), o)
			if err == nil {
				_ = c.Delete(context.Background(), o)
				t.Fatal("accepted")
			}
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error does not name %s: %v", tc.field, err)
			}
		})
	}
}

// TestEditsToWhatIsFixedAreRefusedAndCancelIsOneWay: the customer, the
// currency, the payment method and the fulfillment never change; items and email may (an
// amendment, which the order's workflow accepts or refuses).
func TestEditsToWhatIsFixedAreRefusedAndCancelIsOneWay(t *testing.T) {
	c := kube(t)
	ns := namespace(t, c)
	ctx := context.Background()
	o := newOrder(ns, "immutable").pay("pm_card_visa").build()
	if err := c.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(*v1alpha1.OrderSpec)
		field string
	}{
		{"customer", func(s *v1alpha1.OrderSpec) { s.CustomerID = "OTHER" }, "spec.customerID"},
		{"currency added", func(s *v1alpha1.OrderSpec) { s.Currency = "EUR" }, "spec.currency"},
		{"payment method", func(s *v1alpha1.OrderSpec) { s.PaymentMethod = "pm_card_chargeDeclined" }, "spec.paymentMethod"},
		{"fulfillment added", func(s *v1alpha1.OrderSpec) { s.Fulfillment = &v1alpha1.FulfillmentSpec{Carrier: "sandbox"} }, "spec.fulfillment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			edited := &v1alpha1.Order{}
			if err := c.Get(ctx, crclient.ObjectKeyFromObject(o), edited); err != nil {
				t.Fatal(err)
			}
			orig := edited.DeepCopy()
			tc.edit(&edited.Spec)
			err := c.Patch(ctx, edited, crclient.MergeFrom(orig))
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("edit of %s: %v", tc.field, err)
			}
		})
	}

	cur := &v1alpha1.Order{}
	if err := c.Get(ctx, crclient.ObjectKeyFromObject(o), cur); err != nil {
		t.Fatal(err)
	}
	orig := cur.DeepCopy()
	cur.Spec.Items = append(cur.Spec.Items, item("PROD-002", 1, ""))
	cur.Spec.Items[0].Quantity = 2
	cur.Spec.CustomerEmail = "b@example.com"
	if err := c.Patch(ctx, cur, crclient.MergeFrom(orig)); err != nil {
		t.Fatalf("changing the items and email was refused: %v", err)
	}
	orig = cur.DeepCopy()
	cur.Spec.Cancel = true
	if err := c.Patch(ctx, cur, crclient.MergeFrom(orig)); err != nil {
		t.Fatalf("setting cancel was refused: %v", err)
	}
	uncancel := crclient.RawPatch("application/merge-patch+json", []byte(`{"spec":{"cancel":false}}`))
	if err := c.Patch(ctx, cur, uncancel); err == nil || !strings.Contains(err.Error(), "spec.cancel") {
		t.Fatalf("un-cancelling: %v", err)
	}
	// deletionPolicy and the TTL stay mutable.
	mutable := crclient.RawPatch("application/merge-patch+json", []byte(`{"spec":{"deletionPolicy":"Orphan","ttlSecondsAfterFinished":60}}`))
	if err := c.Patch(ctx, cur, mutable); err != nil {
		t.Fatalf("changing deletionPolicy and the TTL was refused: %v", err)
	}
	bad := crclient.RawPatch("application/merge-patch+json", []byte(`{"spec":{"deletionPolicy":"Keep"}}`))
	if err := c.Patch(ctx, cur, bad); err == nil || !strings.Contains(err.Error(), "spec.deletionPolicy") {
		t.Fatalf("an unknown deletionPolicy: %v", err)
	}
}

func TestRefundsOnlyGrow(t *testing.T) {
	c := kube(t)
	ns := namespace(t, c)
	ctx := context.Background()
	o := newOrder(ns, "refunds").build()
	if err := c.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	r1 := v1alpha1.RefundRequest{ID: "r1", Items: []v1alpha1.RefundItem{{ProductID: "PROD-001", Quantity: 1}}, Reason: "damaged", Restock: true}
	r2 := v1alpha1.RefundRequest{ID: "r2", Amount: "5.00"}
	// The manager of the package's other tests may write the Order (its
	// finalizer, its status) between a read and an update: retry those.
	set := func(refunds ...v1alpha1.RefundRequest) error {
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur := &v1alpha1.Order{}
			if err := c.Get(ctx, crclient.ObjectKeyFromObject(o), cur); err != nil {
				t.Fatal(err)
			}
			cur.Spec.Refunds = refunds
			return c.Update(ctx, cur)
		})
	}
	if err := set(r1); err != nil {
		t.Fatalf("appending a refund was refused: %v", err)
	}
	if err := set(r1, r2); err != nil {
		t.Fatalf("appending a second refund was refused: %v", err)
	}
	changed := r1
	changed.Items = []v1alpha1.RefundItem{{ProductID: "PROD-001", Quantity: 2}}
	for name, refunds := range map[string][]v1alpha1.RefundRequest{
		"an entry removed":         {r2},
		"every entry removed":      nil,
		"an entry's items edited":  {changed, r2},
		"an entry's reason edited": {func() v1alpha1.RefundRequest { r := r1; r.Reason = "lost"; return r }(), r2},
	} {
		if err := set(refunds...); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want a refusal saying refunds are append-only", name, err)
		}
	}
	// The order of the entries is not what they are.
	if err := set(r2, r1); err != nil {
		t.Errorf("reordering the refunds was refused: %v", err)
	}
}

func TestValidEdgeCasesAreAccepted(t *testing.T) {
	c := kube(t)
	ns := namespace(t, c)
	hundred := make([]v1alpha1.OrderItem, 100)
	for i := range hundred {
		hundred[i] = item(fmt.Sprintf("P-%03d", i), 1, "0.01")
	}
	for name, o := range map[string]*v1alpha1.Order{
		"100 items":      newOrder(ns, "hundred").items(hundred...).build(),
		"quantity 10000": newOrder(ns, "max-qty").items(item("PROD-002", 10000, "49.90")).build(),
		"64-char customer": func() *v1alpha1.Order {
			o := newOrder(ns, "long").build()
			o.Spec.CustomerID = strings.Repeat("c", 64)
			return o
		}(),
		"price zero": newOrder(ns, "zero").items(item("PROD-002", 1, "0")).build(),
		"big price":  newOrder(ns, "big").items(item("PROD-002", 1, "999999999999.99")).build(),
		"shipBy of a minute": func() *v1alpha1.Order {
			o := newOrder(ns, "ship-minute").build()
			o.Spec.Fulfillment = &v1alpha1.FulfillmentSpec{Carrier: "sandbox", ShipBy: "1m"}
			return o
		}(),
		"shipBy of a year, a carrier of its own": func() *v1alpha1.Order {
			o := newOrder(ns, "ship-year").build()
			o.Spec.Fulfillment = &v1alpha1.FulfillmentSpec{Carrier: "my-carrier-2", ShipBy: "8760h"}
			return o
		}(),
	} {
		if err := c.Create(context.Background(), o); err != nil {
			t.Errorf("%s refused: %v", name, err)
		}
	}
}

// TestAnOrderNobodyPickedUpReadsInProgress reads an Order straight after
// its create, before any controller wrote its status: kstatus (what Flux
// and Helm's --wait read) must say InProgress. Without the status default
// it read Current, and a Kustomization waiting on 20 new Orders turned Ready
// with none of them done.
func TestAnOrderNobodyPickedUpReadsInProgress(t *testing.T) {
	c := kube(t)
	ns := namespace(t, c)
	o := newOrder(ns, "fresh").build()
	if err := c.Create(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("Order"))
	if err := c.Get(context.Background(), crclient.ObjectKeyFromObject(o), u); err != nil {
		t.Fatal(err)
	}
	res, err := kstatus.Compute(u)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != kstatus.InProgressStatus {
		t.Fatalf("a new Order reads %s (%s); want InProgress", res.Status, res.Message)
	}
}
