package workflows

import (
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"orderflow.io/orderflow/internal/contract"
)

// NewWorker returns a worker of TaskQueue running the order and refund
// workflows and the given activities.
func NewWorker(c client.Client, acts *Activities, opts worker.Options) worker.Worker {
	w := worker.New(c, contract.TaskQueue, opts)
	w.RegisterWorkflow(OrderWorkflow)
	w.RegisterWorkflow(RefundWorkflow)
	w.RegisterWorkflow(SandboxCarrierWorkflow)
	w.RegisterActivity(acts)
	return w
}
