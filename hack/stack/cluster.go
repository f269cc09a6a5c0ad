package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"orderflow.io/orderflow/internal/temporal"
	"orderflow.io/orderflow/internal/testenv"
)

// cluster is the local cluster's shape (CLUSTER.md): one node on a
// host-only bridge. hack/cluster.sh does the host's part (the bridge, its
// egress rule, containerd, the images, the chart) and runs this program
// for the Kubernetes components; `stack cluster env` gives it these
// settings, so they have one owner.
type cluster struct {
	root, bin, dir              string
	node, bridge, nodeIP        string
	podCIDR, serviceCIDR, dnsIP string
	etcdPort, apiPort           int
	procs                       *testenv.Daemons
}

func newCluster() (*cluster, error) {
	root, err := testenv.Root()
	if err != nil {
		return nil, err
	}
	c := &cluster{root: root, bin: filepath.Join(root, "bin"), dir: env("CLUSTER_DIR", filepath.Join(root, ".cluster")),
		node: "orderflow-node", bridge: "ofcbr0", nodeIP: "10.244.0.1",
		podCIDR: "10.244.0.0/24", serviceCIDR: "10.96.0.0/24", dnsIP: "10.96.0.10"}
	if !filepath.IsAbs(c.dir) {
		c.dir = filepath.Join(root, c.dir)
	}
	if _, err := fmt.Sscan(env("CLUSTER_ETCD_PORT", "32379"), &c.etcdPort); err != nil {
		return nil, fmt.Errorf("CLUSTER_ETCD_PORT: %w", err)
	}
	if _, err := fmt.Sscan(env("CLUSTER_API_PORT", "36443"), &c.apiPort); err != nil {
		return nil, fmt.Errorf("CLUSTER_API_PORT: %w", err)
	}
	c.procs = &testenv.Daemons{Dir: c.dir, Say: func(f string, a ...any) { fmt.Printf("cluster: "+f+"\n", a...) }}
	return c, nil
}

func runCluster(ctx context.Context, args []string) error {
	c, err := newCluster()
	if err != nil {
		return err
	}
	step := ""
	if len(args) > 0 {
		step = args[0]
	}
	switch step {
	case "env":
		fmt.Printf("dir=%q\nnode=%q\nbridge=%q\nnode_ip=%q\npod_cidr=%q\nservice_cidr=%q\ndns_ip=%q\netcd_port=%d\napi_port=%d\nkubeconfig=%q\n",
			c.dir, c.node, c.bridge, c.nodeIP, c.podCIDR, c.serviceCIDR, c.dnsIP, c.etcdPort, c.apiPort, c.kubeconfig())
		return nil
	case "control-plane":
		if err := c.pki(); err != nil {
			return err
		}
		return c.controlPlane(ctx)
	case "node-agents":
		return c.nodeAgents(ctx)
	case "addons":
		return c.addons(ctx)
	case "temporal-namespace":
		return c.temporalNamespace(ctx)
	case "status":
		c.status(ctx)
		return nil
	case "start":
		return c.start(ctx, args[1:])
	case "stop":
		for _, name := range args[1:] {
			c.procs.Stop(name)
		}
		return nil
	case "running":
		if len(args) == 2 {
			if _, ok := c.procs.Pid(args[1]); ok {
				return nil
			}
		}
		os.Exit(1)
	}
	return fmt.Errorf("stack cluster env|control-plane|node-agents|addons|temporal-namespace|status|start NAME -- READY... -- ARGV...|stop NAME...|running NAME")
}

// start starts a host component (containerd) as a daemon of the cluster's
// and waits until its readiness command succeeds: NAME -- READY... -- ARGV...
func (c *cluster) start(ctx context.Context, args []string) error {
	if len(args) < 5 || args[1] != "--" {
		return fmt.Errorf("stack cluster start NAME -- READY... -- ARGV...")
	}
	name, rest := args[0], args[2:]
	i := slices.Index(rest, "--")
	if i < 1 || i == len(rest)-1 {
		return fmt.Errorf("stack cluster start NAME -- READY... -- ARGV...")
	}
	ready, argv := rest[:i], rest[i+1:]
	if err := c.procs.Start(name, 0, nil, argv...); err != nil {
		return err
	}
	return c.procs.WaitFor(ctx, name, 30*time.Second, func(ctx context.Context) error {
		return exec.CommandContext(ctx, ready[0], ready[1:]...).Run()
	})
}

