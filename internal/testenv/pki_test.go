package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

func TestTheCASignsCertificatesThatVerifyAndKeepsThem(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrMakeCA(dir, "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	server := Cert{Name: "server", CommonName: "kube-apiserver", Server: true, IPs: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}
	admin := Cert{Name: "admin", CommonName: "someone", Organizations: []string{"system:masters"}, Client: true}
	for _, c := range []Cert{server, admin} {
		if err := ca.Ensure(c); err != nil {
			t.Fatal(err)
		}
	}
	roots := x509.NewCertPool()
	caPEM, _ := os.ReadFile(ca.CertFile("ca"))
	roots.AppendCertsFromPEM(caPEM)
	for _, c := range []struct {
		name  string
		usage x509.ExtKeyUsage
		host  string
	}{{"server", x509.ExtKeyUsageServerAuth, "127.0.0.1"}, {"admin", x509.ExtKeyUsageClientAuth, ""}} {
		pair, err := tls.LoadX509KeyPair(ca.CertFile(c.name), ca.KeyFile(c.name))
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(pair.Certificate[0])
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: c.host, KeyUsages: []x509.ExtKeyUsage{c.usage}}); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if c.name == "admin" && (leaf.Subject.CommonName != "someone" || len(leaf.Subject.Organization) != 1 || leaf.Subject.Organization[0] != "system:masters") {
			t.Errorf("admin's subject %v: want the user someone in group system:masters", leaf.Subject)
		}
	}
	// A second run loads the CA and keeps what it signed: what trusts it
	// goes on working.
	before, _ := os.ReadFile(ca.CertFile("server"))
	again, err := LoadOrMakeCA(dir, "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Ensure(server); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(ca.CertFile("server"))
	if string(before) != string(after) {
		t.Error("the server's certificate was made again")
	}
	if err := again.EnsureServiceAccountKey(); err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(dir, "kubeconfig")
	if err := again.WriteKubeconfig(kc, "c", "https://127.0.0.1:6443", "admin"); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil || cfg.Host != "https://127.0.0.1:6443" || len(cfg.CertData) == 0 || len(cfg.CAData) == 0 {
		t.Fatalf("kubeconfig: %+v, %v", cfg, err)
	}
	if fi, _ := os.Stat(kc); fi.Mode().Perm() != 0o600 {
		t.Errorf("kubeconfig mode %v: want 0600 (it holds a key)", fi.Mode().Perm())
	}
}

func TestDaemonsStartOnceAndStopByPid(t *testing.T) {
	var said []string
	d := &Daemons{Dir: t.TempDir(), Say: func(f string, a ...any) { said = append(said, f) }}
	if err := d.Start("sleeper", 0, nil, "sleep", "60"); err != nil {
		t.Fatal(err)
	}
	pid, ok := d.Pid("sleeper")
	if !ok {
		t.Fatal("the sleeper does not run")
	}
	if err := d.Start("sleeper", 0, nil, "sleep", "60"); err != nil {
		t.Fatal(err)
	}
	if again, _ := d.Pid("sleeper"); again != pid || len(d.Started) != 1 {
		t.Fatalf("started again: pid %d then %d, started %v", pid, again, d.Started)
	}
	d.Stop("sleeper")
	if Alive(pid) {
		t.Fatalf("pid %d still runs after Stop", pid)
	}
	if _, ok := d.Pid("sleeper"); ok {
		t.Fatal("the pid file still names a running process")
	}
	// A daemon that exits at once fails WaitFor with its log.
	if err := d.Start("quitter", 0, nil, "sh", "-c", "echo going away; exit 3"); err != nil {
		t.Fatal(err)
	}
	err := d.WaitFor(t.Context(), "quitter", 5e9, func(ctx context.Context) error { return errors.New("not ready") })
	if err == nil || !strings.Contains(err.Error(), "quitter exited") || !strings.Contains(err.Error(), "going away") {
		t.Fatalf("WaitFor on an exited daemon: %v", err)
	}
}
