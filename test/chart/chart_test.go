// Package chart tests the Helm chart: lint and render over a matrix of
// values, check the rendered objects (generated CRD and RBAC, restricted pod
// security, credentials only from Secrets), have a real API server accept
// every object, install and uninstall it there, and run the Argo CD health
// script's cases.
package chart

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"orderflow.io/orderflow/internal/temporal"
	"orderflow.io/orderflow/internal/testenv"
)

var stack *testenv.Stack

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Options{Kube: true, CRDDirs: []string{"test/chart/testdata/crds"}}, &stack)
}

func repoRoot() (string, error) { return testenv.Root() }

// matrix is the set of values the chart is checked with.
var matrix = map[string][]string{
	"defaults":              nil,
	"external-postgresql":   {"postgresql.enabled=false", "postgresql.external.existingSecret=orderflow-dsn"},
	"external-temporal-tls": {"temporal.address=temporal.example.com:7233", "temporal.namespace=orders", "temporal.tls.enabled=true", "temporal.tls.existingSecret=temporal-mtls", "temporal.tls.serverName=temporal.example.com"},
	"dev-temporal":          {"temporal.dev.enabled=true", "api.auth=none"},
	"everything-on": {
		"api.ingress.enabled=true", "api.ingress.className=nginx", "serviceMonitor.enabled=true",
		"podDisruptionBudget.enabled=true", "networkPolicy.enabled=true", "manager.watchNamespace=shop",
		"worker.webhook.url=https://hooks.example.com/orders", "worker.webhook.existingSecret=webhook-key",
		"temporal.uiURL=https://temporal.example.com", "postgresql.existingSecret=pg-password",
	},
	"api-off": {"api.enabled=false", "crds.enabled=false", "migration.enabled=false"},
	"providers": {
		"worker.payment.gateway=stripe", "worker.payment.stripe.existingSecret=stripe-key",
		"worker.email.host=smtp.example.com", "worker.email.from=Shop <orders@shop.example>", "worker.email.username=orders",
		"worker.email.existingSecret=smtp-password", "worker.codecServer.enabled=true", "worker.codecServer.origins={https://temporal.example.com}",
		"codec.existingSecret=codec-keys", "dashboard.enabled=true", "temporal.dev.enabled=true",
		"temporal.dev.uiCodecEndpoint=http://localhost:9092/codec",
	},
	"no-encryption": {"codec.enabled=false"},
}

// helms are the Helm majors the chart is checked with: users install with
// both.
var helms = []string{"helm", "helm4"}

func helm(t *testing.T, args ...string) string {
	t.Helper()
	return helmWith(t, "helm", args...)
}

func helmWith(t *testing.T, name string, args ...string) string {
	t.Helper()
	bin, err := testenv.Bin(name)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := repoRoot()
	cmd := exec.Command(bin, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s\n%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

func setArgs(values []string) []string {
	var args []string
	for _, v := range values {
		args = append(args, "--set", v)
	}
	return args
}

func render(t *testing.T, values []string) []*unstructured.Unstructured {
	t.Helper()
	out := helm(t, append([]string{"template", "orderflow", "charts/orderflow", "--namespace", "shop"}, setArgs(values)...)...)
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(out), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			break
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
	if len(objs) == 0 {
		t.Fatal("the chart rendered nothing")
	}
	return objs
}

func readYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	root, _ := repoRoot()
	b, err := os.ReadFile(filepath.Join(root, path))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && (name == "" || o.GetName() == name) {
			return o
		}
	}
	return nil
}

func TestTheChartLintsAndRendersForEveryMatrixEntry(t *testing.T) {
	testenv.Integration(t)
	for name, values := range matrix {
		t.Run(name, func(t *testing.T) {
			for _, h := range helms {
				helmWith(t, h, append([]string{"lint", "--strict", "charts/orderflow"}, setArgs(values)...)...)
			}
			objs := render(t, values)
			checkPods(t, objs)
		})
	}
}

