// Command bench measures OrderFlow on the local stack (`make dev`) and, in
// the same run on the same Temporal and PostgreSQL, the same workflow
// started straight on Temporal with no Kubernetes in the path.
//
//	go run ./test/bench -mode all            # burst, steady, direct
//	go run ./test/bench -mode scale -n 10000 # manager memory and restart catch-up
//
// It prints a Markdown table and writes the numbers as JSON.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"

	"orderflow.io/orderflow/api/v1alpha1"
	"orderflow.io/orderflow/internal/catalog"
	"orderflow.io/orderflow/internal/contract"
	"orderflow.io/orderflow/internal/db"
	"orderflow.io/orderflow/internal/temporal"
	"orderflow.io/orderflow/workflows"
)

const (
	createdAnnotation = "bench.orderflow.io/created-unix-nano"
	benchProduct      = "BENCH-1"
)

type config struct {
	codecKeys   string
	mode        string
	n           int
	rate        int
	duration    time.Duration
	concurrency int
	wait        time.Duration
	kubeconfig  string
	temporal    string
	managerURL  string
	workerURL   string
	devDir      string
	out         string
	postgres    string
}

// result is one scenario's numbers.
type result struct {
	Scenario     string  `json:"scenario"`
	Orders       int     `json:"orders"`
	Completed    int     `json:"completed"`
	Seconds      float64 `json:"seconds"`
	Throughput   float64 `json:"ordersPerSecond"`
	LatencyP50   float64 `json:"latencyP50Ms"`
	LatencyP95   float64 `json:"latencyP95Ms"`
	LatencyP99   float64 `json:"latencyP99Ms"`
	StatusLagP50 float64 `json:"statusLagP50Ms,omitempty"`
	StatusLagP99 float64 `json:"statusLagP99Ms,omitempty"`
	StatusWrites float64 `json:"statusWritesPerOrder,omitempty"`
	// Events are Event writes per order; Writes every API write per order:
	// the create, status, other Order writes (the finalizer) and Events.
	Events float64 `json:"eventsPerOrder,omitempty"`
	Writes float64 `json:"apiWritesPerOrder,omitempty"`
	// CPUPerOrder is each local-stack component's CPU ms per order.
	CPUPerOrder      map[string]float64 `json:"cpuMsPerOrder,omitempty"`
	OtherWrites      float64            `json:"otherOrderWritesPerOrder,omitempty"`
	TemporalCalls    float64            `json:"managerTemporalCallsPerOrder,omitempty"`
	ManagerCPU       float64            `json:"managerCPUSeconds,omitempty"`
	WorkerCPU        float64            `json:"workerCPUSeconds"`
	ManagerPeakRSSMB float64            `json:"managerPeakRSSMB,omitempty"`
	WorkerPeakRSSMB  float64            `json:"workerPeakRSSMB"`
	Note             string             `json:"note,omitempty"`
}

