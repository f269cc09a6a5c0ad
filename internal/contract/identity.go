package contract

// Key is the identity of the order an Order in namespace with name places:
// its record in PostgreSQL and its payments' idempotency keys derive from it.
func Key(namespace, name string) string { return namespace + "/" + name }

// WorkflowID is the id of the workflow of the order in namespace with name.
func WorkflowID(namespace, name string) string { return "order/" + Key(namespace, name) }

// LegacyWorkflowIDPrefix starts the ids of the workflows of orders placed
// before identity by namespace and name: order-<uid>. Their records and
// payments are keyed by the Order's UID.
const LegacyWorkflowIDPrefix = "order-"

// RecordKey is the key of the record of the order whose workflow has the
// id workflowID, placed by the Order with uid in namespace with name: its
// identity, or its UID for an order placed before identity by name.
func RecordKey(workflowID, uid, namespace, name string) string {
	if len(workflowID) > len(LegacyWorkflowIDPrefix) && workflowID[:len(LegacyWorkflowIDPrefix)] == LegacyWorkflowIDPrefix {
		return uid
	}
	return Key(namespace, name)
}
