// Command stripe-mock-fixtures writes stripe-mock's fixtures with the
// PaymentIntent of a confirmed, successful payment, for the local stack's
// stripe-mock (hack/dev.sh with DEV_PAYMENT_GATEWAY=stripe). stripe-mock's
// own fixture is a PaymentIntent that still needs a payment method.
//
//	go run ./hack/stripe-mock-fixtures bin/stripe-mock-fixtures3.json OUT
package main

import (
	"fmt"
	"os"

	"orderflow.io/orderflow/internal/testenv"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: stripe-mock-fixtures SRC DST")
		os.Exit(2)
	}
	if err := testenv.StripeMockFixtures(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
