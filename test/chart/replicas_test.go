package chart

import (
	"fmt"

	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestTwoOfEverythingGetsDisruptionBudgetsAndASpread renders the chart with
// two replicas of each component: each gets a PodDisruptionBudget selecting
// exactly its Pods (one down at a time in a drain) and its Pods spread over
// nodes and zones; with one replica, no budget blocks a drain.
func TestTwoOfEverythingGetsDisruptionBudgetsAndASpread(t *testing.T) {
	objs := render(t, []string{"api.replicas=2", "worker.replicas=2", "manager.replicas=2"})
	for _, c := range []string{"api", "worker", "manager"} {
		name := "orderflow-" + c
		pdb := find(objs, "PodDisruptionBudget", name)
		if pdb == nil {
			t.Fatalf("no PodDisruptionBudget %s", name)
		}
		if v, _, _ := unstructured.NestedFieldNoCopy(pdb.Object, "spec", "maxUnavailable"); fmt.Sprint(v) != "1" {
			t.Errorf("%s: maxUnavailable %v; want 1", name, v)
		}
		dep := find(objs, "Deployment", name)
		want, _, _ := unstructured.NestedStringMap(dep.Object, "spec", "selector", "matchLabels")
		got, _, _ := unstructured.NestedStringMap(pdb.Object, "spec", "selector", "matchLabels")
		if len(got) == 0 || len(got) != len(want) || got["app.kubernetes.io/component"] != c {
			t.Errorf("%s selects %v; its Deployment's Pods are %v", name, got, want)
		}
		spread, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "topologySpreadConstraints")
		keys := map[string]bool{}
		for _, s := range spread {
			k, _, _ := unstructured.NestedString(s.(map[string]any), "topologyKey")
			keys[k] = true
		}
		if !keys["kubernetes.io/hostname"] || !keys["topology.kubernetes.io/zone"] {
			t.Errorf("%s's Pods spread over %v; want nodes and zones", name, keys)
		}
	}
	if pdb := find(render(t, nil), "PodDisruptionBudget", ""); pdb != nil {
		t.Errorf("one replica each, yet %s blocks drains", pdb.GetName())
	}
}
