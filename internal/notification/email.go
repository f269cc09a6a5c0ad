package notification

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net/mail"
	"strings"
	texttemplate "text/template"
	"time"

	gomail "github.com/wneessen/go-mail"

	"orderflow.io/orderflow/internal/orders"
)

// SMTPConfig says how to reach the SMTP server that sends customer email.
type SMTPConfig struct {
	Host string
	Port int
	// TLS is starttls (STARTTLS required), tls (implicit TLS, port 465) or
	// none (plaintext, for a server on the same host or in tests).
	TLS      string
	Username string
	// Password never appears in errors or logs.
	Password string
	From     string
	Timeout  time.Duration
}

// Mailer sends customer email over SMTP, with go-mail.
type Mailer struct {
	cfg    SMTPConfig
	from   *mail.Address
	domain string
}

// NewMailer checks the configuration and returns the mailer.
func NewMailer(cfg SMTPConfig) (*Mailer, error) {
	if cfg.Host == "" {
		return nil, errors.New("smtp: no host")
	}
	if cfg.Port <= 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("smtp: port %d: want 1-65535", cfg.Port)
	}
	switch cfg.TLS {
	case "starttls", "tls", "none":
	default:
		return nil, fmt.Errorf("smtp: TLS mode %q: want starttls, tls or none", cfg.TLS)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp: from-address %q: %w", cfg.From, err)
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, errors.New("smtp: a password is set but no username")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	_, domain, _ := strings.Cut(from.Address, "@")
	return &Mailer{cfg: cfg, from: from, domain: domain}, nil
}

// MessageID is the Message-ID of the email about notification kind of the
// order under key: the same for every attempt to send it, so a receiver
// can drop a copy sent again after a crash between sending and recording.
func (m *Mailer) MessageID(key, kind string) string {
	sum := sha256.Sum256([]byte(key + "\x00" + kind))
	return "orderflow." + kind + "." + hex.EncodeToString(sum[:12]) + "@" + m.domain
}

// Email is one message to a customer about an order.
type Email struct {
	To      string
	Order   string // namespace/name
	Key     string // the order's record key
	Kind    string // completed, failed, cancelled
	Message string
	Summary orders.Summary
}

var subjects = map[string]string{
	"completed": "Your order %s is confirmed",
	"failed":    "Your order %s could not be completed",
	"cancelled": "Your order %s was cancelled",
}

// Send sends e, failing with an error that names the server when it
// cannot.
func (m *Mailer) Send(ctx context.Context, e Email) error {
	msg := gomail.NewMsg()
	msg.FromMailAddress(m.from)
	if err := msg.To(e.To); err != nil {
		return fmt.Errorf("smtp: recipient: %w", err)
	}
	subject, ok := subjects[e.Kind]
	switch {
	case ok:
	case strings.HasPrefix(e.Kind, "refund-"): // a partial refund: refund-<id>
		subject = "A refund on your order %s"
	default:
		subject = "About your order %s"
	}
	msg.Subject(fmt.Sprintf(subject, e.Order))
	msg.SetMessageIDWithValue(m.MessageID(e.Key, e.Kind))
	msg.SetDate()
	msg.SetGenHeader("X-OrderFlow-Order", e.Order)
	var text, html bytes.Buffer
	if err := textBody.Execute(&text, e); err != nil {
		return err
	}
	if err := htmlBody.Execute(&html, e); err != nil {
		return err
	}
	msg.SetBodyString(gomail.TypeTextPlain, text.String())
	msg.AddAlternativeString(gomail.TypeTextHTML, html.String())

	opts := []gomail.Option{gomail.WithPort(m.cfg.Port), gomail.WithTimeout(m.cfg.Timeout)}
	switch m.cfg.TLS {
	case "starttls":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case "tls":
		opts = append(opts, gomail.WithSSL())
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if m.cfg.Username != "" {
		// The strongest mechanism the server offers; with TLS none (chosen
		// by the operator) PLAIN is the only one that works.
		auth := gomail.SMTPAuthAutoDiscover
		if m.cfg.TLS == "none" {
			auth = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, gomail.WithSMTPAuth(auth),
			gomail.WithUsername(m.cfg.Username), gomail.WithPassword(m.cfg.Password))
	}
	client, err := gomail.NewClient(m.cfg.Host, opts...)
	if err != nil {
		return fmt.Errorf("smtp %s:%d: %w", m.cfg.Host, m.cfg.Port, err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("smtp %s:%d: %s", m.cfg.Host, m.cfg.Port, m.redact(err.Error()))
	}
	return nil
}

func (m *Mailer) redact(s string) string {
	if m.cfg.Password == "" {
		return s
	}
	return strings.ReplaceAll(s, m.cfg.Password, "[redacted]")
}

var funcs = map[string]any{
	"line": func(l orders.Line) (string, error) {
		a, err := l.UnitPrice.Mul(int64(l.Quantity))
		return a.String(), err
	},
}

var textBody = texttemplate.Must(texttemplate.New("text").Funcs(funcs).Parse(`Order {{.Order}}: {{.Kind}}.
{{.Message}}
{{range .Summary.Lines}}
{{.Quantity}} x {{.Name}} ({{.ProductID}}) at {{.UnitPrice}}: {{line .}} {{$.Summary.Currency}}{{end}}

Total: {{.Summary.Total}} {{.Summary.Currency}}
`))

var htmlBody = htmltemplate.Must(htmltemplate.New("html").Funcs(funcs).Parse(`<!doctype html>
<html><body>
<p>Order <b>{{.Order}}</b>: {{.Kind}}.</p>
<p>{{.Message}}</p>
<table>
<tr><th align="left">Product</th><th align="right">Quantity</th><th align="right">Unit price</th><th align="right">Amount</th></tr>
{{range .Summary.Lines}}<tr><td>{{.Name}} ({{.ProductID}})</td><td align="right">{{.Quantity}}</td><td align="right">{{.UnitPrice}}</td><td align="right">{{line .}}</td></tr>
{{end}}<tr><td colspan="3"><b>Total</b></td><td align="right"><b>{{.Summary.Total}} {{.Summary.Currency}}</b></td></tr>
</table>
</body></html>
`))
