// Package kubeauth owns acting as the caller: a request's bearer token
// reviewed with a TokenReview, its access to Orders with a
// SubjectAccessReview, both cached briefly, and a client that makes the
// caller's writes with the caller's own token. The REST API and the
// worker's codec server use it.
package kubeauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
)

// Denied says why a request may not go on: the HTTP status to answer
// with, a CamelCase code and a message for the caller.
type Denied struct {
	Status  int
	Code    string
	Message string
}

func (d *Denied) Error() string { return d.Code + ": " + d.Message }

// denied is the answer to a failed review call.
func denied(err error) *Denied {
	switch {
	case apierrors.IsForbidden(err):
		return &Denied{Status: http.StatusForbidden, Code: "Forbidden", Message: "not allowed: " + err.Error()}
	case apierrors.IsUnauthorized(err):
		return &Denied{Status: http.StatusUnauthorized, Code: "Unauthorized", Message: "the credentials were refused"}
	case apierrors.IsTooManyRequests(err):
		return &Denied{Status: http.StatusTooManyRequests, Code: "TooManyRequests", Message: "try again later"}
	}
	return &Denied{Status: http.StatusBadGateway, Code: "KubernetesUnavailable", Message: "the Kubernetes API could not be reached"}
}

// Reviewer lets a request act only as far as the caller's own
// Kubernetes credentials allow. The bearer token is checked with a
// TokenReview (401 when refused), the verb with a SubjectAccessReview (403
// when denied), and writes are made with the caller's token, so the API
// server enforces the caller's RBAC and audits the caller, never the API.
//
// Reviews are cached briefly, as kube-rbac-proxy and the API server's own
// webhook authenticator do: a token's review for ReviewTTL, keyed by the
// token's SHA-256 (never the token); an access decision per (user, UID,
// groups, extra, verb, namespace) for AccessTTL when allowed and DeniedTTL
// when denied. So
// a revoked token or RoleBinding takes effect within those TTLs. Refused
// tokens are not cached. Each caller's client (one shared connection pool
// to the API server, the caller's token set per request) is kept as long
// as its review. The caches hold at most CacheSize entries each.
type Reviewer struct {
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

// accessKey is what a SubjectAccessReview decides on: the user as the
// TokenReview described it (name, UID, groups and extra, which an
// authorizer or webhook may decide on too), the verb and the namespace.
type accessKey struct {
	user, uid, groups, extra, verb, namespace string
}

// extraKey writes a user's extra attributes in one canonical string.
func extraKey(extra map[string]authnv1.ExtraValue) string {
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(strconv.Quote(k))
		for _, v := range extra[k] {
			b.WriteByte(' ')
			b.WriteString(strconv.Quote(v))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func (a *Reviewer) init() error {
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

// Recheck is how often a long-lived request (the live stream) should ask
// Allow again: the shortest of the TTLs, so a revocation ends it within
// the TTL of the review that allowed it plus this.
func (a *Reviewer) Recheck() time.Duration {
	return min(ttlOr(a.ReviewTTL, DefaultReviewTTL), ttlOr(a.AccessTTL, DefaultAccessTTL), ttlOr(a.DeniedTTL, DefaultDeniedTTL))
}

func ttlOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Allow authenticates the request's bearer token, checks that its caller
// may perform verb on Orders in namespace (an empty verb only
// authenticates), and returns the client the caller's writes go through.
func (a *Reviewer) Allow(r *http.Request, verb, namespace string) (client.Client, *Denied) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	token = strings.TrimSpace(token)
	if !ok || token == "" {
		return nil, &Denied{Status: http.StatusUnauthorized, Code: "Unauthorized", Message: "a bearer token is required (Authorization: Bearer <token>)"}
	}
	if err := a.init(); err != nil {
		return nil, &Denied{Status: http.StatusInternalServerError, Code: "Internal", Message: "cannot reach the Kubernetes API"}
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
func (a *Reviewer) authenticate(ctx context.Context, token string) (*caller, *Denied) {
	sum := sha256.Sum256([]byte(token))
	key := hex.EncodeToString(sum[:])
	if c, ok := a.callers.Get(key); ok {
		return c.(*caller), nil
	}
	tr, err := a.Reviews.AuthenticationV1().TokenReviews().Create(ctx, &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return nil, denied(err)
	}
	if !tr.Status.Authenticated {
		return nil, &Denied{Status: http.StatusUnauthorized, Code: "Unauthorized", Message: "the bearer token was refused"}
	}
	cfg := rest.AnonymousClientConfig(a.Config)
	httpClient := &http.Client{Transport: bearer{token: token, next: a.base}}
	cl, err := client.New(cfg, client.Options{Scheme: a.ClientOptions.Scheme, Mapper: a.ClientOptions.Mapper, HTTPClient: httpClient})
	if err != nil {
		return nil, &Denied{Status: http.StatusInternalServerError, Code: "Internal", Message: "cannot build a client for the caller"}
	}
	c := &caller{user: tr.Status.User, client: cl}
	a.callers.Add(key, c, ttlOr(a.ReviewTTL, DefaultReviewTTL))
	return c, nil
}

// authorize checks that user may perform verb on Orders in namespace, with
// a SubjectAccessReview or the cached decision.
func (a *Reviewer) authorize(ctx context.Context, user authnv1.UserInfo, verb, namespace string) *Denied {
	key := accessKey{user: user.Username, uid: user.UID, groups: strings.Join(user.Groups, "\n"), extra: extraKey(user.Extra), verb: verb, namespace: namespace}
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
			return denied(err)
		}
		allowed = sar.Status.Allowed
		ttl := ttlOr(a.AccessTTL, DefaultAccessTTL)
		if !sar.Status.Allowed {
			ttl = ttlOr(a.DeniedTTL, DefaultDeniedTTL)
		}
		a.access.Add(key, allowed, ttl)
	}
	if !allowed.(bool) {
		return &Denied{Status: http.StatusForbidden, Code: "Forbidden",
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
