package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Server is a third-party server the tests talk to as OrderFlow does in
// production: stripe-mock for Stripe's API, mailpit for SMTP.
type Server struct {
	// URL is the HTTP address (stripe-mock's API, mailpit's web UI and API).
	URL string
	// SMTPAddr is mailpit's SMTP address (host:port); empty for stripe-mock.
	SMTPAddr string
	cmd      *exec.Cmd
	done     chan struct{}
	output   *syncBuffer
	dir      string
}

// StartStripeMock starts stripe-mock on a free port. stripe-mock checks
// every request against Stripe's published OpenAPI spec and answers from
// fixtures; it keeps no state. Its stock fixture of a PaymentIntent is one
// that still requires a payment method; this one answers as Stripe does
// for a PaymentIntent created with confirm=true that succeeded.
func StartStripeMock(ctx context.Context) (*Server, error) {
	bin, err := Bin("stripe-mock")
	if err != nil {
		return nil, err
	}
	fixtures, err := Bin("stripe-mock-fixtures3.json")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "orderflow-stripe-mock-")
	if err != nil {
		return nil, err
	}
	patched := filepath.Join(dir, "fixtures.json")
	err = StripeMockFixtures(fixtures, patched)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	// It serves HTTPS too, on a fixed port unless told otherwise.
	httpsPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), dir: dir}
	err = s.start(ctx, bin, StripeMockArgs(port, httpsPort, patched), func(c *http.Client) error { return StripeMockReady(c, s.URL) })
	if err != nil {
		return nil, fmt.Errorf("testenv: stripe-mock: %w", err)
	}
	return s, nil
}

// StripeMockArgs are stripe-mock's arguments: its API on port, HTTPS
// (which it always serves) on httpsPort, the fixtures StripeMockFixtures
// wrote.
func StripeMockArgs(port, httpsPort int, fixtures string) []string {
	return []string{"-http-addr", fmt.Sprintf("127.0.0.1:%d", port), "-https-addr", fmt.Sprintf("127.0.0.1:%d", httpsPort), "-fixtures", fixtures}
}

// StripeMockReady reports whether stripe-mock serves at url: any answer at
// all means it does (it answers 401 without a key).
func StripeMockReady(c *http.Client, url string) error {
	resp, err := c.Get(url + "/v1/balance")
	if err == nil {
		resp.Body.Close()
	}
	return err
}

// StripeMockFixtures writes stripe-mock's fixtures from src to dst with
// the PaymentIntent of a confirmed, successful payment.
func StripeMockFixtures(src, dst string) error {
	raw, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	var doc struct {
		Resources map[string]map[string]any `json:"resources"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("testenv: %s: %w", src, err)
	}
	pi, ok := doc.Resources["payment_intent"]
	if !ok {
		return fmt.Errorf("testenv: %s has no payment_intent fixture", src)
	}
	pi["status"] = "succeeded"
	pi["last_payment_error"] = nil
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, out, 0o600)
}

// StartMailpit starts mailpit with its SMTP server and its web UI and API
// on free ports, its database in memory.
func StartMailpit(ctx context.Context) (*Server, error) {
	bin, err := Bin("mailpit")
	if err != nil {
		return nil, err
	}
	httpPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	smtpPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", httpPort), SMTPAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(smtpPort))}
	err = s.start(ctx, bin, append(MailpitArgs(httpPort, smtpPort, ""), "--quiet"), func(c *http.Client) error { return HTTPReady(c, s.URL+"/readyz") })
	if err != nil {
		return nil, fmt.Errorf("testenv: mailpit: %w", err)
	}
	return s, nil
}

// MailpitArgs are mailpit's arguments: its web UI and API on httpPort, SMTP
// on smtpPort accepting any login without TLS, its messages in database
// (empty: in memory).
func MailpitArgs(httpPort, smtpPort int, database string) []string {
	args := []string{"--listen", fmt.Sprintf("127.0.0.1:%d", httpPort), "--smtp", fmt.Sprintf("127.0.0.1:%d", smtpPort),
		"--smtp-auth-accept-any", "--smtp-auth-allow-insecure", "--disable-version-check"}
	if database != "" {
		args = append(args, "--database", database)
	}
	return args
}

// HTTPReady reports whether url answers 200.
func HTTPReady(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

func (s *Server) start(ctx context.Context, bin string, args []string, ready func(*http.Client) error) error {
	s.output, s.done = &syncBuffer{}, make(chan struct{})
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.output, s.output
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return err
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := ready(c)
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("exited: %s", s.output.String())
		case <-ctx.Done():
			s.Stop()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("not ready after 30s: %v\n%s", err, s.output.String())
		}
	}
}

// Stop stops the server.
func (s *Server) Stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}
