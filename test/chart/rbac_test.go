package chart

import (
	"slices"
	"sort"
	"strings"
	"testing"
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
