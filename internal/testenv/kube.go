package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
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
	if len(manifests) > 0 {
		// Admission policies on the CRDs' kinds need their schemas, which
		// the API server publishes a little after the CRDs are established.
		if err := k.waitForSchemas(); err != nil {
			k.Stop()
			return nil, err
		}
	}
	for _, m := range manifests {
		if err := k.apply(filepath.Join(root, m)); err != nil {
			k.Stop()
			return nil, fmt.Errorf("testenv: apply %s: %w", m, err)
		}
	}
	if len(manifests) > 0 {
		if err := k.waitAdmitted(); err != nil {
			k.Stop()
			return nil, err
		}
	}
	return k, nil
}

// waitAdmitted waits until the admission policies can handle the CRDs'
// kinds: a policy's copy of a schema lags the published one, and until it
// arrives the API server answers creates 503 ("Resource kind ... not
// found"). A dry-run create of an empty object answers 422 (invalid) once
// admission let it through.
func (k *Kube) waitAdmitted() error {
	c, err := client.New(k.Config, client.Options{})
	if err != nil {
		return err
	}
	for _, crd := range k.Env.CRDs {
		for _, v := range crd.Spec.Versions {
			err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
				u := &unstructured.Unstructured{}
				u.SetAPIVersion(crd.Spec.Group + "/" + v.Name)
				u.SetKind(crd.Spec.Names.Kind)
				u.SetGenerateName("admission-check-")
				if crd.Spec.Scope == "Namespaced" {
					u.SetNamespace("default")
				}
				err := c.Create(ctx, u, client.DryRunAll)
				return !apierrors.IsServiceUnavailable(err), nil
			})
			if err != nil {
				return fmt.Errorf("testenv: admission still refuses %s/%s %s after 90s", crd.Spec.Group, v.Name, crd.Spec.Names.Kind)
			}
		}
	}
	return nil
}

// waitForSchemas waits until the API server's OpenAPI lists every version
// of the installed CRDs.
func (k *Kube) waitForSchemas() error {
	rc, err := rest.RESTClientFor(restConfigForRaw(k.Config))
	if err != nil {
		return err
	}
	for _, crd := range k.Env.CRDs {
		for _, v := range crd.Spec.Versions {
			path := "/openapi/v3/apis/" + crd.Spec.Group + "/" + v.Name
			err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
				return rc.Get().AbsPath(path).Do(ctx).Error() == nil, nil
			})
			if err != nil {
				return fmt.Errorf("testenv: the API server never published %s", path)
			}
		}
	}
	return nil
}

func restConfigForRaw(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &schema.GroupVersion{}
	c.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	return c
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
