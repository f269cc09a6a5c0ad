package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/db"
	"orderflow.io/orderflow/internal/kubeauth"
	"orderflow.io/orderflow/internal/notification"
	"orderflow.io/orderflow/internal/temporal"
	"orderflow.io/orderflow/workflows"
)

func runWorker(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("worker", stdout)
	var c workerConfig
	c.bindFlags(f)
	if err := f.parse(args); err != nil {
		return err
	}
	if err := c.gw.check(); err != nil {
		return err
	}
	mailer, err := c.smtp.mailer()
	if err != nil {
		return err
	}
	codecHandler, err := c.codec.handler(c.temporal)
	if err != nil {
		return err
	}
	logger := c.log.logger().WithName("worker")
	database, err := c.opts.openDB(ctx, c.pg, logger)
	if err != nil {
		return err
	}
	defer database.Close()
	gateway, err := c.gw.gateway(ctx, database.Pool)
	if err != nil {
		return err
	}
	reg, outcomes := workerRegistry()
	tc, err := dialWorkerTemporal(ctx, c.temporal, reg, logger.WithName("temporal"))
	if err != nil {
		return err
	}
	defer tc.Close()
	acts := workflows.NewActivities(database, gateway, &notification.Notifier{
		Log: logger.WithName("notify"), WebhookURL: c.opts.webhook, WebhookSecret: []byte(os.Getenv("NOTIFY_WEBHOOK_SECRET")),
		Mailer: mailer,
	})
	acts.Outcomes = func(status string) { outcomes.WithLabelValues(status).Inc() }
	if acts.Carriers, err = c.ship.carriers(workflows.SandboxStarter(tc)); err != nil {
		return err
	}
	w := workflows.NewWorker(tc, acts, c.opts.worker())
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()
	logger.Info("Worker started", "taskQueue", contract.TaskQueue, "temporal", c.temporal.HostPort, "namespace", c.temporal.Namespace, "paymentGateway", c.gw.kind, "smtp", c.smtp.Host, "encrypted", c.temporal.Encrypted())
	if codecHandler != nil {
		logger.Info("Serving the codec server", "path", temporal.CodecServerPath, "auth", c.codec.auth, "origins", c.codec.origins)
	}
	return serve(ctx, c.opts.bind, workerMux(database, reg, codecHandler, c.opts.profile))
}

// workerConfig is everything the worker is told by its flags, group by
// group.
type workerConfig struct {
	temporal temporal.Config
	pg       db.Config
	log      logging
	opts     workerOptions
	gw       gatewayConfig
	smtp     smtpConfig
	codec    codecServerOptions
	ship     carrierConfig
}

func (c *workerConfig) bindFlags(f *flags) {
	registerTemporal(f, &c.temporal)
	registerPostgres(f, &c.pg)
	c.log.register(f)
	c.opts.bindFlags(f)
	c.gw.register(f)
	c.smtp.register(f)
	c.codec.bindFlags(f)
	c.ship.register(f)
}

// dialWorkerTemporal dials Temporal with the SDK's metrics in reg and makes
// sure the search attributes the workflow publishes with exist.
func dialWorkerTemporal(ctx context.Context, cfg temporal.Config, reg *prometheus.Registry, logger logr.Logger) (tclient.Client, error) {
	sdkMetrics, err := temporal.MetricsHandler(reg, logger)
	if err != nil {
		return nil, err
	}
	tc, err := temporal.Dial(ctx, cfg, logger, sdkMetrics)
	if err != nil {
		return nil, err
	}
	if err := temporal.EnsureSearchAttributes(ctx, tc, cfg.Namespace); err != nil {
		tc.Close()
		return nil, err
	}
	return tc, nil
}

// workerOptions are the worker's own settings.
type workerOptions struct {
	bind          string
	webhook       string
	activities    int
	workflowTasks int
	pollers       int
	maxConns      int
	migrate       bool
	profile       bool
}

func (o *workerOptions) bindFlags(f *flags) {
	f.string(&o.bind, "bind-address", "WORKER_BIND_ADDRESS", ":9092", "address of /healthz, /readyz and /metrics")
	f.string(&o.webhook, "webhook-url", "NOTIFY_WEBHOOK_URL", "", "URL to POST notifications to, signed with HMAC-SHA256 of NOTIFY_WEBHOOK_SECRET")
	f.int(&o.activities, "max-concurrent-activities", "WORKER_MAX_ACTIVITIES", 200, "activities run at once")
	f.int(&o.workflowTasks, "max-concurrent-workflow-tasks", "WORKER_MAX_WORKFLOW_TASKS", 200, "workflow tasks run at once")
	f.int(&o.pollers, "pollers", "WORKER_POLLERS", 16, "task pollers per kind (workflow, activity)")
	f.int(&o.maxConns, "postgres-max-conns", "POSTGRES_MAX_CONNS", 20, "PostgreSQL connections in the pool")
	f.bool(&o.profile, "pprof", "WORKER_PPROF", false, "serve the Go profiler under /debug/pprof on the bind address")
	f.bool(&o.migrate, "migrate", "WORKER_MIGRATE", true, "apply the PostgreSQL migrations at start")
}