// Helm 4 renders the chart as Helm 3 does, for every matrix entry.
func TestHelm3AndHelm4RenderTheSameChart(t *testing.T) {
	testenv.Integration(t)
	for name, values := range matrix {
		args := append([]string{"template", "orderflow", "charts/orderflow", "--namespace", "shop"}, setArgs(values)...)
		// Generated secrets differ from render to render, and Helm 4 puts
		// blank lines between documents: compare the rest.
		strip := func(s string) string {
			var out []string
			for _, line := range strings.Split(s, "\n") {
				if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "password:") && !strings.HasPrefix(l, "keys:") {
					out = append(out, line)
				}
			}
			return strings.Join(out, "\n")
		}
		if h3, h4 := strip(helmWith(t, "helm", args...)), strip(helmWith(t, "helm4", args...)); h3 != h4 {
			t.Errorf("%s: Helm 3 and Helm 4 render differently", name)
		}
	}
}

func TestTheValuesSchemaRefusesWrongTypes(t *testing.T) {
	testenv.Integration(t)
	bin, _ := testenv.Bin("helm")
	root, _ := repoRoot()
	for _, bad := range []string{"worker.replicas=two", "api.auth=maybe", "crds.enabled=yes", "worker.sandboxFailureRate=2", "nosuchvalue=1",
		"worker.payment.gateway=paypal", "worker.email.tls=ssl", "worker.email.port=0", "worker.codecServer.auth=maybe",
		"worker.codecServer.origins={temporal.example.com}", "codec.enabled=sometimes", "api.namespaces={Shop_EU}",
		"fulfillment.shipBy=two-days", "fulfillment.defaultCarrier=UPS"} {
		cmd := exec.Command(bin, "template", "x", "charts/orderflow", "--set", bad)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("--set %s rendered:\n%.200s", bad, out)
		}
	}
}

// checkPods holds every pod to the restricted Pod Security profile and
// keeps credentials out of command lines.
func checkPods(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		var podSpec map[string]any
		switch o.GetKind() {
		case "Deployment", "StatefulSet", "Job":
			podSpec, _, _ = unstructured.NestedMap(o.Object, "spec", "template", "spec")
		case "Pod":
			podSpec, _, _ = unstructured.NestedMap(o.Object, "spec")
		default:
			continue
		}
		where := o.GetKind() + "/" + o.GetName()
		if v, _, _ := unstructured.NestedBool(podSpec, "securityContext", "runAsNonRoot"); !v {
			t.Errorf("%s: pod does not set runAsNonRoot", where)
		}
		if v, _, _ := unstructured.NestedString(podSpec, "securityContext", "seccompProfile", "type"); v != "RuntimeDefault" {
			t.Errorf("%s: seccompProfile %q", where, v)
		}
		containers, _, _ := unstructured.NestedSlice(podSpec, "containers")
		for _, c := range containers {
			c := c.(map[string]any)
			cw := where + " container " + fmt.Sprint(c["name"])
			if v, _, _ := unstructured.NestedBool(c, "securityContext", "readOnlyRootFilesystem"); !v {
				t.Errorf("%s: root filesystem is writable", cw)
			}
			if v, found, _ := unstructured.NestedBool(c, "securityContext", "allowPrivilegeEscalation"); !found || v {
				t.Errorf("%s: privilege escalation allowed", cw)
			}
			if drop, _, _ := unstructured.NestedStringSlice(c, "securityContext", "capabilities", "drop"); !reflect.DeepEqual(drop, []string{"ALL"}) {
				t.Errorf("%s: capabilities dropped %v", cw, drop)
			}
			args := strings.ToLower(fmt.Sprint(c["args"], c["command"]))
			for _, secret := range []string{"password", "postgres://", "secret=", "sk_live_", "sk_test_", "codec-keys="} {
				if strings.Contains(args, secret) {
					t.Errorf("%s: %q in its command line", cw, secret)
				}
			}
			env, _, _ := unstructured.NestedSlice(c, "env")
			for _, e := range env {
				e := e.(map[string]any)
				name := fmt.Sprint(e["name"])
				if (name == "POSTGRES_PASSWORD" || name == "POSTGRES_DSN" || name == "NOTIFY_WEBHOOK_SECRET" || name == "STRIPE_API_KEY" ||
					name == "SMTP_PASSWORD" || name == "CODEC_KEYS") && e["value"] != nil {
					t.Errorf("%s: %s given as a literal, not from a Secret", cw, name)
				}
			}
		}
	}
}