func (c *cluster) kubeconfig() string { return filepath.Join(c.dir, "kubeconfig") }
func (c *cluster) pkiFile(name string) string {
	return filepath.Join(c.dir, "pki", name)
}

// pki writes the cluster's certificates (under dir/pki, made once and
// kept) and a kubeconfig for each of its clients (admin, the kubelet, the
// controller manager, the scheduler, kube-proxy; the admin's also as
// dir/kubeconfig).
func (c *cluster) pki() error {
	if _, err := os.Stat(c.pkiFile("ca.crt")); err != nil {
		c.procs.Say("creating the cluster's certificates")
	}
	ca, err := testenv.LoadOrMakeCA(filepath.Join(c.dir, "pki"), "orderflow-cluster-ca")
	if err != nil {
		return err
	}
	ip := net.ParseIP(c.nodeIP)
	for _, cert := range []testenv.Cert{
		{Name: "apiserver", CommonName: "kube-apiserver", Server: true,
			IPs:      []net.IP{ip, net.ParseIP("10.96.0.1"), net.ParseIP("127.0.0.1")},
			DNSNames: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}},
		{Name: "admin", CommonName: "orderflow-cluster-admin", Organizations: []string{"system:masters"}, Client: true},
		{Name: "apiserver-kubelet-client", CommonName: "kube-apiserver-kubelet-client", Organizations: []string{"system:masters"}, Client: true},
		{Name: "kubelet", CommonName: "system:node:" + c.node, Organizations: []string{"system:nodes"}, Client: true},
		{Name: "kubelet-serving", CommonName: c.node, IPs: []net.IP{ip}, DNSNames: []string{c.node}, Server: true},
		{Name: "controller-manager", CommonName: "system:kube-controller-manager", Client: true},
		{Name: "scheduler", CommonName: "system:kube-scheduler", Client: true},
		{Name: "proxy", CommonName: "system:kube-proxy", Client: true},
	} {
		if err := ca.Ensure(cert); err != nil {
			return err
		}
	}
	if err := ca.EnsureServiceAccountKey(); err != nil {
		return err
	}
	server := "https://" + net.JoinHostPort(c.nodeIP, fmt.Sprint(c.apiPort))
	for _, who := range []string{"admin", "kubelet", "controller-manager", "scheduler", "proxy"} {
		if err := ca.WriteKubeconfig(filepath.Join(c.dir, who+".kubeconfig"), "orderflow-cluster", server, who); err != nil {
			return err
		}
	}
	return ca.WriteKubeconfig(c.kubeconfig(), "orderflow-cluster", server, "admin")
}

