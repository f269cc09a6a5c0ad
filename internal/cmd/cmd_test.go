package cmd

import (
	"bytes"
	"strings"
	"testing"
)

func run(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = Main(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestEveryCommandHasHelp(t *testing.T) {
	if code, out, _ := run("--help"); code != 0 || !strings.Contains(out, "migrate") {
		t.Fatalf("orderflow --help: %d %q", code, out)
	}
	for _, c := range []string{"manager", "worker", "api", "migrate"} {
		code, out, _ := run(c, "--help")
		if code != 0 || !strings.Contains(out, "Usage: orderflow "+c) {
			t.Errorf("orderflow %s --help: %d %q", c, code, out)
		}
	}
}

func TestAnUnknownCommandIsAnError(t *testing.T) {
	if code, _, errOut := run("serve"); code != 2 || !strings.Contains(errOut, `unknown command "serve"`) {
		t.Fatalf("%d %q", code, errOut)
	}
}

func TestAnEnvironmentValueThatDoesNotParseIsNamed(t *testing.T) {
	t.Setenv("POSTGRES_PORT", "five-four-three-two")
	code, _, errOut := run("migrate")
	if code != 1 || !strings.Contains(errOut, "POSTGRES_PORT") {
		t.Fatalf("%d %q", code, errOut)
	}
}

func TestABadFlagValueIsRefused(t *testing.T) {
	if code, _, errOut := run("worker", "--sandbox-failure-rate", "2"); code != 1 || !strings.Contains(errOut, "sandbox-failure-rate") {
		t.Fatalf("%d %q", code, errOut)
	}
	if code, _, errOut := run("api", "--auth", "maybe"); code != 1 || !strings.Contains(errOut, "--auth") {
		t.Fatalf("%d %q", code, errOut)
	}
	if code, _, errOut := run("manager", "--leader-election-lease-duration", "5s"); code != 1 || !strings.Contains(errOut, "--leader-election-lease-duration (5s) must be longer than --leader-election-renew-deadline (10s)") {
		t.Fatalf("%d %q", code, errOut)
	}
}

func TestTheStripeGatewayWithoutAGoodKeyDoesNotStart(t *testing.T) {
	t.Setenv("STRIPE_API_KEY", "")
	if code, _, errOut := run("worker", "--payment-gateway=stripe"); code != 1 || !strings.Contains(errOut, "no API key") || !strings.Contains(errOut, "STRIPE_API_KEY") {
		t.Fatalf("no key: %d %q", code, errOut)
	}
	t.Setenv("STRIPE_API_KEY", "sk_test_has space")
	if code, _, errOut := run("worker", "--payment-gateway=stripe"); code != 1 || !strings.Contains(errOut, "malformed") || strings.Contains(errOut, "has space") {
		t.Fatalf("malformed key: %d %q", code, errOut)
	}
	if code, _, errOut := run("worker", "--payment-gateway=stripe", "--stripe-api-key-file=/nonexistent/key"); code != 1 || !strings.Contains(errOut, "/nonexistent/key") {
		t.Fatalf("missing key file: %d %q", code, errOut)
	}
	if code, _, errOut := run("worker", "--payment-gateway=paypal"); code != 1 || !strings.Contains(errOut, `--payment-gateway "paypal"`) {
		t.Fatalf("unknown gateway: %d %q", code, errOut)
	}
}

func TestBadSMTPSettingsStopTheWorker(t *testing.T) {
	t.Setenv("SMTP_PASSWORD", "pw-not-in-errors")
	if code, _, errOut := run("worker", "--smtp-host=mail.example", "--smtp-from=nobody"); code != 1 || !strings.Contains(errOut, "from-address") || strings.Contains(errOut, "pw-not-in-errors") {
		t.Fatalf("%d %q", code, errOut)
	}
	if code, _, errOut := run("worker", "--smtp-host=mail.example", "--smtp-from=a@b.example", "--smtp-tls=maybe"); code != 1 || !strings.Contains(errOut, `TLS mode "maybe"`) {
		t.Fatalf("%d %q", code, errOut)
	}
}

func TestBadCodecKeysStopTheWorker(t *testing.T) {
	t.Setenv("CODEC_KEYS", "k1=c2hvcnQ=")
	if code, _, errOut := run("worker"); code != 1 || !strings.Contains(errOut, `codec key "k1": 5 bytes`) || strings.Contains(errOut, "c2hvcnQ=") {
		t.Fatalf("%d %q", code, errOut)
	}
}