// worker is the Temporal worker's options.
func (o workerOptions) worker() worker.Options {
	return worker.Options{
		MaxConcurrentActivityExecutionSize:     o.activities,
		MaxConcurrentWorkflowTaskExecutionSize: o.workflowTasks,
		MaxConcurrentActivityTaskPollers:       o.pollers,
		MaxConcurrentWorkflowTaskPollers:       o.pollers,
	}
}

// openDB opens the pool, waiting for PostgreSQL, and applies the
// migrations unless told not to.
func (o workerOptions) openDB(ctx context.Context, pg db.Config, logger logr.Logger) (*db.DB, error) {
	pg.MaxConns = int32(o.maxConns)
	pg.Waiting = func(err error) { logger.Info("Waiting for PostgreSQL", "error", err.Error()) }
	database, err := db.Open(ctx, pg)
	if err != nil {
		return nil, err
	}
	if o.migrate {
		n, err := database.Migrate(ctx)
		if err != nil {
			database.Close()
			return nil, err
		}
		logger.Info("Migrations applied", "count", n)
	}
	return database, nil
}

// workerRegistry is the worker's metrics registry, with the finished-orders
// counter.
func workerRegistry() (*prometheus.Registry, *prometheus.CounterVec) {
	outcomes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "orderflow_worker_orders_finished_total",
		Help: "Orders the worker finished, by outcome (completed, failed, cancelled).",
	}, []string{"outcome"})
	reg := prometheus.NewRegistry()
	reg.MustRegister(outcomes, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg, outcomes
}

// workerMux serves the worker's probes, metrics, codec server (when on) and
// profiler (when on).
func workerMux(database *db.DB, reg *prometheus.Registry, codec http.Handler, profile bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		cctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := database.Pool.Ping(cctx); err != nil {
			http.Error(w, "postgres: unreachable", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if codec != nil {
		mux.Handle(temporal.CodecServerPath+"/", codec)
	}
	if profile {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// codecServerOptions say whether and for whom the worker serves Temporal's
// codec-server endpoints.
type codecServerOptions struct {
	enabled       bool
	auth, origins string
}

func (o *codecServerOptions) bindFlags(f *flags) {
	f.bool(&o.enabled, "codec-server", "CODEC_SERVER", false, "serve Temporal's codec-server endpoints at "+temporal.CodecServerPath+" on the bind address, so the Temporal UI can show decrypted payloads")
	f.string(&o.auth, "codec-server-auth", "CODEC_SERVER_AUTH", "kubernetes", "who may use the codec server: kubernetes (a bearer token whose user may get orders in every namespace) or none")
	f.string(&o.origins, "codec-server-origins", "CODEC_SERVER_ORIGINS", "http://localhost:8233,http://127.0.0.1:8233", "browser origins (the Temporal UI's) allowed to call the codec server, comma-separated")
}

// handler is the codec server's handler, nil when it is off. It checks the
// codec keys either way.
func (o codecServerOptions) handler(tcfg temporal.Config) (http.Handler, error) {
	if _, _, err := tcfg.Converters(); err != nil {
		return nil, err
	}
	if !o.enabled {
		return nil, nil
	}
	return newCodecServer(tcfg, o.auth, o.origins)
}

// serve serves handler on addr until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, addr string, handler http.Handler) error {
	srv := &http.Server{Addr: addr, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newCodecServer builds the codec server's handler. Under auth kubernetes a
// request needs a bearer token whose user may get Orders in every
// namespace: payloads hold every namespace's customer data.
func newCodecServer(tcfg temporal.Config, auth, origins string) (http.Handler, error) {
	keys, err := temporal.LoadCodecKeys(tcfg.CodecKeysFile)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errors.New("--codec-server: no codec keys (--codec-keys-file or CODEC_KEYS): payloads are not encrypted, there is nothing to decode")
	}
	codec, err := temporal.NewCodec(keys)
	if err != nil {
		return nil, err
	}
	s := &temporal.CodecServer{Codec: codec}
	for _, o := range strings.Split(origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			s.Origins = append(s.Origins, o)
		}
	}
	switch auth {
	case "none":
	case "kubernetes":
		cfg, err := ctrl.GetConfig()
		if err != nil {
			return nil, fmt.Errorf("--codec-server-auth=kubernetes: %w", err)
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, fmt.Errorf("--codec-server-auth=kubernetes: %w", err)
		}
		ka := &kubeauth.Reviewer{Reviews: cs, Config: cfg, ClientOptions: client.Options{Scheme: v1alpha1.NewScheme()}}
		s.Authorize = func(r *http.Request) (int, string) {
			if _, aerr := ka.Allow(r, "get", ""); aerr != nil {
				return aerr.Status, aerr.Message
			}
			return 0, ""
		}
	default:
		return nil, fmt.Errorf("--codec-server-auth %q: want kubernetes or none", auth)
	}
	return s.Handler(), nil
}
