// Command temporal-cluster writes what the local cluster (hack/cluster.sh
// with CLUSTER_TEMPORAL=server) runs as its production-shaped Temporal: the
// real server (the pinned go.temporal.io/server build) in namespace
// temporal behind Service temporal-frontend (the chart's default address),
// PostgreSQL persistence and SQL visibility on a PostgreSQL of its own,
// schemas set up by the server's sql tool in a Job, the default dynamic
// config (an empty file), and mTLS on the frontend with certificates in
// Secrets: the server's in namespace temporal, OrderFlow's client
// certificate in the release namespace. The certificates are made once
// under -dir (a CA, the server's, a client's) and kept, so a rerun changes
// nothing.
//
//	go run ./hack/temporal-cluster -dir .cluster/temporal-tls -part base   | kubectl apply -f -
//	go run ./hack/temporal-cluster -dir .cluster/temporal-tls -part server | kubectl apply -f -
package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"orderflow.io/orderflow/internal/testenv"
)

// ServerName is the name OrderFlow reaches the frontend by, and what the
// server's certificate is valid for.
const ServerName = "temporal-frontend.temporal.svc"

func main() {
	dir := flag.String("dir", ".cluster/temporal-tls", "where the CA and the certificates are made once and kept")
	part := flag.String("part", "base", "base: namespace, Secrets, PostgreSQL, configuration, the schema Job; server: the server and its Service")
	releaseNS := flag.String("release-namespace", "orderflow-system", "where OrderFlow runs: its client certificate's Secret goes there")
	clientSecret := flag.String("client-secret", "orderflow-temporal-tls", "name of OrderFlow's client certificate Secret")
	image := flag.String("image", "docker.io/temporalio/server:1.31.2", "the server image (temporal-server, temporal-sql-tool, the schemas, busybox)")
	postgresImage := flag.String("postgres-image", "docker.io/library/postgres:15", "the PostgreSQL image")
	flag.Parse()
	if err := run(os.Stdout, *dir, *part, *releaseNS, *clientSecret, *image, *postgresImage); err != nil {
		fmt.Fprintln(os.Stderr, "temporal-cluster:", err)
		os.Exit(1)
	}
}

func run(out *os.File, dir, part, releaseNS, clientSecret, image, postgresImage string) error {
	pki, err := loadOrMakePKI(dir)
	if err != nil {
		return err
	}
	password, err := loadOrMake(filepath.Join(dir, "postgres-password"), func() ([]byte, error) {
		b := make([]byte, 18)
		_, err := rand.Read(b)
		return []byte(hex.EncodeToString(b)), err
	})
	if err != nil {
		return err
	}
	config := testenv.TemporalServerConfig{
		Database: "temporal", VisibilityDatabase: "temporal_visibility",
		PostgresHost: "temporal-postgresql.temporal.svc", PostgresPort: 5432, User: "temporal", Password: `{{ env "TEMPORAL_POSTGRES_PASSWORD" }}`,
		Frontend: 7233, FrontendMembership: 6933, FrontendHTTP: 7243, History: 7234, HistoryMembership: 6934,
		Matching: 7235, MatchingMembership: 6935, Worker: 7239, WorkerMembership: 6939,
		DynamicConfigDir: "/etc/temporal/config", BindIP: "0.0.0.0", BroadcastAddress: `{{ env "POD_IP" }}`,
		TLS: &testenv.TemporalServerTLS{CertFile: "/etc/temporal/tls/tls.crt", KeyFile: "/etc/temporal/tls/tls.key",
			CAFile: "/etc/temporal/tls/ca.crt", ServerName: ServerName},
	}
	data := map[string]any{
		"ReleaseNS": releaseNS, "ClientSecret": clientSecret, "Image": image, "PostgresImage": postgresImage,
		"Password": b64(password), "CA": b64(pki["ca.crt"]), "ServerCert": b64(pki["server.crt"]), "ServerKey": b64(pki["server.key"]),
		"ClientCert": b64(pki["client.crt"]), "ClientKey": b64(pki["client.key"]),
		"Config": indent(config.YAML(), 4),
	}
	t, ok := map[string]*template.Template{"base": base, "server": server}[part]
	if !ok {
		return fmt.Errorf("-part %q: want base or server", part)
	}
	return t.Execute(out, data)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+pad)
}