func TestTheRenderedCRDIsTheGeneratedOne(t *testing.T) {
	testenv.Integration(t)
	crd := find(render(t, nil), "CustomResourceDefinition", "orders.orderflow.io")
	if crd == nil {
		t.Fatal("no CRD rendered")
	}
	want := readYAML(t, "config/crd/bases/orderflow.io_orders.yaml")
	if !reflect.DeepEqual(crd.Object["spec"], want["spec"]) {
		t.Fatal("the chart's CRD spec differs from config/crd/bases: run make manifests")
	}
	if crd.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
		t.Fatal("the CRD is not kept on uninstall")
	}
}

func rules(o *unstructured.Unstructured) []any {
	if o == nil {
		return nil
	}
	r, _, _ := unstructured.NestedSlice(o.Object, "rules")
	return r
}

func TestTheRenderedRBACIsTheGeneratedOne(t *testing.T) {
	testenv.Integration(t)
	objs := render(t, nil)
	if got, want := rules(find(objs, "ClusterRole", "orderflow-manager")), readYAML(t, "config/rbac/manager/role.yaml")["rules"]; !reflect.DeepEqual(got, want) {
		t.Fatalf("manager rules differ from config/rbac/manager:\n%v\n%v", got, want)
	}
	got := append(rules(find(objs, "Role", "orderflow-api")), rules(find(objs, "ClusterRole", "orderflow-api-reviews"))...)
	want := readYAML(t, "config/rbac/api/role.yaml")["rules"].([]any)
	if len(got) != len(want) {
		t.Fatalf("api rules differ from config/rbac/api:\n%v\n%v", got, want)
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || reflect.DeepEqual(g, w)
		}
		if !found {
			t.Fatalf("api rule %v missing from the chart", w)
		}
	}
}

