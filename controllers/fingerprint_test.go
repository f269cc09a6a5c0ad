package controllers

import (
	"testing"

	"orderflow.io/orderflow/api/v1alpha1"
)

func TestFingerprintIsCanonical(t *testing.T) {
	base := v1alpha1.OrderSpec{CustomerID: "C1", CustomerEmail: "a@example.com", Currency: "USD",
		Items: []v1alpha1.OrderItem{{ProductID: "PROD-001", Quantity: 1, UnitPrice: "1299.99"}, {ProductID: "PROD-002", Quantity: 2, UnitPrice: "5"}}}
	same := map[string]func(*v1alpha1.OrderSpec){
		"items in another order":                 func(s *v1alpha1.OrderSpec) { s.Items[0], s.Items[1] = s.Items[1], s.Items[0] },
		"a price written otherwise":              func(s *v1alpha1.OrderSpec) { s.Items[1].UnitPrice = "5.00" },
		"the default payment method written out": func(s *v1alpha1.OrderSpec) { s.PaymentMethod = "pm_card_visa" },
		"cancel set":                             func(s *v1alpha1.OrderSpec) { s.Cancel = true },
		"a deletion policy":                      func(s *v1alpha1.OrderSpec) { s.DeletionPolicy = v1alpha1.DeletionOrphan },
		"a TTL":                                  func(s *v1alpha1.OrderSpec) { ttl := int32(60); s.TTLSecondsAfterFinished = &ttl },
	}
	different := map[string]func(*v1alpha1.OrderSpec){
		"another customer":       func(s *v1alpha1.OrderSpec) { s.CustomerID = "C2" },
		"another email":          func(s *v1alpha1.OrderSpec) { s.CustomerEmail = "b@example.com" },
		"no email":               func(s *v1alpha1.OrderSpec) { s.CustomerEmail = "" },
		"another quantity":       func(s *v1alpha1.OrderSpec) { s.Items[0].Quantity = 2 },
		"another product":        func(s *v1alpha1.OrderSpec) { s.Items[1].ProductID = "PROD-003" },
		"an item less":           func(s *v1alpha1.OrderSpec) { s.Items = s.Items[:1] },
		"another agreed price":   func(s *v1alpha1.OrderSpec) { s.Items[0].UnitPrice = "1299.98" },
		"no agreed price":        func(s *v1alpha1.OrderSpec) { s.Items[0].UnitPrice = "" },
		"another currency":       func(s *v1alpha1.OrderSpec) { s.Currency = "EUR" },
		"the currency left out":  func(s *v1alpha1.OrderSpec) { s.Currency = "" },
		"another payment method": func(s *v1alpha1.OrderSpec) { s.PaymentMethod = "pm_card_chargeDeclined" },
	}
	want := Fingerprint(base)
	for name, change := range same {
		s := *base.DeepCopy()
		change(&s)
		if got := Fingerprint(s); got != want {
			t.Errorf("%s: fingerprint changed (%s, was %s)", name, got, want)
		}
	}
	for name, change := range different {
		s := *base.DeepCopy()
		change(&s)
		if got := Fingerprint(s); got == want {
			t.Errorf("%s: fingerprint unchanged", name)
		}
	}
}
