package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/api/workflowservice/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

func TestAllThreeComponentsStartAnswerAndStop(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: starts kube-apiserver, Temporal and PostgreSQL")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	s, err := Start(ctx, Options{Kube: true, Temporal: true, Postgres: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	t.Logf("stack started in %s (PostgreSQL %s, Temporal %s)", time.Since(start).Round(time.Millisecond),
		s.Postgres.Started.Round(time.Millisecond), s.Temporal.Started.Round(time.Millisecond))

	cs, err := kubernetes.NewForConfig(s.Kube.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "smoke"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("API server did not create a namespace: %v", err)
	}

	tc, err := s.Temporal.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	resp, err := tc.WorkflowService().ListNamespaces(ctx, &workflowservice.ListNamespacesRequest{})
	if err != nil || len(resp.GetNamespaces()) == 0 {
		t.Fatalf("Temporal listed no namespaces: %v", err)
	}

	conn, err := pgx.Connect(ctx, s.Postgres.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var two int
	if err := conn.QueryRow(ctx, "SELECT 1 + 1").Scan(&two); err != nil || two != 2 {
		t.Fatalf("PostgreSQL answered %d, %v", two, err)
	}
}
