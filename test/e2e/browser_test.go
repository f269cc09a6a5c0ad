//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
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

// placeOrder fills the form and returns the id the page reports.
func placeOrder(t *testing.T, ctx context.Context, customer, product, method string) string {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#customer"), customer),
		chromedp.SetValue(chromedp.CSS("#lines select"), product),
		chromedp.SetValue(chromedp.CSS("#pm"), method),
		chromedp.Steps(func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Evaluate[any](`document.getElementById("note").className = "note"`)(ctx, t)
			return chromedp.Void{}, err
		}),
		chromedp.Click(chromedp.CSS("#submit")),
		chromedp.WaitVisible(chromedp.CSS(`#note.ok`)),
	)
	var note string
	if err == nil {
		note, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#note")))
	}
	if err != nil {
		t.Fatalf("placing an order: %v (note %q)", err, note)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(note, "Order "), " placed.")
	if !strings.HasPrefix(id, "order-") {
		t.Fatalf("the page said %q", note)
	}
	return id
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
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(row(done)+` .badge.Completed`))); err != nil {
		t.Fatalf("%s never showed Completed: %v", done, err)
	}

	// A running order is cancelled with its button (its charge takes a second).
	running := placeOrder(t, ctx, "WEB-002", "PROD-002", "pm_card_visa")
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(row(running)+` button[data-cancel]`)),
		chromedp.WaitVisible(chromedp.CSS(row(running)+` .badge.Cancelled`)),
	); err != nil {
		t.Fatalf("cancelling %s from the page: %v", running, err)
	}

	// A declined card shows the failure reason plainly.
	failed := placeOrder(t, ctx, "WEB-003", "PROD-002", "pm_card_chargeDeclined")
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(row(failed)+` .badge.Failed`))); err != nil {
		t.Fatalf("%s never showed Failed: %v", failed, err)
	}
	why, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(row(failed)+` .why`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(why, "PaymentDeclined") || !strings.Contains(why, "declined") {
		t.Fatalf("the failure reads %q", why)
	}

	screenshot(t, ctx, "web.png")
	phone := browser(t, 390, 844)
	if err := chromedp.Do(phone, chromedp.Navigate(apiURL+"/"), chromedp.WaitVisible(chromedp.CSS(row(failed)+` .badge.Failed`))); err != nil {
		t.Fatalf("the page on a phone-sized screen: %v", err)
	}
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
