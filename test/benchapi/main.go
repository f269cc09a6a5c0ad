// Command benchapi measures the REST API against `make dev`, under both
// authentication modes side by side: the local stack's API (--auth=none)
// and a second API process it starts with --auth=kubernetes, as the chart
// runs it, acting with a ServiceAccount's token. Each mode gets the same
// load from bounded concurrency on loopback (list pages, gets, creates)
// with live-stream subscribers connected, and the table says requests per
// second, p50/p99 latency and the Kubernetes API calls the API process made
// per request (its own client metrics, so the controller's traffic does not
// count).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

type config struct {
	root                  string
	noneURL               string
	kubePort              int
	requests, concurrency int
	subscribers           int
	seed                  int
}

func main() {
	var c config
	wd, _ := os.Getwd()
	flag.StringVar(&c.root, "root", wd, "repository root (bin/, .dev/)")
	flag.StringVar(&c.noneURL, "api", "http://127.0.0.1:8080", "the local stack's API (--auth=none)")
	flag.IntVar(&c.kubePort, "kube-auth-port", 8081, "port of the --auth=kubernetes API this starts")
	flag.IntVar(&c.requests, "n", 3000, "requests per mode")
	flag.IntVar(&c.concurrency, "c", 8, "requests in flight")
	flag.IntVar(&c.subscribers, "sse", 20, "live-stream subscribers connected during each run")
	flag.IntVar(&c.seed, "orders", 200, "Orders to have in the namespace before measuring")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench-api:", err)
		os.Exit(1)
	}
}

type result struct {
	mode                  string
	requests              int
	errors                int64
	rps, p50, p99         float64
	kubeCalls, kubePerReq float64
}

func run(c config) error {
	kubeconfig := filepath.Join(c.root, ".dev", "kubeconfig")
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("the local stack's kubeconfig (run make dev): %w", err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	token, err := serviceAccountToken(cs, "default", "bench-api")
	if err != nil {
		return err
	}
	stop, kubeURL, err := startKubernetesAuthAPI(c, kubeconfig)
	if err != nil {
		return err
	}
	defer stop()

	ids, err := seed(c.noneURL, c.seed)
	if err != nil {
		return err
	}
	var results []result
	for _, m := range []struct{ mode, url, token string }{{"none", c.noneURL, ""}, {"kubernetes", kubeURL, token}} {
		r, err := measure(c, m.mode, m.url, m.token, ids)
		if err != nil {
			return fmt.Errorf("%s: %w", m.mode, err)
		}
		results = append(results, r)
	}
	fmt.Printf("\n%d requests per mode, %d in flight, %d live-stream subscribers; mix: 70%% list pages (limit 50), 20%% gets, 10%% creates; %d Orders in the namespace.\n\n",
		c.requests, c.concurrency, c.subscribers, len(ids))
	fmt.Println("| auth | requests | errors | requests/s | p50 (ms) | p99 (ms) | Kubernetes API calls | calls / request |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range results {
		fmt.Printf("| %s | %d | %d | %.0f | %.2f | %.2f | %.0f | %.3f |\n", r.mode, r.requests, r.errors, r.rps, r.p50, r.p99, r.kubeCalls, r.kubePerReq)
	}
	if len(results) == 2 && results[0].p99 > 0 {
		fmt.Printf("\nkubernetes / none p99: %.2f\n", results[1].p99/results[0].p99)
	}
	return nil
}

// serviceAccountToken makes a ServiceAccount that may work with Orders in
// ns and returns a token for it.
func serviceAccountToken(cs kubernetes.Interface, ns, name string) (string, error) {
	ctx := context.Background()
	ignoreExists := func(err error) error {
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); ignoreExists(err) != nil {
		return "", err
	}
	if _, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"orderflow.io"}, Resources: []string{"orders"}, Verbs: []string{"create", "get", "list", "watch", "patch"}}},
	}, metav1.CreateOptions{}); ignoreExists(err) != nil {
		return "", err
	}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}},
	}, metav1.CreateOptions{}); ignoreExists(err) != nil {
		return "", err
	}
	tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authnv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return tok.Status.Token, nil
}

