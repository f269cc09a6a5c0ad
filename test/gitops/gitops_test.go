//go:build gitops

package gitops

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"orderflow.io/orderflow/internal/testenv"
)

// The suite runs its own stack on ports of its own (24xxx, below the
// kernel's ephemeral range), under .gitops/, so it neither needs nor
// disturbs a `make dev` stack or the other suites'.
var stackEnv = map[string]string{
	"DEV_DIR":              ".gitops",
	"DEV_PG_PORT":          "24432",
	"DEV_TEMPORAL_PORT":    "24233",
	"DEV_TEMPORAL_UI_PORT": "24333",
	"DEV_API_PORT":         "24080",
	"DEV_ETCD_PORT":        "24379",
	"DEV_KUBE_PORT":        "24443",
	"DEV_MANAGER_PORT":     "24090",
	"DEV_WORKER_PORT":      "24092",
	"DEV_MAILPIT_PORT":     "24025",
	"DEV_SMTP_PORT":        "24125",
	"DEV_GITOPS":           "1",
	"DEV_GITOPS_SAMPLES":   "0",
	"DEV_GIT_PORT":         "24300",
	"DEV_FLUX_PORT":        "24500",
}

var root string

func TestMain(m *testing.M) {
	var err error
	if root, err = testenv.Root(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_ = devScript("clean").Run() // a stack left by an interrupted run
	up := devScript("up")
	up.Stdout, up.Stderr = os.Stdout, os.Stderr
	code := 1
	if err := up.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the local stack with Flux did not come up: %v\n", err)
	} else {
		code = m.Run()
		if code != 0 {
			for _, name := range []string{"kustomize-controller", "source-controller", "manager"} {
				tail(filepath.Join(root, ".gitops", "logs", name+".log"))
			}
		}
	}
	down := devScript("clean")
	down.Stdout, down.Stderr = os.Stdout, os.Stderr
	if err := down.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "tearing the stack down: %v\n", err)
	}
	os.Exit(code)
}

func tail(path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	fmt.Fprintf(os.Stderr, "--- the end of %s\n%s\n", path, strings.Join(lines, "\n"))
}

