//go:build cluster

// Package cluster uses OrderFlow as chart users do, on a real single-node
// Kubernetes (hack/cluster.sh, under .cluster-test/): helm install --wait
// into a namespace enforcing the restricted Pod Security Standard, helm
// test, the kubectl scenarios, the REST API under Kubernetes auth through a
// port-forward, helm upgrade with orders in flight, Pods killed mid-flight,
// helm uninstall and a reinstall that finds the data. It prints a table of
// the steps. A machine where the node cannot start fails the suite with the
// reason; it never skips.
package cluster

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"

	"orderflow.io/orderflow/internal/testenv"
)

const (
	release   = "orderflow"
	releaseNS = "orderflow-system"
	shopNS    = "shop"
)

var (
	// temporalMode is the Temporal the chart runs against
	// (CLUSTER_TEMPORAL): server, the real server in namespace temporal
	// with mTLS, as production runs (the default), or dev, the chart's
	// single-pod dev server.
	temporalMode = cmp.Or(os.Getenv("CLUSTER_TEMPORAL"), "server")
	// smoke (CLUSTER_SMOKE=1) stops after the install, helm test and the
	// kubectl scenarios: make test-cluster's pass on the dev server.
	smoke      = os.Getenv("CLUSTER_SMOKE") != ""
	root       string
	clusterDir string
	kubeconfig string
	table      []string
)

func TestMain(m *testing.M) {
	var err error
	if root, err = testenv.Root(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "FAIL: the cluster suite needs root: containerd, the kubelet's mounts and the node's iptables rules need it")
		os.Exit(1)
	}
	ctrl.SetLogger(logr.Discard())
	clusterDir = filepath.Join(root, ".cluster-test")
	kubeconfig = filepath.Join(clusterDir, "kubeconfig")
	if out, err := exec.Command("ip", "link", "show", "ofcbr0").CombinedOutput(); err == nil {
		if _, statErr := os.Stat(filepath.Join(clusterDir, "run")); statErr != nil {
			fmt.Fprintf(os.Stderr, "FAIL: a local cluster (make cluster) already runs on this machine (%s): stop it with make cluster-down first\n", bytes.TrimSpace(out))
			os.Exit(1)
		}
	}
	_ = script("clean").Run()
	code := 1
	start := time.Now()
	up := script("node")
	up.Stdout, up.Stderr = os.Stdout, os.Stderr
	if err := up.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the node did not come up: %v (logs under %s/logs)\n", err, clusterDir)
	} else {
		table = append(table, fmt.Sprintf("| node up (images built and imported, CoreDNS ready) | ok | %.0f |", time.Since(start).Seconds()))
		code = m.Run()
	}
	fmt.Println("\n| step | result | seconds |\n| --- | --- | ---: |")
	for _, row := range table {
		fmt.Println(row)
	}
	if os.Getenv("CLUSTER_TEST_KEEP") == "" {
		down := script("clean")
		down.Stdout, down.Stderr = os.Stdout, os.Stderr
		if err := down.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "tearing the cluster down: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func script(args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(root, "hack", "cluster.sh"), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CLUSTER_DIR="+clusterDir, "CLUSTER_TEMPORAL="+temporalMode)
	return cmd
}

// step runs one step of the suite as a subtest and records it in the table.
func step(t *testing.T, name string, f func(t *testing.T)) bool {
	start := time.Now()
	ok := t.Run(name, f)
	result := "ok"
	if !ok {
		result = "FAILED"
	}
	table = append(table, fmt.Sprintf("| %s | %s | %.0f |", name, result, time.Since(start).Seconds()))
	return ok
}

func kubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := kubectlErr("", args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func kubectlErr(stdin string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(root, "bin", "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func helm(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, "bin", "helm4"), append(args, "--kubeconfig", kubeconfig)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// teamNS is a team's namespace, served by the API beside the release's.
const teamNS = "shop-eu"

// install installs (or upgrades) the chart as make cluster does, with the
// suite's values: each sandbox charge takes a second, so a test can act
// while one is in flight; the API serves teamNS too.
func install(t testing.TB, extra ...string) {
	t.Helper()
	// A team keeps its Orders in a namespace of its own, which the API
	// serves too.
	if out, err := kubectlErr("", "create", "namespace", teamNS); err != nil && !strings.Contains(out, "AlreadyExists") {
		t.Fatalf("create namespace %s: %v\n%s", teamNS, err, out)
	}
	// Two of each component, as production runs them.
	cmd := script(append([]string{"chart", "--set", "worker.sandboxLatency=1s", "--set", "api.namespaces={" + teamNS + "}",
		"--set", "api.replicas=2", "--set", "worker.replicas=2", "--set", "manager.replicas=2"}, extra...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("hack/cluster.sh chart: %v\n%s", err, out)
	}
}

// portForward forwards a local port to a Service of the release until the
// test ends, and returns the local address.
func portForward(t testing.TB, ns, service string, port int) string {
	t.Helper()
	local, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(root, "bin", "kubectl"), "--kubeconfig", kubeconfig, "-n", ns, "port-forward",
		"--address", "127.0.0.1", "svc/"+service, fmt.Sprintf("%d:%d", local, port))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", local)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("port-forward to %s/%s: %s", ns, service, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func secretValue(t testing.TB, ns, name, key string) string {
	t.Helper()
	b64 := kubectl(t, "-n", ns, "get", "secret", name, "-o", "jsonpath={.data."+key+"}")
	v, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return string(v)
}

func waitFor(t testing.TB, what string, timeout time.Duration, f func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for !f() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not after %s", what, timeout)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
