package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
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

// TestTheRealTemporalServerRunsAWorkflowOnPostgres starts the real server
// the way the local stack's DEV_TEMPORAL=server does and follows a started
// workflow's history on it.
func TestTheRealTemporalServerRunsAWorkflowOnPostgres(t *testing.T) {
	Integration(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{Postgres: true, Temporal: true, TemporalServer: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	c, err := s.Temporal.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "no-worker", TaskQueue: "nobody-polls"}, "SomeWorkflow")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.WorkflowService().GetWorkflowExecutionHistory(ctx, &workflowservice.GetWorkflowExecutionHistoryRequest{
		Namespace: s.Temporal.Namespace, Execution: &commonpb.WorkflowExecution{WorkflowId: run.GetID(), RunId: run.GetRunID()}})
	if err != nil {
		t.Fatal(err)
	}
	if evs := resp.GetHistory().GetEvents(); len(evs) == 0 || evs[0].GetEventType() != enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED {
		t.Fatalf("history %v", evs)
	}
	t.Logf("the real server started in %s", s.Temporal.Started.Round(time.Millisecond))
}
