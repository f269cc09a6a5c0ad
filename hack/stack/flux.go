package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// startFlux starts the git server and Flux's two controllers against the
// stack's API server, installs Flux's CRDs, and the first time pushes the
// samples to orders.git and has a Kustomization apply them.
func (s *stack) startFlux(ctx context.Context) error {
	if _, err := exec.LookPath("git"); err != nil {
		return fmt.Errorf("git is missing: apt-get install git")
	}
	gitRoot := filepath.Join(s.dir, "git")
	storage := filepath.Join(s.dir, "flux", "storage")
	for _, d := range []string{gitRoot, storage} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := s.procs.Start("gitserver", s.ports.git, nil, filepath.Join(s.bin, "gitserver"), "-root", gitRoot, "-port", fmt.Sprint(s.ports.git)); err != nil {
		return err
	}
	if err := s.procs.WaitFor(ctx, "gitserver", 30*time.Second, tcpOK(s.ports.git)); err != nil {
		return err
	}
	if err := s.kubectl(ctx, "apply", "--server-side", "-f", filepath.Join(s.bin, "flux-crds")); err != nil {
		return err
	}
	if err := s.kubectlIn(ctx, "apiVersion: v1\nkind: Namespace\nmetadata: {name: flux-system}\n", "apply", "-f", "-"); err != nil {
		return err
	}
	f := s.ports.flux
	env := []string{"KUBECONFIG=" + s.kubeconfig(), "RUNTIME_NAMESPACE=flux-system"}
	if err := s.procs.Start("source-controller", f, env, filepath.Join(s.bin, "source-controller"),
		"--storage-path", storage, "--storage-addr", fmt.Sprintf("127.0.0.1:%d", f), "--storage-adv-addr", fmt.Sprintf("127.0.0.1:%d", f),
		"--metrics-addr", fmt.Sprintf("127.0.0.1:%d", f+1), "--health-addr", fmt.Sprintf("127.0.0.1:%d", f+2), "--log-level", "info"); err != nil {
		return err
	}
	if err := s.procs.Start("kustomize-controller", f+3, env, filepath.Join(s.bin, "kustomize-controller"),
		"--metrics-addr", fmt.Sprintf("127.0.0.1:%d", f+3), "--health-addr", fmt.Sprintf("127.0.0.1:%d", f+4), "--log-level", "info",
		"--feature-gates", "CancelHealthCheckOnNewRevision=true"); err != nil {
		return err
	}
	if err := s.procs.WaitFor(ctx, "source-controller", 60*time.Second, httpOK(fmt.Sprintf("http://127.0.0.1:%d/readyz", f+2))); err != nil {
		return err
	}
	if err := s.procs.WaitFor(ctx, "kustomize-controller", 60*time.Second, httpOK(fmt.Sprintf("http://127.0.0.1:%d/readyz", f+4))); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(gitRoot, "orders.git")); s.gitopsSamples && err != nil {
		if err := s.pushSamples(ctx); err != nil {
			return err
		}
	}
	fmt.Printf(`
Flux is running:
  git             http://127.0.0.1:%[1]d/orders.git   (the Orders, applied to namespace default)
  source-controller, kustomize-controller   logs under %[2]s/logs/
Try:
  git clone http://127.0.0.1:%[1]d/orders.git && cd orders   # edit, commit, git push
  bin/kubectl get kustomization -n flux-system orders -w
`, s.ports.git, s.dir)
	return nil
}

// pushSamples pushes config/samples to orders.git and has a Kustomization
// apply them to namespace default.
func (s *stack) pushSamples(ctx context.Context) error {
	url := fmt.Sprintf("http://127.0.0.1:%d/orders.git", s.ports.git)
	s.say("pushing config/samples to %s", url)
	work, err := os.MkdirTemp("", "orderflow-samples-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if err := os.MkdirAll(filepath.Join(work, "orders"), 0o755); err != nil {
		return err
	}
	samples, _ := filepath.Glob(filepath.Join(s.root, "config", "samples", "*.yaml"))
	for _, f := range samples {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(work, "orders", filepath.Base(f)), b, 0o644); err != nil {
			return err
		}
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"}, {"add", "-A"},
		{"-c", "user.name=orderflow", "-c", "user.email=dev@orderflow.localhost", "commit", "-qm", "The samples"},
		{"push", "-q", url, "main"},
	} {
		if out, err := exec.CommandContext(ctx, "git", append([]string{"-C", work}, args...)...).CombinedOutput(); err != nil {
			return fmt.Errorf("git %v: %w: %s", args, err, out)
		}
	}
	return s.kubectlIn(ctx, fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: orders, namespace: flux-system}
spec:
  interval: 10s
  url: %s
  ref: {branch: main}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: orders, namespace: flux-system}
spec:
  interval: 1m
  sourceRef: {kind: GitRepository, name: orders}
  path: ./orders
  targetNamespace: default
  prune: true
  wait: true
  timeout: 2m
`, url), "apply", "-f", "-")
}

func tcpOK(port int) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err
	}
}
