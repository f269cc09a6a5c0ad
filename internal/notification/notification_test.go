// Tests of customer email against a real SMTP server (mailpit, started by
// testenv; messages read back through its API) and a real PostgreSQL.
package notification_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/go-logr/logr"

	"orderflow.io/orderflow/internal/catalog"
	"orderflow.io/orderflow/internal/notification"
	"orderflow.io/orderflow/internal/testenv"
)

var stack *testenv.Stack

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Options{Postgres: true, Mailpit: true}, &stack)
}

func TestBadSMTPSettingsAreNamed(t *testing.T) {
	good := notification.SMTPConfig{Host: "smtp.example.com", Port: 587, TLS: "starttls", From: "OrderFlow <orders@example.com>"}
	for _, tc := range []struct {
		change func(*notification.SMTPConfig)
		want   string
	}{
		{func(c *notification.SMTPConfig) { c.Host = "" }, "no host"},
		{func(c *notification.SMTPConfig) { c.Port = 70000 }, "port 70000"},
		{func(c *notification.SMTPConfig) { c.TLS = "ssl" }, `TLS mode "ssl"`},
		{func(c *notification.SMTPConfig) { c.From = "not an address" }, "from-address"},
		{func(c *notification.SMTPConfig) { c.Password = "s3cret-pw" }, "no username"},
	} {
		cfg := good
		tc.change(&cfg)
		_, err := notification.NewMailer(cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("%+v: %v; want %q", cfg, err, tc.want)
		}
	}
	if _, err := notification.NewMailer(good); err != nil {
		t.Fatal(err)
	}
}

type mailpitMessage struct {
	ID        string
	MessageID string
	Subject   string
	To        []struct{ Address string }
}

// inbox lists the messages mailpit holds for recipient.
func inbox(t *testing.T, recipient string) []mailpitMessage {
	t.Helper()
	resp, err := http.Get(stack.Mailpit.URL + "/api/v1/search?query=" + "to:" + recipient)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Messages []mailpitMessage }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Messages
}

// total is how many messages mailpit holds, for every recipient.
func total(t *testing.T) int {
	t.Helper()
	resp, err := http.Get(stack.Mailpit.URL + "/api/v1/messages")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Total int }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Total
}