// controlPlane starts etcd, kube-apiserver (on the node's address, Node
// and RBAC authorization), kube-controller-manager and kube-scheduler.
func (c *cluster) controlPlane(ctx context.Context) error {
	etcd := c.etcdPort
	if err := c.procs.Start("etcd", etcd, nil, etcdArgs(c.bin, filepath.Join(c.dir, "etcd"), etcd)...); err != nil {
		return err
	}
	if err := c.procs.WaitFor(ctx, "etcd", 30*time.Second, httpOK(fmt.Sprintf("http://127.0.0.1:%d/health", etcd))); err != nil {
		return err
	}
	if err := c.procs.Start("kube-apiserver", 0, nil, filepath.Join(c.bin, "kube-apiserver"),
		"--etcd-servers", fmt.Sprintf("http://127.0.0.1:%d", etcd), "--bind-address", c.nodeIP, "--advertise-address", c.nodeIP,
		"--secure-port", fmt.Sprint(c.apiPort), "--tls-cert-file", c.pkiFile("apiserver.crt"), "--tls-private-key-file", c.pkiFile("apiserver.key"),
		"--client-ca-file", c.pkiFile("ca.crt"), "--authorization-mode", "Node,RBAC", "--enable-admission-plugins", "NodeRestriction",
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", c.pkiFile("sa.pub"), "--service-account-signing-key-file", c.pkiFile("sa.key"),
		"--service-cluster-ip-range", c.serviceCIDR,
		"--kubelet-client-certificate", c.pkiFile("apiserver-kubelet-client.crt"), "--kubelet-client-key", c.pkiFile("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority", c.pkiFile("ca.crt"), "--kubelet-preferred-address-types", "InternalIP,Hostname"); err != nil {
		return err
	}
	if err := c.procs.WaitFor(ctx, "kube-apiserver", 90*time.Second, c.kubectlOK("get", "--raw", "/readyz")); err != nil {
		return err
	}
	if err := c.procs.Start("kube-controller-manager", 0, nil, filepath.Join(c.bin, "kube-controller-manager"),
		"--kubeconfig", filepath.Join(c.dir, "controller-manager.kubeconfig"),
		"--bind-address", "127.0.0.1", "--secure-port", "30257", "--leader-elect=false", "--use-service-account-credentials",
		"--service-account-private-key-file", c.pkiFile("sa.key"), "--root-ca-file", c.pkiFile("ca.crt"),
		"--cluster-signing-cert-file", c.pkiFile("ca.crt"), "--cluster-signing-key-file", c.pkiFile("ca.key"),
		"--service-cluster-ip-range", c.serviceCIDR); err != nil {
		return err
	}
	return c.procs.Start("kube-scheduler", 0, nil, filepath.Join(c.bin, "kube-scheduler"),
		"--kubeconfig", filepath.Join(c.dir, "scheduler.kubeconfig"), "--bind-address", "127.0.0.1", "--secure-port", "30259", "--leader-elect=false")
}

// nodeAgents starts the kubelet and kube-proxy and waits until the node
// is Ready.
func (c *cluster) nodeAgents(ctx context.Context) error {
	for _, d := range []string{"kubelet", "kube-proxy"} {
		if err := os.MkdirAll(filepath.Join(c.dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(c.dir, "kubelet", "resolv.conf"), nil, 0o644); err != nil {
		return err
	}
	if err := put(filepath.Join(c.dir, "kubelet", "config.yaml"), fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]s
port: 10250
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
oomScoreAdj: 0
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%%, imagefs.available: 1%%, nodefs.inodesFree: 1%%}
clusterDNS: [%[2]s]
clusterDomain: cluster.local
resolvConf: %[3]s/kubelet/resolv.conf
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %[3]s/pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: %[3]s/pki/kubelet-serving.crt
tlsPrivateKeyFile: %[3]s/pki/kubelet-serving.key
containerRuntimeEndpoint: unix://%[3]s/containerd/containerd.sock
serializeImagePulls: false
maxPods: 60
`, c.nodeIP, c.dnsIP, c.dir)); err != nil {
		return err
	}
	if err := c.procs.Start("kubelet", 0, nil, filepath.Join(c.bin, "kubelet"), "--config", filepath.Join(c.dir, "kubelet", "config.yaml"),
		"--kubeconfig", filepath.Join(c.dir, "kubelet.kubeconfig"), "--root-dir", filepath.Join(c.dir, "kubelet", "root"),
		"--cert-dir", filepath.Join(c.dir, "kubelet", "pki"), "--node-ip", c.nodeIP, "--hostname-override", c.node); err != nil {
		return err
	}
	// kube-proxy exits when its configuration file changes: it is written
	// only when its content does.
	if err := put(filepath.Join(c.dir, "kube-proxy", "config.yaml"), fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: %[1]s/proxy.kubeconfig}
clusterCIDR: %[2]s
hostnameOverride: %[3]s
oomScoreAdj: 0
metricsBindAddress: 127.0.0.1:30249
healthzBindAddress: 127.0.0.1:30256
nodePortAddresses: [%[4]s/32]
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
`, c.dir, c.podCIDR, c.node, c.nodeIP)); err != nil {
		return err
	}
	if err := c.procs.Start("kube-proxy", 0, nil, filepath.Join(c.bin, "kube-proxy"), "--config", filepath.Join(c.dir, "kube-proxy", "config.yaml")); err != nil {
		return err
	}
	if err := c.procs.WaitFor(ctx, "kubelet", 60*time.Second, c.kubectlOK("get", "node", c.node)); err != nil {
		return err
	}
	if err := c.kubectl(ctx, "", "wait", "--for=condition=Ready", "node/"+c.node, "--timeout=90s"); err != nil {
		return fmt.Errorf("the node is not Ready; see %s: %w", c.procs.LogFile("kubelet"), err)
	}
	return nil
}

// put writes content to path unless path holds exactly that.
func put(path, content string) error {
	if b, err := os.ReadFile(path); err == nil && string(b) == content {
		return nil
	}
	return os.WriteFile(path, []byte(content), 0o644)
}