func main() {
	var c config
	flag.StringVar(&c.mode, "mode", "all", "all (burst, steady, direct), burst, steady, direct or scale")
	flag.IntVar(&c.n, "n", 1000, "orders in burst, direct and scale")
	flag.IntVar(&c.rate, "rate", 20, "orders per second in steady (with -mode all: half the direct run's throughput unless set)")
	flag.DurationVar(&c.duration, "duration", 60*time.Second, "length of steady")
	flag.IntVar(&c.concurrency, "concurrency", 32, "parallel create calls")
	flag.DurationVar(&c.wait, "wait", 30*time.Minute, "how long a scenario may take to finish its orders")
	flag.StringVar(&c.kubeconfig, "kubeconfig", ".dev/kubeconfig", "kubeconfig of the local stack")
	flag.StringVar(&c.temporal, "temporal", "127.0.0.1:7233", "Temporal frontend")
	flag.StringVar(&c.codecKeys, "codec-keys-file", ".dev/codec-keys", "the local stack's payload encryption keys (the direct run's workflows are encrypted as the manager's are)")
	flag.StringVar(&c.managerURL, "manager-metrics", "http://127.0.0.1:9090/metrics", "manager metrics")
	flag.StringVar(&c.workerURL, "worker-metrics", "http://127.0.0.1:9092/metrics", "worker metrics")
	flag.StringVar(&c.devDir, "dev-dir", ".dev", "the local stack's directory (pid files)")
	flag.StringVar(&c.out, "out", "bench.json", "JSON output file")
	flag.StringVar(&c.postgres, "postgres", "postgres://orderflow:orderflow@127.0.0.1:5432/orderflow?sslmode=disable", "the local stack's PostgreSQL, to stock the benchmark's product")
	flag.Parse()
	flag.Visit(func(f *flag.Flag) { rateSet = rateSet || f.Name == "rate" })
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// rateSet says -rate was given.
var rateSet bool

type bench struct {
	config
	kube crclient.WithWatch
	cs   kubernetes.Interface
	tc   client.Client
	dc   converter.DataConverter
}

func run(c config) error {
	rc, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig %s (is `make dev` running?): %w", c.kubeconfig, err)
	}
	rc.QPS, rc.Burst = 500, 1000
	kube, err := crclient.NewWithWatch(rc, crclient.Options{Scheme: v1alpha1.NewScheme()})
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	tcfg := temporal.Config{HostPort: c.temporal, Namespace: "default", CodecKeysFile: c.codecKeys, ConnectWait: 5 * time.Second}
	if _, err := os.Stat(c.codecKeys); err != nil {
		tcfg.CodecKeysFile = "" // a stack without encryption
	}
	tc, err := temporal.Dial(context.Background(), tcfg, logr.Discard(), nil)
	if err != nil {
		return err
	}
	defer tc.Close()
	dc, _, err := tcfg.Converters()
	if err != nil {
		return err
	}
	b := &bench{config: c, kube: kube, cs: cs, tc: tc, dc: dc}
	// Every order buys one BENCH-1: stock it so that no order fails for want of it.
	database, err := db.Open(context.Background(), db.Config{DSN: c.postgres})
	if err != nil {
		return err
	}
	err = catalog.Upsert(context.Background(), database, []catalog.Product{{ID: benchProduct, Name: "Benchmark item", Price: 100, Currency: "USD", Stock: 1_000_000_000}})
	database.Close()
	if err != nil {
		return fmt.Errorf("stocking %s: %w", benchProduct, err)
	}

	var results []result
	modes := []string{c.mode}
	if c.mode == "all" {
		// The direct run measures Temporal's capacity here; steady then
		// runs at half of it, on both paths.
		modes = []string{"direct", "steady", "direct-steady", "burst", "idle"}
	}
	rate := c.rate
	for _, m := range modes {
		var r result
		switch m {
		case "burst":
			r, err = b.operator("burst", c.n, 0)
		case "steady":
			r, err = b.operator("steady", rate*int(c.duration.Seconds()), rate)
		case "direct":
			r, err = b.direct("direct", c.n, 0)
			if err == nil && c.mode == "all" && !rateSet {
				rate = max(1, int(r.Throughput/2))
			}
		case "idle":
			r, err = b.idle(context.Background(), 30*time.Second)
		case "direct-steady":
			r, err = b.direct("direct-steady", rate*int(c.duration.Seconds()), rate)
		case "scale":
			r, err = b.scale(c.n)
		default:
			return fmt.Errorf("unknown mode %q", m)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
		results = append(results, r)
		fmt.Fprintf(os.Stderr, "bench: %s done: %.1f orders/s\n", m, r.Throughput)
	}
	report(os.Stdout, results)
	out, _ := json.MarshalIndent(results, "", "  ")
	return os.WriteFile(c.out, out, 0o644)
}

// namespace makes a fresh namespace for one scenario.
func (b *bench) namespace(ctx context.Context, name string) (string, error) {
	ns := fmt.Sprintf("bench-%s-%d", name, time.Now().Unix())
	return ns, b.kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
}

func newOrder(ns string, i int) *v1alpha1.Order {
	o := &v1alpha1.Order{}
	o.Namespace, o.Name = ns, fmt.Sprintf("o-%05d", i)
	o.Spec = v1alpha1.OrderSpec{CustomerID: "BENCH", Items: []v1alpha1.OrderItem{{ProductID: benchProduct, Quantity: 1}}}
	return o
}

type seen struct {
	created   time.Time
	completed time.Time
	stepSeen  map[v1alpha1.OrderStep]time.Time
	workflow  string
	lastState string
	writes    int
}

// operator creates n Orders (all at once, or at rate per second) and follows
// them through a watch until every one is terminal.
func (b *bench) operator(name string, n, rate int) (result, error) {
	ctx := context.Background()
	ns, err := b.namespace(ctx, name)
	if err != nil {
		return result{}, err
	}
	before, err := b.snapshot(ctx)
	if err != nil {
		return result{}, err
	}
	var mu sync.Mutex
	orders := map[string]*seen{}
	done := make(chan struct{})
	var terminal atomic.Int64
	observe := func(o *v1alpha1.Order, now time.Time) {
		mu.Lock()
		defer mu.Unlock()
		s := orders[o.Name]
		if s == nil {
			s = &seen{stepSeen: map[v1alpha1.OrderStep]time.Time{}}
			orders[o.Name] = s
		}
		s.workflow = contract.WorkflowID(o.Namespace, o.Name)
		if ns, err := strconv.ParseInt(o.Annotations[createdAnnotation], 10, 64); err == nil {
			s.created = time.Unix(0, ns)
		}
		state, _ := json.Marshal(o.Status)
		if s.lastState != "" && s.lastState != string(state) {
			s.writes++
		}
		s.lastState = string(state)
		for _, c := range o.Status.Conditions {
			step := v1alpha1.OrderStep(c.Type)
			if c.Status == metav1.ConditionTrue && slices.Contains(contract.Steps, contract.Step(step)) {
				if _, ok := s.stepSeen[step]; !ok {
					s.stepSeen[step] = now
				}
			}
		}
		if o.Status.Phase.Terminal() && s.completed.IsZero() {
			s.completed = now
			terminal.Add(1)
		}
	}
	go func() {
		defer close(done)
		// A watch the API server ends is opened again; it starts with the
		// current state of every Order.
		for terminal.Load() < int64(n) {
			w, err := b.kube.Watch(ctx, &v1alpha1.OrderList{}, crclient.InNamespace(ns))
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				if o, ok := ev.Object.(*v1alpha1.Order); ok {
					observe(o, time.Now())
				}
				if terminal.Load() >= int64(n) {
					break
				}
			}
			w.Stop()
		}
	}()

	start := time.Now()
	sem := make(chan struct{}, b.concurrency)
	var wg sync.WaitGroup
	var createErr atomic.Value
	var tick *time.Ticker
	if rate > 0 {
		tick = time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
	}
	for i := 0; i < n; i++ {
		if tick != nil {
			<-tick.C
		}
		handed := handedAt(start, rate)
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			o := newOrder(ns, i)
			o.Annotations = map[string]string{createdAnnotation: strconv.FormatInt(handed.UnixNano(), 10)}
			if err := b.kube.Create(ctx, o); err != nil {
				createErr.Store(err)
			}
		}(i)
	}
	wg.Wait()
	if err, _ := createErr.Load().(error); err != nil {
		return result{}, fmt.Errorf("create: %w", err)
	}
	select {
	case <-done:
	case <-time.After(b.wait):
		return result{}, fmt.Errorf("only %d of %d orders finished within %s (-wait)", terminal.Load(), n, b.wait)
	}
	elapsed := time.Since(start)
	after, err := b.snapshot(ctx)
	if err != nil {
		return result{}, err
	}

	mu.Lock()
	defer mu.Unlock()
	var latencies, lags []float64
	completed, writes := 0, 0
	for _, s := range orders {
		latencies = append(latencies, ms(s.completed.Sub(s.created)))
		writes += s.writes
		p, err := b.progress(ctx, s.workflow)
		if err != nil {
			return result{}, err
		}
		if p.Phase == contract.PhaseCompleted {
			completed++
		}
		for _, step := range p.Steps {
			if at, ok := s.stepSeen[v1alpha1.OrderStep(step.Step)]; ok {
				lags = append(lags, ms(at.Sub(step.Time)))
			}
		}
	}
	r := result{Scenario: name, Orders: n, Completed: completed, Seconds: elapsed.Seconds(), Throughput: float64(n) / elapsed.Seconds()}
	r.LatencyP50, r.LatencyP95, r.LatencyP99 = pct(latencies, .5), pct(latencies, .95), pct(latencies, .99)
	r.StatusLagP50, r.StatusLagP99 = pct(lags, .5), pct(lags, .99)
	statusWrites := after.statusWrites - before.statusWrites
	r.StatusWrites = statusWrites / float64(n)
	r.OtherWrites = (after.orderWrites - before.orderWrites) / float64(n)
	r.Events = (after.events - before.events) / float64(n)
	r.Writes = (after.creates-before.creates)/float64(n) + r.StatusWrites + r.OtherWrites + r.Events
	r.TemporalCalls = (after.temporalCalls - before.temporalCalls) / float64(n)
	r.ManagerCPU, r.WorkerCPU = after.managerCPU-before.managerCPU, after.workerCPU-before.workerCPU
	r.CPUPerOrder = cpuPerOrder(before, after, n)
	r.ManagerPeakRSSMB, r.WorkerPeakRSSMB = b.peakRSS("manager"), b.peakRSS("worker")
	r.Note = fmt.Sprintf("a change seen by the manager after p50 ≤ %.0f ms, p99 ≤ %.0f ms (history follower; visibility only for what it missed)",
		seenQuantile(before, after, .5), seenQuantile(before, after, .99))
	if rate > 0 {
		r.Note = fmt.Sprintf("%d/s for %s; %s", rate, b.duration, r.Note)
	}
	return r, nil
}

