// Package workflows owns the order workflow and its activities; their
// input and what they report are the order's contract (internal/contract).
//
// One workflow runs per order; its id is derived from the order's identity,
// the Order's namespace and name (WorkflowID), so an Order deleted and
// applied again is the same order, never a second one. The
// steps run in order: CreateOrder, ReserveInventory, ProcessPayment,
// SendNotification. After each step that moved something, its compensation
// is registered (release the reservation, refund the payment); a business
// failure or a cancellation runs them in reverse, then records the outcome
// and notifies the customer.
//
// Cancellation is a signal (CancelSignal), not Temporal's cancellation: the
// workflow checks it between steps, so a step that may have moved money is
// always allowed to finish and is then compensated, never abandoned halfway.
// A cancel that arrives once the customer was notified is refused and
// reported in Progress.CancelRefused.
//
// Progress is published twice on the happy path, each publish one status
// write for the controller: once the order is accepted and its stock
// reserved (the two database steps run as local activities in one workflow
// task), and once it completed (the payment, the notification milliseconds
// later and the completion together; every step's time is in it). A cancel
// or failure publishes Cancelling and the end. It goes out as the memo
// contract.ProgressMemoKey and the search attribute OrderUpdatedAt; the
// controller follows each running order's history for them. Nothing is published before the first
// step: the controller shows Pending until then.
package workflows