// loadOrMake returns the file's contents, making and writing them first
// when the file is missing.
func loadOrMake(path string, make func() ([]byte, error)) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if b, err = make(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	return b, os.WriteFile(path, b, 0o600)
}

// loadOrMakePKI returns the CA, the server's and a client's certificate and
// key (PEM), made once under dir.
func loadOrMakePKI(dir string) (map[string][]byte, error) {
	ca, err := testenv.LoadOrMakeCA(dir, "OrderFlow local cluster Temporal CA")
	if err != nil {
		return nil, err
	}
	// The server's certificate is also its system workers' client
	// certificate towards the frontend.
	for _, c := range []testenv.Cert{
		{Name: "server", CommonName: ServerName, Server: true, Client: true, IPs: []net.IP{net.ParseIP("127.0.0.1")},
			DNSNames: []string{ServerName, "temporal-frontend", "temporal-frontend.temporal", ServerName + ".cluster.local", "localhost"}},
		{Name: "client", CommonName: "orderflow", Client: true},
	} {
		if err := ca.Ensure(c); err != nil {
			return nil, err
		}
	}
	pki := map[string][]byte{}
	for _, n := range []string{"ca", "server", "client"} {
		for _, f := range []string{ca.CertFile(n), ca.KeyFile(n)} {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			pki[filepath.Base(f)] = b
		}
	}
	return pki, nil
}

// podSecurity is what the restricted Pod Security Standard asks of every
// container.
const podSecurity = `
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL]}`

// serverPod is what the server image's Pods (the schema Job's, the
// server's) run as.
const serverPod = `      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        runAsGroup: 65532
        seccompProfile: {type: RuntimeDefault}
      automountServiceAccountToken: false`

