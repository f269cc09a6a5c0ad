// Package temporal is OrderFlow's access to Temporal: the client options
// (address, namespace, TLS), the search attributes the order workflow
// publishes its progress with, the links into the Temporal UI, the adapter
// through which the controller starts, cancels and reads order workflows,
// and the history follower, the visibility watcher (its safety net) and the
// cache that tell the controller which orders changed, as plain
// namespace/name pairs: it knows no Kubernetes types.
package temporal

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
)

// Config says how to reach Temporal.
type Config struct {
	HostPort  string
	Namespace string
	// TLS files; all empty means plaintext.
	TLSCertFile string
	TLSKeyFile  string
	TLSCAFile   string
	TLSServer   string
	// APIKeyFile holds an API key (Temporal Cloud's), read again on each
	// call so a rotated Secret takes effect; empty means the TEMPORAL_API_KEY
	// environment variable, and none means no key. A key implies TLS.
	APIKeyFile string
	// ConnectWait is how long Dial waits for Temporal to answer (zero: two
	// minutes).
	ConnectWait time.Duration
	// CodecKeysFile holds the payload encryption keys (ParseCodecKeys);
	// empty means the CODEC_KEYS environment variable.
	CodecKeysFile string
}

// Converters returns the data and failure converters of the configured
// codec keys: encrypting when there are keys, the SDK's defaults when not.
func (cfg Config) Converters() (converter.DataConverter, converter.FailureConverter, error) {
	keys, err := LoadCodecKeys(cfg.CodecKeysFile)
	if err != nil {
		return nil, nil, err
	}
	dc, err := DataConverter(keys)
	if err != nil {
		return nil, nil, err
	}
	return dc, FailureConverter(dc, keys), nil
}

// Encrypted reports whether payloads are encrypted.
func (cfg Config) Encrypted() bool {
	keys, err := LoadCodecKeys(cfg.CodecKeysFile)
	return err == nil && len(keys) > 0
}

// SearchAttributes are the custom search attributes the order workflow sets.
var SearchAttributes = map[string]enumspb.IndexedValueType{
	"OrderUpdatedAt": enumspb.INDEXED_VALUE_TYPE_DATETIME,
}

// Dial connects to Temporal, logging through logger and, when metrics is
// not nil, recording the SDK's metrics there (MetricsHandler).
func Dial(ctx context.Context, cfg Config, logger logr.Logger, metrics client.MetricsHandler) (client.Client, error) {
	dc, fc, err := cfg.Converters()
	if err != nil {
		return nil, err
	}
	opts := client.Options{
		HostPort:         cfg.HostPort,
		Namespace:        cfg.Namespace,
		Logger:           log.NewStructuredLogger(slog.New(logr.ToSlogHandler(logger))),
		DataConverter:    dc,
		FailureConverter: fc,
		MetricsHandler:   metrics,
	}
	if cfg.TLSCertFile != "" || cfg.TLSCAFile != "" {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return nil, err
		}
		opts.ConnectionOptions.TLS = tc
	}
	if key, err := cfg.apiKey(); err != nil {
		return nil, err
	} else if key != "" {
		opts.Credentials = client.NewAPIKeyDynamicCredentials(func(context.Context) (string, error) { return cfg.apiKey() })
		if opts.ConnectionOptions.TLS == nil {
			opts.ConnectionOptions.TLS = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLSServer}
		}
	}
	// Temporal often starts beside OrderFlow (a chart install, a node
	// reboot): wait for it a while, saying so, rather than crash-loop.
	wait := cfg.ConnectWait
	if wait == 0 {
		wait = 2 * time.Minute
	}
	deadline := time.Now().Add(wait)
	for attempt := 1; ; attempt++ {
		c, err := client.DialContext(ctx, opts)
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("temporal: connect to %s: %w", cfg.HostPort, err)
		}
		if attempt == 1 {
			logger.Info("Waiting for Temporal", "address", cfg.HostPort, "error", err.Error(), "for", wait.String())
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// apiKey reads the API key: from APIKeyFile, else TEMPORAL_API_KEY. Errors
// name the file, never the key.
func (cfg Config) apiKey() (string, error) {
	if cfg.APIKeyFile == "" {
		return strings.TrimSpace(os.Getenv("TEMPORAL_API_KEY")), nil
	}
	b, err := os.ReadFile(cfg.APIKeyFile)
	if err != nil {
		return "", fmt.Errorf("temporal: read the API key file %s: %w", cfg.APIKeyFile, err)
	}
	key := strings.TrimSpace(string(b))
	if key == "" {
		return "", fmt.Errorf("temporal: the API key file %s is empty", cfg.APIKeyFile)
	}
	return key, nil
}

func tlsConfig(cfg Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLSServer}
	if cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("temporal: TLS client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if cfg.TLSCAFile != "" {
		pem, err := os.ReadFile(cfg.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("temporal: TLS CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("temporal: TLS CA file holds no certificate")
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// EnsureSearchAttributes registers the missing search attributes in the
// namespace and waits until the server lists them.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	ops := c.OperatorService()
	for {
		resp, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
		if err != nil {
			return fmt.Errorf("temporal: list search attributes: %w", err)
		}
		missing := map[string]enumspb.IndexedValueType{}
		for name, typ := range SearchAttributes {
			if _, ok := resp.GetCustomAttributes()[name]; !ok {
				missing[name] = typ
			}
		}
		if len(missing) == 0 {
			return nil
		}
		_, err = ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
		var exists *serviceerror.AlreadyExists
		if err != nil && !errors.As(err, &exists) {
			return fmt.Errorf("temporal: add search attributes: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
