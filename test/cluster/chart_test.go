//go:build cluster

package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.temporal.io/sdk/client"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/test/audit"
	"orderflow.io/orderflow/test/scenarios"
)

// TestTheChartAsItsUsersUseIt runs the steps in order: each needs the
// release the steps before it left.
func TestTheChartAsItsUsersUseIt(t *testing.T) {
	if !step(t, "helm install --wait (restricted Pod Security)", testInstall) {
		return
	}
	step(t, "helm test", func(t *testing.T) {
		out := helm(t, "test", release, "-n", releaseNS, "--timeout", "5m")
		if !strings.Contains(out, "Succeeded") {
			t.Fatalf("helm test:\n%s", out)
		}
	})
	step(t, "kubectl scenarios", testScenarios)
	if smoke {
		return
	}
	step(t, "REST API under Kubernetes auth", testAPI)
	step(t, "helm upgrade with orders in flight", testUpgrade)
	step(t, "a worker, the leader and (real server) the Temporal server Pod killed mid-flight", testPodsKilled)
	step(t, "helm uninstall keeps the data; reinstall finds it", testUninstall)
}

func testInstall(t *testing.T) {
	install(t)
	var pods corev1.PodList
	if err := json.Unmarshal([]byte(kubectl(t, "-n", releaseNS, "get", "pods", "-o", "json")), &pods); err != nil {
		t.Fatal(err)
	}
	want := 7 // two managers, two workers, two API Pods, PostgreSQL
	if temporalMode == "dev" {
		want++ // and the Temporal dev server
	}
	if len(pods.Items) < want {
		t.Fatalf("%d Pods in %s; want %d: the managers, workers and API Pods, PostgreSQL and (dev) Temporal", len(pods.Items), releaseNS, want)
	}
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning {
			continue // the migration Job's Pod, finished
		}
		nonRoot := p.Spec.SecurityContext != nil && p.Spec.SecurityContext.RunAsNonRoot != nil && *p.Spec.SecurityContext.RunAsNonRoot
		for _, c := range p.Spec.Containers {
			sc := c.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s/%s: root filesystem is writable", p.Name, c.Name)
			}
			if !nonRoot && (sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot) {
				t.Errorf("%s/%s: may run as root", p.Name, c.Name)
			}
		}
	}
	// The admission is real: a Pod that breaks the profile (no
	// securityContext at all: may run as root, may escalate, keeps its
	// capabilities) is refused.
	out, err := kubectlErr(`apiVersion: v1
kind: Pod
metadata: {name: unrestricted, namespace: `+releaseNS+`}
spec:
  containers:
  - {name: c, image: registry.k8s.io/pause:3.10}
`, "apply", "-f", "-")
	if err == nil || !strings.Contains(out, "violates PodSecurity") {
		t.Fatalf("an unrestricted Pod in %s: %v\n%s", releaseNS, err, out)
	}
	kubectl(t, "create", "namespace", shopNS)

	// Pods reach each other and the host, nothing else: the drop of what is
	// forwarded from the bridge to another interface is the first rule of
	// the first FORWARD chain traffic passes, whatever kube-proxy added.
	forward, err := exec.Command("iptables", "-t", "mangle", "-S", "FORWARD").CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(forward)), "\n")
	if err != nil || len(lines) < 2 || lines[1] != "-A FORWARD -j ORDERFLOW-CLUSTER-EGRESS" {
		t.Fatalf("mangle FORWARD does not start with the egress drop: %v\n%s", err, forward)
	}
	rule, err := exec.Command("iptables", "-t", "mangle", "-S", "ORDERFLOW-CLUSTER-EGRESS").CombinedOutput()
	if err != nil || !strings.Contains(string(rule), "-A ORDERFLOW-CLUSTER-EGRESS -i ofcbr0 ! -o ofcbr0 -j DROP") {
		t.Fatalf("the egress drop rule: %v\n%s", err, rule)
	}
}

const runningOrder = `apiVersion: orderflow.io/v1alpha1
kind: Order
metadata: {name: %s, namespace: ` + shopNS + `}
spec:
  customerID: CUST-CLUSTER
  items:
  - {productID: PROD-002, quantity: 1}
`

