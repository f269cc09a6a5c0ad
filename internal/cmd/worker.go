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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/worker"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/db"
	"orderflow.io/orderflow/internal/httpapi"
	"orderflow.io/orderflow/internal/notification"
	"orderflow.io/orderflow/internal/temporal"
	"orderflow.io/orderflow/workflows"
)

func runWorker(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("worker", stdout)
	var (
		tcfg          temporal.Config
		pg            db.Config
		log           logging
		bind          string
		gw            gatewayConfig
		smtp          smtpConfig
		codecServer   bool
		codecAuth     string
		codecOrigins  string
		webhook       string
		activities    int
		workflowTasks int
		pollers       int
		maxConns      int
		migrate       bool
		profile       bool
	)
	registerTemporal(f, &tcfg)
	registerPostgres(f, &pg)
	log.register(f)
	f.string(&bind, "bind-address", "WORKER_BIND_ADDRESS", ":9092", "address of /healthz, /readyz and /metrics")
	gw.register(f)
	smtp.register(f)
	f.bool(&codecServer, "codec-server", "CODEC_SERVER", false, "serve Temporal's codec-server endpoints at "+temporal.CodecServerPath+" on the bind address, so the Temporal UI can show decrypted payloads")
	f.string(&codecAuth, "codec-server-auth", "CODEC_SERVER_AUTH", "kubernetes", "who may use the codec server: kubernetes (a bearer token whose user may get orders in every namespace) or none")
	f.string(&codecOrigins, "codec-server-origins", "CODEC_SERVER_ORIGINS", "http://localhost:8233,http://127.0.0.1:8233", "browser origins (the Temporal UI's) allowed to call the codec server, comma-separated")
	f.string(&webhook, "webhook-url", "NOTIFY_WEBHOOK_URL", "", "URL to POST notifications to, signed with HMAC-SHA256 of NOTIFY_WEBHOOK_SECRET")
	f.int(&activities, "max-concurrent-activities", "WORKER_MAX_ACTIVITIES", 200, "activities run at once")
	f.int(&workflowTasks, "max-concurrent-workflow-tasks", "WORKER_MAX_WORKFLOW_TASKS", 200, "workflow tasks run at once")
	f.int(&pollers, "pollers", "WORKER_POLLERS", 16, "task pollers per kind (workflow, activity)")
	f.int(&maxConns, "postgres-max-conns", "POSTGRES_MAX_CONNS", 20, "PostgreSQL connections in the pool")
	f.bool(&profile, "pprof", "WORKER_PPROF", false, "serve the Go profiler under /debug/pprof on the bind address")
	f.bool(&migrate, "migrate", "WORKER_MIGRATE", true, "apply the PostgreSQL migrations at start")
	if err := f.parse(args); err != nil {
		return err
	}
	gateway, err := gw.gateway()
	if err != nil {
		return err
	}
	mailer, err := smtp.mailer()
	if err != nil {
		return err
	}
	if _, _, err := tcfg.Converters(); err != nil {
		return err
	}
	logger := log.logger().WithName("worker")
	var codecHandler http.Handler
	if codecServer {
		if codecHandler, err = newCodecServer(tcfg, codecAuth, codecOrigins); err != nil {
			return err
		}
	}

	pg.MaxConns = int32(maxConns)
	pg.Waiting = func(err error) { logger.Info("Waiting for PostgreSQL", "error", err.Error()) }
	database, err := db.Open(ctx, pg)
	if err != nil {
		return err
	}
	defer database.Close()
	if migrate {
		n, err := database.Migrate(ctx)
		if err != nil {
			return err
		}
		logger.Info("Migrations applied", "count", n)
	}

	outcomes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "orderflow_worker_orders_finished_total",
		Help: "Orders the worker finished, by outcome (completed, failed, cancelled).",
	}, []string{"outcome"})
	reg := prometheus.NewRegistry()
	reg.MustRegister(outcomes, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	sdkMetrics, err := temporal.MetricsHandler(reg, logger.WithName("temporal"))
	if err != nil {
		return err
	}
	tc, err := temporal.Dial(ctx, tcfg, logger.WithName("temporal"), sdkMetrics)
	if err != nil {
		return err
	}
	defer tc.Close()
	if err := temporal.EnsureSearchAttributes(ctx, tc, tcfg.Namespace); err != nil {
		return err
	}

	acts := workflows.NewActivities(database, gateway, &notification.Notifier{
		Log: logger.WithName("notify"), WebhookURL: webhook, WebhookSecret: []byte(os.Getenv("NOTIFY_WEBHOOK_SECRET")),
		Mailer: mailer,
	})
	acts.Outcomes = func(status string) { outcomes.WithLabelValues(status).Inc() }
	w := workflows.NewWorker(tc, acts, worker.Options{
		MaxConcurrentActivityExecutionSize:     activities,
		MaxConcurrentWorkflowTaskExecutionSize: workflowTasks,
		MaxConcurrentActivityTaskPollers:       pollers,
		MaxConcurrentWorkflowTaskPollers:       pollers,
	})
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()
	logger.Info("Worker started", "taskQueue", contract.TaskQueue, "temporal", tcfg.HostPort, "namespace", tcfg.Namespace, "paymentGateway", gw.kind, "smtp", smtp.Host, "encrypted", tcfg.Encrypted())

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
	if codecHandler != nil {
		mux.Handle(temporal.CodecServerPath+"/", codecHandler)
		logger.Info("Serving the codec server", "path", temporal.CodecServerPath, "auth", codecAuth, "origins", codecOrigins)
	}
	if profile {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return serve(ctx, bind, mux)
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
		ka := &httpapi.KubernetesAuth{Reviews: cs, Config: cfg, ClientOptions: client.Options{Scheme: v1alpha1.NewScheme()}}
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
