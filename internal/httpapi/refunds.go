package httpapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
)

// refundRequest is the body of POST /api/orders/{id}/refunds: one entry of
// the Order's spec.refunds. The amount is a decimal string or number.
type refundRequest struct {
	ID      string          `json:"id"`
	Items   []refundItem    `json:"items"`
	Amount  json.RawMessage `json:"amount"`
	Reason  string          `json:"reason"`
	Restock bool            `json:"restock"`
}

type refundItem struct {
	ProductID string          `json:"productID"`
	Quantity  json.RawMessage `json:"quantity"`
}

// decodeRefund reads a refund request strictly: unknown fields, wrong
// types, trailing data, an inexact amount, both items and an amount or
// neither are errors that name the field. What the API server validates
// (the id's pattern, lengths) it refuses in its own words.
func decodeRefund(r io.Reader) (v1alpha1.RefundRequest, *apiError) {
	var req refundRequest
	if aerr := decodeStrict(r, &req); aerr != nil {
		return v1alpha1.RefundRequest{}, aerr
	}
	out := v1alpha1.RefundRequest{ID: req.ID, Reason: req.Reason, Restock: req.Restock}
	if req.ID == "" {
		return out, badRequest("MissingField", "id", "id is required: it names the refund, which is made once")
	}
	switch {
	case len(req.Items) > 0 && !isNull(req.Amount):
		return out, badRequest("InvalidRefund", "amount", "a refund names items or an amount, not both")
	case len(req.Items) == 0 && isNull(req.Amount):
		return out, badRequest("MissingField", "items", "a refund names items or an amount")
	case !isNull(req.Amount):
		a, aerr := amount(req.Amount, "amount")
		if aerr != nil {
			return out, aerr
		}
		if a <= 0 {
			return out, badRequest("InvalidAmount", "amount", "amount must be above zero")
		}
		out.Amount = a.String()
	}
	for i, it := range req.Items {
		field := fmt.Sprintf("items[%d]", i)
		if it.ProductID == "" {
			return out, badRequest("MissingField", field+".productID", "productID is required")
		}
		qty, aerr := quantity(it.Quantity, field+".quantity")
		if aerr != nil {
			return out, aerr
		}
		out.Items = append(out.Items, v1alpha1.RefundItem{ProductID: it.ProductID, Quantity: qty})
	}
	return out, nil
}

// refundOrder appends a refund to a Completed Order's spec.refunds, as the
// caller (their RBAC applies): the controller makes it. A JSON patch adds
// it at the end of the list the API server holds, so refunds asked at once
// do not overwrite each other; the first one creates the list, and should
// another first one race it, the API server refuses the overwrite (refunds
// are append-only) and the request is tried again on the Order as it is now.
func (s *Server) refundOrder(w http.ResponseWriter, r *http.Request, c client.Client) {
	req, aerr := decodeRefund(http.MaxBytesReader(w, r.Body, s.MaxBody))
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	entry, err := json.Marshal(req)
	if err != nil {
		writeError(w, &apiError{Status: http.StatusInternalServerError, Code: "Internal", Message: err.Error()})
		return
	}
	for attempt := 0; ; attempt++ {
		o, ok := s.order(w, r)
		if !ok {
			return
		}
		if o.Status.Phase != v1alpha1.PhaseCompleted {
			writeError(w, &apiError{Status: http.StatusConflict, Code: "OrderNotCompleted",
				Message: fmt.Sprintf("order %s is %s: only a Completed order is refunded in part", o.Name, o.Status.Phase)})
			return
		}
		for _, have := range o.Spec.Refunds {
			if have.ID == req.ID {
				writeError(w, &apiError{Status: http.StatusConflict, Code: "RefundExists", Field: "id",
					Message: fmt.Sprintf("order %s already has refund %s: each refund is made once; give a new one another id", o.Name, req.ID)})
				return
			}
		}
		patch := fmt.Sprintf(`[{"op":"add","path":"/spec/refunds/-","value":%s}]`, entry)
		if len(o.Spec.Refunds) == 0 {
			patch = fmt.Sprintf(`[{"op":"add","path":"/spec/refunds","value":[%s]}]`, entry)
		}
		err := c.Patch(r.Context(), o, client.RawPatch(types.JSONPatchType, []byte(patch)))
		if err != nil && len(o.Spec.Refunds) == 0 && attempt < 2 && apierrors.IsInvalid(err) && strings.Contains(err.Error(), "append-only") {
			continue // another first refund came in between: add to the list it made
		}
		if err != nil {
			s.kubeError(w, err)
			return
		}
		writeJSON(w, http.StatusAccepted, viewOf(o, s.UI))
		return
	}
}
