package cmd

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"time"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/controllers"
	"orderflow.io/orderflow/internal/temporal"
)

func runManager(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("manager", stdout)
	c := newManagerConfig()
	c.bindFlags(f)
	if err := f.parse(args); err != nil {
		return err
	}
	if err := firstError(c.leader.lease.validate(), c.ctl.complete(c.temporal)); err != nil {
		return err
	}
	logger := c.log.logger()
	ctrl.SetLogger(logger)
	cfg, err := c.kube.config()
	if err != nil {
		return err
	}
	mopts := ctrl.Options{
		Scheme:                 v1alpha1.NewScheme(),
		Metrics:                metricsserver.Options{BindAddress: c.serve.metricsAddr},
		HealthProbeBindAddress: c.serve.probeAddr,
		PprofBindAddress:       c.serve.pprofAddr,
		Cache:                  controllers.CacheOptions(c.ctl.watchNamespace),
	}
	c.leader.apply(&mopts)
	mgr, err := ctrl.NewManager(cfg, mopts)
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	sdkMetrics, err := temporal.MetricsHandler(metrics.Registry, logger.WithName("temporal"))
	if err != nil {
		return err
	}
	tc, err := temporal.Dial(ctx, c.temporal, logger.WithName("temporal"), sdkMetrics)
	if err != nil {
		return err
	}
	defer tc.Close()
	if _, err := controllers.Setup(mgr, tc, c.ctl.Options); err != nil {
		return fmt.Errorf("set up the Order controller: %w", err)
	}
	if err := firstError(mgr.AddHealthzCheck("healthz", healthz.Ping), mgr.AddReadyzCheck("readyz", healthz.Ping)); err != nil {
		return err
	}
	logger.Info("Starting manager", "temporal", c.temporal.HostPort, "namespace", c.temporal.Namespace, "watchNamespace", c.ctl.watchNamespace)
	return mgr.Start(ctx)
}

// managerConfig is everything the manager is told by its flags, group by
// group.
type managerConfig struct {
	temporal temporal.Config
	log      logging
	ctl      controllerOptions
	serve    servingOptions
	leader   leaderOptions
	kube     kubeClientOptions
}

// newManagerConfig holds the defaults the flags start from.
func newManagerConfig() managerConfig {
	return managerConfig{
		ctl:    controllerOptions{Options: controllers.DefaultOptions()},
		leader: leaderOptions{lease: leaseTimings{duration: 15 * time.Second, renew: 10 * time.Second, retry: 2 * time.Second}},
	}
}

func (c *managerConfig) bindFlags(f *flags) {
	registerTemporal(f, &c.temporal)
	c.log.register(f)
	c.ctl.bindFlags(f)
	c.serve.bindFlags(f)
	c.leader.bindFlags(f)
	c.kube.bindFlags(f)
}

// controllerOptions are the Order controller's settings.
type controllerOptions struct {
	controllers.Options
	watchNamespace string
	ttlSeconds     int
}

