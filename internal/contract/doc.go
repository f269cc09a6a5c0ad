// Package contract owns the order's contract, the words and shapes every
// side of OrderFlow shares: an order's identity and the keys derived from
// it (Key, WorkflowID), the phase, step and reason vocabulary, the
// workflow's names (task queue, signal, query, memo, search attribute), its
// input (OrderInput) and what it reports (Progress), and the partial
// refund workflow's (RefundInput, RefundResult).
//
// The CRD types, the controller, the workflow, the REST API and the domain
// services import it; it imports none of them.
package contract
