package cmd

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/catalog"
	"orderflow.io/orderflow/internal/db"
	"orderflow.io/orderflow/internal/httpapi"
	"orderflow.io/orderflow/internal/kubeauth"
	"orderflow.io/orderflow/internal/orders"
	"orderflow.io/orderflow/internal/temporal"
)

func runAPI(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("api", stdout)
	var c apiConfig
	c.bindFlags(f)
	if err := f.parse(args); err != nil {
		return err
	}
	if err := c.opts.validate(); err != nil {
		return err
	}
	c.opts.ui.Namespace = c.temporal.Namespace
	logger := c.log.logger().WithName("api")
	ctrl.SetLogger(logger)

	c.pg.Waiting = func(err error) { logger.Info("Waiting for PostgreSQL", "error", err.Error()) }
	database, err := db.Open(ctx, c.pg)
	if err != nil {
		return err
	}
	defer database.Close()
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	mgr, events, err := c.opts.manager(ctx, cfg)
	if err != nil {
		return err
	}
	authz, err := c.opts.authorizer(cfg, mgr)
	if err != nil {
		return err
	}
	carrierEvents, closeTemporal, err := c.ship.carrierEvents(ctx, c.temporal, logger)
	if err != nil {
		return err
	}
	defer closeTemporal()
	reg := prometheus.NewRegistry()
	srv := &httpapi.Server{CarrierEvents: carrierEvents,
		Namespace: c.opts.namespace, Namespaces: c.opts.namespaces, Orders: mgr.GetCache(), Auth: authz, Products: func(ctx context.Context) ([]catalog.Product, error) { return catalog.List(ctx, database) },
		Records: (&orders.Service{DB: database}).Records, Events: events,
		UI: c.opts.ui, Log: logger, MaxBody: int64(c.opts.maxBody), Registry: reg, Ready: database.Ready,
	}
	addr := net.JoinHostPort(c.opts.bind, strconv.Itoa(c.opts.port))
	// /metrics also shows controller-runtime's registry: the Go and process
	// collectors, and the Kubernetes client's requests
	// (rest_client_requests_total), what make bench-api counts per request.
	handler := srv.Handler(promhttp.HandlerFor(prometheus.Gatherers{reg, ctrlmetrics.Registry}, promhttp.HandlerOpts{}))
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		logger.Info("Serving the REST API and web page", "address", addr, "namespace", c.opts.namespace, "namespaces", c.opts.namespaces, "auth", c.opts.auth)
		return serve(ctx, addr, handler)
	})); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// apiConfig is everything the API is told by its flags, group by group.
type apiConfig struct {
	pg       db.Config
	log      logging
	opts     apiOptions
	temporal temporal.Config
	ship     carrierEventOptions
}

func (c *apiConfig) bindFlags(f *flags) {
	registerPostgres(f, &c.pg)
	registerTemporal(f, &c.temporal)
	c.ship.bindFlags(f)
	c.log.register(f)
	c.opts.bindFlags(f)
}

// manager makes the manager that holds the Order cache and runs the HTTP
// server once the cache has synced (the API elects no leader: every
// replica serves), and the broadcaster the cache's Order events feed.
func (o apiOptions) manager(ctx context.Context, cfg *rest.Config) (manager.Manager, *httpapi.Broadcaster, error) {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 v1alpha1.NewScheme(),
		Cache:                  o.cacheOptions(),
		Metrics:                metricsserver.Options{BindAddress: "0"}, // served with the API
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return nil, nil, fmt.Errorf("create manager: %w", err)
	}
	events := httpapi.NewBroadcaster(o.ui)
	inf, err := mgr.GetCache().GetInformer(ctx, &v1alpha1.Order{})
	if err != nil {
		return nil, nil, fmt.Errorf("watch Orders (is the CRD installed?): %w", err)
	}
	if _, err := inf.AddEventHandler(events.Handler()); err != nil {
		return nil, nil, err
	}
	return mgr, events, nil
}

// apiOptions are the REST API's settings.
type apiOptions struct {
	port      int
	bind      string
	namespace string
	// namespaces are the other namespaces served (httpapi.AllNamespaces:
	// every one).
	namespaces []string
	auth       string
	ui         temporal.UI
	maxBody    int
	// How long reviews of callers are trusted (kubeauth.Reviewer's TTLs).
	reviewTTL, accessTTL, deniedTTL time.Duration
}

