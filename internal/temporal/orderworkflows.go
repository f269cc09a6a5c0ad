package temporal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"orderflow.io/orderflow/internal/contract"
)

// Snapshot is what the controller knows of an order's workflow.
type Snapshot struct {
	RunID string
	// Closed is set once the workflow execution ended, however it ended.
	Closed bool
	// CloseStatus names how a closed execution ended (Completed, Failed,
	// Terminated, TimedOut, ...).
	CloseStatus string
	Progress    contract.Progress
	// Fetched is when the snapshot was read from Temporal.
	Fetched time.Time
	// Changed is when the workflow last changed: its last progress or its close.
	Changed time.Time
}

// Parked says the workflow goes on after its order finished: it follows
// the parcel of a completed order, for days maybe, and changes seldom.
func (s Snapshot) Parked() bool {
	f := s.Progress.Fulfillment
	return !s.Closed && s.Progress.Phase.Terminal() && f != nil && !f.Ended
}

// Settled says nothing more will change in what the workflow reports: it
// closed, or its order finished and it follows no parcel.
func (s Snapshot) Settled() bool {
	return s.Closed || s.Progress.Phase.Terminal() && !s.Parked()
}

// ErrNotFound is returned when an order has no workflow.
var ErrNotFound = errors.New("workflow not found")

// ErrClosed is returned when a cancel reaches a workflow that already ended.
var ErrClosed = errors.New("workflow already closed")

// OrderWorkflows starts, cancels and reads order workflows with a Temporal
// client: the controller's view of Temporal.
type OrderWorkflows struct {
	Client    client.Client
	Namespace string
	// UI links to the workflows in the Temporal UI.
	UI UI
	// Calls, when set, counts calls to Temporal by kind.
	Calls *prometheus.CounterVec
	// Converter decodes the progress memo; nil means the SDK's default.
	// It must be the client's: with encryption the memo is encrypted.
	Converter converter.DataConverter
}

func (t *OrderWorkflows) count(call string) {
	if t.Calls != nil {
		t.Calls.WithLabelValues(call).Inc()
	}
}

// Start starts the order's workflow, or finds the one already started, and
// returns its run id; closed says the one found has already ended.
func (t *OrderWorkflows) Start(ctx context.Context, in contract.OrderInput) (string, bool, error) {
	id := in.WorkflowID()
	t.count("StartWorkflowExecution")
	run, err := t.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                contract.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		// The SDK would otherwise hand back the closed run as if started.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, contract.WorkflowType, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		// The workflow ran and closed already: it is this order's, attach to it.
		return started.RunId, true, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("start workflow %s: %w", id, err)
	}
	return run.GetRunID(), false, nil
}

// Cancel signals the workflow to cancel: ErrNotFound when there is no such
// workflow, ErrClosed when it already ended.
func (t *OrderWorkflows) Cancel(ctx context.Context, workflowID, reason string) error {
	t.count("SignalWorkflowExecution")
	err := t.Client.SignalWorkflow(ctx, workflowID, "", contract.CancelSignal, contract.CancelRequest{Reason: reason})
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		if _, derr := t.Describe(ctx, workflowID); errors.Is(derr, ErrNotFound) {
			return ErrNotFound
		}
		return ErrClosed
	}
	if err != nil {
		return fmt.Errorf("signal workflow %s: %w", workflowID, err)
	}
	return nil
}

// CarrierEvent brings a carrier's event to the workflow of the order its
// shipment id names: ErrNotFound when there is no such order, ErrClosed
// when its workflow ended (its parcel's fate is known).
func (t *OrderWorkflows) CarrierEvent(ctx context.Context, ev contract.CarrierEvent) error {
	namespace, name, ok := contract.ParseShipmentID(ev.ShipmentID)
	if !ok {
		return ErrNotFound
	}
	t.count("SignalWorkflowExecution")
	id := contract.WorkflowID(namespace, name)
	err := t.Client.SignalWorkflow(ctx, id, "", contract.CarrierEventSignal, ev)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		if _, derr := t.Describe(ctx, id); errors.Is(derr, ErrNotFound) {
			return ErrNotFound
		}
		return ErrClosed
	}
	if err != nil {
		return fmt.Errorf("signal workflow %s: %w", id, err)
	}
	return nil
}

