package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/catalog"
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
		Auth:     &KubernetesAuth{Reviews: cs, Config: cfg, Scheme: client.Options{Scheme: v1alpha1.NewScheme()}},
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
