package chart

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"orderflow.io/orderflow/internal/testenv"
)

// Settings that cannot work are refused when the chart renders, with a
// message that says what is missing.
func TestTheChartRefusesProviderSettingsThatCannotWork(t *testing.T) {
	testenv.Integration(t)
	bin, _ := testenv.Bin("helm")
	root, _ := repoRoot()
	for want, values := range map[string][]string{
		"worker.payment.stripe.existingSecret": {"worker.payment.gateway=stripe"},
		"worker.email.from":                    {"worker.email.host=smtp.example.com"},
		"needs codec.enabled":                  {"worker.codecServer.enabled=true", "codec.enabled=false"},
	} {
		cmd := exec.Command(bin, append([]string{"template", "x", "charts/orderflow"}, setArgs(values)...)...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("%v: %v\n%.300s\nwant an error naming %q", values, err, out, want)
		}
	}
}

// The chart's dashboard queries metrics OrderFlow and the Temporal SDK
// export: a renamed metric fails here, not on someone's empty panel.
func TestTheDashboardQueriesMetricsThatExist(t *testing.T) {
	root, _ := repoRoot()
	raw, err := os.ReadFile(filepath.Join(root, "charts/orderflow/files/dashboards/orderflow.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	var source strings.Builder
	for _, f := range []string{"controllers/metrics.go", "internal/httpapi/server.go"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		source.Write(b)
	}
	// The SDK's metric names, from the module the build uses.
	sdk, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/sdk").Output()
	if err != nil {
		t.Fatal(err)
	}
	constants, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(sdk)), "internal/common/metrics/constants.go"))
	if err != nil {
		t.Fatal(err)
	}
	sdkNames := constantValues(string(constants))
	name := regexp.MustCompile(`\b(orderflow|temporal)_[a-z_]+`)
	seen := 0
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			for _, m := range name.FindAllString(target.Expr, -1) {
				seen++
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_total"), "_seconds"), "_count")
				if strings.HasPrefix(m, "orderflow_") {
					base = strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_count")
					if !strings.Contains(source.String(), `"`+base+`"`) {
						t.Errorf("panel %q queries %s, which OrderFlow does not export", p.Title, m)
					}
				} else if !sdkNames[base] {
					t.Errorf("panel %q queries %s, which the Temporal SDK does not record (as %s)", p.Title, m, base)
				}
			}
		}
	}
	if seen < 10 {
		t.Fatalf("only %d metric references in the dashboard", seen)
	}
}

// constantValues evaluates the string constants of a Go source file made
// of literals and other constants joined with +: the SDK's metric names.
func constantValues(src string) map[string]bool {
	def := regexp.MustCompile(`(?m)^\s*(\w+)\s*=\s*(.+)$`)
	exprs := map[string]string{}
	for _, m := range def.FindAllStringSubmatch(src, -1) {
		exprs[m[1]] = m[2]
	}
	values := map[string]string{}
	var eval func(name string, depth int) (string, bool)
	eval = func(name string, depth int) (string, bool) {
		if v, ok := values[name]; ok {
			return v, true
		}
		expr, ok := exprs[name]
		if !ok || depth > 10 {
			return "", false
		}
		var out strings.Builder
		for _, term := range strings.Split(expr, "+") {
			term = strings.TrimSpace(term)
			if strings.HasPrefix(term, `"`) {
				out.WriteString(strings.Trim(term, `"`))
			} else if v, ok := eval(term, depth+1); ok {
				out.WriteString(v)
			} else {
				return "", false
			}
		}
		values[name] = out.String()
		return values[name], true
	}
	names := map[string]bool{}
	for name := range exprs {
		if v, ok := eval(name, 0); ok {
			names[v] = true
		}
	}
	return names
}
