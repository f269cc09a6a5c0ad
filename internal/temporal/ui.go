package temporal

import (
	"fmt"
	"net/url"
)

// UI links to order workflows in the Temporal UI. Every link OrderFlow
// shows (Order status, the REST API, the page) is made here.
type UI struct {
	// Address is the base URL of the Temporal UI, e.g.
	// http://localhost:8233; empty means no links.
	Address string
	// Namespace is the Temporal namespace of the order workflows.
	Namespace string
}

// Workflow links to one run of a workflow, or to the workflow's runs when
// runID is empty.
func (u UI) Workflow(workflowID, runID string) string {
	if u.Address == "" {
		return ""
	}
	if runID == "" {
		return fmt.Sprintf("%s/namespaces/%s/workflows?query=%s", u.Address, url.PathEscape(u.namespace()),
			url.QueryEscape(fmt.Sprintf("WorkflowId='%s'", workflowID)))
	}
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s/%s/history", u.Address,
		url.PathEscape(u.namespace()), url.PathEscape(workflowID), url.PathEscape(runID))
}

func (u UI) namespace() string {
	if u.Namespace == "" {
		return "default"
	}
	return u.Namespace
}
