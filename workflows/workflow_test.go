package workflows

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"orderflow.io/orderflow/internal/contract"
)

// scenario runs the workflow with mocked activities: every step takes one
// second of (skipped) workflow time, so a signal at 0.5 s lands during
// CreateOrder, at 1.5 s during ReserveInventory, and so on.
type scenario struct {
	t        *testing.T
	env      *testsuite.TestWorkflowEnvironment
	mu       sync.Mutex
	calls    []string
	finished []FinishInput
}

func newScenario(t *testing.T) *scenario {
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	s := &scenario{t: t, env: suite.NewTestWorkflowEnvironment()}
	s.env.RegisterActivity(&Activities{})
	s.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		s.started(info, args.Get)
	})
	s.env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, args []any) {
		s.started(info, func(into ...any) error {
			*into[0].(*FinishInput) = args[0].(FinishInput)
			return nil
		})
	})
	return s
}

// started records an activity, ordinary or local, as it starts.
func (s *scenario) started(info *activity.Info, args func(...any) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, info.ActivityType.Name)
	if info.ActivityType.Name == "FinishOrder" {
		var in FinishInput
		_ = args(&in)
		s.finished = append(s.finished, in)
	}
}

var a *Activities

// happy mocks every activity to succeed after one second.
func (s *scenario) happy() *scenario {
	s.env.OnActivity(a.CreateOrder, mock.Anything, mock.Anything).After(time.Second).Return(CreateResult{Total: "1299.99", Currency: "USD"}, nil).Maybe()
	s.env.OnActivity(a.ReserveInventory, mock.Anything, mock.Anything).After(time.Second).Return(nil).Maybe()
	s.env.OnActivity(a.ProcessPayment, mock.Anything, mock.Anything).After(time.Second).Return("pay_1", nil).Maybe()
	s.env.OnActivity(a.SendNotification, mock.Anything, mock.Anything).After(time.Second).Return(nil).Maybe()
	s.env.OnActivity(a.FinishOrder, mock.Anything, mock.Anything).Return(nil).Maybe()
	s.env.OnActivity(a.ReleaseInventory, mock.Anything, mock.Anything).Return(nil).Maybe()
	s.env.OnActivity(a.RefundPayment, mock.Anything, mock.Anything).Return("re_1", nil).Maybe()
	return s
}

func (s *scenario) cancelAt(d time.Duration) *scenario {
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(contract.CancelSignal, contract.CancelRequest{Reason: contract.ReasonCancelled})
	}, d)
	return s
}

func (s *scenario) run(in contract.OrderInput) contract.Progress {
	s.t.Helper()
	s.env.ExecuteWorkflow(OrderWorkflow, in)
	if !s.env.IsWorkflowCompleted() {
		s.t.Fatal("workflow did not complete")
	}
	if err := s.env.GetWorkflowError(); err != nil {
		s.t.Fatalf("workflow error: %v", err)
	}
	var p contract.Progress
	if err := s.env.GetWorkflowResult(&p); err != nil {
		s.t.Fatal(err)
	}
	return p
}

func (s *scenario) wantCalls(want ...string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.calls) != len(want) {
		s.t.Fatalf("activities ran %v; want %v", s.calls, want)
	}
	for i := range want {
		if s.calls[i] != want[i] {
			s.t.Fatalf("activities ran %v; want %v", s.calls, want)
		}
	}
}

func (s *scenario) wantFinished(status contract.Phase, reason string) {
	s.t.Helper()
	if len(s.finished) != 1 || s.finished[0].Phase != status || s.finished[0].Reason != reason {
		s.t.Fatalf("FinishOrder calls %+v; want one with %s/%s", s.finished, status, reason)
	}
}

func order() contract.OrderInput {
	return contract.OrderInput{UID: "uid-1", Namespace: "shop", Name: "order-001", CustomerID: "CUST-001",
		Items: []contract.Item{{ProductID: "PROD-001", Quantity: 1, UnitPrice: "1299.99"}}}
}

