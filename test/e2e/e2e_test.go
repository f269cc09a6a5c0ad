//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"orderflow.io/orderflow/internal/testenv"
	"orderflow.io/orderflow/test/scenarios"
)

// The suite runs its own stack on ports of its own, under .e2e/, so it
// neither needs nor disturbs a `make dev` stack.
var stackEnv = map[string]string{
	"DEV_DIR":              ".e2e",
	"DEV_PG_PORT":          "15432",
	"DEV_TEMPORAL_PORT":    "17233",
	"DEV_TEMPORAL_UI_PORT": "18233",
	"DEV_API_PORT":         "18080",
	"DEV_ETCD_PORT":        "12379",
	"DEV_KUBE_PORT":        "16443",
	"DEV_MANAGER_PORT":     "19090",
	"DEV_WORKER_PORT":      "19092",
	"DEV_MAILPIT_PORT":     "18025",
	"DEV_SMTP_PORT":        "11025",
	"DEV_SMTP_PASSWORD":    smtpPassword,
	// Each charge takes a second, so a test can act while one is in flight.
	"SANDBOX_LATENCY": "1s",
	// The webhook carrier books with the fulfillment service that
	// TestTheWebhookCarrierBooksWithAServiceThatAnswersWithEvents runs.
	"DEV_FULFILLMENT_WEBHOOK_URL": "http://127.0.0.1:18099/bookings",
}

var root string

func TestMain(m *testing.M) {
	var err error
	if root, err = testenv.Root(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// A stack left by an interrupted run is stopped and wiped first.
	_ = devScript("clean").Run()
	up := devScript("up")
	up.Stdout, up.Stderr = os.Stdout, os.Stderr
	code := 1
	if err := up.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: the local stack did not come up: %v\n", err)
	} else {
		code = m.Run()
		if err := secretsInLogs(filepath.Join(root, ".e2e", "logs")); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
			code = 1
		}
	}
	down := devScript("clean")
	down.Stdout, down.Stderr = os.Stdout, os.Stderr
	if err := down.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "tearing the stack down: %v\n", err)
	}
	os.Exit(code)
}

// smtpPassword is the password the suite's worker logs in to mailpit with.
const smtpPassword = "e2e-smtp-password-7f3a"

// secretsInLogs fails if any component's log holds a payment method token
// the suite used, the database password, a private key, a bearer token,
// the SMTP password, a Stripe key or a payload encryption key.
func secretsInLogs(dir string) error {
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(logs) == 0 {
		return fmt.Errorf("no component logs under %s (%v)", dir, err)
	}
	forbidden := append([]string{"pm_card_visa", "pm_card_chargeDeclined", "orderflow:orderflow@", "password=orderflow",
		"POSTGRES_PASSWORD=", "PRIVATE KEY", "Bearer ", smtpPassword, "sk_test_", "sk_live_"}, tokensUsed...)
	if shared, err := os.ReadFile(filepath.Join(filepath.Dir(dir), "fulfillment-secret")); err == nil && len(strings.TrimSpace(string(shared))) > 0 {
		forbidden = append(forbidden, strings.TrimSpace(string(shared)))
	}
	keys, err := os.ReadFile(filepath.Join(filepath.Dir(dir), "codec-keys"))
	if err != nil {
		return fmt.Errorf("the stack's codec keys: %w", err)
	}
	for _, line := range strings.Fields(string(keys)) {
		if _, key, ok := strings.Cut(line, "="); ok {
			forbidden = append(forbidden, key)
		}
	}
	for _, f := range logs {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		for _, s := range forbidden {
			if strings.Contains(string(b), s) {
				return fmt.Errorf("%s contains %q", f, s)
			}
		}
	}
	return nil
}

func devScript(verb string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(root, "hack", "dev.sh"), verb)
	cmd.Dir = root
	cmd.Env = os.Environ()
	for k, v := range stackEnv {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// kubectl runs bin/kubectl against the stack and returns its output.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := kubectlErr(args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func kubectlErr(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(root, "bin", "kubectl"), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(root, ".e2e", "kubeconfig"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// waitJSONPath waits until the jsonpath of an object prints want.
func waitJSONPath(t *testing.T, object, path, want string) {
	t.Helper()
	kubectl(t, "wait", object, "--for=jsonpath="+path+"="+want, "--timeout=60s")
}

func db(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), "postgres://orderflow:orderflow@127.0.0.1:15432/orderflow?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// target is the local stack, for the kubectl scenarios the cluster suite
// runs too.
func target(t *testing.T) scenarios.Target {
	return scenarios.Target{Root: root, Namespace: "default", DB: db(t),
		Kubectl: func(stdin string, args ...string) (string, error) {
			cmd := exec.Command(filepath.Join(root, "bin", "kubectl"), args...)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(root, ".e2e", "kubeconfig"))
			if stdin != "" {
				cmd.Stdin = strings.NewReader(stdin)
			}
			out, err := cmd.CombinedOutput()
			return string(out), err
		}}
}

func TestTheSamplesBehaveAsTheREADMESays(t *testing.T) { scenarios.Samples(t, target(t)) }

func TestPatchingCancelCancelsARunningOrderAndRefundsIt(t *testing.T) {
	scenarios.CancelRunning(t, target(t))
}

func TestDeletingARunningOrderCancelsItFirst(t *testing.T) { scenarios.DeleteRunning(t, target(t)) }

func TestAnInvalidOrderIsRefusedNamingTheField(t *testing.T) { scenarios.Invalid(t, target(t)) }

func TestACompletedOrderIsRefundedInPartWithKubectl(t *testing.T) {
	scenarios.PartialRefunds(t, target(t))
}

func TestAnOrderIsChangedWithKubectlUntilItsPayment(t *testing.T) {
	scenarios.Amendments(t, target(t))
}

func TestOrdersShipWithTheSandboxCarrier(t *testing.T) { scenarios.Fulfillment(t, target(t)) }