func kubeconfig(t *testing.T) string {
	t.Helper()
	user, err := stack.Kube.Env.AddUser(envtest.User{Name: "chart-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func kubectl(t *testing.T, kcfg string, stdin string, args ...string) (string, error) {
	t.Helper()
	bin, err := testenv.Bin("kubectl")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"--kubeconfig", kcfg}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestARealAPIServerAcceptsEveryRenderedObject(t *testing.T) {
	testenv.Integration(t)
	kcfg := kubeconfig(t)
	if out, err := kubectl(t, kcfg, "", "create", "namespace", "shop"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for name, values := range matrix {
		t.Run(name, func(t *testing.T) {
			out := helm(t, append([]string{"template", "orderflow", "charts/orderflow", "--namespace", "shop"}, setArgs(values)...)...)
			if res, err := kubectl(t, kcfg, out, "apply", "--server-side", "--dry-run=server", "-n", "shop", "-f", "-"); err != nil {
				t.Fatalf("the API server refused objects: %v\n%s", err, res)
			}
		})
	}
}

// TestHelmInstallsAndUninstallsKeepingTheCRD installs, upgrades and
// uninstalls with Helm 3, then again with Helm 4 into the same namespace
// (a reinstall: it adopts the kept CRD and Secrets).
func TestHelmInstallsAndUninstallsKeepingTheCRD(t *testing.T) {
	testenv.Integration(t)
	kcfg := kubeconfig(t)
	var firstKeys string
	for _, h := range helms {
		t.Run(h, func(t *testing.T) { installUpgradeUninstall(t, h, kcfg, &firstKeys) })
	}
}

func installUpgradeUninstall(t *testing.T, h, kcfg string, firstKeys *string) {
	helm := func(t *testing.T, args ...string) string { return helmWith(t, h, args...) }
	// Hooks (the migration Job, the test Pod) need a kubelet, which this API
	// server has not: install without them.
	helm(t, "install", "orderflow", "charts/orderflow", "--kubeconfig", kcfg, "--namespace", "store", "--create-namespace", "--no-hooks")
	out, err := kubectl(t, kcfg, "", "get", "deployments,statefulsets,services,serviceaccounts,roles,rolebindings,secrets", "-n", "store", "-l", "app.kubernetes.io/instance=orderflow", "-o", "name")
	if err != nil || strings.Count(out, "\n") < 10 {
		t.Fatalf("installed objects:\n%s %v", out, err)
	}
	// The generated payload encryption key is made once: an upgrade keeps it.
	codecKeys := func() string {
		out, err := kubectl(t, kcfg, "", "get", "secret", "-n", "store", "orderflow-codec", "-o", "jsonpath={.data.keys}")
		if err != nil {
			t.Fatalf("the codec key Secret: %v\n%s", err, out)
		}
		return out
	}
	keys := codecKeys()
	if *firstKeys == "" {
		*firstKeys = keys
	} else if keys != *firstKeys {
		t.Fatal("the reinstall made a new payload encryption key instead of taking the kept one")
	}
	if k, err := base64.StdEncoding.DecodeString(keys); err != nil || !strings.HasPrefix(string(k), "key-1=") {
		t.Fatalf("codec keys %q: %v", keys, err)
	} else if _, err := temporal.ParseCodecKeys(string(k)); err != nil {
		t.Fatalf("the generated codec key does not parse: %v", err)
	}
	helm(t, "upgrade", "orderflow", "charts/orderflow", "--kubeconfig", kcfg, "--namespace", "store", "--no-hooks")
	if after := codecKeys(); after != keys {
		t.Fatal("helm upgrade replaced the payload encryption key: the histories written with it could no longer be read")
	}
	helm(t, "uninstall", "orderflow", "--kubeconfig", kcfg, "--namespace", "store")
	out, _ = kubectl(t, kcfg, "", "get", "deployments,statefulsets,services,serviceaccounts,roles,rolebindings,clusterroles,clusterrolebindings", "-A", "-l", "app.kubernetes.io/instance=orderflow", "-o", "name")
	if strings.TrimSpace(out) != "" {
		t.Fatalf("left after uninstall:\n%s", out)
	}
	if out, err := kubectl(t, kcfg, "", "get", "crd", "orders.orderflow.io"); err != nil {
		t.Fatalf("the CRD was not kept: %v\n%s", err, out)
	}
	// The generated PostgreSQL password is kept too, so a reinstall reuses it.
	if _, err := kubectl(t, kcfg, "", "get", "secret", "-n", "store", "orderflow-postgresql"); err != nil {
		t.Fatal("the PostgreSQL password Secret was not kept")
	}
	if _, err := kubectl(t, kcfg, "", "get", "secret", "-n", "store", "orderflow-codec"); err != nil {
		t.Fatal("the codec key Secret was not kept")
	}
}

// TestThePackagedChartKeepsItsTestHook packages the chart as users get it
// and renders the package: `helm test` needs its test hook (.helmignore
// once dropped templates/tests/ from the package).
func TestThePackagedChartKeepsItsTestHook(t *testing.T) {
	dir := t.TempDir()
	helm(t, "package", "charts/orderflow", "--destination", dir)
	pkgs, err := filepath.Glob(filepath.Join(dir, "orderflow-*.tgz"))
	if err != nil || len(pkgs) != 1 {
		t.Fatalf("packages %v, %v", pkgs, err)
	}
	if out := helm(t, "template", "orderflow", pkgs[0]); !strings.Contains(out, "helm.sh/hook: test") {
		t.Fatal("the packaged chart renders no test hook")
	}
}
