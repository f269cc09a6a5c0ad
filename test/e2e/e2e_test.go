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
	"time"

	"github.com/jackc/pgx/v5"

	"orderflow.io/orderflow/internal/testenv"
	"orderflow.io/orderflow/workflows"
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

func queryInt(t *testing.T, conn *pgx.Conn, q string, args ...any) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// key is the identity of the order an Order places: its record's key.
func key(t *testing.T, name string) string {
	return workflows.Key(strings.TrimSpace(kubectl(t, "get", "order", name, "-o", "jsonpath={.metadata.namespace}")), name)
}

func TestTheSamplesBehaveAsTheREADMESays(t *testing.T) {
	conn := db(t)
	stockBefore := queryInt(t, conn, `SELECT stock FROM products WHERE id = 'PROD-002'`)
	laptopsBefore := queryInt(t, conn, `SELECT stock FROM products WHERE id = 'PROD-001'`)

	kubectl(t, "apply", "-f", "config/samples/")
	kubectl(t, "wait", "--for=condition=Ready", "order/order-001", "--timeout=60s")
	waitJSONPath(t, "order/order-002", "{.status.phase}", "Failed")
	waitJSONPath(t, "order/order-003", "{.status.phase}", "Failed")
	waitJSONPath(t, "order/order-004", "{.status.phase}", "Cancelled")

	for _, args := range [][]string{{"get", "orders"}, {"get", "ord"}, {"get", "orderflow"}, {"get", "orders.orderflow.io"}} {
		out := kubectl(t, args...)
		for _, col := range []string{"CUSTOMER", "TOTAL", "PHASE", "STEP", "AGE", "order-001", "Completed", "1399.79"} {
			if !strings.Contains(out, col) {
				t.Fatalf("kubectl %s lacks %s:\n%s", strings.Join(args, " "), col, out)
			}
		}
	}
	wide := kubectl(t, "get", "orders", "-o", "wide")
	for _, s := range []string{"WORKFLOW", "MESSAGE", "not enough stock of PROD-003", "the card was declined"} {
		if !strings.Contains(wide, s) {
			t.Fatalf("kubectl get orders -o wide lacks %q:\n%s", s, wide)
		}
	}
	if r := kubectl(t, "get", "order", "order-002", "-o", "jsonpath={.status.reason}"); r != "OutOfStock" {
		t.Fatalf("order-002 reason %q", r)
	}
	if r := kubectl(t, "get", "order", "order-003", "-o", "jsonpath={.status.reason}"); r != "PaymentDeclined" {
		t.Fatalf("order-003 reason %q", r)
	}

	describe := kubectl(t, "describe", "order", "order-001")
	for _, s := range []string{"Events:", "Accepted", "InventoryReserved", "PaymentCaptured", "CustomerNotified", "Order completed"} {
		if !strings.Contains(describe, s) {
			t.Fatalf("kubectl describe lacks %s:\n%s", s, describe)
		}
	}

	// PostgreSQL agrees: order-001 took one laptop and two mice, order-003's
	// mouse went back when the card was declined.
	if got := queryInt(t, conn, `SELECT stock FROM products WHERE id = 'PROD-002'`); got != stockBefore-2 {
		t.Fatalf("PROD-002 stock %d -> %d; want -2", stockBefore, got)
	}
	if got := queryInt(t, conn, `SELECT stock FROM products WHERE id = 'PROD-001'`); got != laptopsBefore-1 {
		t.Fatalf("PROD-001 stock %d -> %d; want -1", laptopsBefore, got)
	}
	if n := queryInt(t, conn, `SELECT count(*) FROM payments WHERE order_uid = $1 AND kind = 'capture'`, key(t, "order-001")); n != 1 {
		t.Fatalf("order-001 has %d captures", n)
	}
	for _, name := range []string{"order-002", "order-003", "order-004"} {
		if n := queryInt(t, conn, `SELECT count(*) FROM payments WHERE order_uid = $1`, key(t, name)); n != 0 {
			t.Fatalf("%s has %d payments", name, n)
		}
	}
}

const runningOrder = `apiVersion: orderflow.io/v1alpha1
kind: Order
metadata:
  name: %s
spec:
  customerID: CUST-009
  items:
  - productID: PROD-002
    quantity: 3
`

func applyOrder(t *testing.T, name string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(f, []byte(fmt.Sprintf(runningOrder, name)), 0o644); err != nil {
		t.Fatal(err)
	}
	kubectl(t, "apply", "-f", f)
}

func TestPatchingCancelCancelsARunningOrderAndRefundsIt(t *testing.T) {
	conn := db(t)
	before := queryInt(t, conn, `SELECT stock FROM products WHERE id = 'PROD-002'`)
	applyOrder(t, "cancel-me")
	// The charge takes a second: cancel while it is in flight.
	waitJSONPath(t, "order/cancel-me", "{.status.step}", "InventoryReserved")
	kubectl(t, "patch", "order", "cancel-me", "--type", "merge", "-p", `{"spec":{"cancel":true}}`)
	waitJSONPath(t, "order/cancel-me", "{.status.phase}", "Cancelled")
	id := key(t, "cancel-me")
	if n := queryInt(t, conn, `SELECT count(*) FROM payments WHERE order_uid = $1 AND kind = 'refund'`, id); n != 1 {
		t.Fatalf("%d refunds", n)
	}
	if got := queryInt(t, conn, `SELECT stock FROM products WHERE id = 'PROD-002'`); got != before {
		t.Fatalf("stock %d -> %d after a cancelled order", before, got)
	}
	out := kubectl(t, "describe", "order", "cancel-me")
	if !strings.Contains(out, "Cancelled") {
		t.Fatalf("describe lacks the cancellation:\n%s", out)
	}
}

func TestDeletingARunningOrderCancelsItFirst(t *testing.T) {
	conn := db(t)
	applyOrder(t, "delete-me")
	waitJSONPath(t, "order/delete-me", "{.status.step}", "InventoryReserved")
	id := key(t, "delete-me")
	start := time.Now()
	kubectl(t, "delete", "order", "delete-me", "--timeout=60s")
	t.Logf("deleting a running order took %s (compensation included)", time.Since(start).Round(time.Millisecond))
	if _, err := kubectlErr("get", "order", "delete-me"); err == nil {
		t.Fatal("the order is still there")
	}
	if n := queryInt(t, conn, `SELECT count(*) FROM orders WHERE uid = $1 AND status = 'cancelled'`, id); n != 1 {
		t.Fatal("the deleted order is not recorded as cancelled")
	}
	if n := queryInt(t, conn, `SELECT count(*) FROM inventory_reservations WHERE order_uid = $1 AND status = 'held'`, id); n != 0 {
		t.Fatal("the deleted order still holds stock")
	}
	captures := queryInt(t, conn, `SELECT count(*) FROM payments WHERE order_uid = $1 AND kind = 'capture'`, id)
	refunds := queryInt(t, conn, `SELECT count(*) FROM payments WHERE order_uid = $1 AND kind = 'refund'`, id)
	if captures != refunds {
		t.Fatalf("%d captures, %d refunds", captures, refunds)
	}
}
