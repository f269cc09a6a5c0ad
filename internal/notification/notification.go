// Package notification records customer notifications in PostgreSQL and
// delivers them: always to the log, to a webhook signed with HMAC-SHA256
// when one is configured, and by email over SMTP when a mailer is
// configured and the order has a customer email. Each (order, kind) is
// recorded once and marked delivered only after every channel took it;
// delivery is at least once (a repeated email carries the same Message-ID).
package notification

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"

	"orderflow.io/orderflow/internal/db"
	"orderflow.io/orderflow/internal/orders"
)

// SignatureHeader carries "sha256=<hex HMAC of the body>" on webhook calls.
const SignatureHeader = "X-OrderFlow-Signature"

// Notification is one message to a customer about an order.
type Notification struct {
	OrderKey  string `json:"orderUID"`
	Order     string `json:"order"` // namespace/name
	Kind      string `json:"kind"`  // completed, failed, cancelled
	Recipient string `json:"recipient"`
	Message   string `json:"message"`
}

// Notifier records and delivers notifications.
type Notifier struct {
	DB            *db.DB
	Log           logr.Logger
	WebhookURL    string
	WebhookSecret []byte
	HTTPClient    *http.Client
	// Mailer, when set, emails the customer.
	Mailer *Mailer
}

// Send records the notification once and delivers it if it was not
// delivered yet.
func (n *Notifier) Send(ctx context.Context, msg Notification) error {
	var delivered *time.Time
	err := n.DB.Pool.QueryRow(ctx, `
		INSERT INTO notifications (order_key, kind, recipient, message) VALUES ($1, $2, $3, $4)
		ON CONFLICT (order_key, kind) DO UPDATE SET kind = EXCLUDED.kind
		RETURNING delivered_at`, msg.OrderKey, msg.Kind, msg.Recipient, msg.Message).Scan(&delivered)
	if err != nil {
		return fmt.Errorf("notification: record: %w", err)
	}
	if delivered != nil {
		return nil
	}
	if err := n.deliver(ctx, msg); err != nil {
		return err
	}
	_, err = n.DB.Pool.Exec(ctx, `UPDATE notifications SET delivered_at = now() WHERE order_key = $1 AND kind = $2`, msg.OrderKey, msg.Kind)
	return err
}

func (n *Notifier) deliver(ctx context.Context, msg Notification) error {
	n.Log.Info("Notifying customer", "order", msg.Order, "kind", msg.Kind, "message", msg.Message)
	if err := n.email(ctx, msg); err != nil {
		return err
	}
	if n.WebhookURL == "" {
		return nil
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("notification: webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Sign(n.WebhookSecret, body))
	client := n.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("notification: webhook: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("notification: webhook answered %s", resp.Status)
	}
	return nil
}

// Sign returns the signature header value of body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (n *Notifier) email(ctx context.Context, msg Notification) error {
	if n.Mailer == nil || msg.Recipient == "" {
		return nil
	}
	summary, err := (&orders.Service{DB: n.DB}).Summary(ctx, msg.OrderKey)
	if err != nil {
		return fmt.Errorf("notification: email: %w", err)
	}
	return n.Mailer.Send(ctx, Email{To: msg.Recipient, Order: msg.Order, Key: msg.OrderKey, Kind: msg.Kind, Message: msg.Message, Summary: summary})
}
