// Command stack runs the local stack (`make dev`, hack/dev.sh): etcd +
// kube-apiserver, the Temporal dev server (with UI; DEV_TEMPORAL=server
// runs the real Temporal server on the stack's PostgreSQL instead, with
// default dynamic config and no UI), PostgreSQL, mailpit (SMTP, for
// customer email), and the orderflow manager, worker and API, as local
// processes with their state and logs under $DEV_DIR (default .dev/).
// Payloads in Temporal are encrypted with a key made on first start
// ($DEV_DIR/codec-keys); the worker serves the codec server the Temporal UI
// decrypts them with. DEV_PAYMENT_GATEWAY=stripe runs the worker on the
// Stripe gateway against a local stripe-mock. The components start the way
// the tests start them (internal/testenv); the e2e, fault and GitOps suites
// run their stacks with this program.
//
//	stack up              start whatever is not running, wait until ready
//	stack down            stop what up started (by pid), keep the data
//	stack clean           down, then remove $DEV_DIR
//	stack status          say what runs
//	stack stop NAME       stop one component (up starts it again)
//	stack restart NAME    stop one component (postgres, etcd, kube-apiserver,
//	                      temporal, mailpit, stripe-mock, worker, manager, api)
//	                      and start it again
//	stack cluster STEP    the local cluster's Kubernetes components, for
//	                      hack/cluster.sh (env, control-plane, node-agents,
//	                      addons, temporal-namespace, status)
//
// Ports default to the fixed points the README lists (Quick start) and can
// be moved (the e2e suite does): DEV_PG_PORT 5432, DEV_TEMPORAL_PORT 7233,
// DEV_TEMPORAL_UI_PORT 8233, DEV_API_PORT 8080, DEV_ETCD_PORT 2379,
// DEV_KUBE_PORT 6443, DEV_MANAGER_PORT 9090 (metrics; probes on +1, pprof
// on +3), DEV_WORKER_PORT 9092 (probes, metrics, the codec server and
// /debug/pprof), DEV_MAILPIT_PORT 8025 (mailpit's web UI and API),
// DEV_SMTP_PORT 1025, DEV_STRIPE_MOCK_PORT 12111. DEV_SERVER_GOGC sets the
// Go garbage collector's target for etcd, kube-apiserver and Temporal
// (docs/performance.md says what it buys).
//
// Fulfillment: Orders with spec.fulfillment ship with the worker's carriers
// (the built-in sandbox; DEV_FULFILLMENT_WEBHOOK_URL adds the webhook
// carrier); DEV_FULFILLMENT_CARRIER ships every other Order too. The secret
// shared with a fulfillment service is made on first start
// ($DEV_DIR/fulfillment-secret): the API verifies carrier events with it.
// DEV_STRIPE_API_URL puts something in front of stripe-mock (the fault
// suite's recording layer, which counts the money at the provider).
//
// DEV_GITOPS=1 (make gitops) adds Flux: a git server on loopback
// (DEV_GIT_PORT 3000, repositories under $DEV_DIR/git), Flux's
// source-controller (artifacts on DEV_FLUX_PORT 9790, metrics and probes on
// +1 and +2) and kustomize-controller (+3 and +4; a new commit cancels the
// health check of the one before, so a change reaches an order that still
// runs), with their CRDs, and a repository orders.git holding the samples
// that a Kustomization applies to namespace default (DEV_GITOPS_SAMPLES=0:
// no repository; the GitOps suite makes its own).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"orderflow.io/orderflow/internal/testenv"
)

func main() {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "dev: error: %v\n", err)
		os.Exit(1)
	}
}

// components are what up starts, in order; down stops them the other way.
var components = []string{"etcd", "kube-apiserver", "temporal", "mailpit", "stripe-mock", "worker", "manager", "api"}

// fluxComponents are what DEV_GITOPS=1 adds.
var fluxComponents = []string{"gitserver", "source-controller", "kustomize-controller"}

func run(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "cluster" {
		return runCluster(ctx, args[1:])
	}
	s, err := newStack()
	if err != nil {
		return err
	}
	verb, name := "", ""
	if len(args) > 0 {
		verb = args[0]
	}
	if len(args) > 1 {
		name = args[1]
	}
	switch verb {
	case "up":
		return s.up(ctx)
	case "down":
		return s.down(ctx)
	case "clean":
		if err := s.down(ctx); err != nil {
			return err
		}
		if err := os.RemoveAll(s.dir); err != nil {
			return err
		}
		s.say("removed %s", s.dir)
		return nil
	case "status":
		s.status(ctx)
		return nil
	case "stop", "restart":
		return s.stopOrRestart(ctx, verb, name)
	}
	fmt.Fprintln(os.Stderr, "usage: hack/dev.sh up|down|clean|status|stop NAME|restart NAME")
	os.Exit(2)
	return nil
}

// stack is the local stack's settings (from DEV_* variables) and its
// processes.
type stack struct {
	root, bin, dir string
	ports          ports
	gitops         bool
	gitopsSamples  bool
	gateway        string // sandbox or stripe
	temporalMode   string // dev or server
	gogc           string
	procs          *testenv.Daemons
	pg             *testenv.Postgres
}

type ports struct {
	pg, temporal, temporalUI, api, etcd, kube, manager, worker, mailpit, smtp, stripeMock, git, flux int
}

