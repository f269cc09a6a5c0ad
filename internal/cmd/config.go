package cmd

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"orderflow.io/orderflow/internal/db"
	"orderflow.io/orderflow/internal/fulfillment"
	"orderflow.io/orderflow/internal/notification"
	"orderflow.io/orderflow/internal/payment"
	"orderflow.io/orderflow/internal/temporal"
)

func registerTemporal(f *flags, c *temporal.Config) {
	f.string(&c.HostPort, "temporal-address", "TEMPORAL_HOST_PORT", "localhost:7233", "Temporal frontend host:port")
	registerTemporalNamespace(f, &c.Namespace)
	f.string(&c.TLSCertFile, "temporal-tls-cert", "TEMPORAL_TLS_CERT", "", "client certificate file for mTLS to Temporal")
	f.string(&c.TLSKeyFile, "temporal-tls-key", "TEMPORAL_TLS_KEY", "", "client key file for mTLS to Temporal")
	f.string(&c.TLSCAFile, "temporal-tls-ca", "TEMPORAL_TLS_CA", "", "CA bundle that signs Temporal's server certificate")
	f.string(&c.TLSServer, "temporal-tls-server-name", "TEMPORAL_TLS_SERVER_NAME", "", "server name to verify in Temporal's certificate")
	f.string(&c.APIKeyFile, "temporal-api-key-file", "TEMPORAL_API_KEY_FILE", "", "file holding a Temporal API key (Temporal Cloud; a mounted Secret, reread on each call); else TEMPORAL_API_KEY; implies TLS")
	f.duration(&c.ConnectWait, "temporal-connect-wait", "TEMPORAL_CONNECT_WAIT", 2*time.Minute, "how long to wait at start for Temporal to answer before giving up")
	f.string(&c.CodecKeysFile, "codec-keys-file", "CODEC_KEYS_FILE", "", "file of payload encryption keys, id=base64 (32 bytes) per line, the first encrypting (a mounted Secret); else CODEC_KEYS; none: payloads in clear")
}

// registerTemporalNamespace binds the Temporal namespace flag: every
// subcommand that names the order workflows, by client or by UI link.
func registerTemporalNamespace(f *flags, namespace *string) {
	f.string(namespace, "temporal-namespace", "TEMPORAL_NAMESPACE", "default", "Temporal namespace of the order workflows")
}

// registerPostgres binds the PostgreSQL flags. The password and a full DSN
// (which may hold one) come only from the environment, never from the
// command line, where any user of the machine could read them.
func registerPostgres(f *flags, c *db.Config) {
	f.string(&c.Host, "postgres-host", "POSTGRES_HOST", "localhost", "PostgreSQL host")
	f.int(&c.Port, "postgres-port", "POSTGRES_PORT", 5432, "PostgreSQL port")
	f.string(&c.User, "postgres-user", "POSTGRES_USER", "orderflow", "PostgreSQL user (the password comes from POSTGRES_PASSWORD)")
	f.string(&c.Database, "postgres-db", "POSTGRES_DB", "orderflow", "PostgreSQL database")
	f.string(&c.SSLMode, "postgres-sslmode", "POSTGRES_SSLMODE", "prefer", "PostgreSQL sslmode (disable, prefer, require, verify-full)")
	f.duration(&c.ConnectWait, "postgres-connect-wait", "POSTGRES_CONNECT_WAIT", 2*time.Minute, "how long to wait at start for PostgreSQL to answer before giving up")
	c.Password = os.Getenv("POSTGRES_PASSWORD")
	c.DSN = os.Getenv("POSTGRES_DSN")
}

// gatewayConfig chooses the payment gateway. Stripe's API key comes from
// the environment or a file (a mounted Secret), never from a flag value.
type gatewayConfig struct {
	kind          string
	stripeURL     string
	stripeKeyFile string
	failureRate   float64
	latency       time.Duration
}

func (g *gatewayConfig) register(f *flags) {
	f.string(&g.kind, "payment-gateway", "PAYMENT_GATEWAY", "sandbox", "payment gateway: sandbox (built in, test cards) or stripe")
	f.string(&g.stripeURL, "stripe-api-url", "STRIPE_API_URL", payment.StripeURL, "Stripe's API base URL (stripe-mock's in tests)")
	f.string(&g.stripeKeyFile, "stripe-api-key-file", "STRIPE_API_KEY_FILE", "", "file holding the Stripe secret key (a mounted Secret); else STRIPE_API_KEY")
	f.float(&g.failureRate, "sandbox-failure-rate", "SANDBOX_FAILURE_RATE", 0, "probability (0-1) that the sandbox gateway fails transiently, for fault tests")
	f.duration(&g.latency, "sandbox-latency", "SANDBOX_LATENCY", 0, "how long each sandbox charge takes, for tests that act while a payment is in flight")
}

// check names a bad setting before anything is opened.
func (g *gatewayConfig) check() error {
	switch g.kind {
	case "sandbox":
		if g.failureRate < 0 || g.failureRate > 1 {
			return fmt.Errorf("--sandbox-failure-rate %v: want a probability between 0 and 1", g.failureRate)
		}
	case "stripe":
		_, err := g.stripe()
		return err
	default:
		return fmt.Errorf("--payment-gateway %q: want sandbox or stripe", g.kind)
	}
	return nil
}

