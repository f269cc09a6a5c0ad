package chart

import (
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"

	"orderflow.io/orderflow/internal/testenv"
)

// documented is docs/rbac.md as data: "group resource" -> verbs. A change to
// the generated roles must change this table and the document with it.
var documented = map[string]map[string][]string{
	"config/rbac/manager/role.yaml": {
		"orderflow.io orders":            {"get", "list", "patch", "watch"},
		"orderflow.io orders/status":     {"patch"},
		"orderflow.io orders/finalizers": {"update"},
		"events.k8s.io events":           {"create", "patch"},
		" events":                        {"create", "patch"},
		"coordination.k8s.io leases":     {"create", "get", "update"},
	},
	"config/rbac/api/role.yaml": {
		"orderflow.io orders":                       {"create", "get", "list", "patch", "watch"},
		"authentication.k8s.io tokenreviews":        {"create"},
		"authorization.k8s.io subjectaccessreviews": {"create"},
	},
}

func TestTheGeneratedRolesAreExactlyTheDocumentedOnes(t *testing.T) {
	for file, want := range documented {
		got := map[string][]string{}
		for _, r := range readYAML(t, file)["rules"].([]any) {
			rule := r.(map[string]any)
			for _, g := range rule["apiGroups"].([]any) {
				for _, res := range rule["resources"].([]any) {
					key := g.(string) + " " + res.(string)
					for _, v := range rule["verbs"].([]any) {
						got[key] = append(got[key], v.(string))
					}
					sort.Strings(got[key])
				}
			}
		}
		for key, verbs := range got {
			if !slices.Equal(verbs, want[key]) {
				t.Errorf("%s grants %q: %s; docs/rbac.md says %s", file, key, strings.Join(verbs, ","), strings.Join(want[key], ","))
			}
		}
		for key := range want {
			if _, ok := got[key]; !ok {
				t.Errorf("%s no longer grants %q: update docs/rbac.md and this test", file, key)
			}
		}
	}
}

// TestTheAPIReadsOrdersOnlyWhereItServes: the API's own rights on Orders
// follow api.namespaces: a Role and RoleBinding in the release namespace
// and each one listed, or one ClusterRole with "*".
func TestTheAPIReadsOrdersOnlyWhereItServes(t *testing.T) {
	testenv.Integration(t)
	where := func(values ...string) (roles []string, cluster bool) {
		for _, o := range render(t, values) {
			switch {
			case o.GetKind() == "RoleBinding" && o.GetName() == "orderflow-api":
				roles = append(roles, o.GetNamespace())
			case o.GetKind() == "ClusterRoleBinding" && o.GetName() == "orderflow-api-orders":
				cluster = true
			}
		}
		sort.Strings(roles)
		return roles, cluster
	}
	if roles, cluster := where(); !slices.Equal(roles, []string{"shop"}) || cluster {
		t.Fatalf("default: Roles in %v, cluster-wide %v; want the release namespace only", roles, cluster)
	}
	if roles, cluster := where("api.namespaces={shop-eu,shop}"); !slices.Equal(roles, []string{"shop", "shop-eu"}) || cluster {
		t.Fatalf("two namespaces: Roles in %v, cluster-wide %v", roles, cluster)
	}
	if roles, cluster := where("api.namespaces={*}"); len(roles) != 0 || !cluster {
		t.Fatalf("every namespace: Roles in %v, cluster-wide %v; want one ClusterRoleBinding", roles, cluster)
	}
}

// TestOtherNamespacesAreServedOnlyUnderKubernetesAuth: with auth none
// anyone reaching the API acts with its rights, so the chart refuses to
// spread those rights to other namespaces, saying why.
func TestOtherNamespacesAreServedOnlyUnderKubernetesAuth(t *testing.T) {
	testenv.Integration(t)
	bin, _ := testenv.Bin("helm")
	root, _ := repoRoot()
	cmd := exec.Command(bin, "template", "x", "charts/orderflow", "--set", "api.auth=none", "--set", "api.namespaces={shop-eu}")
	cmd.Dir = root
	raw, err := cmd.CombinedOutput()
	out := string(raw)
	if err == nil || !strings.Contains(out, "api.namespaces needs api.auth=kubernetes") {
		t.Fatalf("rendered, or failed without saying why: %v\n%.300s", err, out)
	}
}
