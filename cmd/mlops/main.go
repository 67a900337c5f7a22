// Command mlops is the housing-mlops binary: pipeline, registry, serving,
// benchmarks and tools in one static executable.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand of mlops.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands lists every subcommand; each lives in its own file.
func commands() map[string]command {
	return map[string]command{
		"run":     {"run pipeline steps (config.yaml, a.b=c overrides)", runCommand},
		"bench":   {"benchmark harnesses (bench learners)", benchCommand},
		"runs":    {"list, show and compare tracked runs", runsCommand},
		"models":  {"list, show, promote, roll back registered models", modelsCommand},
		"version": {"print the build version", versionCommand},
		"up":      {"run the pipeline if no model is in Production, promote it, serve API + UI", upCommand},
		"serve":   {"serve predictions over HTTP (REST, OIP v2, metrics, hot reload)", serveCommand},
		"canary":  {"check a canary's error rate and latency against the stable model", canaryCommand},
		"health":  {"probe a running server's health URL (exit 0 when healthy)", healthCommand},
		"drift":   {"compare reference and current data for drift", driftCommand},
		"sweep":   {"distributed sweeps in PostgreSQL: create, agent, status", sweepCommand},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := profiled(ctx, os.Getenv("MLOPS_CPUPROFILE"), os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// profiled is execute under a CPU profile written to profile (the
// MLOPS_CPUPROFILE variable; none when empty), so any command can be
// profiled, a server until it shuts down.
func profiled(ctx context.Context, profile string, args []string, stdout, stderr io.Writer) int {
	stopProfile, err := startCPUProfile(profile)
	if err != nil {
		fmt.Fprintf(stderr, "mlops: MLOPS_CPUPROFILE: %v\n", err)
		return 1
	}
	defer stopProfile()
	return execute(ctx, args, stdout, stderr)
}

// execute runs one subcommand and returns the process exit code. It never
// lets a panic escape as a stack trace to the user.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "mlops: internal error: %v\n", r)
			code = 70
		}
	}()
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout, cmds)
		return 0
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "mlops: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	if err := cmd.run(ctx, args[1:], stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ec interface{ ExitCode() int }
		if errors.As(err, &ec) {
			fmt.Fprintf(stderr, "mlops %s: %v\n", args[0], err)
			return ec.ExitCode()
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "mlops %s: %v\n", args[0], err)
			return 2
		}
		fmt.Fprintf(stderr, "mlops %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: mlops COMMAND [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
}

// usageError marks a mistake in how a command was called (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("mlops "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
