package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/catalog"
	"orderflow.io/orderflow/internal/kubeauth"
	"orderflow.io/orderflow/internal/temporal"
	"orderflow.io/orderflow/internal/testenv"
)

var stack *testenv.Stack

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Options{Kube: true, CRDDirs: []string{"config/crd/bases"}}, &stack)
}

// serviceAccount creates a ServiceAccount bound to a Role with the given
// verbs on orders, and returns a token for it.
func serviceAccount(t *testing.T, cs kubernetes.Interface, ns, name string, verbs ...string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(verbs) > 0 {
		if _, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"orderflow.io"}, Resources: []string{"orders"}, Verbs: verbs}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authnv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Status.Token
}

func TestKubernetesAuthLetsACallerDoOnlyWhatItsRBACAllows(t *testing.T) {
	testenv.Integration(t)
	cfg := stack.Kube.Config
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns := "auth"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	writer := serviceAccount(t, cs, ns, "writer", "create", "get", "list", "watch")
	reader := serviceAccount(t, cs, ns, "reader", "get", "list")
	nobody := serviceAccount(t, cs, ns, "nobody")
	canceller := serviceAccount(t, cs, ns, "canceller", "get", "patch")

	own, err := client.New(cfg, client.Options{Scheme: v1alpha1.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{
		Namespace: ns, Orders: own, Events: NewBroadcaster(temporal.UI{}), Log: logr.Discard(),
		Auth:     KubernetesAuth{&kubeauth.Reviewer{Reviews: cs, Config: cfg, ClientOptions: client.Options{Scheme: v1alpha1.NewScheme()}}},
		Products: func(context.Context) ([]catalog.Product, error) { return nil, nil },
	}
	h := s.Handler(nil)
	call := func(method, path, token, body string) int {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}

	for _, tc := range []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"no token", "POST", "/api/orders", "", seedBody, 401},
		{"a forged token", "POST", "/api/orders", "not-a-token", seedBody, 401},
		{"no token to list", "GET", "/api/orders", "", "", 401},
		{"a caller without rights creating", "POST", "/api/orders", nobody, seedBody, 403},
		{"a reader creating", "POST", "/api/orders", reader, seedBody, 403},
		{"a reader listing", "GET", "/api/orders", reader, "", 200},
		{"a caller without rights listing", "GET", "/api/orders", nobody, "", 403},
		{"a writer creating", "POST", "/api/orders", writer, seedBody, 201},
	} {
		if got := call(tc.method, tc.path, tc.token, tc.body); got != tc.want {
			t.Errorf("%s: %s %s answered %d; want %d", tc.name, tc.method, tc.path, got, tc.want)
		}
	}

	// The writer may create but not patch: cancelling is refused even though
	// the API's own identity could patch.
	var list v1alpha1.OrderList
	if err := own.List(ctx, &list, client.InNamespace(ns)); err != nil || len(list.Items) != 1 {
		t.Fatalf("orders %d, %v", len(list.Items), err)
	}
	id := list.Items[0].Name
	if got := call("POST", "/api/orders/"+id+"/cancel", writer, ""); got != http.StatusForbidden {
		t.Fatalf("a writer without patch cancelling answered %d; want 403", got)
	}
	if got := call("POST", "/api/orders/"+id+"/cancel", canceller, ""); got != http.StatusAccepted {
		t.Fatalf("a caller with patch cancelling answered %d; want 202", got)
	}
	if got := call("GET", "/api/products", nobody, ""); got != 200 {
		t.Fatalf("an authenticated caller reading the catalog answered %d; want 200", got)
	}
}

func TestValidationErrorsFromTheAPIServerKeepTheirField(t *testing.T) {
	testenv.Integration(t)
	own, err := client.New(stack.Kube.Config, client.Options{Scheme: v1alpha1.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Namespace: "default", Orders: own, Auth: NoAuth{Client: own}, Events: NewBroadcaster(temporal.UI{}), Log: logr.Discard()}
	h := s.Handler(nil)
	for body, field := range map[string]string{
		`{"customerID":"has space","items":[{"productID":"P","quantity":1}]}`:                         "customerID",
		`{"customerID":"C1","currency":"usd","items":[{"productID":"P","quantity":1}]}`:               "currency",
		`{"customerID":"C1","items":[{"productID":"P","quantity":1},{"productID":"P","quantity":2}]}`: "items[1]",
	} {
		req := httptest.NewRequest("POST", "/api/orders", strings.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `"field":"`+field) {
			t.Errorf("%s: %d %s; want 422 naming %s", body, rec.Code, rec.Body.String(), field)
		}
	}
}

// TestReviewsAreCachedAndARevocationTakesEffectWithinTheTTL lists twice
// with one token: one TokenReview and one SubjectAccessReview in all. Then
// the caller's RoleBinding is deleted: the cached decision stands for at
// most its TTL, and after it the caller is refused.
func TestReviewsAreCachedAndARevocationTakesEffectWithinTheTTL(t *testing.T) {
	testenv.Integration(t)
	ctx := context.Background()
	var tokenReviews, accessReviews atomic.Int64
	cfg := rest.CopyConfig(stack.Kube.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			switch {
			case strings.HasSuffix(r.URL.Path, "/tokenreviews"):
				tokenReviews.Add(1)
			case strings.HasSuffix(r.URL.Path, "/subjectaccessreviews"):
				accessReviews.Add(1)
			}
			return rt.RoundTrip(r)
		})
	})
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns := "cached"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	reader := serviceAccount(t, cs, ns, "reader", "list")
	own, err := client.New(stack.Kube.Config, client.Options{Scheme: v1alpha1.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	const accessTTL = time.Second
	s := &Server{Namespace: ns, Orders: own, Events: NewBroadcaster(temporal.UI{}), Log: logr.Discard(),
		Auth: KubernetesAuth{&kubeauth.Reviewer{Reviews: cs, Config: stack.Kube.Config, ClientOptions: client.Options{Scheme: v1alpha1.NewScheme()},
			ReviewTTL: time.Minute, AccessTTL: accessTTL, DeniedTTL: accessTTL}}}
	h := s.Handler(nil)
	list := func() int {
		req := httptest.NewRequest("GET", "/api/orders", nil)
		req.Header.Set("Authorization", "Bearer "+reader)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	tokenReviews.Store(0)
	accessReviews.Store(0)
	for range 5 {
		if code := list(); code != 200 {
			t.Fatalf("listing answered %d", code)
		}
	}
	if tokenReviews.Load() != 1 || accessReviews.Load() != 1 {
		t.Fatalf("5 lists made %d TokenReviews and %d SubjectAccessReviews; want 1 and 1", tokenReviews.Load(), accessReviews.Load())
	}
	if err := cs.RbacV1().RoleBindings(ns).Delete(ctx, "reader", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	for list() == 200 {
		if time.Since(revoked) > accessTTL+2*time.Second {
			t.Fatalf("still allowed %s after the RoleBinding was deleted (access TTL %s)", time.Since(revoked), accessTTL)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code := list(); code != 403 {
		t.Fatalf("after the revocation listing answered %d; want 403", code)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
