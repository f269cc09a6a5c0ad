package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
)

// Temporal is a started Temporal dev server (in-memory, headless).
type Temporal struct {
	HostPort  string
	Namespace string
	Started   time.Duration
	cmd       *exec.Cmd
	output    *syncBuffer
	done      chan struct{}
}

// DevServerArgs are the arguments of `temporal server start-dev` on port
// with namespace: the flags every OrderFlow dev server runs with, from
// charts/orderflow/files/temporal-dev-server.flags.
func DevServerArgs(port int, namespace string) ([]string, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join(root, "charts", "orderflow", "files", "temporal-dev-server.flags"))
	if err != nil {
		return nil, fmt.Errorf("testenv: the dev server's flags: %w", err)
	}
	args := []string{"server", "start-dev", "--ip", "127.0.0.1", "--port", strconv.Itoa(port), "--namespace", namespace}
	for _, line := range strings.Split(string(raw), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			args = append(args, strings.Fields(line)...)
		}
	}
	return args, nil
}

// StartTemporal starts a headless, in-memory dev server on free ports and
// waits until it answers. A port found free can be taken before the server
// binds it (another process's outgoing connection): a server that exits
// for a taken port is started again on other ports, up to three times.
func StartTemporal(ctx context.Context) (*Temporal, error) {
	var err error
	for range 3 {
		var t *Temporal
		if t, err = startTemporal(ctx); err == nil || !strings.Contains(err.Error(), "address already in use") {
			return t, err
		}
	}
	return nil, err
}

func startTemporal(ctx context.Context) (*Temporal, error) {
	start := time.Now()
	bin, err := Bin("temporal")
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	httpPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	metricsPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	t := &Temporal{HostPort: fmt.Sprintf("127.0.0.1:%d", port), Namespace: "default", output: &syncBuffer{}, done: make(chan struct{})}
	args, err := DevServerArgs(port, t.Namespace)
	if err != nil {
		return nil, err
	}
	args = append(args, "--headless",
		"--http-port", strconv.Itoa(httpPort), "--metrics-port", strconv.Itoa(metricsPort))
	t.cmd = exec.Command(bin, args...)
	t.cmd.Stdout, t.cmd.Stderr = t.output, t.output
	t.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := t.cmd.Start(); err != nil {
		return nil, fmt.Errorf("testenv: start temporal dev server: %w", err)
	}
	go func() { _ = t.cmd.Wait(); close(t.done) }()
	if err := t.waitReady(ctx, 60*time.Second); err != nil {
		t.Stop()
		return nil, fmt.Errorf("testenv: temporal dev server on %s: %w\n%s", t.HostPort, err, t.output.String())
	}
	t.Started = time.Since(start)
	return t, nil
}

func (t *Temporal) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-t.done:
			return fmt.Errorf("the server exited")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		c, err := t.Dial()
		if err == nil {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err = c.CheckHealth(cctx, &client.CheckHealthRequest{})
			if err == nil {
				_, err = c.WorkflowService().GetSystemInfo(cctx, nil)
			}
			cancel()
			c.Close()
			if err == nil {
				return nil
			}
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s: %v", timeout, last)
}

// Dial returns a client of the dev server's namespace.
func (t *Temporal) Dial() (client.Client, error) {
	return client.Dial(client.Options{HostPort: t.HostPort, Namespace: t.Namespace, Logger: quietLogger{}})
}

// Stop stops the dev server and whatever it started.
func (t *Temporal) Stop() {
	if t.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-t.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-t.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-t.cmd.Process.Pid, syscall.SIGKILL)
		<-t.done
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 {
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// quietLogger drops the SDK's logs in tests.
type quietLogger struct{}

func (quietLogger) Debug(string, ...interface{}) {}
func (quietLogger) Info(string, ...interface{})  {}
func (quietLogger) Warn(string, ...interface{})  {}
func (quietLogger) Error(string, ...interface{}) {}
