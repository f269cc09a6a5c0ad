package testenv

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

// StartTemporalServer starts the real Temporal server (bin/temporal-server,
// built by `make tools`) on pg: databases of its own, their schemas set up
// with its sql tool from the schemas beside it, an empty dynamic config (every
// setting at its default, as production runs), free ports, and the
// namespace default registered. The local stack's DEV_TEMPORAL=server runs
// the same build the same way.
func StartTemporalServer(ctx context.Context, pg *Postgres) (*Temporal, error) {
	start := time.Now()
	bin, err := Bin("temporal-server")
	if err != nil {
		return nil, err
	}
	sqlTool, err := Bin("temporal-sql-tool")
	if err != nil {
		return nil, err
	}
	schemas, err := Bin("temporal-schema")
	if err != nil {
		return nil, err
	}
	// The membership ports (1, 4, 6, 8) go into a smallint column of the
	// server's schema: they must be below 32768, under the kernel's
	// ephemeral range FreePort draws from.
	ports := make([]int, 9)
	for i := range ports {
		if i == 1 || i == 4 || i == 6 || i == 8 {
			ports[i], err = freePortBelow(32768)
		} else {
			ports[i], err = FreePort()
		}
		if err != nil {
			return nil, err
		}
	}
	suffix := strconv.Itoa(ports[0])
	dbs := map[string]string{"temporal_" + suffix: "temporal", "temporal_visibility_" + suffix: "visibility"}
	for db, schema := range dbs {
		if _, err := pg.CreateDatabase(ctx, db); err != nil {
			return nil, err
		}
		base := []string{"--plugin", "postgres12", "--ep", "127.0.0.1", "-p", strconv.Itoa(pg.Port), "-u", "postgres", "--db", db}
		for _, step := range [][]string{{"setup-schema", "-v", "0.0"}, {"update-schema", "-d", filepath.Join(schemas, "v12", schema, "versioned")}} {
			if out, err := exec.CommandContext(ctx, sqlTool, append(base, step...)...).CombinedOutput(); err != nil {
				return nil, fmt.Errorf("testenv: temporal sql tool %s on %s: %w\n%s", step[0], db, err, out)
			}
		}
	}
	dir, err := os.MkdirTemp("", "orderflow-temporal-server-")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "dynamicconfig.yaml"), nil, 0o600); err != nil {
		return nil, err
	}
	config := TemporalServerConfig{
		Database: "temporal_" + suffix, VisibilityDatabase: "temporal_visibility_" + suffix, PostgresPort: pg.Port,
		User: "postgres", Frontend: ports[0], FrontendMembership: ports[1], FrontendHTTP: ports[2],
		History: ports[3], HistoryMembership: ports[4], Matching: ports[5], MatchingMembership: ports[6],
		Worker: ports[7], WorkerMembership: ports[8], DynamicConfigDir: dir,
	}.YAML()
	cfgFile := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgFile, []byte(config), 0o600); err != nil {
		return nil, err
	}
	t := &Temporal{HostPort: fmt.Sprintf("127.0.0.1:%d", ports[0]), Namespace: "default", output: &syncBuffer{}, done: make(chan struct{})}
	t.cmd = exec.Command(bin, "--config-file", cfgFile, "--allow-no-auth", "start")
	t.cmd.Stdout, t.cmd.Stderr = t.output, t.output
	t.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := t.cmd.Start(); err != nil {
		return nil, fmt.Errorf("testenv: start temporal server: %w", err)
	}
	go func() { _ = t.cmd.Wait(); close(t.done); _ = os.RemoveAll(dir) }()
	err = t.waitReady(ctx, 90*time.Second)
	if err == nil {
		err = t.registerNamespace(ctx, 60*time.Second)
	}
	if err != nil {
		t.Stop()
		return nil, fmt.Errorf("testenv: temporal server on %s: %w\n%s", t.HostPort, err, t.output.String())
	}
	t.Started = time.Since(start)
	return t, nil
}