func body(t *testing.T, id string) (text, html string) {
	t.Helper()
	resp, err := http.Get(stack.Mailpit.URL + "/api/v1/message/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Text, HTML string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Text, out.HTML
}

func notifier(t *testing.T, cfg notification.SMTPConfig) (*notification.Notifier, func(key string)) {
	t.Helper()
	d := stack.TestDB(t, 10)
	ctx := context.Background()
	if err := catalog.Upsert(ctx, d, catalog.DemoCatalog); err != nil {
		t.Fatal(err)
	}
	m, err := notification.NewMailer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := &notification.Notifier{DB: d, Log: logr.Discard(), Mailer: m}
	return n, func(key string) { testenv.PlaceOrder(t, d, key, "PROD-001", 2) }
}

func mailpitConfig(t *testing.T) notification.SMTPConfig {
	host, port, _ := net.SplitHostPort(stack.Mailpit.SMTPAddr)
	p, _ := strconv.Atoi(port)
	return notification.SMTPConfig{Host: host, Port: p, TLS: "none", Username: "orderflow", Password: "mailpit-accepts-any",
		From: "OrderFlow <orders@shop.example>"}
}

func TestTheCustomerGetsAnEmailOnceItIsRecordedDelivered(t *testing.T) {
	n, place := notifier(t, mailpitConfig(t))
	ctx := context.Background()
	place("shop/order-mail")
	to := "jane.mail@customer.example"
	msg := notification.Notification{OrderKey: "shop/order-mail", Order: "shop/order-mail", Kind: "completed", Recipient: to, Message: "Your order is complete."}
	if err := n.Send(ctx, msg); err != nil {
		t.Fatal(err)
	}
	got := inbox(t, to)
	if len(got) != 1 {
		t.Fatalf("%d messages for %s; want 1", len(got), to)
	}
	if got[0].Subject != "Your order shop/order-mail is confirmed" || got[0].To[0].Address != to {
		t.Fatalf("message %+v", got[0])
	}
	text, html := body(t, got[0].ID)
	// Two Laptops at 1299.99: 2599.98.
	for _, want := range []string{"2 x Laptop (PROD-001) at 1299.99: 2599.98", "Total: 2599.98 USD"} {
		if !strings.Contains(text, want) {
			t.Fatalf("text body lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(html, "<b>2599.98 USD</b>") {
		t.Fatalf("HTML body lacks the total:\n%s", html)
	}

	// Recorded as delivered: a retried activity sends nothing more.
	if err := n.Send(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if got := inbox(t, to); len(got) != 1 {
		t.Fatalf("%d messages after a retry of a delivered notification; want 1", len(got))
	}
}

// SMTP has no idempotency: when the worker dies after the server took the
// message but before the delivery was recorded, the retry sends it again.
// Both copies carry the same Message-ID, so a receiver can drop the second;
// this test shows the two copies as they are.
func TestARetryAfterACrashBetweenSendingAndRecordingSendsACopyWithTheSameMessageID(t *testing.T) {
	n, place := notifier(t, mailpitConfig(t))
	ctx := context.Background()
	place("shop/order-crash")
	to := "crash.mail@customer.example"
	msg := notification.Notification{OrderKey: "shop/order-crash", Order: "shop/order-crash", Kind: "cancelled", Recipient: to, Message: "Cancelled."}
	if err := n.Send(ctx, msg); err != nil {
		t.Fatal(err)
	}
	// What a crash right after the send leaves: the row, not delivered.
	if _, err := n.DB.Pool.Exec(ctx, `UPDATE notifications SET delivered_at = NULL WHERE order_key = 'shop/order-crash'`); err != nil {
		t.Fatal(err)
	}
	if err := n.Send(ctx, msg); err != nil {
		t.Fatal(err)
	}
	got := inbox(t, to)
	if len(got) != 2 {
		t.Fatalf("%d messages; want the two copies", len(got))
	}
	if got[0].MessageID != got[1].MessageID || got[0].MessageID != n.Mailer.MessageID("shop/order-crash", "cancelled") {
		t.Fatalf("Message-IDs %q and %q; want both %q", got[0].MessageID, got[1].MessageID, n.Mailer.MessageID("shop/order-crash", "cancelled"))
	}
}

func TestAnSMTPServerThatDoesNotAnswerLeavesTheNotificationUndelivered(t *testing.T) {
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := mailpitConfig(t)
	cfg.Port = port
	n, place := notifier(t, cfg)
	ctx := context.Background()
	place("shop/order-nosmtp")
	err = n.Send(ctx, notification.Notification{OrderKey: "shop/order-nosmtp", Order: "shop/order-nosmtp", Kind: "completed", Recipient: "x@customer.example", Message: "Done."})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("smtp 127.0.0.1:%d", port)) || strings.Contains(err.Error(), cfg.Password) {
		t.Fatalf("%v; want an error naming the SMTP server", err)
	}
	var delivered bool
	if err := n.DB.Pool.QueryRow(ctx, `SELECT delivered_at IS NOT NULL FROM notifications WHERE order_key = 'shop/order-nosmtp'`).Scan(&delivered); err != nil || delivered {
		t.Fatalf("delivered %v (%v); want recorded, not delivered", delivered, err)
	}
}

func TestNoEmailWithoutARecipient(t *testing.T) {
	n, place := notifier(t, mailpitConfig(t))
	place("shop/order-norcpt")
	before := total(t)
	if err := n.Send(context.Background(), notification.Notification{OrderKey: "shop/order-norcpt", Order: "shop/order-norcpt", Kind: "completed", Message: "Done."}); err != nil {
		t.Fatal(err)
	}
	if after := total(t); after != before {
		t.Fatalf("mailpit held %d messages before, %d after notifying an order without an email", before, after)
	}
}