// testScenarios runs the e2e suite's kubectl scenarios (test/scenarios)
// against the release, in namespace shop.
func testScenarios(t *testing.T) {
	tg := scenarios.Target{Root: root, Namespace: shopNS, DB: database(t), Kubectl: kubectlErr}
	t.Run("samples", func(t *testing.T) { scenarios.Samples(t, tg) })
	t.Run("cancel running", func(t *testing.T) { scenarios.CancelRunning(t, tg) })
	t.Run("delete running", func(t *testing.T) { scenarios.DeleteRunning(t, tg) })
	t.Run("invalid", func(t *testing.T) { scenarios.Invalid(t, tg) })
	t.Run("partial refunds", func(t *testing.T) { scenarios.PartialRefunds(t, tg) })
	t.Run("amendments", func(t *testing.T) { scenarios.Amendments(t, tg) })
	t.Run("fulfillment", func(t *testing.T) { scenarios.Fulfillment(t, tg) })
}

func apply(t *testing.T, manifest string) {
	t.Helper()
	if out, err := kubectlErr(manifest, "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
}

// testAPI calls the REST API through a port-forward to its Service, with
// the chart's default --auth=kubernetes, as four callers: one with the
// built-in edit role in the API's namespace, one with view, one with
// nothing, one without a token. The Order rights come from the chart's
// aggregated ClusterRoles, not from bindings of their own.
func testAPI(t *testing.T) {
	for sa, role := range map[string]string{"editor": "edit", "viewer": "view", "nobody": ""} {
		kubectl(t, "-n", releaseNS, "create", "serviceaccount", sa)
		if role != "" {
			kubectl(t, "-n", releaseNS, "create", "rolebinding", sa, "--clusterrole="+role, "--serviceaccount="+releaseNS+":"+sa)
		}
	}
	token := func(sa string) string { return strings.TrimSpace(kubectl(t, "-n", releaseNS, "create", "token", sa)) }
	editor, viewer, nobody := token("editor"), token("viewer"), token("nobody")
	base := "http://" + portForward(t, releaseNS, release+"-api", 80)
	call := func(method, path, tok, body string) (int, string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	order := `{"customerID":"CUST-API","items":[{"productID":"PROD-002","quantity":1,"unitPrice":"49.90"}]}`
	code, body := call("POST", "/api/orders", editor, order)
	if code != http.StatusCreated {
		t.Fatalf("editor create: %d %s", code, body)
	}
	var created struct{ ID string }
	_ = json.Unmarshal([]byte(body), &created)
	if code, body := call("POST", "/api/orders/"+created.ID+"/cancel", editor, ""); code != http.StatusAccepted && code != http.StatusConflict {
		t.Errorf("editor cancel: %d %s", code, body)
	}
	if code, body := call("GET", "/api/orders", viewer, ""); code != http.StatusOK || !strings.Contains(body, created.ID) {
		t.Errorf("viewer list: %d %.200s", code, body)
	}
	if code, body := call("POST", "/api/orders", viewer, order); code != http.StatusForbidden {
		t.Errorf("viewer create: %d %s; want 403", code, body)
	}
	if code, body := call("GET", "/api/orders", nobody, ""); code != http.StatusForbidden {
		t.Errorf("no rights list: %d %s; want 403", code, body)
	}
	if code, body := call("GET", "/api/orders", "", ""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d %s; want 401", code, body)
	}
	pageThroughTheService(t, editor, viewer)
	aTeamInItsOwnNamespace(t, call, order, editor)
}

// aTeamInItsOwnNamespace: a team whose rights are in teamNS only creates
// and lists its orders there through the API, sees nobody else's, and is
// refused in the release namespace; the release's editor does not see
// the team's orders.
func aTeamInItsOwnNamespace(t *testing.T, call func(method, path, tok, body string) (int, string), order, editor string) {
	kubectl(t, "-n", teamNS, "create", "serviceaccount", "team")
	kubectl(t, "-n", teamNS, "create", "rolebinding", "team", "--clusterrole=edit", "--serviceaccount="+teamNS+":team")
	team := strings.TrimSpace(kubectl(t, "-n", teamNS, "create", "token", "team"))
	code, body := call("POST", "/api/orders?namespace="+teamNS, team, order)
	var created struct{ ID, Namespace string }
	_ = json.Unmarshal([]byte(body), &created)
	if code != http.StatusCreated || created.Namespace != teamNS {
		t.Fatalf("the team creating in %s: %d %s", teamNS, code, body)
	}
	kubectl(t, "-n", teamNS, "wait", "--for=condition=Ready", "order/"+created.ID, "--timeout=120s")
	code, body = call("GET", "/api/orders?limit=500", team, "")
	if code != http.StatusOK || !strings.Contains(body, created.ID) || strings.Contains(body, `"namespace":"`+releaseNS+`"`) {
		t.Fatalf("the team's list: %d %.300s; want its order and none of %s", code, body, releaseNS)
	}
	if code, body := call("GET", "/api/orders?namespace="+releaseNS, team, ""); code != http.StatusForbidden {
		t.Fatalf("the team listing %s: %d %.200s; want 403", releaseNS, code, body)
	}
	if code, body := call("GET", "/api/orders?limit=500", editor, ""); code != http.StatusOK || strings.Contains(body, created.ID) {
		t.Fatalf("the release's editor lists the team's order: %d %.300s", code, body)
	}
	t.Logf("team %s: created, completed and listed %s through the API; the release's editor does not see it", teamNS, created.ID)
}

// pageThroughTheService pages through the API's Service address itself
// (kube-proxy spreads requests over both API replicas, where a
// port-forward picks one Pod): every page continues where the last ended,
// whichever replica signed its token, and both replicas answered.
func pageThroughTheService(t *testing.T, editor, viewer string) {
	ip := strings.TrimSpace(kubectl(t, "-n", releaseNS, "get", "service", release+"-api", "-o", "jsonpath={.spec.clusterIP}"))
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	do := func(method, path, tok, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, "http://"+ip+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := fresh.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	for i := range 6 {
		order := fmt.Sprintf(`{"customerID":"CUST-PAGES","items":[{"productID":"PROD-002","quantity":%d,"unitPrice":"49.90"}]}`, 1+i%2)
		if code, body := do("POST", "/api/orders", editor, order); code != http.StatusCreated {
			t.Fatalf("create through the Service: %d %v", code, body)
		}
	}
	listed := func() map[string]float64 { return apiRequests(t, "GET /api/orders") }
	before := listed()
	// Each page on a connection of its own: kube-proxy picks a replica per
	// connection. Page through again (up to five times) until both
	// replicas have answered some page; every pass must list all six once.
	pages := 0
	var after map[string]float64
	answered := 0
	for pass := 0; pass < 5 && answered < 2; pass++ {
		seen := map[string]bool{}
		next := ""
		for first := true; first || next != ""; first = false {
			path := "/api/orders?limit=1&customerID=CUST-PAGES"
			if next != "" {
				path += "&continue=" + url.QueryEscape(next)
			}
			code, body := do("GET", path, viewer, "")
			pages++
			if code != http.StatusOK {
				t.Fatalf("page %d through the Service: %d %v", pages, code, body)
			}
			for _, o := range body["orders"].([]any) {
				id := o.(map[string]any)["id"].(string)
				if seen[id] {
					t.Fatalf("page %d repeats %s", pages, id)
				}
				seen[id] = true
			}
			next, _ = body["continue"].(string)
		}
		if len(seen) != 6 {
			t.Fatalf("paging through the Service listed %d of the 6 orders", len(seen))
		}
		after = listed()
		answered = 0
		for pod, n := range after {
			if n > before[pod] {
				answered++
			}
		}
	}
	if len(after) != 2 || answered != 2 {
		t.Fatalf("the API replicas that answered the %d pages: %d of %d (requests per Pod before %v, after %v)", pages, answered, len(after), before, after)
	}
	t.Logf("%d pages through the Service, answered by both API replicas (requests per Pod before %v, after %v)", pages, before, after)
}

// apiRequests reads, from each API Pod's /metrics, how many requests of
// route it answered.
func apiRequests(t *testing.T, route string) map[string]float64 {
	var pods corev1.PodList
	out := kubectl(t, "-n", releaseNS, "get", "pods", "-l", "app.kubernetes.io/component=api", "-o", "json")
	if err := json.Unmarshal([]byte(out), &pods); err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		resp, err := http.Get("http://" + p.Status.PodIP + ":8080/metrics")
		if err != nil {
			t.Fatal(err)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		counts[p.Name] = 0
		for _, m := range families["orderflow_api_requests_total"].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" && l.GetValue() == route {
					counts[p.Name] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return counts
}

// temporalClient reaches the release's Temporal: the dev server through a
// port-forward, or the real server at its frontend Service with the
// client certificate hack/temporal-cluster made.
func temporalClient(t *testing.T) (client.Client, error) {
	if temporalMode == "dev" {
		return client.Dial(client.Options{HostPort: portForward(t, releaseNS, release+"-temporal", 7233)})
	}
	tlsDir := filepath.Join(clusterDir, "temporal-tls")
	cert, err := tls.LoadX509KeyPair(filepath.Join(tlsDir, "client.crt"), filepath.Join(tlsDir, "client.key"))
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(filepath.Join(tlsDir, "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	ip := strings.TrimSpace(kubectl(t, "-n", "temporal", "get", "service", "temporal-frontend", "-o", "jsonpath={.spec.clusterIP}"))
	return client.Dial(client.Options{HostPort: ip + ":7233", ConnectionOptions: client.ConnectionOptions{
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "temporal-frontend.temporal.svc", MinVersion: tls.VersionTLS12}}})
}

// auditEnv reaches the release's PostgreSQL and Temporal through
// port-forwards, for the fault suite's audit.
func auditEnv(t *testing.T) *audit.Env {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	kube, err := crclient.New(rc, crclient.Options{Scheme: v1alpha1.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := temporalClient(t)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	db := database(t)
	if _, err := db.Exec(context.Background(), `INSERT INTO products (id, name, price_cents, currency, stock)
		VALUES ('CLUSTER-1', 'Cluster item', 100, 'USD', 1000000) ON CONFLICT (id) DO NOTHING`); err != nil {
		t.Fatal(err)
	}
	return &audit.Env{Kube: kube, Temporal: tc, DB: db, Product: "CLUSTER-1"}
}

func database(t *testing.T) *pgxpool.Pool {
	t.Helper()
	password := secretValue(t, releaseNS, release+"-postgresql", "password")
	addr := portForward(t, releaseNS, release+"-postgresql", 5432)
	db, err := pgxpool.New(context.Background(), fmt.Sprintf("postgres://orderflow:%s@%s/orderflow?sslmode=disable", password, addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

func count(t *testing.T, db *pgxpool.Pool, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func namespace(t *testing.T, e *audit.Env, prefix string) string {
	ns := fmt.Sprintf("%s-%d", prefix, time.Now().Unix())
	if err := e.Kube.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	return ns
}

// migrations counts the migration Job's Pods created, from the Job's
// Events (the hook deletes the Job once it succeeded).
func migrations(t *testing.T) int {
	out := kubectl(t, "-n", releaseNS, "get", "events", "--field-selector", "involvedObject.kind=Job,involvedObject.name="+release+"-migrate,reason=SuccessfulCreate", "-o", "name")
	return len(strings.Fields(out))
}

func generation(t *testing.T, deployment string) string {
	return kubectl(t, "-n", releaseNS, "get", "deployment", deployment, "-o", "jsonpath={.metadata.generation}")
}

func testUpgrade(t *testing.T) {
	e := auditEnv(t)
	ns := namespace(t, e, "upgrade")
	before := e.Stock(t)
	migrated := migrations(t)
	workerGen, managerGen := generation(t, release+"-worker"), generation(t, release+"-manager")
	orders := e.Place(t, ns, 40, false, func() {})
	install(t, "--set", "worker.maxConcurrentActivities=150", "--set", "manager.maxConcurrentReconciles=12")
	if generation(t, release+"-worker") == workerGen || generation(t, release+"-manager") == managerGen {
		t.Errorf("the upgrade did not roll the Deployments")
	}
	if after := migrations(t); after <= migrated {
		t.Errorf("the pre-upgrade migration hook did not run (%d migration Pods before, %d after)", migrated, after)
	}
	e.WaitFinished(t, ns, orders)
	result := e.Audit(t, ns, orders, before)
	if !result.OK() {
		t.Errorf("audit: %s", result)
	}
	t.Logf("audit of the %d orders across the rolling upgrade: %s", len(orders), result.Summary())
}

func testPodsKilled(t *testing.T) {
	e := auditEnv(t)
	ns := namespace(t, e, "killed")
	before := e.Stock(t)
	orders := e.Place(t, ns, 60, false, func() {
		time.Sleep(2 * time.Second)
		// Not the test's goroutine: report with Errorf, never Fatalf.
		workers, err := kubectlErr("", "-n", releaseNS, "get", "pods", "-l", "app.kubernetes.io/component=worker", "-o", "name")
		worker, _, _ := strings.Cut(strings.TrimSpace(workers), "\n")
		if err != nil || worker == "" {
			t.Errorf("no worker Pod: %v %s", err, workers)
		} else if out, err := kubectlErr("", "-n", releaseNS, "delete", worker, "--grace-period=0", "--force"); err != nil {
			t.Errorf("killing the worker %s: %v\n%s", worker, err, out)
		}
		if temporalMode == "server" {
			if out, err := kubectlErr("", "-n", "temporal", "delete", "pod", "-l", "app.kubernetes.io/name=temporal", "--grace-period=0", "--force"); err != nil {
				t.Errorf("killing the Temporal server: %v\n%s", err, out)
			}
		}
		leader, err := kubectlErr("", "-n", releaseNS, "get", "lease", "orderflow-manager.orderflow.io", "-o", "jsonpath={.spec.holderIdentity}")
		pod, _, _ := strings.Cut(leader, "_")
		if err != nil || pod == "" {
			t.Errorf("no leader in the lease: %v %s", err, leader)
			return
		}
		if out, err := kubectlErr("", "-n", releaseNS, "delete", "pod", pod, "--grace-period=0", "--force"); err != nil {
			t.Errorf("killing the leader %s: %v\n%s", pod, err, out)
		}
	})
	e.WaitFinished(t, ns, orders)
	if result := e.Audit(t, ns, orders, before); !result.OK() {
		t.Errorf("audit: %s", result)
	}
}

func testUninstall(t *testing.T) {
	db := database(t)
	ordersBefore := count(t, db, `SELECT count(*) FROM orders`)
	helm(t, "uninstall", release, "-n", releaseNS, "--wait", "--timeout", "3m")
	left := kubectl(t, "get", "deployments,statefulsets,services,serviceaccounts,roles,rolebindings,clusterroles,clusterrolebindings,jobs",
		"-A", "-l", "app.kubernetes.io/instance="+release, "-o", "name")
	if strings.TrimSpace(left) != "" {
		t.Errorf("left after uninstall:\n%s", left)
	}
	if _, err := kubectlErr("", "get", "crd", "orders.orderflow.io"); err != nil {
		t.Fatal("the CRD was not kept")
	}
	if got := kubectl(t, "-n", shopNS, "get", "order", "order-001", "-o", "jsonpath={.status.phase}"); got != "Completed" {
		t.Errorf("order-001 after uninstall: %q", got)
	}
	for _, kept := range []string{"secret/" + release + "-postgresql", "secret/" + release + "-codec", "pvc/data-" + release + "-postgresql-0"} {
		if _, err := kubectlErr("", "-n", releaseNS, "get", kept); err != nil {
			t.Errorf("%s was not kept", kept)
		}
	}
	install(t)
	db = database(t)
	if after := count(t, db, `SELECT count(*) FROM orders`); after < ordersBefore {
		t.Fatalf("the reinstalled release sees %d orders; %d before the uninstall", after, ordersBefore)
	}
	// An order placed after the reinstall completes, and an old one is still there.
	apply(t, fmt.Sprintf(runningOrder, "after-reinstall"))
	kubectl(t, "-n", shopNS, "wait", "order/after-reinstall", "--for=condition=Ready", "--timeout=120s")
	if n := count(t, db, `SELECT count(*) FROM payments WHERE order_key = 'shop/order-001'`); n != 1 {
		t.Errorf("order-001 has %d payments after the reinstall; want its one capture", n)
	}
}