// Describe reads the workflow's current progress.
func (t *OrderWorkflows) Describe(ctx context.Context, workflowID string) (Snapshot, error) {
	t.count("DescribeWorkflowExecution")
	resp, err := t.Client.DescribeWorkflowExecution(ctx, workflowID, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return Snapshot{}, ErrNotFound
	}
	if err != nil {
		return Snapshot{}, fmt.Errorf("describe workflow %s: %w", workflowID, err)
	}
	info := resp.GetWorkflowExecutionInfo()
	return snapshotOf(t.Converter, info.GetExecution().GetRunId(), info.GetStatus(), info.GetMemo().GetFields()[contract.ProgressMemoKey])
}

// URL links to a run of a workflow in the Temporal UI, or is "".
func (t *OrderWorkflows) URL(workflowID, runID string) string {
	return t.UI.Workflow(workflowID, runID)
}

// snapshotOf builds a Snapshot from what Temporal reports of an execution.
func snapshotOf(dc converter.DataConverter, runID string, status enumspb.WorkflowExecutionStatus, memo *commonpb.Payload) (Snapshot, error) {
	s := Snapshot{RunID: runID, Fetched: time.Now()}
	if status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING && status != enumspb.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED {
		s.Closed = true
		s.CloseStatus = closeStatusName(status)
	}
	if len(memo.GetData()) == 0 {
		return s, nil
	}
	if dc == nil {
		dc = converter.GetDefaultDataConverter()
	}
	if err := dc.FromPayload(memo, &s.Progress); err != nil {
		return s, fmt.Errorf("decode progress memo: %w", err)
	}
	s.Changed = s.Progress.UpdateTime
	return s, nil
}

func closeStatusName(s enumspb.WorkflowExecutionStatus) string {
	switch s {
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return "Completed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		return "Failed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return "Canceled"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return "Terminated"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return "ContinuedAsNew"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return "TimedOut"
	}
	return s.String()
}

// Refund starts the workflow making a partial refund of an order, or finds
// the one started before, and waits up to wait for how the refund ended:
// done is false while it is still being made. A refund workflow that
// failed or was terminated is started again (its steps answer from the
// refund's record, so nothing moves twice); one that completed is answered
// with its result.
func (t *OrderWorkflows) Refund(ctx context.Context, in contract.RefundInput, wait time.Duration) (res contract.RefundResult, done bool, err error) {
	id := contract.RefundWorkflowID(in.Namespace, in.Name, in.ID)
	t.count("StartWorkflowExecution")
	run, err := t.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       id,
		TaskQueue:                                contract.TaskQueue,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, contract.RefundWorkflowType, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		run = t.Client.GetWorkflow(ctx, id, started.RunId)
	} else if err != nil {
		return res, false, fmt.Errorf("start workflow %s: %w", id, err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	t.count("GetWorkflowExecutionHistory")
	err = run.Get(waitCtx, &res)
	if err != nil && waitCtx.Err() != nil && ctx.Err() == nil {
		return res, false, nil // still being made
	}
	if err != nil {
		return res, false, fmt.Errorf("refund workflow %s: %w", id, err)
	}
	return res, true, nil
}

// Amend sends the running order the amendment of its Order's spec at
// req.Generation, as the Update whose id that generation gives (sent again,
// it is the same Update, answered once), and waits up to wait for the
// answer: done is false while it is still being decided. A refusal is an
// answer, whether the workflow's validator rejected the Update (too late)
// or its handler refused the change; an order that ended is ErrClosed.
func (t *OrderWorkflows) Amend(ctx context.Context, workflowID string, req contract.AmendRequest, wait time.Duration) (res contract.AmendResult, done bool, err error) {
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	t.count("UpdateWorkflowExecution")
	handle, err := t.Client.UpdateWorkflow(waitCtx, client.UpdateWorkflowOptions{
		WorkflowID:   workflowID,
		UpdateID:     contract.AmendUpdateID(req.Generation),
		UpdateName:   contract.AmendUpdate,
		Args:         []any{req},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = handle.Get(waitCtx, &res)
	}
	var nf *serviceerror.NotFound
	var appErr *temporal.ApplicationError
	switch {
	case err == nil:
		return res, true, nil
	case errors.As(err, &nf):
		return res, false, ErrClosed
	case errors.As(err, &appErr):
		// Rejected by the validator, or no handler: an order placed
		// before amendments.
		reason := appErr.Type()
		if reason == "" {
			reason = contract.ReasonTooLate
		}
		return contract.AmendResult{Generation: req.Generation, Reason: reason, Message: appErr.Message(), Time: time.Now()}, true, nil
	case waitCtx.Err() != nil && ctx.Err() == nil:
		return res, false, nil // still being decided
	}
	return res, false, fmt.Errorf("amend workflow %s: %w", workflowID, err)
}
