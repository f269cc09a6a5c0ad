//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// tokensUsed are the bearer tokens the suite handed out: no log may hold
// one (secretsInLogs).
var tokensUsed []string

// serviceAccountToken creates a ServiceAccount in ns allowed verbs on
// Orders there, and returns a token for it from `kubectl create token`.
func serviceAccountToken(t *testing.T, ns, name, verbs string) string {
	t.Helper()
	kubectl(t, "-n", ns, "create", "serviceaccount", name)
	kubectl(t, "-n", ns, "create", "role", name, "--verb="+verbs, "--resource=orders.orderflow.io")
	kubectl(t, "-n", ns, "create", "rolebinding", name, "--role="+name, "--serviceaccount="+ns+":"+name)
	tok := strings.TrimSpace(kubectl(t, "-n", ns, "create", "token", name))
	tokensUsed = append(tokensUsed, tok)
	return tok
}

// kubernetesAuthAPI starts `orderflow api --auth=kubernetes` for ns against
// the suite's stack, as the chart runs it, and returns its URL.
func kubernetesAuthAPI(t *testing.T, ns string) string {
	t.Helper()
	const port = 18081
	logf, err := os.Create(filepath.Join(root, ".e2e", "logs", "api-kubernetes-auth.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(root, "bin", "orderflow"), "api", "--auth=kubernetes", "--namespace="+ns,
		fmt.Sprintf("--port=%d", port), "--bind=127.0.0.1", "--zap-log-level=debug",
		// Short review TTLs, so revocations reach open pages in seconds.
		"--auth-token-ttl=2s", "--auth-access-ttl=2s", "--auth-denied-ttl=1s")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(root, ".e2e", "kubeconfig"),
		"POSTGRES_HOST=127.0.0.1", "POSTGRES_PORT=15432", "POSTGRES_USER=orderflow", "POSTGRES_PASSWORD=orderflow",
		"POSTGRES_DB=orderflow", "POSTGRES_SSLMODE=disable")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait(); logf.Close() })
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return url
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API under --auth=kubernetes did not become ready: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// signIn pastes a token into the page's login form.
func signIn(t *testing.T, ctx context.Context, url, token string) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(url+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#login #token`)),
	); err != nil {
		t.Fatalf("the page asked for no token: %v", err)
	}
	screenshot(t, ctx, "web-login.png")
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitNotVisible(chromedp.CSS("#login")),
		chromedp.WaitReady(chromedp.CSS(`#lines select option[value="PROD-002"]`)),
	); err != nil {
		t.Fatalf("signing in: %v", err)
	}
}

// TestThePageUnderKubernetesAuth signs in with real ServiceAccount tokens
// against the API as the chart runs it (--auth=kubernetes): a clerk places
// an order and watches it complete live, cancels another; a viewer sees the
// orders but is told plainly that it may not place one.
func TestThePageUnderKubernetesAuth(t *testing.T) {
	ns := "webauth"
	kubectl(t, "create", "namespace", ns)
	clerk := serviceAccountToken(t, ns, "clerk", "create,get,list,watch,patch")
	viewer := serviceAccountToken(t, ns, "viewer", "get,list,watch")
	url := kubernetesAuthAPI(t, ns)

	ctx := browser(t, 1280, 900)
	signIn(t, ctx, url, clerk)
	done := placeOrder(t, ctx, "AUTH-001", "PROD-002", "pm_card_visa")
	shows(t, ctx, done, "Completed")
	running := placeOrder(t, ctx, "AUTH-002", "PROD-002", "pm_card_visa")
	until(t, ctx, running+" offering Cancel", `document.querySelector(`+strconv.Quote(row(running)+" button[data-cancel]")+`)`)
	click(t, ctx, row(running)+" button[data-cancel]")
	shows(t, ctx, running, "Cancelled")
	screenshot(t, ctx, "web-signed-in.png")

	// The completed order's own page: its steps, its capture, its notice.
	click(t, ctx, row(done)+" td strong a")
	until(t, ctx, done+"'s own page", `document.querySelector("#detail .timeline li.done:nth-child(4)") && document.querySelector("#detail table td code")`)
	page, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#detail")))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Order " + done, "CustomerNotified", "capture", "49.90 USD", "completed"} {
		if !strings.Contains(page, want) {
			t.Fatalf("%s's page lacks %q:\n%s", done, want, page)
		}
	}
	screenshot(t, ctx, "web-order.png")

	// A fresh browser: the token was kept for that tab only.
	view := browser(t, 1280, 900)
	signIn(t, view, url, viewer)
	shows(t, view, done, "Completed")
	ok, note := submitOrder(t, view, "AUTH-003", "PROD-002", "pm_card_visa")
	if ok || !strings.Contains(note, "Not allowed") || !strings.Contains(note, "may not create orders in namespace "+ns) {
		t.Fatalf("the viewer placing an order read %q", note)
	}

	// Access lost while the page is open ends its live stream and brings
	// the login back, saying why: a removed RoleBinding, a deleted
	// ServiceAccount (its token is revoked with it).
	for _, c := range []struct{ account, note string }{
		{"unbound", "Not allowed any more"},
		{"deleted", "That token was refused"},
	} {
		tok := serviceAccountToken(t, ns, c.account, "get,list,watch")
		open := browser(t, 1280, 900)
		signIn(t, open, url, tok)
		shows(t, open, done, "Completed")
		if c.account == "unbound" {
			kubectl(t, "-n", ns, "delete", "rolebinding", c.account)
		} else {
			kubectl(t, "-n", ns, "delete", "serviceaccount", c.account)
		}
		revoked := time.Now()
		wait, cancel := context.WithTimeout(open, 45*time.Second)
		var note string
		err := chromedp.Do(wait, chromedp.WaitVisible(chromedp.CSS(`#login #token`)))
		if err == nil {
			note, err = chromedp.Run(wait, chromedp.Text(chromedp.CSS("#loginnote")))
		}
		cancel()
		if err != nil || !strings.Contains(note, c.note) {
			t.Fatalf("the page of the %s account, %s after the revocation: %v, note %q; want the login with %q", c.account, time.Since(revoked).Round(time.Second), err, note, c.note)
		}
		t.Logf("the %s account's page asked to sign in %s after the revocation: %s", c.account, time.Since(revoked).Round(100*time.Millisecond), note)
	}

	// A token the API server refuses brings the login back, saying so.
	bad := browser(t, 1280, 900)
	if err := chromedp.Do(bad,
		chromedp.Navigate(url+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#login #token`)),
		chromedp.SendKeys(chromedp.CSS("#token"), "not-a-token"),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS(`#loginnote:not(:empty)`)),
	); err != nil {
		t.Fatalf("a refused token: %v", err)
	}
}
