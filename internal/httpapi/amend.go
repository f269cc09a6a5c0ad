package httpapi

import (
	"fmt"
	"net/http"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
)

// amendOrder changes a running Order's items, email or both, as the caller
// (their RBAC applies): the controller passes the change on to the order's
// workflow, which accepts it only before the payment, and the Order's
// Amended condition (the view's amendment) says how it went. An Order
// whose payment is captured, or that ended, is refused here at once
// (409 TooLate); the patch carries the resourceVersion read, so a change
// made meanwhile is a 409 Conflict rather than overwritten.
func (s *Server) amendOrder(w http.ResponseWriter, r *http.Request, c client.Client) {
	items, email, aerr := decodeAmend(http.MaxBytesReader(w, r.Body, s.MaxBody))
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	o, ok := s.order(w, r)
	if !ok {
		return
	}
	if st := o.Status; st.Phase.Terminal() || st.Phase == v1alpha1.PhaseCancelling ||
		st.Step == v1alpha1.StepPaymentCaptured || st.Step == v1alpha1.StepCustomerNotified {
		writeError(w, &apiError{Status: http.StatusConflict, Code: v1alpha1.ReasonTooLate,
			Message: fmt.Sprintf("order %s is %s (last step %s): items and email change only before the payment is captured", o.Name, st.Phase, orNone(string(st.Step)))})
		return
	}
	orig := o.DeepCopy()
	if items != nil {
		o.Spec.Items = items
	}
	if email != nil {
		o.Spec.CustomerEmail = *email
	}
	if err := c.Patch(r.Context(), o, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		s.kubeError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, viewOf(o, s.UI))
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
