package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/kubeauth"
	"orderflow.io/orderflow/internal/temporal"
	"orderflow.io/orderflow/internal/testenv"
)

// TestAnOpenStreamEndsWhenItsCallerLosesAccess opens the live stream with
// two ServiceAccounts' tokens, removes one's RoleBinding and the other's
// ServiceAccount (which revokes its token), and reads on each stream a last
// event saying why, within the review TTLs, and then its end.
func TestAnOpenStreamEndsWhenItsCallerLosesAccess(t *testing.T) {
	testenv.Integration(t)
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(stack.Kube.Config)
	if err != nil {
		t.Fatal(err)
	}
	ns := "streams"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	unbound := serviceAccount(t, cs, ns, "unbound", "watch")
	deleted := serviceAccount(t, cs, ns, "deleted", "watch")
	own, err := client.New(stack.Kube.Config, client.Options{Scheme: v1alpha1.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	const ttl = time.Second
	s := &Server{Namespace: ns, Orders: own, Events: NewBroadcaster(temporal.UI{}), Log: logr.Discard(),
		Auth: KubernetesAuth{&kubeauth.Reviewer{Reviews: cs, Config: stack.Kube.Config, ClientOptions: client.Options{Scheme: v1alpha1.NewScheme()},
			ReviewTTL: ttl, AccessTTL: ttl, DeniedTTL: ttl}}}
	srv := httptest.NewServer(s.Handler(nil))
	defer srv.Close()

	// open starts a stream and returns the channel its last event comes on.
	open := func(token string) <-chan map[string]any {
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/orders/events", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("the stream answered %d", resp.StatusCode)
		}
		last := make(chan map[string]any, 1)
		go func() {
			defer resp.Body.Close()
			var event string
			closed := map[string]any{}
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				line := sc.Text()
				if v, ok := strings.CutPrefix(line, "event: "); ok {
					event = v
				}
				if v, ok := strings.CutPrefix(line, "data: "); ok && event == "closed" {
					_ = json.Unmarshal([]byte(v), &closed)
				}
			}
			last <- closed // the server ended the stream
		}()
		return last
	}
	// The API server itself trusts a ServiceAccount token for a few
	// seconds after its account is gone: that delay adds to the TTLs.
	wait := func(who string, last <-chan map[string]any, status float64, since time.Time) {
		t.Helper()
		select {
		case closed := <-last:
			if closed["status"] != status || closed["message"] == "" {
				t.Fatalf("%s's stream ended with %v; want a last event with status %v and a message", who, closed, status)
			}
			t.Logf("%s's stream ended %s after the revocation: %v", who, time.Since(since).Round(10*time.Millisecond), closed["message"])
		case <-time.After(3*ttl + 20*time.Second):
			t.Fatalf("%s's stream still open %s after the revocation", who, time.Since(since))
		}
	}

	unboundStream, deletedStream := open(unbound), open(deleted)
	time.Sleep(2 * ttl) // both streams pass a re-check while allowed
	select {
	case closed := <-unboundStream:
		t.Fatalf("a stream ended while its caller was allowed: %v", closed)
	case closed := <-deletedStream:
		t.Fatalf("a stream ended while its caller was allowed: %v", closed)
	default:
	}

	if err := cs.RbacV1().RoleBindings(ns).Delete(ctx, "unbound", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	wait("the unbound caller", unboundStream, http.StatusForbidden, time.Now())

	if err := cs.CoreV1().ServiceAccounts(ns).Delete(ctx, "deleted", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	wait("the deleted ServiceAccount", deletedStream, http.StatusUnauthorized, time.Now())
}
