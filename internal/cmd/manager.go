package cmd

import (
	"context"
	"fmt"
	"io"
	"time"

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
	var (
		tcfg           temporal.Config
		log            logging
		opts           = controllers.DefaultOptions()
		metricsAddr    string
		probeAddr      string
		leaderElect    bool
		leaderNS       string
		lease          = leaseTimings{duration: 15 * time.Second, renew: 10 * time.Second, retry: 2 * time.Second}
		watchNamespace string
		qps, burst     int
		pprofAddr      string
		ttlSeconds     int
	)
	registerTemporal(f, &tcfg)
	log.register(f)
	f.string(&opts.TemporalUI, "temporal-ui", "TEMPORAL_UI_URL", "http://localhost:8233", "base URL of the Temporal UI, for links in status")
	f.string(&metricsAddr, "metrics-bind-address", "METRICS_BIND_ADDRESS", ":9090", "address of /metrics; 0 disables it")
	f.string(&probeAddr, "health-probe-bind-address", "HEALTH_PROBE_BIND_ADDRESS", ":9091", "address of /healthz and /readyz")
	f.bool(&leaderElect, "leader-elect", "LEADER_ELECT", false, "elect a leader, so only one manager acts at a time")
	f.string(&leaderNS, "leader-election-namespace", "LEADER_ELECTION_NAMESPACE", "", "namespace of the leader-election lease (default: the pod's)")
	f.duration(&lease.duration, "leader-election-lease-duration", "LEADER_ELECTION_LEASE_DURATION", lease.duration, "how long a standby waits after the leader's last renewal before it takes over")
	f.duration(&lease.renew, "leader-election-renew-deadline", "LEADER_ELECTION_RENEW_DEADLINE", lease.renew, "how long the leader keeps trying to renew before it gives up leading")
	f.duration(&lease.retry, "leader-election-retry-period", "LEADER_ELECTION_RETRY_PERIOD", lease.retry, "how often candidates try to acquire or renew the lease")
	f.string(&watchNamespace, "watch-namespace", "WATCH_NAMESPACE", "", "only watch Orders in this namespace (default: all)")
	f.int(&opts.MaxConcurrentReconciles, "max-concurrent-reconciles", "MAX_CONCURRENT_RECONCILES", opts.MaxConcurrentReconciles, "Orders reconciled at once")
	f.int(&qps, "kube-api-qps", "KUBE_API_QPS", 100, "Kubernetes API requests per second")
	f.int(&burst, "kube-api-burst", "KUBE_API_BURST", 200, "Kubernetes API request burst")
	f.int(&opts.ProgressFollowMax, "progress-follow-max", "PROGRESS_FOLLOW_MAX", opts.ProgressFollowMax, "most running workflows whose history is followed at once (one open long poll each); the rest are left to the visibility safety net")
	f.duration(&opts.ProgressInterval, "progress-interval", "PROGRESS_INTERVAL", opts.ProgressInterval, "how often the safety net lists workflows whose progress changed in Temporal's visibility")
	f.duration(&opts.ProgressIdleInterval, "progress-idle-interval", "PROGRESS_IDLE_INTERVAL", opts.ProgressIdleInterval, "longest wait between safety-net listings while no order runs or changes")
	f.duration(&opts.ProgressOverlap, "progress-overlap", "PROGRESS_OVERLAP", opts.ProgressOverlap, "how far back each safety-net listing reaches past the newest change seen")
	f.string(&pprofAddr, "pprof-bind-address", "PPROF_BIND_ADDRESS", "", "address of the Go profiler (/debug/pprof); empty disables it")
	f.duration(&opts.Resync, "resync", "RESYNC", opts.Resync, "safety-net requeue of running Orders")
	f.int(&ttlSeconds, "ttl-seconds-after-finished", "TTL_SECONDS_AFTER_FINISHED", 0, "delete finished Orders that set no spec.ttlSecondsAfterFinished this many seconds after they finished (records stay in PostgreSQL); 0 never")
	f.float(&opts.ResyncReads, "resync-reads", "RESYNC_READS", opts.ResyncReads, "workflow reads per second the safety-net resync may make")
	if err := f.parse(args); err != nil {
		return err
	}
	if _, _, err := tcfg.Converters(); err != nil {
		return err
	}
	if err := lease.validate(); err != nil {
		return err
	}
	if ttlSeconds < 0 || ttlSeconds > 31536000 {
		return fmt.Errorf("--ttl-seconds-after-finished %d: want 0 (never) to 31536000 (a year)", ttlSeconds)
	}
	opts.DefaultTTL = time.Duration(ttlSeconds) * time.Second
	opts.TemporalNamespace = tcfg.Namespace
	logger := log.logger()
	ctrl.SetLogger(logger)

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = float32(qps), burst
	mopts := ctrl.Options{
		Scheme:                        v1alpha1.NewScheme(),
		Metrics:                       metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:        probeAddr,
		LeaderElection:                leaderElect,
		LeaderElectionID:              "orderflow-manager.orderflow.io",
		LeaderElectionNamespace:       leaderNS,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &lease.duration,
		RenewDeadline:                 &lease.renew,
		RetryPeriod:                   &lease.retry,
		Cache:                         controllers.CacheOptions(watchNamespace),
		PprofBindAddress:              pprofAddr,
	}
	mgr, err := ctrl.NewManager(cfg, mopts)
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	sdkMetrics, err := temporal.MetricsHandler(metrics.Registry, logger.WithName("temporal"))
	if err != nil {
		return err
	}
	tc, err := temporal.Dial(ctx, tcfg, logger.WithName("temporal"), sdkMetrics)
	if err != nil {
		return err
	}
	defer tc.Close()
	if opts.DataConverter, _, err = tcfg.Converters(); err != nil {
		return err
	}
	if _, err := controllers.Setup(mgr, tc, opts); err != nil {
		return fmt.Errorf("set up the Order controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	logger.Info("Starting manager", "temporal", tcfg.HostPort, "namespace", tcfg.Namespace, "watchNamespace", watchNamespace)
	return mgr.Start(ctx)
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
