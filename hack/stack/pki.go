package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"orderflow.io/orderflow/internal/testenv"
)

// clusterPKI writes the local cluster's certificates (under DIR/pki, made
// once and kept) and a kubeconfig for each of its clients (admin, the
// kubelet, the controller manager, the scheduler, kube-proxy; the admin's
// also as DIR/kubeconfig), for hack/cluster.sh.
func clusterPKI(args []string) error {
	f := flag.NewFlagSet("pki", flag.ContinueOnError)
	dir := f.String("dir", ".cluster", "the cluster's state directory")
	nodeIP := f.String("node-ip", "10.244.0.1", "the node's address (the API server's)")
	apiPort := f.Int("api-port", 36443, "the API server's port")
	node := f.String("node", "orderflow-node", "the node's name")
	if err := f.Parse(args); err != nil {
		return err
	}
	ip := net.ParseIP(*nodeIP)
	if ip == nil {
		return fmt.Errorf("pki: -node-ip %q is not an IP address", *nodeIP)
	}
	if _, err := os.Stat(filepath.Join(*dir, "pki", "ca.crt")); err != nil {
		fmt.Println("cluster: creating the cluster's certificates")
	}
	ca, err := testenv.LoadOrMakeCA(filepath.Join(*dir, "pki"), "orderflow-cluster-ca")
	if err != nil {
		return err
	}
	certs := []testenv.Cert{
		{Name: "apiserver", CommonName: "kube-apiserver", Server: true,
			IPs:      []net.IP{ip, net.ParseIP("10.96.0.1"), net.ParseIP("127.0.0.1")},
			DNSNames: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}},
		{Name: "admin", CommonName: "orderflow-cluster-admin", Organizations: []string{"system:masters"}, Client: true},
		{Name: "apiserver-kubelet-client", CommonName: "kube-apiserver-kubelet-client", Organizations: []string{"system:masters"}, Client: true},
		{Name: "kubelet", CommonName: "system:node:" + *node, Organizations: []string{"system:nodes"}, Client: true},
		{Name: "kubelet-serving", CommonName: *node, IPs: []net.IP{ip}, DNSNames: []string{*node}, Server: true},
		{Name: "controller-manager", CommonName: "system:kube-controller-manager", Client: true},
		{Name: "scheduler", CommonName: "system:kube-scheduler", Client: true},
		{Name: "proxy", CommonName: "system:kube-proxy", Client: true},
	}
	for _, c := range certs {
		if err := ca.Ensure(c); err != nil {
			return err
		}
	}
	if err := ca.EnsureServiceAccountKey(); err != nil {
		return err
	}
	server := fmt.Sprintf("https://%s", net.JoinHostPort(ip.String(), fmt.Sprint(*apiPort)))
	for _, who := range []string{"admin", "kubelet", "controller-manager", "scheduler", "proxy"} {
		if err := ca.WriteKubeconfig(filepath.Join(*dir, who+".kubeconfig"), "orderflow-cluster", server, who); err != nil {
			return err
		}
	}
	return ca.WriteKubeconfig(filepath.Join(*dir, "kubeconfig"), "orderflow-cluster", server, "admin")
}