var base = template.Must(template.New("base").Parse(`apiVersion: v1
kind: Namespace
metadata:
  name: temporal
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
---
apiVersion: v1
kind: Namespace
metadata:
  name: {{ .ReleaseNS }}
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
---
# The frontend's certificate (also its system workers' client certificate)
# and the CA its clients' certificates must be signed by.
apiVersion: v1
kind: Secret
metadata: {name: temporal-tls, namespace: temporal}
type: kubernetes.io/tls
data:
  ca.crt: {{ .CA }}
  tls.crt: {{ .ServerCert }}
  tls.key: {{ .ServerKey }}
---
# OrderFlow's client certificate: the chart's temporal.tls.existingSecret.
apiVersion: v1
kind: Secret
metadata: {name: {{ .ClientSecret }}, namespace: {{ .ReleaseNS }}}
type: kubernetes.io/tls
data:
  ca.crt: {{ .CA }}
  tls.crt: {{ .ClientCert }}
  tls.key: {{ .ClientKey }}
---
apiVersion: v1
kind: Secret
metadata: {name: temporal-postgresql, namespace: temporal}
data:
  password: {{ .Password }}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: temporal-config, namespace: temporal}
data:
  # Every dynamic setting at its default, as production starts.
  dynamicconfig.yaml: ""
  config.yaml: |
{{ .Config }}
---
apiVersion: v1
kind: Service
metadata: {name: temporal-postgresql, namespace: temporal}
spec:
  selector: {app.kubernetes.io/name: temporal-postgresql}
  ports:
  - {name: postgres, port: 5432, targetPort: 5432}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: temporal-postgresql, namespace: temporal}
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector:
    matchLabels: {app.kubernetes.io/name: temporal-postgresql}
  template:
    metadata:
      labels: {app.kubernetes.io/name: temporal-postgresql}
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 999
        runAsGroup: 999
        fsGroup: 999
        seccompProfile: {type: RuntimeDefault}
      automountServiceAccountToken: false
      containers:
      - name: postgresql
        image: {{ .PostgresImage }}
        env:
        - {name: POSTGRES_USER, value: temporal}
        - {name: POSTGRES_DB, value: temporal}
        - name: POSTGRES_PASSWORD
          valueFrom: {secretKeyRef: {name: temporal-postgresql, key: password}}
        - {name: PGDATA, value: /var/lib/postgresql/data/pgdata}
        ports:
        - {name: postgres, containerPort: 5432}
        readinessProbe:
          exec: {command: [pg_isready, -U, temporal, -d, temporal]}
          periodSeconds: 2` + podSecurity + `
        volumeMounts:
        - {name: data, mountPath: /var/lib/postgresql/data}
        - {name: run, mountPath: /var/run/postgresql}
        - {name: tmp, mountPath: /tmp}
      volumes:
      # The local cluster's Temporal keeps its data for the Pod's life: a
      # server restart keeps every workflow; a database restart does not.
      - {name: data, emptyDir: {}}
      - {name: run, emptyDir: {}}
      - {name: tmp, emptyDir: {}}
---
# The schemas, set up (or brought up to date) by the server's own sql tool.
apiVersion: batch/v1
kind: Job
metadata: {name: temporal-schema, namespace: temporal}
spec:
  backoffLimit: 20
  template:
    spec:
      restartPolicy: OnFailure
` + serverPod + `
      containers:
      - name: schema
        image: {{ .Image }}
        command: [/bin/sh, -c]
        args:
        - |
          set -e
          for pair in temporal:temporal temporal_visibility:visibility; do
            db=${pair%%:*} schema=${pair##*:}
            tool="temporal-sql-tool --plugin postgres12 --ep temporal-postgresql.temporal.svc -p 5432 -u temporal --db $db"
            $tool create-database >/dev/null 2>&1 || true
            dir=/etc/temporal/schema/v12/$schema/versioned
            $tool update-schema -d $dir 2>/dev/null || { $tool setup-schema -v 0.0 && $tool update-schema -d $dir; }
            echo "schema $schema ready in database $db"
          done
        env:
        - name: SQL_PASSWORD
          valueFrom: {secretKeyRef: {name: temporal-postgresql, key: password}}` + podSecurity + `
`))

var server = template.Must(template.New("server").Parse(`apiVersion: v1
kind: Service
metadata: {name: temporal-frontend, namespace: temporal}
spec:
  selector: {app.kubernetes.io/name: temporal}
  ports:
  - {name: grpc, port: 7233, targetPort: 7233}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: temporal, namespace: temporal}
spec:
  replicas: 1
  selector:
    matchLabels: {app.kubernetes.io/name: temporal}
  template:
    metadata:
      labels: {app.kubernetes.io/name: temporal}
    spec:
` + serverPod + `
      containers:
      - name: temporal
        image: {{ .Image }}
        args: [temporal-server, --config-file, /etc/temporal/config/config.yaml, --allow-no-auth, start]
        env:
        # The server looks its user up; without cgo that needs USER.
        - {name: USER, value: temporal}
        - name: POD_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
        - name: TEMPORAL_POSTGRES_PASSWORD
          valueFrom: {secretKeyRef: {name: temporal-postgresql, key: password}}
        ports:
        - {name: grpc, containerPort: 7233}
        readinessProbe:
          tcpSocket: {port: 7233}
          periodSeconds: 2` + podSecurity + `
        volumeMounts:
        - {name: config, mountPath: /etc/temporal/config}
        - {name: tls, mountPath: /etc/temporal/tls}
        - {name: tmp, mountPath: /tmp}
      volumes:
      - {name: config, configMap: {name: temporal-config}}
      - {name: tls, secret: {secretName: temporal-tls}}
      - {name: tmp, emptyDir: {}}
`))
