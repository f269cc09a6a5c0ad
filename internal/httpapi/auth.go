package httpapi

import (
	"net/http"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/internal/kubeauth"
)

// The API's own rights: it reads Orders (cache), creates and patches them
// for callers under --auth=none, and reviews callers' tokens and access
// under --auth=kubernetes.
// +kubebuilder:rbac:groups=orderflow.io,resources=orders,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// Authorizer decides whether a request may act on Orders. Allow
// authenticates the request, checks that the caller may perform verb on
// Orders in namespace (an empty verb only authenticates), and returns the
// client writes must go through.
//
// Recheck says how often a long-lived request (the live stream) asks Allow
// again, so a revoked token or permission ends it; zero: never.
type Authorizer interface {
	Allow(r *http.Request, verb, namespace string) (client.Client, *apiError)
	Recheck() time.Duration
}

// NoAuth serves anyone with the API's own client: the local stack.
type NoAuth struct{ Client client.Client }

func (a NoAuth) Allow(*http.Request, string, string) (client.Client, *apiError) { return a.Client, nil }
func (a NoAuth) Recheck() time.Duration                                         { return 0 }

// KubernetesAuth lets a request act only as far as the caller's own
// Kubernetes credentials allow (kubeauth.Reviewer), answering refusals as
// the API's JSON errors.
type KubernetesAuth struct{ *kubeauth.Reviewer }

func (a KubernetesAuth) Allow(r *http.Request, verb, namespace string) (client.Client, *apiError) {
	c, d := a.Reviewer.Allow(r, verb, namespace)
	if d != nil {
		return nil, &apiError{Status: d.Status, Code: d.Code, Message: d.Message}
	}
	return c, nil
}
