package chart

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// toLua converts decoded JSON into Lua values, as Argo CD hands objects to
// health scripts.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		t := L.NewTable()
		for k, x := range v {
			t.RawSetString(k, toLua(L, x))
		}
		return t
	case []any:
		t := L.NewTable()
		for _, x := range v {
			t.Append(toLua(L, x))
		}
		return t
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case bool:
		return lua.LBool(v)
	}
	return lua.LNil
}

func health(t *testing.T, order string) (status, message string) {
	t.Helper()
	var obj map[string]any
	if err := json.Unmarshal([]byte(order), &obj); err != nil {
		t.Fatal(err)
	}
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("obj", toLua(L, obj))
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := L.DoFile(filepath.Join(root, "config", "argocd", "health.lua")); err != nil {
		t.Fatal(err)
	}
	hs, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("the script returned %v, not a table", L.Get(-1))
	}
	return hs.RawGetString("status").String(), hs.RawGetString("message").String()
}

func TestTheArgoCDHealthCheckReadsOrders(t *testing.T) {
	for _, tc := range []struct {
		name, order, status, contains string
	}{
		{"new, no status", `{"metadata":{"generation":1},"spec":{}}`, "Progressing", "Waiting"},
		{"pending", `{"metadata":{"generation":1},"status":{"observedGeneration":1,"phase":"Pending"}}`, "Progressing", "Pending"},
		{"running", `{"metadata":{"generation":1},"status":{"observedGeneration":1,"phase":"Processing","step":"InventoryReserved"}}`, "Progressing", "InventoryReserved"},
		{"cancelling", `{"metadata":{"generation":2},"status":{"observedGeneration":2,"phase":"Cancelling"}}`, "Progressing", "Cancelling"},
		{"completed", `{"metadata":{"generation":1},"status":{"observedGeneration":1,"phase":"Completed","total":"1299.99"}}`, "Healthy", "1299.99"},
		{"failed", `{"metadata":{"generation":1},"status":{"observedGeneration":1,"phase":"Failed","reason":"OutOfStock","message":"not enough stock of PROD-003"}}`, "Degraded", "OutOfStock"},
		{"cancelled", `{"metadata":{"generation":2},"status":{"observedGeneration":2,"phase":"Cancelled","reason":"Cancelled"}}`, "Degraded", "Cancelled"},
		{"completed but the spec changed since", `{"metadata":{"generation":2},"status":{"observedGeneration":1,"phase":"Completed"}}`, "Progressing", "latest spec"},
		{"failed, status not yet observed", `{"metadata":{"generation":3},"status":{"phase":"Failed"}}`, "Progressing", "latest spec"},
		{"completed, a change refused", `{"metadata":{"generation":3},"status":{"observedGeneration":3,"phase":"Completed","conditions":[{"type":"Ready","status":"True","reason":"Completed"},{"type":"Stalled","status":"True","reason":"TooLate","message":"the change of generation 3 was refused"},{"type":"Amended","status":"False","reason":"TooLate"}]}}`, "Degraded", "TooLate"},
		{"running, a change refused", `{"metadata":{"generation":2},"status":{"observedGeneration":2,"phase":"Processing","conditions":[{"type":"Stalled","status":"True","reason":"OutOfStock","message":"not enough stock of PROD-003"}]}}`, "Degraded", "OutOfStock"},
		{"completed, a change put back", `{"metadata":{"generation":4},"status":{"observedGeneration":4,"phase":"Completed","total":"10.00","conditions":[{"type":"Stalled","status":"False","reason":"Completed"},{"type":"Amended","status":"False","reason":"Reverted"}]}}`, "Healthy", "10.00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, message := health(t, tc.order)
			if status != tc.status || !strings.Contains(message, tc.contains) {
				t.Fatalf("%s / %q; want %s with %q", status, message, tc.status, tc.contains)
			}
		})
	}
}
