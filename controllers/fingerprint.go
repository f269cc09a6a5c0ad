package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/money"
)

// Fingerprint identifies what an Order orders: the customer, the email the
// notifications go to, the items (by product: quantity and agreed price),
// the currency and the payment method. Two Orders under one namespace/name
// with the same fingerprint are the same order (re-applied); with different
// ones, the later is refused as NameReused.
//
// It is canonical: the order of the items does not count, nor how a price
// is written ("5", "5.0" and "5.00" are one price), and an omitted payment
// method is the default it stands for. An omitted currency is not the same
// as a given one: its default is the catalog's, which may change. cancel,
// deletionPolicy and ttlSecondsAfterFinished are not what was ordered and
// do not count.
func Fingerprint(spec v1alpha1.OrderSpec) string {
	type item struct {
		ProductID string `json:"p"`
		Quantity  int32  `json:"q"`
		UnitPrice string `json:"u,omitempty"`
	}
	canonical := struct {
		CustomerID    string `json:"c"`
		CustomerEmail string `json:"e,omitempty"`
		Items         []item `json:"i"`
		Currency      string `json:"cur,omitempty"`
		PaymentMethod string `json:"pm"`
	}{CustomerID: spec.CustomerID, CustomerEmail: spec.CustomerEmail, Currency: spec.Currency, PaymentMethod: spec.PaymentMethod}
	if canonical.PaymentMethod == "" {
		canonical.PaymentMethod = contract.DefaultPaymentMethod
	}
	for _, it := range spec.Items {
		price := it.UnitPrice
		if p, err := money.Parse(price); price != "" && err == nil {
			price = p.String()
		}
		canonical.Items = append(canonical.Items, item{ProductID: it.ProductID, Quantity: it.Quantity, UnitPrice: price})
	}
	slices.SortFunc(canonical.Items, func(a, b item) int { return strings.Compare(a.ProductID, b.ProductID) })
	raw, _ := json.Marshal(canonical) // plain strings and numbers: cannot fail
	sum := sha256.Sum256(raw)
	return "v1:" + hex.EncodeToString(sum[:16])
}