// gateway opens the gateway; the sandbox keeps its books on pool.
func (g *gatewayConfig) gateway(ctx context.Context, pool *pgxpool.Pool) (payment.Gateway, error) {
	if err := g.check(); err != nil {
		return nil, err
	}
	switch g.kind {
	case "sandbox":
		ledger, err := payment.OpenLedger(ctx, pool)
		if err != nil {
			return nil, err
		}
		return &payment.Sandbox{Ledger: ledger, FailureRate: g.failureRate, Latency: g.latency}, nil
	default:
		return g.stripe()
	}
}

func (g *gatewayConfig) stripe() (*payment.Stripe, error) {
	key, err := secret("STRIPE_API_KEY", g.stripeKeyFile)
	if err != nil {
		return nil, fmt.Errorf("--payment-gateway=stripe: %w", err)
	}
	gw, err := payment.NewStripe(payment.StripeConfig{APIKey: key, URL: g.stripeURL})
	if err != nil {
		return nil, fmt.Errorf("--payment-gateway=stripe: %w", err)
	}
	return gw, nil
}

// secret reads a secret from file when one is named, else from the
// environment variable env. Errors name the file or variable, never the value.
func secret(env, file string) (string, error) {
	if file == "" {
		return os.Getenv(env), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read the secret %s: %w", file, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// smtpConfig is the customer email's SMTP server; no host means no email.
// The password comes from the environment or a file, never a flag value.
type smtpConfig struct {
	notification.SMTPConfig
	passwordFile string
}

func (c *smtpConfig) register(f *flags) {
	f.string(&c.Host, "smtp-host", "SMTP_HOST", "", "SMTP server that emails customers; empty: no email")
	f.int(&c.Port, "smtp-port", "SMTP_PORT", 587, "SMTP port")
	f.string(&c.TLS, "smtp-tls", "SMTP_TLS", "starttls", "starttls (required), tls (implicit, port 465) or none")
	f.string(&c.Username, "smtp-username", "SMTP_USERNAME", "", "SMTP user (the password comes from SMTP_PASSWORD or --smtp-password-file)")
	f.string(&c.passwordFile, "smtp-password-file", "SMTP_PASSWORD_FILE", "", "file holding the SMTP password (a mounted Secret); else SMTP_PASSWORD")
	f.string(&c.From, "smtp-from", "SMTP_FROM", "", "the emails' From address, e.g. 'Shop <orders@shop.example>'")
}

func (c *smtpConfig) mailer() (*notification.Mailer, error) {
	if c.Host == "" {
		return nil, nil
	}
	pw, err := secret("SMTP_PASSWORD", c.passwordFile)
	if err != nil {
		return nil, fmt.Errorf("--smtp-host: %w", err)
	}
	c.Password = pw
	m, err := notification.NewMailer(c.SMTPConfig)
	if err != nil {
		return nil, fmt.Errorf("--smtp-host: %w", err)
	}
	return m, nil
}

// carrierConfig sets up the carriers a worker books parcels with: the
// built-in sandbox always, the webhook carrier when a fulfillment service
// URL is given. The shared secret comes from the environment or a file,
// never a flag value.
type carrierConfig struct {
	shipAfter, deliverAfter time.Duration
	webhookURL              string
	secretFile              string
}

func (c *carrierConfig) register(f *flags) {
	f.duration(&c.shipAfter, "sandbox-ship-after", "SANDBOX_SHIP_AFTER", 2*time.Second, "how long after booking the sandbox carrier ships a parcel")
	f.duration(&c.deliverAfter, "sandbox-deliver-after", "SANDBOX_DELIVER_AFTER", 3*time.Second, "how long after shipping the sandbox carrier delivers (or loses) it")
	f.string(&c.webhookURL, "fulfillment-webhook-url", "FULFILLMENT_WEBHOOK_URL", "", "fulfillment service URL the webhook carrier POSTs bookings to, signed with the shared secret; empty: no webhook carrier")
	registerFulfillmentSecret(f, &c.secretFile)
}

// registerFulfillmentSecret binds the file of the secret shared with the
// fulfillment service: bookings are signed and its events verified with it.
func registerFulfillmentSecret(f *flags, file *string) {
	f.string(file, "fulfillment-webhook-secret-file", "FULFILLMENT_WEBHOOK_SECRET_FILE", "", "file holding the secret shared with the fulfillment service (a mounted Secret); else FULFILLMENT_WEBHOOK_SECRET")
}

func (c *carrierConfig) carriers(start func(context.Context, fulfillment.SandboxRun) error) (fulfillment.Carriers, error) {
	if c.shipAfter < 0 || c.deliverAfter < 0 {
		return nil, fmt.Errorf("--sandbox-ship-after and --sandbox-deliver-after: want durations of 0 or more")
	}
	cs := fulfillment.Carriers{"sandbox": &fulfillment.Sandbox{Start: start, ShipAfter: c.shipAfter, DeliverAfter: c.deliverAfter}}
	if c.webhookURL == "" {
		return cs, nil
	}
	u, err := url.Parse(c.webhookURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--fulfillment-webhook-url %q: want an http(s) URL", c.webhookURL)
	}
	key, err := secret("FULFILLMENT_WEBHOOK_SECRET", c.secretFile)
	if err != nil {
		return nil, fmt.Errorf("--fulfillment-webhook-url: %w", err)
	}
	if key == "" {
		return nil, fmt.Errorf("--fulfillment-webhook-url: bookings are signed: set FULFILLMENT_WEBHOOK_SECRET or --fulfillment-webhook-secret-file")
	}
	cs["webhook"] = &fulfillment.Webhook{URL: c.webhookURL, Secret: []byte(key)}
	return cs, nil
}