func newStack() (*stack, error) {
	root, err := testenv.Root()
	if err != nil {
		return nil, err
	}
	s := &stack{root: root, bin: filepath.Join(root, "bin"), dir: env("DEV_DIR", filepath.Join(root, ".dev")),
		gitops: env("DEV_GITOPS", "0") == "1", gitopsSamples: env("DEV_GITOPS_SAMPLES", "1") == "1",
		gateway: env("DEV_PAYMENT_GATEWAY", "sandbox"), temporalMode: env("DEV_TEMPORAL", "dev"), gogc: env("DEV_SERVER_GOGC", "100")}
	if !filepath.IsAbs(s.dir) {
		s.dir = filepath.Join(root, s.dir)
	}
	for _, p := range []struct {
		v   *int
		env string
		def int
	}{
		{&s.ports.pg, "DEV_PG_PORT", 5432}, {&s.ports.temporal, "DEV_TEMPORAL_PORT", 7233},
		{&s.ports.temporalUI, "DEV_TEMPORAL_UI_PORT", 8233}, {&s.ports.api, "DEV_API_PORT", 8080},
		{&s.ports.etcd, "DEV_ETCD_PORT", 2379}, {&s.ports.kube, "DEV_KUBE_PORT", 6443},
		{&s.ports.manager, "DEV_MANAGER_PORT", 9090}, {&s.ports.worker, "DEV_WORKER_PORT", 9092},
		{&s.ports.mailpit, "DEV_MAILPIT_PORT", 8025}, {&s.ports.smtp, "DEV_SMTP_PORT", 1025},
		{&s.ports.stripeMock, "DEV_STRIPE_MOCK_PORT", 12111}, {&s.ports.git, "DEV_GIT_PORT", 3000},
		{&s.ports.flux, "DEV_FLUX_PORT", 9790},
	} {
		v, err := strconv.Atoi(env(p.env, strconv.Itoa(p.def)))
		if err != nil || v <= 0 || v > 65535 {
			return nil, fmt.Errorf("%s=%q: want a port number", p.env, os.Getenv(p.env))
		}
		*p.v = v
	}
	switch s.temporalMode {
	case "dev", "server":
	default:
		return nil, fmt.Errorf("DEV_TEMPORAL=%s: want dev or server", s.temporalMode)
	}
	switch s.gateway {
	case "sandbox", "stripe":
	default:
		return nil, fmt.Errorf("DEV_PAYMENT_GATEWAY=%s: want sandbox or stripe", s.gateway)
	}
	s.procs = &testenv.Daemons{Dir: s.dir, Say: s.say, PortHint: "move it with the DEV_*_PORT variables"}
	return s, nil
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

func (s *stack) say(format string, args ...any) { fmt.Printf("dev: "+format+"\n", args...) }

func (s *stack) kubeconfig() string { return filepath.Join(s.dir, "kubeconfig") }

// postgres is the stack's PostgreSQL server (data under dir/postgres).
func (s *stack) postgres() (*testenv.Postgres, error) {
	if s.pg != nil {
		return s.pg, nil
	}
	dir := filepath.Join(s.dir, "postgres")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	pg, err := testenv.NewPostgres(dir, s.ports.pg)
	s.pg = pg
	return pg, err
}

func (s *stack) down(ctx context.Context) error {
	if _, err := os.Stat(s.dir); errors.Is(err, os.ErrNotExist) {
		s.say("nothing to stop")
		return nil
	}
	for i := len(fluxComponents) - 1; i >= 0; i-- {
		s.procs.Stop(fluxComponents[i])
	}
	for i := len(components) - 1; i >= 0; i-- {
		s.procs.Stop(components[i])
	}
	pg, err := s.postgres()
	if err != nil {
		return err
	}
	if pg.Initialised() && pg.Running(ctx) {
		if err := pg.StopServer(ctx, "fast"); err != nil {
			return err
		}
		s.say("stopped postgres")
	}
	return nil
}

func (s *stack) status(ctx context.Context) {
	for _, name := range append(append([]string{}, components...), fluxComponents...) {
		pid, ok := s.procs.Pid(name)
		switch {
		case ok:
			s.say("%s runs (pid %d)", name, pid)
		case isFlux(name) && !s.gitops:
		default:
			s.say("%s is stopped", name)
		}
	}
	if pg, err := s.postgres(); err == nil && pg.Initialised() && pg.Running(ctx) {
		s.say("postgres runs")
	} else {
		s.say("postgres is stopped")
	}
}

func isFlux(name string) bool {
	for _, f := range fluxComponents {
		if f == name {
			return true
		}
	}
	return false
}

func (s *stack) stopOrRestart(ctx context.Context, verb, name string) error {
	if name == "postgres" && verb == "restart" {
		pg, err := s.postgres()
		if err != nil {
			return err
		}
		if err := pg.StopServer(ctx, "fast"); err != nil {
			return err
		}
		if err := s.startPostgres(ctx); err != nil {
			return err
		}
		s.say("restarted postgres")
		return nil
	}
	known := false
	for _, c := range components {
		known = known || c == name
	}
	if !known {
		return fmt.Errorf("%s what? postgres (restart only), etcd, kube-apiserver, temporal, mailpit, stripe-mock, worker, manager or api", verb)
	}
	s.procs.Stop(name)
	if verb == "stop" {
		return nil
	}
	start := time.Now()
	if err := s.up(ctx); err != nil {
		return err
	}
	s.say("restarted %s in %s", name, time.Since(start).Round(100*time.Millisecond))
	return nil
}