// freePortBelow returns a TCP port on 127.0.0.1 below limit (and above
// 20000) that was free a moment ago.
func freePortBelow(limit int) (int, error) {
	for range 200 {
		p := 20000 + rand.N(limit-20000)
		if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p))); err == nil {
			_ = l.Close()
			return p, nil
		}
	}
	return 0, fmt.Errorf("testenv: no free port below %d", limit)
}

// registerNamespace registers the namespace and waits until the frontend
// knows it (its namespace cache refreshes on a timer).
func (t *Temporal) registerNamespace(ctx context.Context, timeout time.Duration) error {
	c, err := t.Dial()
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: t.Namespace, WorkflowExecutionRetentionPeriod: durationpb.New(72 * time.Hour)})
	var exists *serviceerror.NamespaceAlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("register namespace %s: %w", t.Namespace, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		_, err := c.WorkflowService().ListOpenWorkflowExecutions(ctx, &workflowservice.ListOpenWorkflowExecutionsRequest{Namespace: t.Namespace, MaximumPageSize: 1})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("namespace %s not served after %s: %w", t.Namespace, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TemporalServerConfig is what the real server's configuration file says:
// persistence and SQL visibility on PostgreSQL, every service on loopback
// ports of its own, the dynamic config file in DynamicConfigDir. The tests
// and the local stack (hack/temporal-server-config) write it from here.
type TemporalServerConfig struct {
	Database, VisibilityDatabase string
	PostgresPort                 int
	User, Password               string
	// The services' gRPC and membership ports; membership ports must be
	// below 32768 (a smallint in the server's schema).
	Frontend, FrontendMembership, FrontendHTTP int
	History, HistoryMembership                 int
	Matching, MatchingMembership               int
	Worker, WorkerMembership                   int
	DynamicConfigDir                           string
}

// YAML is the configuration file's text.
func (c TemporalServerConfig) YAML() string {
	password := ""
	if c.Password != "" {
		password = ", password: " + strconv.Quote(c.Password)
	}
	return fmt.Sprintf(temporalServerConfig, c.Database, c.VisibilityDatabase, c.PostgresPort, c.User, password,
		c.Frontend, c.FrontendMembership, c.FrontendHTTP, c.History, c.HistoryMembership,
		c.Matching, c.MatchingMembership, c.Worker, c.WorkerMembership, c.DynamicConfigDir)
}

// temporalServerConfig is TemporalServerConfig's file, its fields in order.
const temporalServerConfig = `log: {stdout: true, level: warn}
persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: 4
  datastores:
    default:
      sql: {pluginName: postgres12, databaseName: %[1]s, connectAddr: "127.0.0.1:%[3]d", connectProtocol: tcp,
            user: %[4]s%[5]s, maxConns: 20, maxIdleConns: 20, maxConnLifetime: 1h}
    visibility:
      sql: {pluginName: postgres12, databaseName: %[2]s, connectAddr: "127.0.0.1:%[3]d", connectProtocol: tcp,
            user: %[4]s%[5]s, maxConns: 10, maxIdleConns: 10, maxConnLifetime: 1h}
global:
  membership: {maxJoinDuration: 30s, broadcastAddress: 127.0.0.1}
services:
  frontend: {rpc: {grpcPort: %[6]d, membershipPort: %[7]d, bindOnLocalHost: true, httpPort: %[8]d}}
  history: {rpc: {grpcPort: %[9]d, membershipPort: %[10]d, bindOnLocalHost: true}}
  matching: {rpc: {grpcPort: %[11]d, membershipPort: %[12]d, bindOnLocalHost: true}}
  worker: {rpc: {grpcPort: %[13]d, membershipPort: %[14]d, bindOnLocalHost: true}}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active: {enabled: true, initialFailoverVersion: 1, rpcName: frontend, rpcAddress: "127.0.0.1:%[6]d"}
dcRedirectionPolicy: {policy: noop}
dynamicConfigClient: {filepath: "%[15]s/dynamicconfig.yaml", pollInterval: 10s}
`