// handedAt is when an order is handed to the system, where its latency
// clock starts on both paths (operator and direct): at a steady rate its
// tick, now; in a burst the burst's start, for every order, so a wait for
// a free client of the benchmark's counts the same on both paths (the
// operator's creates return at once and its orders queue in the manager,
// the direct path's wait for one of its clients).
func handedAt(start time.Time, rate int) time.Time {
	if rate > 0 {
		return time.Now()
	}
	return start
}

// direct starts the same workflow n times straight on Temporal, as the
// original OrderFlow's API did, and waits for every result.
func (b *bench) direct(name string, n, rate int) (result, error) {
	ctx := context.Background()
	before, err := b.snapshot(ctx)
	if err != nil {
		return result{}, err
	}
	run := time.Now().UnixNano()
	latencies := make([]float64, n)
	var completed atomic.Int64
	sem := make(chan struct{}, b.concurrency*4)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	var pace <-chan time.Time
	if rate > 0 {
		t := time.NewTicker(time.Second / time.Duration(rate))
		defer t.Stop()
		pace = t.C
	}
	for i := 0; i < n; i++ {
		if pace != nil {
			<-pace
		}
		handed := handedAt(start, rate)
		if pace == nil {
			sem <- struct{}{}
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if pace == nil {
				defer func() { <-sem }()
			}
			name := fmt.Sprintf("d-%d-%05d", run, i)
			in := contract.OrderInput{Key: contract.Key("direct", name), UID: fmt.Sprintf("direct-%d-%d", run, i), Namespace: "direct", Name: name,
				CustomerID: "BENCH", Items: []contract.Item{{ProductID: benchProduct, Quantity: 1}}}
			wr, err := b.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: in.WorkflowID(), TaskQueue: contract.TaskQueue}, workflows.OrderWorkflow, in)
			if err != nil {
				firstErr.Store(err)
				return
			}
			var p contract.Progress
			if err := wr.Get(ctx, &p); err != nil {
				firstErr.Store(err)
				return
			}
			latencies[i] = ms(time.Since(handed))
			if p.Phase == contract.PhaseCompleted {
				completed.Add(1)
			}
		}(i)
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return result{}, err
	}
	elapsed := time.Since(start)
	after, err := b.snapshot(ctx)
	if err != nil {
		return result{}, err
	}
	r := result{Scenario: name, Orders: n, Completed: int(completed.Load()), Seconds: elapsed.Seconds(), Throughput: float64(n) / elapsed.Seconds(),
		WorkerCPU: after.workerCPU - before.workerCPU, WorkerPeakRSSMB: b.peakRSS("worker"), Note: "no Kubernetes: start + result on Temporal",
		CPUPerOrder: cpuPerOrder(before, after, n)}
	if rate > 0 {
		r.Note += fmt.Sprintf(", %d/s for %s", rate, b.duration)
	}
	r.LatencyP50, r.LatencyP95, r.LatencyP99 = pct(latencies, .5), pct(latencies, .95), pct(latencies, .99)
	return r, nil
}