// startKubernetesAuthAPI runs `orderflow api --auth=kubernetes` against the
// local stack and waits until it is ready.
func startKubernetesAuthAPI(c config, kubeconfig string) (stop func(), url string, err error) {
	cmd := exec.Command(filepath.Join(c.root, "bin", "orderflow"), "api", "--auth=kubernetes", "--namespace=default",
		fmt.Sprintf("--port=%d", c.kubePort), "--bind=127.0.0.1")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "POSTGRES_HOST=127.0.0.1", "POSTGRES_PORT=5432",
		"POSTGRES_USER=orderflow", "POSTGRES_PASSWORD=orderflow", "POSTGRES_DB=orderflow", "POSTGRES_SSLMODE=disable")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	stop = func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }
	url = fmt.Sprintf("http://127.0.0.1:%d", c.kubePort)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if resp, err := http.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return stop, url, nil
			}
		}
	}
	stop()
	return nil, "", fmt.Errorf("the --auth=kubernetes API on port %d did not become ready (is the port taken?)", c.kubePort)
}

// seed makes sure the namespace holds at least n Orders and returns their ids.
func seed(url string, n int) ([]string, error) {
	ids, err := listAll(url)
	if err != nil {
		return nil, err
	}
	for len(ids) < n {
		id, err := create(http.DefaultClient, url, "")
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func listAll(url string) ([]string, error) {
	var ids []string
	next := ""
	for {
		resp, err := http.Get(url + "/api/orders?limit=500" + map[bool]string{true: "&continue=" + next}[next != ""])
		if err != nil {
			return nil, err
		}
		var page struct {
			Orders   []struct{ ID string } `json:"orders"`
			Continue string                `json:"continue"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		for _, o := range page.Orders {
			ids = append(ids, o.ID)
		}
		if next = page.Continue; next == "" {
			return ids, nil
		}
	}
}

const orderBody = `{"customerID":"BENCH-API","items":[{"productID":"PROD-002","quantity":1,"unitPrice":"49.90"}]}`

func create(hc *http.Client, url, token string) (string, error) {
	req, _ := http.NewRequest("POST", url+"/api/orders", bytes.NewBufferString(orderBody))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var o struct{ ID string }
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		return "", fmt.Errorf("create: %d %s", resp.StatusCode, b)
	}
	return o.ID, json.NewDecoder(resp.Body).Decode(&o)
}

// measure runs one mode's load and reads the API process's Kubernetes
// client requests before and after.
func measure(c config, mode, url, token string, ids []string) (result, error) {
	r := result{mode: mode, requests: c.requests}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c.concurrency * 2}}
	do := func(method, path string, body io.Reader) error {
		req, _ := http.NewRequest(method, url+path, body)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			return fmt.Errorf("%s %s: %d", method, path, resp.StatusCode)
		}
		return nil
	}
	// Live-stream subscribers, connected for the whole run.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range c.subscribers {
		req, _ := http.NewRequestWithContext(ctx, "GET", url+"/api/orders/events", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return r, err
		}
		go func() { _, _ = io.Copy(io.Discard, resp.Body); resp.Body.Close() }()
	}
	// Warm up: the caches of the --auth=kubernetes API hold the token's
	// review and decisions after this.
	for _, p := range []string{"/api/orders?limit=50", "/api/orders/" + ids[0]} {
		if err := do("GET", p, nil); err != nil {
			return r, err
		}
	}
	if _, err := create(hc, url, token); err != nil {
		return r, err
	}
	before, err := kubeCalls(url)
	if err != nil {
		return r, err
	}
	lat := make([]float64, c.requests)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range c.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= c.requests {
					return
				}
				t0 := time.Now()
				var err error
				switch x := rand.IntN(10); {
				case x < 7:
					err = do("GET", "/api/orders?limit=50", nil)
				case x < 9:
					err = do("GET", "/api/orders/"+ids[rand.IntN(len(ids))], nil)
				default:
					err = do("POST", "/api/orders", bytes.NewBufferString(orderBody))
				}
				lat[i] = float64(time.Since(t0).Microseconds()) / 1000
				if err != nil {
					atomic.AddInt64(&r.errors, 1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	after, err := kubeCalls(url)
	if err != nil {
		return r, err
	}
	slices.Sort(lat)
	r.rps = float64(c.requests) / elapsed.Seconds()
	r.p50, r.p99 = lat[len(lat)/2], lat[int(math.Ceil(float64(len(lat))*0.99))-1]
	r.kubeCalls = after - before
	r.kubePerReq = r.kubeCalls / float64(c.requests)
	return r, nil
}

// kubeCalls reads the requests the API process made to the Kubernetes API
// so far, from its /metrics.
func kubeCalls(url string) (float64, error) {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, err
	}
	total := 0.0
	for _, m := range fams["rest_client_requests_total"].GetMetric() {
		total += m.GetCounter().GetValue()
	}
	return total, nil
}
