package testenv

import (
	"fmt"
	"path/filepath"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Kube is a started kube-apiserver with its etcd.
type Kube struct {
	Env    *envtest.Environment
	Config *rest.Config
}

// StartKube starts kube-apiserver and etcd from ./bin and installs the CRDs
// found in crdDirs (relative to the repository root).
func StartKube(crdDirs ...string) (*Kube, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	for _, tool := range []string{"kube-apiserver", "etcd"} {
		if _, err := Bin(tool); err != nil {
			return nil, err
		}
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: filepath.Join(root, "bin"),
		ErrorIfCRDPathMissing: true,
	}
	for _, d := range crdDirs {
		env.CRDDirectoryPaths = append(env.CRDDirectoryPaths, filepath.Join(root, d))
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("testenv: start kube-apiserver and etcd: %w", err)
	}
	return &Kube{Env: env, Config: cfg}, nil
}

// Stop stops the API server and etcd.
func (k *Kube) Stop() { _ = k.Env.Stop() }