// idle measures what each component costs with no order running: it lets
// the stack settle for 15 s, then reads the CPU used over d, as % of a core.
func (b *bench) idle(ctx context.Context, d time.Duration) (result, error) {
	time.Sleep(15 * time.Second)
	before, err := b.snapshot(ctx)
	if err != nil {
		return result{}, err
	}
	time.Sleep(d)
	after, err := b.snapshot(ctx)
	if err != nil {
		return result{}, err
	}
	var parts []string
	for _, name := range components {
		parts = append(parts, fmt.Sprintf("%s %.1f%%", name, (after.cpu[name]-before.cpu[name])*100/d.Seconds()))
	}
	return result{Scenario: "idle", Note: "CPU with no order running, % of a core over " + d.String() + ": " + strings.Join(parts, ", ") +
		fmt.Sprintf("; manager Temporal calls %.1f/s", (after.temporalCalls-before.temporalCalls)/d.Seconds())}, nil
}

// scale creates n Orders, waits until they finish, reports the manager's
// memory with all of them cached, then restarts the manager and times how
// long it takes to go through every Order again with nothing to do.
func (b *bench) scale(n int) (result, error) {
	r, err := b.operator("scale", n, 0)
	if err != nil {
		return r, err
	}
	r.Scenario = "scale"
	rss, apiRSS := b.rss("manager", "VmRSS"), b.rss("api", "VmRSS")
	pidFile := filepath.Join(b.devDir, "run", "manager.pid")
	pid, err := os.ReadFile(pidFile)
	if err != nil {
		return r, err
	}
	if err := exec.Command("kill", strings.TrimSpace(string(pid))).Run(); err != nil {
		return r, err
	}
	time.Sleep(2 * time.Second)
	start := time.Now()
	up := exec.Command("hack/dev.sh", "up")
	up.Env = os.Environ()
	if out, err := up.CombinedOutput(); err != nil {
		return r, fmt.Errorf("restarting the manager: %v\n%s", err, out)
	}
	var total int
	for time.Since(start) < 10*time.Minute {
		m, err := scrape(b.managerURL)
		if err == nil {
			total = int(m.sum("controller_runtime_reconcile_total", "controller", "order"))
			if total >= n && m.sum("workqueue_depth", "name", "order") == 0 {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	catchUp := time.Since(start)
	after, _ := b.snapshot(context.Background())
	// The restarted manager holds the same Orders with none of the run's
	// transient state (events awaiting series detection, the progress
	// cache, the queue): its steady state.
	time.Sleep(5 * time.Second)
	restarted := b.rss("manager", "VmRSS")
	var heap float64
	if m, err := scrape(b.managerURL); err == nil {
		heap = m.sum("go_memstats_heap_inuse_bytes") / (1 << 20)
	}
	r.Note = fmt.Sprintf("manager RSS with %d Orders cached: %.1f MB right after the run, %.1f MB restarted (heap in use %.1f MB); API RSS (its own Order cache) %.1f MB after the run; restart to all reconciled: %s (%d reconciles, %.0f Temporal calls in total since restart)",
		n, rss, restarted, heap, apiRSS, catchUp.Round(10*time.Millisecond), total, after.temporalCalls)
	r.ManagerPeakRSSMB = rss
	return r, nil
}

// progress reads an order's workflow progress from its memo.
func (b *bench) progress(ctx context.Context, workflowID string) (contract.Progress, error) {
	var p contract.Progress
	d, err := b.tc.DescribeWorkflowExecution(ctx, workflowID, "")
	if err != nil {
		return p, err
	}
	err = b.dc.FromPayload(d.GetWorkflowExecutionInfo().GetMemo().GetFields()[contract.ProgressMemoKey], &p)
	return p, err
}

type counters struct {
	statusWrites, orderWrites, creates, events, temporalCalls, managerCPU, workerCPU float64
	// cpu is each local-stack component's CPU seconds so far.
	cpu map[string]float64
	// seen is the manager's histogram of how long after a change the
	// progress watcher saw it: cumulative counts by upper bound.
	seen map[float64]float64
}

// snapshot reads the counters a scenario reports the difference of.
func (b *bench) snapshot(ctx context.Context) (counters, error) {
	var c counters
	raw, err := b.cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return c, fmt.Errorf("API server metrics: %w", err)
	}
	api, err := parse(bytes.NewReader(raw))
	if err != nil {
		return c, fmt.Errorf("API server metrics: %w", err)
	}
	for _, verb := range []string{"PATCH", "UPDATE", "APPLY"} {
		c.statusWrites += api.sum("apiserver_request_total", "resource", "orders", "subresource", "status", "verb", verb)
		c.orderWrites += api.sum("apiserver_request_total", "resource", "orders", "subresource", "", "verb", verb)
	}
	c.creates = api.sum("apiserver_request_total", "resource", "orders", "subresource", "", "verb", "POST")
	for _, verb := range []string{"POST", "PATCH"} {
		c.events += api.sum("apiserver_request_total", "resource", "events", "verb", verb)
	}
	m, err := scrape(b.managerURL)
	if err != nil {
		return c, err
	}
	c.temporalCalls = m.sum("orderflow_manager_temporal_calls_total")
	c.seen = map[float64]float64{}
	for _, h := range m["orderflow_progress_seen_delay_seconds"].GetMetric() {
		for _, bk := range h.GetHistogram().GetBucket() {
			c.seen[bk.GetUpperBound()] += float64(bk.GetCumulativeCount())
		}
		if _, ok := c.seen[math.Inf(1)]; !ok { // the +Inf bucket may be left out
			c.seen[math.Inf(1)] = float64(h.GetHistogram().GetSampleCount())
		}
	}
	c.managerCPU = m.sum("process_cpu_seconds_total")
	w, err := scrape(b.workerURL)
	if err != nil {
		return c, err
	}
	c.workerCPU = w.sum("process_cpu_seconds_total")
	c.cpu = map[string]float64{}
	for _, name := range components {
		c.cpu[name] = b.cpuSeconds(name)
	}
	return c, nil
}

// components are the local stack's processes whose CPU the benchmark
// reports per order.
var components = []string{"kube-apiserver", "etcd", "temporal", "manager", "worker", "postgres"}

// cpuSeconds reads the CPU time a local-stack process has used, its exited
// children's included (PostgreSQL's backends), and its live children's.
func (b *bench) cpuSeconds(name string) float64 {
	pidFile := filepath.Join(b.devDir, "run", name+".pid")
	if name == "postgres" {
		pidFile = filepath.Join(b.devDir, "postgres", "data", "postmaster.pid") // pg_ctl's: the pid on its first line
	}
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		return math.NaN()
	}
	pid, _, _ := strings.Cut(strings.TrimSpace(string(raw)), "\n")
	total := 0.0
	stat := func(p string) (ppid string, ticks float64, ok bool) {
		b, err := os.ReadFile(filepath.Join("/proc", p, "stat"))
		if err != nil {
			return "", 0, false
		}
		// Fields after the command, which may hold spaces: state, ppid, ...
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		for _, i := range []int{11, 12, 13, 14} { // utime, stime, cutime, cstime
			v, _ := strconv.ParseFloat(f[i], 64)
			ticks += v
		}
		return f[1], ticks, true
	}
	_, ticks, ok := stat(pid)
	if !ok {
		return math.NaN()
	}
	total += ticks
	if procs, err := os.ReadDir("/proc"); err == nil {
		for _, d := range procs {
			if ppid, t, ok := stat(d.Name()); ok && ppid == pid && d.Name() != pid {
				total += t
			}
		}
	}
	return total / 100 // USER_HZ
}

// seenQuantile estimates a quantile (ms) of the watcher's delay between
// two snapshots, from the histogram's buckets: the bound of the bucket it
// falls in.
func seenQuantile(before, after counters, q float64) float64 {
	var bounds []float64
	for ub := range after.seen {
		bounds = append(bounds, ub)
	}
	slices.Sort(bounds)
	total := after.seen[math.Inf(1)] - before.seen[math.Inf(1)]
	if total <= 0 {
		return math.NaN()
	}
	for _, ub := range bounds {
		if after.seen[ub]-before.seen[ub] >= q*total {
			return ub * 1000
		}
	}
	return math.Inf(1)
}

// cpuPerOrder is each component's CPU milliseconds per order between two
// snapshots.
func cpuPerOrder(before, after counters, n int) map[string]float64 {
	out := map[string]float64{}
	for _, name := range components {
		out[name] = (after.cpu[name] - before.cpu[name]) * 1000 / float64(n)
	}
	return out
}

func (b *bench) peakRSS(name string) float64 { return b.rss(name, "VmHWM") }

// rss reads a memory figure of a local-stack process from /proc.
func (b *bench) rss(name, field string) float64 {
	pid, err := os.ReadFile(filepath.Join(b.devDir, "run", name+".pid"))
	if err != nil {
		return math.NaN()
	}
	f, err := os.Open(filepath.Join("/proc", strings.TrimSpace(string(pid)), "status"))
	if err != nil {
		return math.NaN()
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return math.NaN()
}

// metrics is a parsed Prometheus text exposition, by metric name.
type metrics map[string]*dto.MetricFamily

func scrape(url string) (metrics, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	return parse(resp.Body)
}

func parse(r io.Reader) (metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	m, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return m, nil
}

// sum adds the counters, gauges and untyped series of a metric whose labels
// have the given name/value pairs; an empty value also matches a missing
// label.
func (m metrics) sum(name string, labels ...string) float64 {
	total := 0.0
	for _, s := range m[name].GetMetric() {
		have := map[string]string{}
		for _, l := range s.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			ok = ok && have[labels[i]] == labels[i+1]
		}
		if ok {
			total += s.GetCounter().GetValue() + s.GetGauge().GetValue() + s.GetUntyped().GetValue()
		}
	}
	return total
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func pct(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[int(math.Round(q*float64(len(s)-1)))]
}

func report(w io.Writer, rs []result) {
	fmt.Fprintln(w, "| scenario | orders | completed | orders/s | latency p50 / p95 / p99 (ms) | status lag p50 / p99 (ms) | API writes / order | status writes / order | other Order writes / order | Events / order | manager Temporal calls / order | manager CPU s | worker CPU s | manager peak RSS MB | worker peak RSS MB |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	var op, direct float64
	for _, r := range rs {
		if r.Orders == 0 {
			continue // idle: a note below
		}
		lag := "—"
		if !math.IsNaN(r.StatusLagP50) && r.StatusLagP50 != 0 {
			lag = fmt.Sprintf("%.0f / %.0f", r.StatusLagP50, r.StatusLagP99)
		}
		fmt.Fprintf(w, "| %s | %d | %d | %.1f | %.0f / %.0f / %.0f | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.1f | %.1f | %.0f | %.0f |\n",
			r.Scenario, r.Orders, r.Completed, r.Throughput, r.LatencyP50, r.LatencyP95, r.LatencyP99, lag,
			r.Writes, r.StatusWrites, r.OtherWrites, r.Events, r.TemporalCalls, r.ManagerCPU, r.WorkerCPU, r.ManagerPeakRSSMB, r.WorkerPeakRSSMB)
		if r.Scenario == "burst" {
			op = r.Throughput
		}
		if r.Scenario == "direct" {
			direct = r.Throughput
		}
	}
	for _, r := range rs {
		if r.Note != "" {
			fmt.Fprintf(w, "\n- %s: %s", r.Scenario, r.Note)
		}
	}
	if op > 0 && direct > 0 {
		fmt.Fprintf(w, "\n- operator (burst) / direct throughput: %.2f", op/direct)
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, "\nCPU ms per order by component (from /proc):\n\n")
	fmt.Fprintln(w, "| scenario | "+strings.Join(components, " | ")+" | all |")
	fmt.Fprintln(w, "| --- |"+strings.Repeat(" ---: |", len(components)+1))
	by := map[string]result{}
	for _, r := range rs {
		by[r.Scenario] = r
		if r.CPUPerOrder == nil {
			continue
		}
		row, all := "| "+r.Scenario+" |", 0.0
		for _, name := range components {
			row += fmt.Sprintf(" %.1f |", r.CPUPerOrder[name])
			all += r.CPUPerOrder[name]
		}
		fmt.Fprintf(w, "%s %.1f |\n", row, all)
	}
	for _, pair := range [][2]string{{"burst", "direct"}, {"steady", "direct-steady"}} {
		op, d := by[pair[0]], by[pair[1]]
		if op.CPUPerOrder == nil || d.CPUPerOrder == nil || d.CPUPerOrder["temporal"] == 0 {
			continue
		}
		fmt.Fprintf(w, "\n- Temporal CPU per order, %s / %s: %.2f", pair[0], pair[1], op.CPUPerOrder["temporal"]/d.CPUPerOrder["temporal"])
		if d.LatencyP99 > 0 {
			fmt.Fprintf(w, "; create → Completed p99, %s / %s: %.2f", pair[0], pair[1], op.LatencyP99/d.LatencyP99)
		}
	}
	fmt.Fprintln(w)
}
