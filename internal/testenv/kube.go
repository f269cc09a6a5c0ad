package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Kube is a started kube-apiserver with its etcd.
type Kube struct {
	Env    *envtest.Environment
	Config *rest.Config
}

// StartKube starts kube-apiserver and etcd from ./bin, installs the CRDs
// found in crdDirs and applies the manifests (YAML files, relative to the
// repository root).
func StartKube(crdDirs []string, manifests ...string) (*Kube, error) {
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
	k := &Kube{Env: env, Config: cfg}
	for _, m := range manifests {
		if err := k.apply(filepath.Join(root, m)); err != nil {
			k.Stop()
			return nil, fmt.Errorf("testenv: apply %s: %w", m, err)
		}
	}
	return k, nil
}

// apply creates the objects of a multi-document YAML file.
func (k *Kube) apply(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	c, err := client.New(k.Config, client.Options{})
	if err != nil {
		return err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if len(u.Object) == 0 {
			continue
		}
		if err := c.Create(context.Background(), u); err != nil {
			return fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
}

// Stop stops the API server and etcd.
func (k *Kube) Stop() { _ = k.Env.Stop() }
