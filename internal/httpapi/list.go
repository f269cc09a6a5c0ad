package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
)

// Paging of GET /api/orders.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// listQuery is a parsed GET /api/orders query.
type listQuery struct {
	limit      int
	after      *cursor
	phase      v1alpha1.OrderPhase
	customerID string
}

// cursor is where a page ended: the last Order shown, in the list's order
// (newest first, then by name).
type cursor struct {
	Version   int    `json:"v"`
	Created   int64  `json:"t"`
	Namespace string `json:"s,omitempty"`
	Name      string `json:"n"`
}

var phases = []v1alpha1.OrderPhase{v1alpha1.PhasePending, v1alpha1.PhaseProcessing, v1alpha1.PhaseCompleted,
	v1alpha1.PhaseFailed, v1alpha1.PhaseCancelling, v1alpha1.PhaseCancelled}

// parseList reads limit, continue, phase, customerID and namespace; any
// other parameter is refused by name.
func (s *Server) parseList(q url.Values) (listQuery, *apiError) {
	lq := listQuery{limit: DefaultPageSize}
	for name, values := range q {
		v := values[0]
		switch name {
		case "limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > MaxPageSize {
				return lq, badRequest("BadLimit", "limit", fmt.Sprintf("limit %q: want a number from 1 to %d", v, MaxPageSize))
			}
			lq.limit = n
		case "continue":
			c, ok := openCursor(v)
			if !ok {
				return lq, badRequest("BadContinue", "continue", "the continue token is not valid (altered, or not from this API): list again without it")
			}
			lq.after = &c
		case "phase":
			if !slices.Contains(phases, v1alpha1.OrderPhase(v)) {
				return lq, badRequest("BadPhase", "phase", fmt.Sprintf("phase %q: want one of %v", v, phases))
			}
			lq.phase = v1alpha1.OrderPhase(v)
		case "customerID":
			lq.customerID = v
		case "namespace":
			// Checked with the caller's rights (allowedNamespaces).
		default:
			return lq, badRequest("UnknownParameter", name, fmt.Sprintf("unknown query parameter %q: want limit, continue, phase, customerID or namespace", name))
		}
	}
	return lq, nil
}

// sealCursor and openCursor make continue tokens as the Kubernetes API's
// own are: stateless, the position itself (version, creation time, name)
// in URL-safe base64. Any replica reads any replica's token, and a restart
// or a rollout keeps them working. A token carries no authority: the page
// it continues is filtered and authorized like the first, so an edited one
// only moves where the list resumes.
func sealCursor(c cursor) string {
	c.Version = cursorVersion
	raw, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(raw)
}

const cursorVersion = 1

func openCursor(token string) (cursor, bool) {
	var c cursor
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return c, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if dec.Decode(&c) != nil || dec.More() || c.Version != cursorVersion || c.Created <= 0 ||
		len(validation.IsDNS1123Subdomain(c.Name)) > 0 || c.Namespace != "" && len(validation.IsDNS1123Label(c.Namespace)) > 0 {
		return c, false
	}
	return c, true
}

// newerFirst orders Orders newest first, then by namespace and name.
func newerFirst(a, b *v1alpha1.Order) int {
	if c := b.CreationTimestamp.Compare(a.CreationTimestamp.Time); c != 0 {
		return c
	}
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// listOrders serves GET /api/orders: a page of the Orders of the
// namespaces the caller may list (the one ?namespace= names, or all it
// may see), newest first, filtered by phase and customer, with a continue
// token when there are more.
func (s *Server) listOrders(w http.ResponseWriter, r *http.Request, namespaces []string) {
	lq, aerr := s.parseList(r.URL.Query())
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	var list v1alpha1.OrderList
	var opts []client.ListOption
	if len(namespaces) == 1 {
		opts = append(opts, client.InNamespace(namespaces[0]))
	}
	if err := s.Orders.List(r.Context(), &list, opts...); err != nil {
		s.kubeError(w, err)
		return
	}
	matches := make([]*v1alpha1.Order, 0, len(list.Items))
	for i := range list.Items {
		o := &list.Items[i]
		if !slices.Contains(namespaces, o.Namespace) {
			continue
		}
		phase := o.Status.Phase
		if phase == "" {
			phase = v1alpha1.PhasePending
		}
		if (lq.phase != "" && phase != lq.phase) || (lq.customerID != "" && o.Spec.CustomerID != lq.customerID) {
			continue
		}
		if lq.after != nil {
			at := &v1alpha1.Order{}
			at.CreationTimestamp.Time, at.Namespace, at.Name = time.Unix(lq.after.Created, 0), lq.after.Namespace, lq.after.Name
			if at.Namespace == "" {
				at.Namespace = s.Namespace // a token from before namespaces were served
			}
			if newerFirst(o, at) <= 0 {
				continue
			}
		}
		matches = append(matches, o)
	}
	slices.SortFunc(matches, newerFirst)
	resp := struct {
		Orders   []orderView `json:"orders"`
		Continue string      `json:"continue,omitempty"`
	}{Orders: make([]orderView, 0, min(len(matches), lq.limit))}
	for _, o := range matches[:min(len(matches), lq.limit)] {
		resp.Orders = append(resp.Orders, viewOf(o, s.UI))
	}
	if len(matches) > lq.limit {
		last := matches[lq.limit-1]
		resp.Continue = sealCursor(cursor{Created: last.CreationTimestamp.Unix(), Namespace: last.Namespace, Name: last.Name})
	}
	writeJSON(w, http.StatusOK, resp)
}