func (o *apiOptions) bindFlags(f *flags) {
	f.int(&o.port, "port", "API_PORT", 8080, "port of the REST API and web page")
	f.string(&o.bind, "bind", "API_BIND", "", "address to listen on (default: all)")
	f.string(&o.namespace, "namespace", "POD_NAMESPACE", "default", "namespace of the Orders the API creates and serves")
	f.stringList(&o.namespaces, "namespaces", "API_NAMESPACES", "other namespaces whose Orders the API serves, comma-separated ('*': every namespace); each request is still checked with the caller's RBAC")
	f.string(&o.auth, "auth", "API_AUTH", "kubernetes", "kubernetes: act with the caller's bearer token and RBAC; none: serve anyone (local use only)")
	f.string(&o.ui.Address, "temporal-ui", "TEMPORAL_UI_URL", "http://localhost:8233", "base URL of the Temporal UI, for links")
	f.int(&o.maxBody, "max-body-bytes", "API_MAX_BODY_BYTES", httpapi.DefaultMaxBody, "largest request body accepted")
	f.duration(&o.reviewTTL, "auth-token-ttl", "API_AUTH_TOKEN_TTL", kubeauth.DefaultReviewTTL, "how long a caller's TokenReview is trusted: a revoked token stops working (and ends an open live stream) within it")
	f.duration(&o.accessTTL, "auth-access-ttl", "API_AUTH_ACCESS_TTL", kubeauth.DefaultAccessTTL, "how long an allowing SubjectAccessReview is trusted: a removed permission takes effect within it")
	f.duration(&o.deniedTTL, "auth-denied-ttl", "API_AUTH_DENIED_TTL", kubeauth.DefaultDeniedTTL, "how long a denying SubjectAccessReview is trusted: a granted permission takes effect within it")
}

func (o apiOptions) validate() error {
	for _, ns := range o.namespaces {
		if ns == httpapi.AllNamespaces {
			continue
		}
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return fmt.Errorf("--namespaces: %q is not a namespace: %s", ns, strings.Join(errs, "; "))
		}
	}
	if o.auth != "kubernetes" && o.auth != "none" {
		return fmt.Errorf("--auth %q: want kubernetes or none", o.auth)
	}
	for _, ttl := range []struct {
		flag string
		d    time.Duration
	}{{"--auth-token-ttl", o.reviewTTL}, {"--auth-access-ttl", o.accessTTL}, {"--auth-denied-ttl", o.deniedTTL}} {
		if ttl.d < 100*time.Millisecond || ttl.d > time.Hour {
			return fmt.Errorf("%s %s: want between 100ms and 1h", ttl.flag, ttl.d)
		}
	}
	return nil
}

// authorizer is what lets a request act: the API's own client under
// --auth=none, the caller's credentials under --auth=kubernetes. The API's
// own writes go through the manager's client, whose RESTMapper already
// knows Orders from the cache; a client with a mapper of its own could
// look Orders up before discovery lists them and fail the first create.
func (o apiOptions) authorizer(cfg *rest.Config, mgr manager.Manager) (httpapi.Authorizer, error) {
	if o.auth == "none" {
		return httpapi.NoAuth{Client: mgr.GetClient()}, nil
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return httpapi.KubernetesAuth{Reviewer: &kubeauth.Reviewer{Reviews: cs, Config: cfg,
		ClientOptions: client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()},
		ReviewTTL:     o.reviewTTL, AccessTTL: o.accessTTL, DeniedTTL: o.deniedTTL}}, nil
}

// carrierEventOptions turn on POST /api/fulfillment/events: with the secret
// shared with the fulfillment service, the API verifies its events and
// signals them to the orders' workflows, for which it dials Temporal.
type carrierEventOptions struct{ secretFile string }

func (o *carrierEventOptions) bindFlags(f *flags) { registerFulfillmentSecret(f, &o.secretFile) }

// carrierEvents returns the endpoint's settings and what closes its
// Temporal client; nil settings when no secret is configured.
func (o carrierEventOptions) carrierEvents(ctx context.Context, tcfg temporal.Config, logger logr.Logger) (*httpapi.CarrierEvents, func(), error) {
	key, err := secret("FULFILLMENT_WEBHOOK_SECRET", o.secretFile)
	if err != nil || key == "" {
		return nil, func() {}, err
	}
	tc, err := temporal.Dial(ctx, tcfg, logger.WithName("temporal"), nil)
	if err != nil {
		return nil, nil, err
	}
	wf := &temporal.OrderWorkflows{Client: tc, Namespace: tcfg.Namespace}
	return &httpapi.CarrierEvents{Secret: []byte(key), Signal: wf.CarrierEvent}, tc.Close, nil
}

// cacheOptions hold the Orders of the served namespaces (all of them with
// httpapi.AllNamespaces), managed fields stripped.
func (o apiOptions) cacheOptions() cache.Options {
	opts := cache.Options{DefaultTransform: cache.TransformStripManagedFields()}
	if slices.Contains(o.namespaces, httpapi.AllNamespaces) {
		return opts
	}
	opts.DefaultNamespaces = map[string]cache.Config{o.namespace: {}}
	for _, ns := range o.namespaces {
		opts.DefaultNamespaces[ns] = cache.Config{}
	}
	return opts
}
