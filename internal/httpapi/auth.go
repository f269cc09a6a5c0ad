package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/cache"

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
//
// Reviews are cached briefly, as kube-rbac-proxy and the API server's own
// webhook authenticator do: a token's review for ReviewTTL, keyed by the
// token's SHA-256 (never the token); an access decision per (user, groups,
// verb, namespace) for AccessTTL when allowed and DeniedTTL when denied. So
// a revoked token or RoleBinding takes effect within those TTLs. Refused
// tokens are not cached. Each caller's client (one shared connection pool
// to the API server, the caller's token set per request) is kept as long
// as its review. The caches hold at most CacheSize entries each.
type KubernetesAuth struct {
	// Reviews makes TokenReviews and SubjectAccessReviews, as the API.
	Reviews kubernetes.Interface
	// Config is the API server's address and CA; its credentials are
	// replaced by the caller's token.
	Config *rest.Config
	// ClientOptions build the callers' clients: the scheme and a shared
	// RESTMapper (without one, each caller's client discovers its own).
	ClientOptions client.Options
	// TTLs of the cached reviews; zero: DefaultReviewTTL, DefaultAccessTTL,
	// DefaultDeniedTTL.
	ReviewTTL, AccessTTL, DeniedTTL time.Duration
	// CacheSize bounds each cache; zero: 10 000.
	CacheSize int

	once    sync.Once
	initErr error
	base    http.RoundTripper
	callers *cache.LRUExpireCache // token hash -> *caller
	access  *cache.LRUExpireCache // accessKey -> bool
}

// The default TTLs: a revoked token stops working within 30 s, a revoked
// permission within 10 s; a permission granted works within 5 s.
const (
	DefaultReviewTTL = 30 * time.Second
	DefaultAccessTTL = 10 * time.Second
	DefaultDeniedTTL = 5 * time.Second
)

// caller is an authenticated token: who it is and the client its writes
// go through.
type caller struct {
	user   authnv1.UserInfo
	client client.Client
}

type accessKey struct {
	user, uid, groups, verb, namespace string
}

func (a *KubernetesAuth) init() error {
	a.once.Do(func() {
		size := a.CacheSize
		if size <= 0 {
			size = 10000
		}
		a.callers, a.access = cache.NewLRUExpireCache(size), cache.NewLRUExpireCache(size)
		// One transport (TLS to the API server, no credentials of its own)
		// for every caller: no new connection or handshake per request.
		a.base, a.initErr = rest.TransportFor(rest.AnonymousClientConfig(a.Config))
	})
	return a.initErr
}

func ttlOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (a *KubernetesAuth) Allow(r *http.Request, verb, namespace string) (client.Client, *apiError) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	token = strings.TrimSpace(token)
	if !ok || token == "" {
		return nil, &apiError{Status: http.StatusUnauthorized, Code: "Unauthorized", Message: "a bearer token is required (Authorization: Bearer <token>)"}
	}
	if err := a.init(); err != nil {
		return nil, &apiError{Status: http.StatusInternalServerError, Code: "Internal", Message: "cannot reach the Kubernetes API"}
	}
	c, aerr := a.authenticate(r.Context(), token)
	if aerr != nil {
		return nil, aerr
	}
	if verb != "" {
		if aerr := a.authorize(r.Context(), c.user, verb, namespace); aerr != nil {
			return nil, aerr
		}
	}
	return c.client, nil
}

// authenticate reviews the token, or finds its review in the cache.
func (a *KubernetesAuth) authenticate(ctx context.Context, token string) (*caller, *apiError) {
	sum := sha256.Sum256([]byte(token))
	key := hex.EncodeToString(sum[:])
	if c, ok := a.callers.Get(key); ok {
		return c.(*caller), nil
	}
	tr, err := a.Reviews.AuthenticationV1().TokenReviews().Create(ctx, &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return nil, fromKube(err)
	}
	if !tr.Status.Authenticated {
		return nil, &apiError{Status: http.StatusUnauthorized, Code: "Unauthorized", Message: "the bearer token was refused"}
	}
	cfg := rest.AnonymousClientConfig(a.Config)
	httpClient := &http.Client{Transport: bearer{token: token, next: a.base}}
	cl, err := client.New(cfg, client.Options{Scheme: a.ClientOptions.Scheme, Mapper: a.ClientOptions.Mapper, HTTPClient: httpClient})
	if err != nil {
		return nil, &apiError{Status: http.StatusInternalServerError, Code: "Internal", Message: "cannot build a client for the caller"}
	}
	c := &caller{user: tr.Status.User, client: cl}
	a.callers.Add(key, c, ttlOr(a.ReviewTTL, DefaultReviewTTL))
	return c, nil
}

// authorize checks that user may perform verb on Orders in namespace, with
// a SubjectAccessReview or the cached decision.
func (a *KubernetesAuth) authorize(ctx context.Context, user authnv1.UserInfo, verb, namespace string) *apiError {
	key := accessKey{user: user.Username, uid: user.UID, groups: strings.Join(user.Groups, "\n"), verb: verb, namespace: namespace}
	allowed, cached := a.access.Get(key)
	if !cached {
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
			return fromKube(err)
		}
		allowed = sar.Status.Allowed
		ttl := ttlOr(a.AccessTTL, DefaultAccessTTL)
		if !sar.Status.Allowed {
			ttl = ttlOr(a.DeniedTTL, DefaultDeniedTTL)
		}
		a.access.Add(key, allowed, ttl)
	}
	if !allowed.(bool) {
		return &apiError{Status: http.StatusForbidden, Code: "Forbidden",
			Message: user.Username + " may not " + verb + " orders in namespace " + namespace}
	}
	return nil
}

// bearer sets the caller's token on each request to the API server.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}
