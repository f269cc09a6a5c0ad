package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"orderflow.io/orderflow/internal/contract"
)

// amendment is what the tests below ask: two mice instead of the laptop.
var amendment = contract.AmendRequest{Generation: 2, Fingerprint: "v1:amended", Items: []contract.Item{{ProductID: "MOUSE", Quantity: 2}}}

// answer collects how an Update was answered.
type answer struct {
	rejected error
	result   contract.AmendResult
	err      error
	done     bool
}

func (s *scenario) amendAt(d time.Duration, req contract.AmendRequest) *answer {
	ans := &answer{}
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(contract.AmendUpdate, contract.AmendUpdateID(req.Generation), &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { ans.rejected, ans.done = err, true },
			OnComplete: func(v any, err error) {
				ans.err, ans.done = err, true
				if err != nil {
					s.t.Logf("update error: %v", err)
				}
				if r, ok := v.(contract.AmendResult); ok {
					ans.result = r
				}
			},
		}, req)
	}, d)
	return ans
}

// charged captures the total each payment was asked for.
func (s *scenario) charged() *[]string {
	var totals []string
	s.env.OnActivity(a.ProcessPayment, mock.Anything, mock.Anything).After(time.Second).Return(
		func(_ context.Context, in PaymentInput) (string, error) {
			totals = append(totals, in.Total)
			return "pay_1", nil
		}).Maybe()
	return &totals
}

func amendable(window time.Duration) contract.OrderInput {
	in := order()
	in.EditWindow = window
	return in
}

func TestAnAmendmentInTheEditWindowIsChargedAtItsNewTotal(t *testing.T) {
	s := newScenario(t)
	totals := s.charged()
	s.happy()
	s.env.OnActivity(a.AmendOrder, mock.Anything, mock.Anything).Return("50.00", nil).Once()
	ans := s.amendAt(2500*time.Millisecond, amendment) // reserved at 2 s, the window runs to 12 s
	p := s.run(amendable(10 * time.Second))
	if !ans.done || ans.rejected != nil || ans.err != nil || !ans.result.Accepted || ans.result.Total != "50.00" {
		t.Fatalf("amendment answered %+v", ans)
	}
	if p.Phase != contract.PhaseCompleted || p.Total != "50.00" || p.Fingerprint != "v1:amended" || len(p.Items) != 1 || p.Items[0].ProductID != "MOUSE" {
		t.Fatalf("progress %+v", p)
	}
	if p.Amendment == nil || !p.Amendment.Accepted || p.Amendment.Generation != 2 {
		t.Fatalf("progress amendment %+v", p.Amendment)
	}
	if len(*totals) != 1 || (*totals)[0] != "50.00" {
		t.Fatalf("charged %v; want the amended 50.00 once", *totals)
	}
}

func TestAnAmendmentDuringAStepGoesBeforeThePayment(t *testing.T) {
	s := newScenario(t)
	totals := s.charged()
	s.happy()
	s.env.OnActivity(a.AmendOrder, mock.Anything, mock.Anything).Return("50.00", nil).Once()
	ans := s.amendAt(1500*time.Millisecond, amendment) // while the stock is reserved, no window
	p := s.run(order())
	if !ans.result.Accepted || p.Total != "50.00" || len(*totals) != 1 || (*totals)[0] != "50.00" {
		t.Fatalf("amendment %+v, progress total %s, charged %v", ans, p.Total, *totals)
	}
	s.wantCalls("CreateOrder", "ReserveInventory", "AmendOrder", "ProcessPayment", "SendNotification", "FinishOrder")
}

func TestAnAmendmentAfterThePaymentStartedIsRejected(t *testing.T) {
	s := newScenario(t)
	totals := s.charged()
	s.happy()
	ans := s.amendAt(2500*time.Millisecond, amendment) // the payment runs from 2 s to 3 s
	p := s.run(order())
	var appErr *temporal.ApplicationError
	if ans.rejected == nil || !errors.As(ans.rejected, &appErr) || appErr.Type() != contract.ReasonTooLate {
		t.Fatalf("amendment answered %+v; want rejected TooLate", ans)
	}
	if p.Total != "1299.99" || len(*totals) != 1 || (*totals)[0] != "1299.99" || p.Amendment != nil {
		t.Fatalf("progress %+v, charged %v", p, *totals)
	}
	s.wantCalls("CreateOrder", "ReserveInventory", "ProcessPayment", "SendNotification", "FinishOrder")
}

func TestARefusedAmendmentLeavesTheOrderAsItWas(t *testing.T) {
	s := newScenario(t)
	totals := s.charged()
	s.happy()
	s.env.OnActivity(a.AmendOrder, mock.Anything, mock.Anything).Return("",
		temporal.NewNonRetryableApplicationError("not enough stock of MOUSE", contract.ReasonOutOfStock, nil)).Once()
	ans := s.amendAt(2500*time.Millisecond, amendment)
	p := s.run(amendable(5 * time.Second))
	if ans.err != nil || ans.result.Accepted || ans.result.Reason != contract.ReasonOutOfStock {
		t.Fatalf("amendment answered %+v; want refused OutOfStock", ans)
	}
	if p.Phase != contract.PhaseCompleted || p.Total != "1299.99" || p.Fingerprint != order().Fingerprint || p.Amendment == nil || p.Amendment.Accepted {
		t.Fatalf("progress %+v", p)
	}
	if len(*totals) != 1 || (*totals)[0] != "1299.99" {
		t.Fatalf("charged %v; want the old total once", *totals)
	}
}

func TestACancelInTheEditWindowEndsItAtOnce(t *testing.T) {
	s := newScenario(t).happy().cancelAt(3 * time.Second)
	p := s.run(amendable(time.Hour))
	if p.Phase != contract.PhaseCancelled {
		t.Fatalf("phase %s", p.Phase)
	}
	s.wantCalls("CreateOrder", "ReserveInventory", "ReleaseInventory", "FinishOrder", "SendNotification")
}