func TestAnOrderRunsEveryStepAndCompletes(t *testing.T) {
	s := newScenario(t).happy()
	p := s.run(order())
	if p.Phase != contract.PhaseCompleted || p.Step != contract.StepCustomerNotified {
		t.Fatalf("progress %+v", p)
	}
	if p.Total != "1299.99" || p.Currency != "USD" || p.PaymentID != "pay_1" || p.CompletionTime == nil {
		t.Fatalf("progress %+v", p)
	}
	if len(p.Steps) != 4 {
		t.Fatalf("steps %+v", p.Steps)
	}
	s.wantCalls("CreateOrder", "ReserveInventory", "ProcessPayment", "SendNotification", "FinishOrder")
	s.wantFinished(contract.PhaseCompleted, "")
}

func TestTheDefaultPaymentMethodIsCharged(t *testing.T) {
	s := newScenario(t)
	var charged PaymentInput
	s.env.OnActivity(a.ProcessPayment, mock.Anything, mock.Anything).Return(func(_ context.Context, in PaymentInput) (string, error) {
		charged = in
		return "pay_1", nil
	})
	s.happy().run(order())
	if charged.PaymentMethod != contract.DefaultPaymentMethod || charged.Total != "1299.99" {
		t.Fatalf("charged %+v", charged)
	}
}

func business(reason string) error {
	return temporal.NewNonRetryableApplicationError("no", reason, nil)
}

func TestBusinessFailuresEndTheOrderWithTheirReasonAndCompensate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fail   func(s *scenario)
		reason string
		calls  []string
	}{
		{"unknown product", func(s *scenario) {
			s.env.OnActivity(a.CreateOrder, mock.Anything, mock.Anything).Return(CreateResult{}, business(contract.ReasonUnknownProduct))
		}, contract.ReasonUnknownProduct, []string{"CreateOrder", "FinishOrder", "SendNotification"}},
		{"price changed", func(s *scenario) {
			s.env.OnActivity(a.CreateOrder, mock.Anything, mock.Anything).Return(CreateResult{}, business(contract.ReasonPriceChanged))
		}, contract.ReasonPriceChanged, []string{"CreateOrder", "FinishOrder", "SendNotification"}},
		{"out of stock", func(s *scenario) {
			s.env.OnActivity(a.ReserveInventory, mock.Anything, mock.Anything).Return(business(contract.ReasonOutOfStock))
		}, contract.ReasonOutOfStock, []string{"CreateOrder", "ReserveInventory", "FinishOrder", "SendNotification"}},
		{"payment declined", func(s *scenario) {
			s.env.OnActivity(a.ProcessPayment, mock.Anything, mock.Anything).Return("", business(contract.ReasonPaymentDeclined))
		}, contract.ReasonPaymentDeclined, []string{"CreateOrder", "ReserveInventory", "ProcessPayment", "ReleaseInventory", "FinishOrder", "SendNotification"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScenario(t)
			tc.fail(s) // registered first, so it wins over happy's mock
			s.happy()
			p := s.run(order())
			if p.Phase != contract.PhaseFailed || p.Reason != tc.reason || p.CompletionTime == nil {
				t.Fatalf("progress %+v", p)
			}
			s.wantCalls(tc.calls...)
			s.wantFinished(contract.PhaseFailed, tc.reason)
		})
	}
}

func TestCancellationRunsTheCompensationsOfTheStepsThatCompleted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		at    time.Duration
		calls []string
	}{
		// A lost workflow task may have reserved: released all the same.
		{"before reservation", 500 * time.Millisecond, []string{"CreateOrder", "ReleaseInventory", "FinishOrder", "SendNotification"}},
		{"after reservation", 1500 * time.Millisecond, []string{"CreateOrder", "ReserveInventory", "ReleaseInventory", "FinishOrder", "SendNotification"}},
		{"after payment", 2500 * time.Millisecond, []string{"CreateOrder", "ReserveInventory", "ProcessPayment", "RefundPayment", "ReleaseInventory", "FinishOrder", "SendNotification"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScenario(t).happy().cancelAt(tc.at)
			p := s.run(order())
			if p.Phase != contract.PhaseCancelled || p.Reason != contract.ReasonCancelled {
				t.Fatalf("progress %+v", p)
			}
			s.wantCalls(tc.calls...)
			s.wantFinished(contract.PhaseCancelled, contract.ReasonCancelled)
		})
	}
}

