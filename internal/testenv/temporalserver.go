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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
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
	dbs := TemporalDatabases{Store: "temporal_" + suffix, Visibility: "temporal_visibility_" + suffix}
	for _, db := range []string{dbs.Store, dbs.Visibility} {
		if _, err := pg.CreateDatabase(ctx, db); err != nil {
			return nil, err
		}
	}
	if err := SetupTemporalSchemas(ctx, pg.Port, "postgres", "", dbs); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "orderflow-temporal-server-")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "dynamicconfig.yaml"), nil, 0o600); err != nil {
		return nil, err
	}
	config := TemporalServerConfig{
		Database: dbs.Store, VisibilityDatabase: dbs.Visibility, PostgresPort: pg.Port,
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
		err = RegisterNamespace(ctx, client.Options{HostPort: t.HostPort, Namespace: t.Namespace, Logger: quietLogger{}}, 60*time.Second)
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

// TemporalDatabases are the real server's two databases on PostgreSQL.
type TemporalDatabases struct{ Store, Visibility string }

// SetupTemporalSchemas sets up or updates the server's schemas in dbs (which
// exist) with its sql tool and the schemas beside it in ./bin: a new
// database is set up from version 0, one set up before is brought up to
// date.
func SetupTemporalSchemas(ctx context.Context, pgPort int, user, password string, dbs TemporalDatabases) error {
	sqlTool, err := Bin("temporal-sql-tool")
	if err != nil {
		return err
	}
	schemas, err := Bin("temporal-schema")
	if err != nil {
		return err
	}
	for db, schema := range map[string]string{dbs.Store: "temporal", dbs.Visibility: "visibility"} {
		base := []string{"--plugin", "postgres12", "--ep", "127.0.0.1", "-p", strconv.Itoa(pgPort), "-u", user, "--db", db}
		if password != "" {
			base = append(base, "--pw", password)
		}
		update := append(slices.Clone(base), "update-schema", "-d", filepath.Join(schemas, "v12", schema, "versioned"))
		if _, err := exec.CommandContext(ctx, sqlTool, update...).CombinedOutput(); err == nil {
			continue // set up before, now up to date
		}
		for _, step := range [][]string{{"setup-schema", "-v", "0.0"}, update[len(base):]} {
			if out, err := exec.CommandContext(ctx, sqlTool, append(slices.Clone(base), step...)...).CombinedOutput(); err != nil {
				return fmt.Errorf("testenv: temporal sql tool %s on %s: %w\n%s", step[0], db, err, out)
			}
		}
	}
	return nil
}

// RegisterNamespace registers the namespace of opts on the server opts
// dials (unless it is there) and waits until the frontend serves it (its
// namespace cache refreshes on a timer).
func RegisterNamespace(ctx context.Context, opts client.Options, timeout time.Duration) error {
	namespace := opts.Namespace
	c, err := client.Dial(opts)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: namespace, WorkflowExecutionRetentionPeriod: durationpb.New(72 * time.Hour)})
	var exists *serviceerror.NamespaceAlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("register namespace %s: %w", namespace, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		_, err := c.WorkflowService().ListOpenWorkflowExecutions(ctx, &workflowservice.ListOpenWorkflowExecutionsRequest{Namespace: namespace, MaximumPageSize: 1})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("namespace %s not served after %s: %w", namespace, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TemporalServerConfig is what the real server's configuration file says:
// persistence and SQL visibility on PostgreSQL, every service on ports of
// its own (loopback unless BindIP says otherwise), the dynamic config file
// in DynamicConfigDir, and optionally mTLS on the frontend. The tests, the
// local stack (hack/stack) and the local cluster
// (hack/temporal-cluster) write it from here.
type TemporalServerConfig struct {
	Database, VisibilityDatabase string
	// PostgresHost is PostgreSQL's host; empty: 127.0.0.1.
	PostgresHost   string
	PostgresPort   int
	User, Password string
	// The services' gRPC and membership ports; membership ports must be
	// below 32768 (a smallint in the server's schema).
	Frontend, FrontendMembership, FrontendHTTP int
	History, HistoryMembership                 int
	Matching, MatchingMembership               int
	Worker, WorkerMembership                   int
	DynamicConfigDir                           string
	// BindIP is the address the services listen on; empty: loopback.
	BindIP string
	// BroadcastAddress is the address the services give each other;
	// empty: 127.0.0.1. It and Password may be template actions such as
	// {{ env "POD_IP" }}: then the server renders the file at start (and a
	// password stays in a Secret, out of the file).
	BroadcastAddress string
	// TLS, when set, puts mTLS on the frontend: clients must present a
	// certificate signed by CAFile; the server's own system workers use
	// CertFile and KeyFile as their client certificate.
	TLS *TemporalServerTLS
}

// TemporalServerTLS names the frontend's certificate files.
type TemporalServerTLS struct {
	CertFile, KeyFile, CAFile string
	// ServerName is the name the certificate is valid for, which clients
	// (and the system workers) verify.
	ServerName string
}

// YAML is the configuration file's text.
func (c TemporalServerConfig) YAML() string {
	if c.PostgresHost == "" {
		c.PostgresHost = "127.0.0.1"
	}
	if c.BroadcastAddress == "" {
		c.BroadcastAddress = "127.0.0.1"
	}
	var b strings.Builder
	if err := temporalServerConfig.Execute(&b, c); err != nil {
		panic(err) // the template and its data are fixed here
	}
	return b.String()
}

// temporalServerConfig is TemporalServerConfig's file. Its own actions use
// [[ ]], so {{ }} in the values pass through to the server's rendering.
var temporalServerConfig = template.Must(template.New("config").Delims("[[", "]]").Funcs(template.FuncMap{
	"quote":     strconv.Quote,
	"templated": func(s string) bool { return strings.Contains(s, "{{") },
}).Parse(
	`[[ if or (templated .BroadcastAddress) (templated .Password) ]]# enable-template
[[ end ]]log: {stdout: true, level: warn}
persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: 4
  datastores:
    default:
      sql: {pluginName: postgres12, databaseName: [[ .Database ]], connectAddr: "[[ .PostgresHost ]]:[[ .PostgresPort ]]", connectProtocol: tcp,
            user: [[ .User ]][[ with .Password ]], password: [[ if templated . ]]"[[ . ]]"[[ else ]][[ quote . ]][[ end ]][[ end ]], maxConns: 20, maxIdleConns: 20, maxConnLifetime: 1h}
    visibility:
      sql: {pluginName: postgres12, databaseName: [[ .VisibilityDatabase ]], connectAddr: "[[ .PostgresHost ]]:[[ .PostgresPort ]]", connectProtocol: tcp,
            user: [[ .User ]][[ with .Password ]], password: [[ if templated . ]]"[[ . ]]"[[ else ]][[ quote . ]][[ end ]][[ end ]], maxConns: 10, maxIdleConns: 10, maxConnLifetime: 1h}
global:
  membership: {maxJoinDuration: 30s, broadcastAddress: "[[ .BroadcastAddress ]]"}
[[- with .TLS ]]
  tls:
    frontend:
      server: {certFile: [[ .CertFile ]], keyFile: [[ .KeyFile ]], requireClientAuth: true, clientCaFiles: ["[[ .CAFile ]]"]}
      client: {serverName: [[ .ServerName ]], rootCaFiles: ["[[ .CAFile ]]"]}
    systemWorker:
      certFile: [[ .CertFile ]]
      keyFile: [[ .KeyFile ]]
      client: {serverName: [[ .ServerName ]], rootCaFiles: ["[[ .CAFile ]]"]}
[[- end ]]
services:
[[- $listen := "bindOnLocalHost: true" ]][[ with .BindIP ]][[ $listen = printf "bindOnIP: %s" . ]][[ end ]]
  frontend: {rpc: {grpcPort: [[ .Frontend ]], membershipPort: [[ .FrontendMembership ]], [[ $listen ]], httpPort: [[ .FrontendHTTP ]]}}
  history: {rpc: {grpcPort: [[ .History ]], membershipPort: [[ .HistoryMembership ]], [[ $listen ]]}}
  matching: {rpc: {grpcPort: [[ .Matching ]], membershipPort: [[ .MatchingMembership ]], [[ $listen ]]}}
  worker: {rpc: {grpcPort: [[ .Worker ]], membershipPort: [[ .WorkerMembership ]], [[ $listen ]]}}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active: {enabled: true, initialFailoverVersion: 1, rpcName: frontend, rpcAddress: "127.0.0.1:[[ .Frontend ]]"}
dcRedirectionPolicy: {policy: noop}
dynamicConfigClient: {filepath: "[[ .DynamicConfigDir ]]/dynamicconfig.yaml", pollInterval: 10s}
`))
