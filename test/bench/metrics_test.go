package main

import (
	"strings"
	"testing"
)

func TestSumMatchesLabelsAndTreatsAnEmptyValueAsMissing(t *testing.T) {
	m, err := parse(strings.NewReader(`# TYPE apiserver_request_total counter
apiserver_request_total{resource="orders",subresource="status",verb="PATCH",code="200"} 7
apiserver_request_total{resource="orders",subresource="status",verb="PATCH",code="409"} 1
apiserver_request_total{resource="orders",verb="PATCH",code="200"} 3
apiserver_request_total{resource="orders",subresource="",verb="POST",code="201"} 5
apiserver_request_total{resource="pods",verb="PATCH",code="200"} 100
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 1.5
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"apiserver_request_total", []string{"resource", "orders", "subresource", "status", "verb", "PATCH"}, 8},
		{"apiserver_request_total", []string{"resource", "orders", "subresource", "", "verb", "PATCH"}, 3},
		{"apiserver_request_total", []string{"resource", "orders", "subresource", ""}, 8},
		{"process_cpu_seconds_total", nil, 1.5},
		{"absent_total", nil, 0},
	} {
		if got := m.sum(tc.name, tc.labels...); got != tc.want {
			t.Errorf("sum(%s, %v) = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}