func TestAnOrderCreatedCancelledRecordsNothingAndChargesNothing(t *testing.T) {
	s := newScenario(t).happy()
	in := order()
	in.Cancel = true
	p := s.run(in)
	if p.Phase != contract.PhaseCancelled || p.PaymentID != "" {
		t.Fatalf("progress %+v", p)
	}
	s.wantCalls("FinishOrder")
}

func TestARefundIsRecordedInProgress(t *testing.T) {
	s := newScenario(t).happy().cancelAt(2500 * time.Millisecond)
	p := s.run(order())
	if p.PaymentID != "pay_1" || p.RefundID != "re_1" {
		t.Fatalf("progress %+v", p)
	}
}

func TestACancelAfterTheCustomerWasNotifiedIsRefused(t *testing.T) {
	s := newScenario(t).happy().cancelAt(3500 * time.Millisecond)
	p := s.run(order())
	if p.Phase != contract.PhaseCompleted || !p.CancelRefused {
		t.Fatalf("progress %+v", p)
	}
	s.wantCalls("CreateOrder", "ReserveInventory", "ProcessPayment", "SendNotification", "FinishOrder")
}

func TestTransientActivityErrorsAreRetriedUntilTheStepSucceeds(t *testing.T) {
	s := newScenario(t)
	s.env.OnActivity(a.ReserveInventory, mock.Anything, mock.Anything).Return(errors.New("database down")).Times(3)
	s.env.OnActivity(a.ProcessPayment, mock.Anything, mock.Anything).Return("", errors.New("gateway timeout")).Once()
	s.happy()
	p := s.run(order())
	if p.Phase != contract.PhaseCompleted {
		t.Fatalf("progress %+v", p)
	}
	s.wantCalls("CreateOrder",
		"ReserveInventory", "ReserveInventory", "ReserveInventory", "ReserveInventory",
		"ProcessPayment", "ProcessPayment", "SendNotification", "FinishOrder")
}

func TestAnUnreachableCustomerFailsTheOrderAndRefundsIt(t *testing.T) {
	s := newScenario(t)
	s.env.OnActivity(a.SendNotification, mock.Anything, mock.Anything).
		Return(temporal.NewApplicationError("webhook down", notificationErrorType))
	s.happy()
	p := s.run(order())
	if p.Phase != contract.PhaseFailed || p.Reason != contract.ReasonNotificationFailed || p.RefundID == "" {
		t.Fatalf("progress %+v", p)
	}
}

func TestProgressIsPublishedInTheMemo(t *testing.T) {
	s := newScenario(t).happy()
	var seen []contract.Phase
	s.env.RegisterDelayedCallback(func() {
		v, err := s.env.QueryWorkflow(contract.ProgressQuery)
		if err != nil {
			t.Error(err)
			return
		}
		var p contract.Progress
		_ = v.Get(&p)
		seen = append(seen, p.Phase)
	}, 1500*time.Millisecond)
	p := s.run(order())
	if len(seen) != 1 || seen[0] != contract.PhaseProcessing {
		t.Fatalf("phase at 1.5s: %v", seen)
	}
	// Two publishes: the two database steps share one; the payment, the
	// last step and completion share the other.
	if p.Seq != 2 || len(p.Steps) != 4 {
		t.Fatalf("seq %d, %d step times; want 2 and 4", p.Seq, len(p.Steps))
	}
}

func keyed() contract.OrderInput {
	in := order()
	in.Key, in.Fingerprint = contract.Key(in.Namespace, in.Name), "v1:this"
	return in
}

