// Package cmd holds the orderflow subcommands: their flags (with
// environment fallbacks), configuration and process lifecycle. The work
// itself lives in controllers, workflows and internal/*.
package cmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"go.uber.org/zap/zapcore"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// command is one subcommand.
type command struct {
	name  string
	short string
	run   func(ctx context.Context, args []string, stdout io.Writer) error
}

var commands = []command{
	{"manager", "run the Order controller (leader election, probes, metrics)", runManager},
	{"worker", "run the Temporal worker: the order workflow and its activities", runWorker},
	{"api", "serve the REST API and the web page", runAPI},
	{"migrate", "apply the PostgreSQL migrations (and optionally load the demo catalog)", runMigrate},
}

// Main runs the subcommand named in args and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err := c.run(ctx, args[1:], stdout)
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if err != nil {
			fmt.Fprintf(stderr, "orderflow %s: %v\n", c.name, err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "orderflow: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "orderflow: a Kubernetes operator that processes e-commerce orders with Temporal.")
	fmt.Fprintln(w, "\nUsage: orderflow <command> [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.short)
	}
	fmt.Fprintln(w, "\nRun 'orderflow <command> --help' for the flags of a command.")
}

// flags is a FlagSet whose flags fall back to environment variables. An
// environment value that does not parse is an error naming the variable,
// reported by parse, not a silent fallback to the default.
type flags struct {
	*flag.FlagSet
	envErrs []error
}

func (f *flags) badEnv(env, value, want string) {
	f.envErrs = append(f.envErrs, fmt.Errorf("%s=%q: want %s", env, value, want))
}

func newFlags(name string, stdout io.Writer) *flags {
	fs := flag.NewFlagSet("orderflow "+name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	f := &flags{FlagSet: fs}
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: orderflow %s [flags]\n\nFlags (environment variable in brackets):\n", name)
		fs.PrintDefaults()
	}
	return f
}

// envDefault returns the value of env parsed, or def when env is unset;
// a value that does not parse is recorded as an error naming env.
func envDefault[T any](f *flags, env string, def T, parse func(string) (T, error), want string) T {
	v, ok := os.LookupEnv(env)
	if !ok || env == "" {
		return def
	}
	t, err := parse(v)
	if err != nil {
		f.badEnv(env, v, want)
		return def
	}
	return t
}

func (f *flags) string(p *string, name, env, def, usage string) {
	def = envDefault(f, env, def, func(s string) (string, error) { return s, nil }, "")
	f.StringVar(p, name, def, usage+envSuffix(env))
}

func (f *flags) int(p *int, name, env string, def int, usage string) {
	f.IntVar(p, name, envDefault(f, env, def, strconv.Atoi, "an integer"), usage+envSuffix(env))
}

func (f *flags) float(p *float64, name, env string, def float64, usage string) {
	parse := func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }
	f.Float64Var(p, name, envDefault(f, env, def, parse, "a number"), usage+envSuffix(env))
}

func (f *flags) duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	f.DurationVar(p, name, envDefault(f, env, def, time.ParseDuration, "a duration such as 500ms or 1m"), usage+envSuffix(env))
}

func (f *flags) bool(p *bool, name, env string, def bool, usage string) {
	f.BoolVar(p, name, envDefault(f, env, def, strconv.ParseBool, "true or false"), usage+envSuffix(env))
}

// stringList binds a comma-separated list (empty entries dropped).
func (f *flags) stringList(p *[]string, name, env, usage string) {
	def := envDefault(f, env, "", func(s string) (string, error) { return s, nil }, "")
	*p = splitList(def)
	f.Func(name, usage+envSuffix(env), func(v string) error {
		*p = splitList(v)
		return nil
	})
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func envSuffix(env string) string {
	if env == "" {
		return ""
	}
	return " [" + env + "]"
}

// parse parses args and refuses stray arguments.
func (f *flags) parse(args []string) error {
	if err := f.Parse(args); err != nil {
		return err
	}
	if err := errors.Join(f.envErrs...); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v", f.Args())
	}
	return nil
}

// logging holds the log flags shared by every command.
type logging struct {
	opts crzap.Options
}

func (l *logging) register(f *flags) {
	l.opts = crzap.Options{Development: false, TimeEncoder: zapcore.ISO8601TimeEncoder}
	l.opts.BindFlags(f.FlagSet)
}

func (l *logging) logger() logr.Logger {
	return crzap.New(crzap.UseFlagOptions(&l.opts))
}