func devScript(verb string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(root, "hack", "dev.sh"), verb)
	cmd.Dir = root
	cmd.Env = os.Environ()
	for k, v := range stackEnv {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// kubectl runs bin/kubectl against the stack (stdin when not empty).
func kubectlIn(stdin string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(root, "bin", "kubectl"), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(root, ".gitops", "kubeconfig"))
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func kubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := kubectlIn("", args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func db(t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), "postgres://orderflow:orderflow@127.0.0.1:24432/orderflow?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func queryInt(t testing.TB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db(t).QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// repo is a working copy of a repository on the suite's git server, which
// one Kustomization applies to one namespace.
type repo struct {
	t         testing.TB
	name, dir string
	ns        string
	// head is the last commit pushed.
	head string
}

// newRepo makes the repository name, a namespace of the same name, and a
// GitRepository and a Kustomization (prune, wait) applying the repository's
// orders/ folder to the namespace.
func newRepo(t *testing.T, name string) *repo {
	t.Helper()
	r := &repo{t: t, name: name, dir: t.TempDir(), ns: name}
	r.git("init", "-q", "-b", "main")
	r.write("orders/README", "Orders of "+name+"\n")
	r.push("the repository")
	kubectl(t, "create", "namespace", name)
	if out, err := kubectlIn(fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: %[1]s, namespace: flux-system}
spec:
  interval: 5s
  url: http://127.0.0.1:24300/%[1]s.git
  ref: {branch: main}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: %[1]s, namespace: flux-system}
spec:
  interval: 30s
  retryInterval: 5s
  sourceRef: {kind: GitRepository, name: %[1]s}
  path: ./orders
  targetNamespace: %[1]s
  prune: true
  wait: true
  timeout: 90s
`, name), "apply", "-f", "-"); err != nil {
		t.Fatalf("applying the GitRepository and Kustomization: %v\n%s", err, out)
	}
	return r
}

func (r *repo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-C", r.dir, "-c", "user.name=gitops-test", "-c", "user.email=gitops@orderflow.localhost"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (r *repo) write(path, content string) {
	r.t.Helper()
	full := filepath.Join(r.dir, path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *repo) remove(path string) {
	r.t.Helper()
	r.git("rm", "-q", path)
}

// push commits everything and pushes it, and has Flux fetch it at once.
func (r *repo) push(message string) {
	r.t.Helper()
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", message)
	r.git("push", "-q", "http://127.0.0.1:24300/"+r.name+".git", "main")
	r.head = r.git("rev-parse", "HEAD")
	r.reconcile()
}

// reconcile asks Flux to fetch and apply now, as `flux reconcile` does.
func (r *repo) reconcile() {
	r.t.Helper()
	at := time.Now().Format(time.RFC3339Nano)
	for _, kind := range []string{"gitrepository", "kustomization"} {
		if out, err := kubectlIn("", "-n", "flux-system", "annotate", "--overwrite", kind, r.name, "reconcile.fluxcd.io/requestedAt="+at); err != nil &&
			!strings.Contains(out, "NotFound") {
			r.t.Fatalf("annotate %s: %v\n%s", kind, err, out)
		}
	}
}

// kustomization is what Flux says of the repository's Kustomization.
type kustomization struct {
	attempted, applied string
	ready, reason      string
	message            string
}

func (r *repo) kustomization() kustomization {
	r.t.Helper()
	out := kubectl(r.t, "-n", "flux-system", "get", "kustomization", r.name, "-o",
		`jsonpath={.status.lastAttemptedRevision}{"\t"}{.status.lastAppliedRevision}{"\t"}{.status.conditions[?(@.type=="Ready")].status}{"\t"}{.status.conditions[?(@.type=="Ready")].reason}{"\t"}{.status.conditions[?(@.type=="Ready")].message}`)
	f := strings.SplitN(out, "\t", 5)
	for len(f) < 5 {
		f = append(f, "")
	}
	return kustomization{attempted: f[0], applied: f[1], ready: f[2], reason: f[3], message: f[4]}
}

// await waits until the Kustomization has worked on the last commit pushed
// and its Ready condition says ready ("True" or "False"), and returns it.
func (r *repo) await(ready string, within time.Duration) kustomization {
	r.t.Helper()
	deadline := time.Now().Add(within)
	var k kustomization
	for time.Now().Before(deadline) {
		k = r.kustomization()
		if strings.HasSuffix(k.attempted, r.head) && k.ready == ready && k.reason != "Progressing" {
			return k
		}
		time.Sleep(250 * time.Millisecond)
	}
	r.t.Fatalf("Kustomization %s not Ready=%s on %s within %s: %+v", r.name, ready, r.head[:8], within, k)
	return k
}

// order is an Order manifest: name, customer, product, quantity, and
// extra spec and metadata lines (indented for spec and metadata).
func order(name, customer, product string, qty int, meta, spec string) string {
	return fmt.Sprintf(`apiVersion: orderflow.io/v1alpha1
kind: Order
metadata:
  name: %s
%sspec:
  customerID: %s
  items:
  - {productID: %s, quantity: %d}
%s`, name, meta, customer, product, qty, spec)
}

func (r *repo) phase(name string) string {
	r.t.Helper()
	out, err := kubectlIn("", "-n", r.ns, "get", "order", name, "-o", "jsonpath={.status.phase}")
	if err != nil {
		return "" // gone
	}
	return out
}

func (r *repo) jsonpath(name, path string) string {
	r.t.Helper()
	return kubectl(r.t, "-n", r.ns, "get", "order", name, "-o", "jsonpath="+path)
}

// waitFor waits until the Order exists (Flux applies it a moment after the
// push) and the jsonpath of it prints want.
func (r *repo) waitFor(name, path, want string) {
	r.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		out, err := kubectlIn("", "-n", r.ns, "get", "order", name, "-o", "jsonpath="+path)
		if got = out; err == nil && out == want {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.t.Fatalf("order %s/%s: %s is %q after 90s; want %q", r.ns, name, path, got, want)
}

// waitPruned waits until Flux has deleted the Orders (and their
// finalizers let them go).
func (r *repo) waitPruned(names ...string) {
	r.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var left []string
		for _, n := range names {
			if p := r.phase(n); p != "" {
				left = append(left, n+"="+p)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("not pruned after 90s: %s", strings.Join(left, ", "))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (r *repo) key(name string) string { return r.ns + "/" + name }

// charges reads the provider's books: the order's charges, their cents in
// all, and its refunds.
func charges(t testing.TB, key string) (n, cents, refunds int) {
	t.Helper()
	err := db(t).QueryRow(context.Background(), `SELECT count(*), coalesce(sum(c.amount_cents), 0)::int,
		(SELECT count(*) FROM payment_sandbox.refunds r JOIN payment_sandbox.charges c2 ON c2.id = r.charge_id WHERE c2.reference = $1)::int
		FROM payment_sandbox.charges c WHERE c.reference = $1`, key).Scan(&n, &cents, &refunds)
	if err != nil {
		t.Fatal(err)
	}
	return n, cents, refunds
}