func TestEveryStepGoesByTheOrdersIdentity(t *testing.T) {
	s := newScenario(t)
	key := contract.Key("shop", "order-001")
	s.env.OnActivity(a.CreateOrder, mock.Anything, mock.Anything).Return(CreateResult{Total: "1299.99", Currency: "USD", Key: key}, nil)
	s.env.OnActivity(a.ReserveInventory, mock.Anything, key).Return(nil)
	s.env.OnActivity(a.ProcessPayment, mock.Anything, mock.MatchedBy(func(in PaymentInput) bool { return in.Key == key })).Return("pay_1", nil)
	s.env.OnActivity(a.SendNotification, mock.Anything, mock.MatchedBy(func(in NotifyInput) bool { return in.Key == key })).Return(nil)
	s.env.OnActivity(a.FinishOrder, mock.Anything, mock.MatchedBy(func(in FinishInput) bool { return in.Key == key })).Return(nil)
	p := s.run(keyed())
	if p.Phase != contract.PhaseCompleted || p.Fingerprint != "v1:this" {
		t.Fatalf("progress %+v", p)
	}
}

func TestAnOrderRecordedUnderAnEarlierKeyGoesOnUnderThatKey(t *testing.T) {
	s := newScenario(t)
	s.env.OnActivity(a.CreateOrder, mock.Anything, mock.Anything).Return(CreateResult{Total: "1299.99", Currency: "USD", Key: "legacy-uid"}, nil)
	s.env.OnActivity(a.ReserveInventory, mock.Anything, "legacy-uid").Return(nil)
	s.env.OnActivity(a.ProcessPayment, mock.Anything, mock.MatchedBy(func(in PaymentInput) bool { return in.Key == "legacy-uid" })).Return("pay_1", nil)
	s.env.OnActivity(a.SendNotification, mock.Anything, mock.Anything).Return(nil)
	s.env.OnActivity(a.FinishOrder, mock.Anything, mock.MatchedBy(func(in FinishInput) bool { return in.Key == "legacy-uid" })).Return(nil)
	if p := s.run(keyed()); p.Phase != contract.PhaseCompleted {
		t.Fatalf("progress %+v", p)
	}
}

func TestAnOrderProcessedBeforeShowsItsRecordAndMovesNothing(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	s := newScenario(t)
	done := t0.Add(time.Minute)
	recorded := &contract.Progress{Phase: contract.PhaseCompleted, Step: contract.StepCustomerNotified, Total: "1299.99", Currency: "USD",
		PaymentID: "pay_first", StartTime: t0, CompletionTime: &done, Restored: true, Fingerprint: "v1:this",
		Steps: []contract.StepRecord{{Step: contract.StepAccepted, Time: t0}}}
	s.env.OnActivity(a.CreateOrder, mock.Anything, mock.Anything).Return(CreateResult{Total: "1299.99", Currency: "USD", Key: "shop/order-001", Finished: recorded}, nil)
	p := s.run(keyed())
	s.wantCalls("CreateOrder")
	if p.Phase != contract.PhaseCompleted || p.PaymentID != "pay_first" || !p.Restored || p.CompletionTime == nil || !p.CompletionTime.Equal(done) || p.Seq == 0 {
		t.Fatalf("progress %+v", p)
	}
}

func TestANameUsedForAnotherOrderFailsWithoutTouchingItsRecord(t *testing.T) {
	s := newScenario(t)
	s.env.OnActivity(a.CreateOrder, mock.Anything, mock.Anything).Return(CreateResult{},
		temporal.NewNonRetryableApplicationError("shop/order-001 was already used", contract.ReasonNameReused, nil))
	p := s.run(keyed())
	s.wantCalls("CreateOrder")
	if p.Phase != contract.PhaseFailed || p.Reason != contract.ReasonNameReused || p.CompletionTime == nil {
		t.Fatalf("progress %+v", p)
	}
}
