package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
)

// AllNamespaces in Server.Namespaces serves every namespace.
const AllNamespaces = "*"

// Teams keep their Orders in namespaces of their own. The API serves the
// namespaces of Server.Namespaces (its --namespaces; AllNamespaces: every
// one), each request in one of them: ?namespace= names it, the API's own
// (Server.Namespace) when absent. A list or the live stream without
// ?namespace= spans every served namespace the caller may list (or
// watch), each checked with the caller's RBAC like a request naming it.

// served says whether the API serves namespace ns.
func (s *Server) served(ns string) bool {
	if ns == s.Namespace {
		return true
	}
	return slices.Contains(s.Namespaces, AllNamespaces) || slices.Contains(s.Namespaces, ns)
}

// servedNames says in words what the API serves, for errors.
func (s *Server) servedNames() string {
	if slices.Contains(s.Namespaces, AllNamespaces) {
		return "every namespace"
	}
	names := []string{s.Namespace}
	for _, ns := range s.Namespaces {
		if ns != s.Namespace {
			names = append(names, ns)
		}
	}
	return "namespace(s) " + strings.Join(names, ", ")
}

// requestNamespace is the namespace a request names with ?namespace=, or
// the API's own; one the API does not serve, or that cannot be one, is
// refused naming the parameter. named says the request named it.
func (s *Server) requestNamespace(r *http.Request) (ns string, named bool, aerr *apiError) {
	if !r.URL.Query().Has("namespace") {
		return s.Namespace, false, nil
	}
	ns = r.URL.Query().Get("namespace")
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return "", true, badRequest("BadNamespace", "namespace", fmt.Sprintf("namespace %q: %s", ns, strings.Join(errs, "; ")))
	}
	if !s.served(ns) {
		return "", true, badRequest("BadNamespace", "namespace", fmt.Sprintf("this API serves %s, not %q", s.servedNames(), ns))
	}
	return ns, true, nil
}

// candidates are the namespaces a list across namespaces looks in: the
// served ones; with AllNamespaces, those that hold Orders (in the cache)
// and the API's own.
func (s *Server) candidates(ctx context.Context) ([]string, error) {
	set := map[string]bool{s.Namespace: true}
	if slices.Contains(s.Namespaces, AllNamespaces) {
		// Read only for their namespaces: no copy of every Order (a
		// cache reader hands out its own objects; others ignore it).
		var list v1alpha1.OrderList
		if err := s.Orders.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
			return nil, err
		}
		for i := range list.Items {
			set[list.Items[i].Namespace] = true
		}
	} else {
		for _, ns := range s.Namespaces {
			set[ns] = true
		}
	}
	out := make([]string, 0, len(set))
	for ns := range set {
		out = append(out, ns)
	}
	slices.Sort(out)
	return out, nil
}

// allowedNamespaces are the namespaces the caller may perform verb on
// Orders in: the one the request names, else every candidate the caller's
// RBAC allows (refused ones are left out). An unauthenticated caller, or
// one allowed in none, is refused.
func (s *Server) allowedNamespaces(r *http.Request, verb string) ([]string, *apiError) {
	ns, named, aerr := s.requestNamespace(r)
	if aerr != nil {
		return nil, aerr
	}
	if named {
		if _, aerr := s.Auth.Allow(r, verb, ns); aerr != nil {
			return nil, aerr
		}
		return []string{ns}, nil
	}
	cands, err := s.candidates(r.Context())
	if err != nil {
		return nil, fromKube(err)
	}
	var allowed []string
	var refusal *apiError
	for _, ns := range cands {
		_, aerr := s.Auth.Allow(r, verb, ns)
		switch {
		case aerr == nil:
			allowed = append(allowed, ns)
		case aerr.Status == http.StatusForbidden:
			refusal = aerr
		default:
			return nil, aerr // not authenticated, or the review failed
		}
	}
	if len(allowed) == 0 {
		why := ""
		if refusal != nil {
			why = ": " + refusal.Message
		}
		return nil, &apiError{Status: http.StatusForbidden, Code: "Forbidden",
			Message: fmt.Sprintf("not allowed to %s Orders in any namespace this API serves (%s)%s", verb, s.servedNames(), why)}
	}
	return allowed, nil
}

type namespaceKey struct{}

// withNamespace records the namespace a request acts in.
func withNamespace(r *http.Request, ns string) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), namespaceKey{}, ns))
}

// namespaceOf is the namespace the request acts in (authorized set it).
func (s *Server) namespaceOf(r *http.Request) string {
	if ns, ok := r.Context().Value(namespaceKey{}).(string); ok {
		return ns
	}
	return s.Namespace
}

// listNamespaces serves GET /api/namespaces: the namespaces the caller may
// list Orders in, for the page's selector, and the API's own (where an
// order is created unless the request names another).
func (s *Server) listNamespaces(w http.ResponseWriter, r *http.Request, allowed []string) {
	writeJSON(w, http.StatusOK, map[string]any{"namespaces": allowed, "default": s.Namespace,
		"all": slices.Contains(s.Namespaces, AllNamespaces)})
}
