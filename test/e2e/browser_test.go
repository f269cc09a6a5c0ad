//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium finds Debian's Chromium; the suite fails without it (.ci/run
// installs the chromium package).
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	t.Fatal("Chromium not found: apt-get install chromium (or set CHROMIUM)")
	return ""
}

func browser(t *testing.T, width, height int) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(width, height),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first run starts the browser; it must not carry the timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancelTimeout)
	return ctx
}

// until evaluates a JavaScript condition in the page every 50 ms until it
// holds, for at most a minute. (Polled from here: chromedp's waits lean on
// the page's animation frames, which a headless tab does not always run.)
func until(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: never happened (%v)", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// click clicks an element from within the page, as the element is then.
func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("(document.querySelector("+strconv.Quote(sel)+").click(), true)")); err != nil {
		t.Fatalf("clicking %s: %v", sel, err)
	}
}

// placeOrder fills the form, submits it and returns what the page says
// (the order's id when it was placed; the message when it was refused).
func submitOrder(t *testing.T, ctx context.Context, customer, product, method string) (ok bool, note string) {
	t.Helper()
	before, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("note").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#customer"), customer),
		chromedp.SetValue(chromedp.CSS("#lines select"), product),
		chromedp.SetValue(chromedp.CSS("#pm"), method),
	); err != nil {
		t.Fatalf("filling the form: %v", err)
	}
	click(t, ctx, "#submit")
	until(t, ctx, "the page answering the order", `document.getElementById("note").textContent !== `+strconv.Quote(before)+
		` && !document.getElementById("submit").disabled`)
	note, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#note")))
	if err != nil {
		t.Fatal(err)
	}
	class, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("note").className`))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(class, "ok"), note
}

// placeOrder places an order with the form and returns its id.
func placeOrder(t *testing.T, ctx context.Context, customer, product, method string) string {
	t.Helper()
	ok, note := submitOrder(t, ctx, customer, product, method)
	id := strings.TrimSuffix(strings.TrimPrefix(note, "Order "), " placed.")
	if !ok || !strings.HasPrefix(id, "order-") {
		log, _ := os.ReadFile(filepath.Join(root, ".e2e", "logs", "api.log"))
		t.Fatalf("placing an order, the page said %q; the API's log ends:\n%s", note, log[max(0, len(log)-2000):])
	}
	return id
}

// shows waits until the order's row shows a phase.
func shows(t *testing.T, ctx context.Context, id, phase string) {
	t.Helper()
	until(t, ctx, id+" showing "+phase, `document.querySelector(`+strconv.Quote(row(id)+" .badge."+phase)+`)`)
}

func row(id string) string { return `tr[data-id="` + id + `"]` }

func TestThePageCreatesFollowsAndCancelsOrdersLive(t *testing.T) {
	ctx := browser(t, 1280, 900)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(apiURL+"/"),
		chromedp.WaitReady(chromedp.CSS(`#lines select option[value="PROD-002"]`)),
	); err != nil {
		t.Fatalf("loading the page: %v", err)
	}

	// An order placed with the form reaches Completed without a reload.
	done := placeOrder(t, ctx, "WEB-001", "PROD-002", "pm_card_visa")
	shows(t, ctx, done, "Completed")

	// A running order is cancelled with its button (its charge takes a second).
	running := placeOrder(t, ctx, "WEB-002", "PROD-002", "pm_card_visa")
	until(t, ctx, running+" offering Cancel", `document.querySelector(`+strconv.Quote(row(running)+" button[data-cancel]")+`)`)
	click(t, ctx, row(running)+" button[data-cancel]")
	shows(t, ctx, running, "Cancelled")

	// A declined card shows the failure reason plainly.
	failed := placeOrder(t, ctx, "WEB-003", "PROD-002", "pm_card_chargeDeclined")
	shows(t, ctx, failed, "Failed")
	why, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(row(failed)+` .why`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(why, "PaymentDeclined") || !strings.Contains(why, "declined") {
		t.Fatalf("the failure reads %q", why)
	}

	screenshot(t, ctx, "web.png")
	phone := browser(t, 390, 844)
	if err := chromedp.Do(phone, chromedp.Navigate(apiURL+"/")); err != nil {
		t.Fatalf("the page on a phone-sized screen: %v", err)
	}
	shows(t, phone, failed, "Failed")
	screenshot(t, phone, "web-phone.png")
}

// screenshot saves the page under $E2E_SCREENSHOTS (docs/ when refreshing
// the README's pictures), else in the test's temporary directory.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("E2E_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	} else if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
