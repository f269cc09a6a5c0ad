package httpapi

import (
	"net/http"
	"strings"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
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
type Authorizer interface {
	Allow(r *http.Request, verb, namespace string) (client.Client, *apiError)
}

// NoAuth serves anyone with the API's own client: the local stack.
type NoAuth struct{ Client client.Client }

func (a NoAuth) Allow(*http.Request, string, string) (client.Client, *apiError) { return a.Client, nil }

// KubernetesAuth lets a request act only as far as the caller's own
// Kubernetes credentials allow. The bearer token is checked with a
// TokenReview (401 when refused), the verb with a SubjectAccessReview (403
// when denied), and writes are made with the caller's token, so the API
// server enforces the caller's RBAC and audits the caller, never the API.
type KubernetesAuth struct {
	// Reviews makes TokenReviews and SubjectAccessReviews, as the API.
	Reviews kubernetes.Interface
	// Config is the API server's address and CA; its credentials are
	// replaced by the caller's token.
	Config *rest.Config
	Scheme client.Options
}

func (a *KubernetesAuth) Allow(r *http.Request, verb, namespace string) (client.Client, *apiError) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	token = strings.TrimSpace(token)
	if !ok || token == "" {
		return nil, &apiError{Status: http.StatusUnauthorized, Code: "Unauthorized", Message: "a bearer token is required (Authorization: Bearer <token>)"}
	}
	ctx := r.Context()
	tr, err := a.Reviews.AuthenticationV1().TokenReviews().Create(ctx, &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return nil, fromKube(err)
	}
	if !tr.Status.Authenticated {
		return nil, &apiError{Status: http.StatusUnauthorized, Code: "Unauthorized", Message: "the bearer token was refused"}
	}
	user := tr.Status.User
	if verb != "" {
		extra := map[string]authzv1.ExtraValue{}
		for k, v := range user.Extra {
			extra[k] = authzv1.ExtraValue(v)
		}
		sar, err := a.Reviews.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
			User: user.Username, UID: user.UID, Groups: user.Groups, Extra: extra,
			ResourceAttributes: &authzv1.ResourceAttributes{
				Namespace: namespace, Verb: verb, Group: v1alpha1.GroupVersion.Group, Resource: "orders",
			},
		}}, metav1.CreateOptions{})
		if err != nil {
			return nil, fromKube(err)
		}
		if !sar.Status.Allowed {
			return nil, &apiError{Status: http.StatusForbidden, Code: "Forbidden",
				Message: user.Username + " may not " + verb + " orders in namespace " + namespace}
		}
	}
	cfg := rest.AnonymousClientConfig(a.Config)
	cfg.BearerToken = token
	c, err := client.New(cfg, a.Scheme)
	if err != nil {
		return nil, &apiError{Status: http.StatusInternalServerError, Code: "Internal", Message: "cannot build a client for the caller"}
	}
	return c, nil
}