func (o *controllerOptions) bindFlags(f *flags) {
	f.string(&o.TemporalUI, "temporal-ui", "TEMPORAL_UI_URL", "http://localhost:8233", "base URL of the Temporal UI, for links in status")
	f.string(&o.watchNamespace, "watch-namespace", "WATCH_NAMESPACE", "", "only watch Orders in this namespace (default: all)")
	f.int(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", "MAX_CONCURRENT_RECONCILES", o.MaxConcurrentReconciles, "Orders reconciled at once")
	f.int(&o.ProgressFollowMax, "progress-follow-max", "PROGRESS_FOLLOW_MAX", o.ProgressFollowMax, "most running workflows whose history is followed at once (one open long poll each); the rest are left to the visibility safety net")
	f.duration(&o.ProgressInterval, "progress-interval", "PROGRESS_INTERVAL", o.ProgressInterval, "how often the safety net lists workflows whose progress changed in Temporal's visibility")
	f.duration(&o.ProgressIdleInterval, "progress-idle-interval", "PROGRESS_IDLE_INTERVAL", o.ProgressIdleInterval, "longest wait between safety-net listings while no order runs or changes")
	f.duration(&o.ProgressOverlap, "progress-overlap", "PROGRESS_OVERLAP", o.ProgressOverlap, "how far back each safety-net listing reaches past the newest change seen")
	f.duration(&o.Resync, "resync", "RESYNC", o.Resync, "safety-net requeue of running Orders")
	f.float(&o.ResyncReads, "resync-reads", "RESYNC_READS", o.ResyncReads, "workflow reads per second the safety-net resync may make")
	f.duration(&o.FirstStatusWait, "first-status-wait", "FIRST_STATUS_WAIT", o.FirstStatusWait, "how long a new order's first status write waits for its workflow's first progress, to make them one write (0: at once)")
	f.duration(&o.EditWindow, "edit-window", "EDIT_WINDOW", o.EditWindow, "how long an order's payment waits after its stock is reserved, so the order can still be amended (an Order's orderflow.io/edit-window annotation sets its own); 0 none")
	f.string(&o.DefaultCarrier, "fulfillment-carrier", "FULFILLMENT_CARRIER", "", "carrier that ships the Orders setting no spec.fulfillment (sandbox, webhook); empty: those are not shipped")
	f.duration(&o.DefaultShipBy, "ship-by", "SHIP_BY", 48*time.Hour, "shipping deadline of the Orders whose spec.fulfillment sets no shipBy")
	f.int(&o.ttlSeconds, "ttl-seconds-after-finished", "TTL_SECONDS_AFTER_FINISHED", 0, "delete finished Orders that set no spec.ttlSecondsAfterFinished this many seconds after they finished (records stay in PostgreSQL); 0 never")
}

// complete checks the flags and fills in what derives from them and from
// the Temporal configuration.
func (o *controllerOptions) complete(tcfg temporal.Config) error {
	if o.ttlSeconds < 0 || o.ttlSeconds > 31536000 {
		return fmt.Errorf("--ttl-seconds-after-finished %d: want 0 (never) to 31536000 (a year)", o.ttlSeconds)
	}
	o.DefaultTTL = time.Duration(o.ttlSeconds) * time.Second
	if o.EditWindow < 0 || o.EditWindow > 24*time.Hour {
		return fmt.Errorf("--edit-window %s: want 0 (none) to 24h", o.EditWindow)
	}
	if o.DefaultShipBy < time.Minute || o.DefaultShipBy > 8760*time.Hour {
		return fmt.Errorf("--ship-by %s: want 1m to 8760h", o.DefaultShipBy)
	}
	if o.DefaultCarrier != "" && !carrierName.MatchString(o.DefaultCarrier) {
		return fmt.Errorf("--fulfillment-carrier %q: want a carrier name (lower-case letters, digits, '-')", o.DefaultCarrier)
	}
	o.TemporalNamespace = tcfg.Namespace
	var err error
	o.DataConverter, _, err = tcfg.Converters()
	return err
}

// carrierName is the form of a carrier's name, as spec.fulfillment.carrier
// takes it.
var carrierName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// servingOptions are the manager's own endpoints.
type servingOptions struct{ metricsAddr, probeAddr, pprofAddr string }

func (o *servingOptions) bindFlags(f *flags) {
	f.string(&o.metricsAddr, "metrics-bind-address", "METRICS_BIND_ADDRESS", ":9090", "address of /metrics; 0 disables it")
	f.string(&o.probeAddr, "health-probe-bind-address", "HEALTH_PROBE_BIND_ADDRESS", ":9091", "address of /healthz and /readyz")
	f.string(&o.pprofAddr, "pprof-bind-address", "PPROF_BIND_ADDRESS", "", "address of the Go profiler (/debug/pprof); empty disables it")
}

// leaderOptions are the leader election's settings.
type leaderOptions struct {
	elect     bool
	namespace string
	lease     leaseTimings
}

func (o *leaderOptions) bindFlags(f *flags) {
	f.bool(&o.elect, "leader-elect", "LEADER_ELECT", false, "elect a leader, so only one manager acts at a time")
	f.string(&o.namespace, "leader-election-namespace", "LEADER_ELECTION_NAMESPACE", "", "namespace of the leader-election lease (default: the pod's)")
	f.duration(&o.lease.duration, "leader-election-lease-duration", "LEADER_ELECTION_LEASE_DURATION", o.lease.duration, "how long a standby waits after the leader's last renewal before it takes over")
	f.duration(&o.lease.renew, "leader-election-renew-deadline", "LEADER_ELECTION_RENEW_DEADLINE", o.lease.renew, "how long the leader keeps trying to renew before it gives up leading")
	f.duration(&o.lease.retry, "leader-election-retry-period", "LEADER_ELECTION_RETRY_PERIOD", o.lease.retry, "how often candidates try to acquire or renew the lease")
}

// apply sets the leader election of the manager's options.
func (o *leaderOptions) apply(m *ctrl.Options) {
	m.LeaderElection, m.LeaderElectionNamespace = o.elect, o.namespace
	m.LeaderElectionID, m.LeaderElectionReleaseOnCancel = "orderflow-manager.orderflow.io", true
	m.LeaseDuration, m.RenewDeadline, m.RetryPeriod = &o.lease.duration, &o.lease.renew, &o.lease.retry
}

// kubeClientOptions are the Kubernetes client's settings.
type kubeClientOptions struct{ qps, burst int }

func (o *kubeClientOptions) bindFlags(f *flags) {
	f.int(&o.qps, "kube-api-qps", "KUBE_API_QPS", 100, "Kubernetes API requests per second")
	f.int(&o.burst, "kube-api-burst", "KUBE_API_BURST", 200, "Kubernetes API request burst")
}

// config is the kubeconfig's, with the client's rate limits.
func (o kubeClientOptions) config() (*rest.Config, error) {
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = float32(o.qps), o.burst
	return cfg, nil
}

// firstError returns the first of errs that is not nil.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// leaseTimings are the leader election's timings.
type leaseTimings struct{ duration, renew, retry time.Duration }

// validate refuses timings client-go's leader election would reject or
// that would let two managers lead at once.
func (l leaseTimings) validate() error {
	switch {
	case l.retry <= 0:
		return fmt.Errorf("--leader-election-retry-period must be positive, got %s", l.retry)
	case l.renew <= l.retry:
		return fmt.Errorf("--leader-election-renew-deadline (%s) must be longer than --leader-election-retry-period (%s)", l.renew, l.retry)
	case l.duration <= l.renew:
		return fmt.Errorf("--leader-election-lease-duration (%s) must be longer than --leader-election-renew-deadline (%s)", l.duration, l.renew)
	}
	return nil
}
