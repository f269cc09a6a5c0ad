package testenv

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// CA is a certificate authority kept in a directory as ca.crt and ca.key:
// the local stack's, the local cluster's and its Temporal server's
// certificates are signed by one made here, once, and kept.
type CA struct {
	Dir  string
	cert *x509.Certificate
	key  crypto.Signer
}

// Cert describes a certificate the CA signs, kept as <Name>.crt and
// <Name>.key beside the CA's.
type Cert struct {
	Name string
	// CommonName and Organizations are the subject: for Kubernetes the
	// user name and its groups.
	CommonName    string
	Organizations []string
	// DNSNames and IPs are the names a server certificate is valid for.
	DNSNames []string
	IPs      []net.IP
	// Server and Client say what the certificate may be used for.
	Server, Client bool
}

// LoadOrMakeCA loads the CA under dir, making it (named commonName) when
// it is not there yet.
func LoadOrMakeCA(dir, commonName string) (*CA, error) {
	ca := &CA{Dir: dir}
	certPEM, certErr := os.ReadFile(filepath.Join(dir, "ca.crt"))
	keyPEM, keyErr := os.ReadFile(filepath.Join(dir, "ca.key"))
	if certErr == nil && keyErr == nil {
		var err error
		if ca.cert, ca.key, err = parsePair(certPEM, keyPEM); err != nil {
			return nil, fmt.Errorf("testenv: the CA under %s: %w", dir, err)
		}
		return ca, nil
	}
	if !errors.Is(certErr, os.ErrNotExist) && certErr != nil {
		return nil, certErr
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: commonName},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	if ca.cert, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	ca.key = key
	if err := writePair(dir, "ca", der, key); err != nil {
		return nil, err
	}
	return ca, nil
}

// CertFile and KeyFile are where a certificate named name is kept.
func (ca *CA) CertFile(name string) string { return filepath.Join(ca.Dir, name+".crt") }
func (ca *CA) KeyFile(name string) string  { return filepath.Join(ca.Dir, name+".key") }

// Ensure signs c unless its files are there already (a kept certificate
// is not made again: what trusts it keeps working).
func (ca *CA) Ensure(c Cert) error {
	if _, err := os.Stat(ca.CertFile(c.Name)); err == nil {
		if _, err := os.Stat(ca.KeyFile(c.Name)); err == nil {
			return nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: c.CommonName, Organization: c.Organizations},
		DNSNames: c.DNSNames, IPAddresses: c.IPs,
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	if c.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if c.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return err
	}
	return writePair(ca.Dir, c.Name, der, key)
}

// EnsureServiceAccountKey makes the key pair the API server signs service
// account tokens with (sa.key, sa.pub) unless it is there.
func (ca *CA) EnsureServiceAccountKey() error {
	if _, err := os.Stat(filepath.Join(ca.Dir, "sa.pub")); err == nil {
		return nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(ca.Dir, "sa.key"), pemBlock("PRIVATE KEY", der), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(ca.Dir, "sa.pub"), pemBlock("PUBLIC KEY", pub), 0o644)
}

// WriteKubeconfig writes a kubeconfig at path for the API server at server
// (an https URL), trusting the CA, as the user of the certificate named
// user, in context cluster with namespace default.
func (ca *CA) WriteKubeconfig(path, cluster, server, user string) error {
	caPEM, err := os.ReadFile(ca.CertFile("ca"))
	if err != nil {
		return err
	}
	certPEM, err := os.ReadFile(ca.CertFile(user))
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(ca.KeyFile(user))
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[cluster] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts[cluster] = &clientcmdapi.Context{Cluster: cluster, AuthInfo: user, Namespace: "default"}
	cfg.CurrentContext = cluster
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}

func parsePair(certPEM, keyPEM []byte) (*x509.Certificate, crypto.Signer, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, errors.New("not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	var key any
	switch kb.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(kb.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(kb.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(kb.Bytes)
	}
	if err != nil {
		return nil, nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, nil, errors.New("the key cannot sign")
	}
	return cert, signer, nil
}

func writePair(dir, name string, der []byte, key *ecdsa.PrivateKey) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	k, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), pemBlock("PRIVATE KEY", k), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".crt"), pemBlock("CERTIFICATE", der), 0o644)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

func pemBlock(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}
