package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Daemons are components started to outlive the program that starts them
// (the local stack's and the local cluster's): each runs in a session of
// its own, its pid in Dir/run/<name>.pid and its output in
// Dir/logs/<name>.log, and is stopped by that pid, never by name.
type Daemons struct {
	Dir string
	// Say reports what happens ("started etcd (pid 12, log ...)").
	Say func(format string, args ...any)
	// PortHint says how to move a component off a taken port.
	PortHint string
	// Started names the components this program started.
	Started []string
	exited  map[string]chan struct{}
}

// PidFile and LogFile are where the daemon name's pid and output are kept.
func (d *Daemons) PidFile(name string) string { return filepath.Join(d.Dir, "run", name+".pid") }
func (d *Daemons) LogFile(name string) string { return filepath.Join(d.Dir, "logs", name+".log") }

// Pid returns the recorded pid of name when that process runs. A killed
// process whose parent is gone can linger as a zombie until init reaps
// it: that one does not run.
func (d *Daemons) Pid(name string) (int, bool) {
	b, err := os.ReadFile(d.PidFile(name))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, Alive(pid)
}

// Alive reports whether pid runs (and is not a zombie).
func Alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last ')'.
	i := strings.LastIndexByte(string(stat), ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] != 'Z'
}

// Start starts argv as name unless name runs already, with the caller's
// environment plus env. port (on 127.0.0.1) must be free; 0: none to
// check.
func (d *Daemons) Start(name string, port int, env []string, argv ...string) error {
	if pid, ok := d.Pid(name); ok {
		d.Say("%s is already running (pid %d)", name, pid)
		return nil
	}
	_ = os.Remove(d.PidFile(name))
	if port != 0 {
		if err := d.PortFree(port, name); err != nil {
			return err
		}
	}
	for _, sub := range []string{"run", "logs"} {
		if err := os.MkdirAll(filepath.Join(d.Dir, sub), 0o755); err != nil {
			return err
		}
	}
	log, err := os.OpenFile(d.LogFile(name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	if err := os.WriteFile(d.PidFile(name), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		return err
	}
	// Reaped here while this program runs, so an exit shows at once.
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	if d.exited == nil {
		d.exited = map[string]chan struct{}{}
	}
	d.exited[name] = done
	d.Started = append(d.Started, name)
	d.Say("started %s (pid %d, log %s)", name, cmd.Process.Pid, d.LogFile(name))
	return nil
}

// PortFree fails with who holds port if it is taken.
func (d *Daemons) PortFree(port int, name string) error {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return nil
	}
	c.Close()
	msg := fmt.Sprintf("port %d, needed by %s, is taken", port, name)
	if out, err := exec.Command("ss", "-Hltnp", fmt.Sprintf("sport = :%d", port)).Output(); err == nil {
		if i := strings.Index(string(out), "users:(("); i >= 0 {
			msg += " by " + strings.SplitN(string(out[i+8:]), ",fd=", 2)[0]
		}
	}
	msg += ". Stop it"
	if d.PortHint != "" {
		msg += ", or " + d.PortHint
	}
	return errors.New(msg + ".")
}

// WaitFor polls ready until it succeeds; it fails with the end of name's
// log if name exits or timeout passes.
func (d *Daemons) WaitFor(ctx context.Context, name string, timeout time.Duration, ready func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	for {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := ready(cctx)
		cancel()
		if err == nil {
			return nil
		}
		if _, recorded := os.Stat(d.PidFile(name)); recorded == nil {
			if _, ok := d.Pid(name); !ok {
				return fmt.Errorf("%s exited; its log is %s:\n%s", name, d.LogFile(name), d.tail(name))
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s (%v); its log is %s:\n%s", name, timeout, err, d.LogFile(name), d.tail(name))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-d.exited[name]:
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (d *Daemons) tail(name string) string {
	b, _ := os.ReadFile(d.LogFile(name))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

// Stop stops name by its recorded pid: SIGTERM, then SIGKILL after 10 s.
func (d *Daemons) Stop(name string) {
	pid, ok := d.Pid(name)
	if ok {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		for i := 0; i < 100 && Alive(pid); i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if Alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			for i := 0; i < 50 && Alive(pid); i++ {
				time.Sleep(100 * time.Millisecond)
			}
		}
		d.Say("stopped %s", name)
	}
	_ = os.Remove(d.PidFile(name))
}