// addons installs CoreDNS and the local PersistentVolumes (no provisioner:
// a few pre-made volumes under dir/pv, a default StorageClass that binds
// them).
func (c *cluster) addons(ctx context.Context) error {
	dns, err := os.ReadFile(filepath.Join(c.root, "hack", "cluster", "coredns.yaml"))
	if err != nil {
		return err
	}
	m := strings.ReplaceAll(string(dns), "@DNS_IP@", c.dnsIP) + `---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
`
	for i := 1; i <= 4; i++ {
		pv := filepath.Join(c.dir, "pv", fmt.Sprintf("pv%d", i))
		if err := os.MkdirAll(pv, 0o755); err != nil {
			return err
		}
		m += fmt.Sprintf(`---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: local-pv%d
spec:
  capacity: {storage: 20Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: local
  local: {path: %s}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [%s]}]
`, i, pv, c.node)
	}
	if err := os.WriteFile(filepath.Join(c.dir, "addons.yaml"), []byte(m), 0o644); err != nil {
		return err
	}
	if err := c.kubectl(ctx, "", "apply", "--server-side", "-f", filepath.Join(c.dir, "addons.yaml")); err != nil {
		return err
	}
	if err := c.kubectl(ctx, "", "-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=120s"); err != nil {
		return fmt.Errorf("CoreDNS did not become ready; see bin/kubectl --kubeconfig %s -n kube-system describe pods: %w", c.kubeconfig(), err)
	}
	return nil
}

// temporalNamespace registers the namespace default (retention 72 h) and
// the search attribute OrderUpdatedAt on the real Temporal server in
// namespace temporal, from the host through the frontend Service with the
// client certificate hack/temporal-cluster made: the cluster's operator
// does that once; OrderFlow's worker only checks the attribute (and adds
// it when it may). Done when a query naming the attribute is accepted (on a
// new namespace the services learn it on a timer).
func (c *cluster) temporalNamespace(ctx context.Context) error {
	var ip bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "kubectl"), "--kubeconfig", c.kubeconfig(),
		"-n", "temporal", "get", "service", "temporal-frontend", "-o", "jsonpath={.spec.clusterIP}")
	cmd.Stdout = &ip
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("the Temporal frontend's Service: %w", err)
	}
	dir := filepath.Join(c.dir, "temporal-tls")
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key"))
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	opts := client.Options{HostPort: net.JoinHostPort(ip.String(), "7233"), Namespace: "default", Logger: quiet{},
		ConnectionOptions: client.ConnectionOptions{TLS: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool,
			ServerName: "temporal-frontend.temporal.svc", MinVersion: tls.VersionTLS12}}}
	if err := c.procs.WaitFor(ctx, "temporal-namespace", 120*time.Second, func(ctx context.Context) error {
		return testenv.RegisterNamespace(ctx, opts, 10*time.Second)
	}); err != nil {
		return err
	}
	return c.procs.WaitFor(ctx, "temporal-search-attribute", 120*time.Second, func(ctx context.Context) error {
		return searchAttributeKnown(ctx, opts)
	})
}

// searchAttributeKnown makes the search attribute the workflow publishes
// with (unless it is there) and reports whether a query naming it is
// accepted.
func searchAttributeKnown(ctx context.Context, opts client.Options) error {
	tc, err := client.Dial(opts)
	if err != nil {
		return err
	}
	defer tc.Close()
	if err := temporal.EnsureSearchAttributes(ctx, tc, opts.Namespace); err != nil {
		return err
	}
	_, err = tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: opts.Namespace, Query: "OrderUpdatedAt > '2000-01-01T00:00:00Z'"})
	return err
}

func (c *cluster) status(ctx context.Context) {
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "containerd", "kubelet", "kube-proxy"} {
		if pid, ok := c.procs.Pid(name); ok {
			c.procs.Say("%s runs (pid %d)", name, pid)
		} else {
			c.procs.Say("%s is stopped", name)
		}
	}
	if _, ok := c.procs.Pid("kube-apiserver"); ok {
		for _, args := range [][]string{{"get", "nodes"}, {"-n", "orderflow-system", "get", "pods"}} {
			cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "kubectl"), append([]string{"--kubeconfig", c.kubeconfig()}, args...)...)
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			_ = cmd.Run()
		}
	}
}

func (c *cluster) kubectl(ctx context.Context, stdin string, args ...string) error {
	return kubectl(ctx, c.bin, c.kubeconfig(), stdin, args...)
}

func (c *cluster) kubectlOK(args ...string) func(context.Context) error {
	return func(ctx context.Context) error { return c.kubectl(ctx, "", args...) }
}
