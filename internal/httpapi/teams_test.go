package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/kubeauth"
	"orderflow.io/orderflow/internal/temporal"
	"orderflow.io/orderflow/internal/testenv"
)

// grant lets the ServiceAccount saNS/sa perform verbs on Orders in ns.
func grant(t *testing.T, cs kubernetes.Interface, ns, saNS, sa string, verbs ...string) {
	t.Helper()
	ctx := context.Background()
	name := saNS + "-" + sa
	if _, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"orderflow.io"}, Resources: []string{"orders"}, Verbs: verbs}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: saNS}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestTeamsSeeTheNamespacesTheirRBACAllows serves every namespace under
// Kubernetes auth to two teams: each lists, pages, reads and streams the
// Orders of the namespaces its own RBAC allows, across them, and is
// refused in the others; --namespaces narrows what is served.
func TestTeamsSeeTheNamespacesTheirRBACAllows(t *testing.T) {
	testenv.Integration(t)
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(stack.Kube.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"team-a", "team-b", "team-c"} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	alice := serviceAccount(t, cs, "team-a", "alice", "create", "get", "list", "watch")
	bob := serviceAccount(t, cs, "team-b", "bob", "get", "list", "watch", "create")
	grant(t, cs, "team-c", "team-b", "bob", "get", "list", "watch")
	own, err := client.New(stack.Kube.Config, client.Options{Scheme: v1alpha1.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []struct{ ns, name string }{{"team-a", "a1"}, {"team-b", "b1"}, {"team-b", "b2"}, {"team-c", "c1"}} {
		order := &v1alpha1.Order{ObjectMeta: metav1.ObjectMeta{Namespace: o.ns, Name: o.name},
			Spec: v1alpha1.OrderSpec{CustomerID: "C1", Items: []v1alpha1.OrderItem{{ProductID: "PROD-001", Quantity: 1}}}}
		if err := own.Create(ctx, order); err != nil {
			t.Fatal(err)
		}
	}
	reviewer := &kubeauth.Reviewer{Reviews: cs, Config: stack.Kube.Config, ClientOptions: client.Options{Scheme: v1alpha1.NewScheme()},
		ReviewTTL: time.Second, AccessTTL: time.Second, DeniedTTL: time.Second}
	s := &Server{Namespace: "team-a", Namespaces: []string{AllNamespaces}, Orders: own, Events: NewBroadcaster(temporal.UI{}),
		Log: logr.Discard(), MaxBody: 4096, Auth: KubernetesAuth{reviewer}}
	srv := httptest.NewServer(s.Handler(nil))
	defer srv.Close()
	call := func(token, method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	// list pages through GET /api/orders, limit orders a page, and
	// returns namespace/name of each in order.
	list := func(token, query string, limit int) []string {
		t.Helper()
		var seen []string
		cont := ""
		for range 10 {
			path := "/api/orders?limit=" + string(rune('0'+limit)) + query
			if cont != "" {
				path += "&continue=" + cont
			}
			code, body := call(token, "GET", path, "")
			if code != http.StatusOK {
				t.Fatalf("GET %s: %d %v", path, code, body)
			}
			for _, o := range body["orders"].([]any) {
				v := o.(map[string]any)
				seen = append(seen, v["namespace"].(string)+"/"+v["id"].(string))
			}
			c, _ := body["continue"].(string)
			if c == "" {
				return seen
			}
			cont = c
		}
		t.Fatal("paging did not end")
		return nil
	}

	if got := list(alice, "", 5); !slices.Equal(got, []string{"team-a/a1"}) {
		t.Fatalf("alice sees %v; want team-a's order only", got)
	}
	got := list(bob, "", 1)
	slices.Sort(got)
	if !slices.Equal(got, []string{"team-b/b1", "team-b/b2", "team-c/c1"}) {
		t.Fatalf("bob pages through %v; want team-b's and team-c's orders, each once", got)
	}
	if got := list(bob, "&namespace=team-c", 5); !slices.Equal(got, []string{"team-c/c1"}) {
		t.Fatalf("bob in team-c sees %v", got)
	}
	if code, body := call(bob, "GET", "/api/orders?namespace=team-a", ""); code != http.StatusForbidden {
		t.Fatalf("bob listing team-a: %d %v; want 403", code, body)
	}
	if code, body := call(bob, "GET", "/api/namespaces", ""); code != http.StatusOK || len(body["namespaces"].([]any)) != 2 {
		t.Fatalf("bob's namespaces: %d %v; want team-b and team-c", code, body)
	}
	if code, body := call(bob, "GET", "/api/orders/b1?namespace=team-b", ""); code != http.StatusOK || body["namespace"] != "team-b" {
		t.Fatalf("bob reading b1: %d %v", code, body)
	}
	if code, _ := call(bob, "GET", "/api/orders/b1", ""); code != http.StatusForbidden {
		t.Fatalf("bob reading b1 in the API's own namespace (team-a): %d; want 403", code)
	}
	create := `{"customerID":"C2","items":[{"productID":"PROD-001","quantity":1}]}`
	if code, body := call(alice, "POST", "/api/orders?namespace=team-b", create); code != http.StatusForbidden {
		t.Fatalf("alice creating in team-b: %d %v; want 403", code, body)
	}
	if code, body := call(bob, "POST", "/api/orders?namespace=team-b", create); code != http.StatusCreated || body["namespace"] != "team-b" {
		t.Fatalf("bob creating in team-b: %d %v", code, body)
	}
	if code, body := call(alice, "POST", "/api/orders", create); code != http.StatusCreated || body["namespace"] != "team-a" {
		t.Fatalf("alice creating in the API's own namespace: %d %v", code, body)
	}

	// The live stream spans what the caller may watch.
	req, _ := http.NewRequest("GET", srv.URL+"/api/orders/events", nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var o map[string]any
				_ = json.Unmarshal([]byte(v), &o)
				events <- o["namespace"].(string) + "/" + o["id"].(string)
			}
		}
	}()
	time.Sleep(200 * time.Millisecond) // subscribed
	for _, key := range []client.ObjectKey{{Namespace: "team-b", Name: "b1"}, {Namespace: "team-a", Name: "a1"}} {
		o := &v1alpha1.Order{}
		if err := own.Get(ctx, key, o); err != nil {
			t.Fatal(err)
		}
		s.Events.Handler().OnUpdate(o, o)
	}
	select {
	case e := <-events:
		if e != "team-a/a1" {
			t.Fatalf("alice's stream carried %s; want only team-a's", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("alice's stream carried nothing")
	}

	// Served namespaces narrow it all.
	s.Namespaces = []string{"team-b"}
	if got := list(bob, "", 5); len(got) != 3 || slices.ContainsFunc(got, func(k string) bool { return strings.HasPrefix(k, "team-c/") }) {
		t.Fatalf("bob, team-c not served: %v", got)
	}
	if code, body := call(bob, "GET", "/api/orders?namespace=team-c", ""); code != http.StatusBadRequest || !strings.Contains(body["error"].(map[string]any)["message"].(string), "team-b") {
		t.Fatalf("a namespace not served: %d %v; want 400 naming what is", code, body)
	}
}
