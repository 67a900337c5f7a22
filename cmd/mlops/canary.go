package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	mlopshttp "github.com/housing-mlops/mlops/http"
)

const canaryUsage = `usage: mlops canary check [--url http://127.0.0.1:8080] [--max-error-rate 0.01]
                          [--max-latency-ratio 1.5] [--min-requests 50] [--json]

Reads the server's /metrics and compares the canary (mlops serve --canary-percent)
with the stable version: exit 0 when the canary is within the limits, 1 when it
is not (or there is not enough canary traffic to judge), 2 on a usage error.`

// canaryCommand dispatches mlops canary subcommands.
func canaryCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("missing subcommand\n%s", canaryUsage)
	}
	switch args[0] {
	case "check":
		return canaryCheck(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, canaryUsage)
		return nil
	}
	return usagef("unknown subcommand %q\n%s", args[0], canaryUsage)
}

// errCanaryFailed is returned (exit 1) when the canary crosses a limit.
var errCanaryFailed = errors.New("canary check failed")

func canaryCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("canary check", stderr)
	url := fs.String("url", "http://127.0.0.1:8080", "base URL of the server (its /metrics is read)")
	var th mlopshttp.CanaryThresholds
	fs.Float64Var(&th.MaxErrorRate, "max-error-rate", 0.01, "largest tolerated share of 5xx canary answers")
	fs.Float64Var(&th.MaxLatencyRatio, "max-latency-ratio", 1.5, "largest tolerated canary p99 / stable p99")
	fs.Float64Var(&th.MinRequests, "min-requests", 50, "canary requests needed for a verdict")
	timeout := fs.Duration("timeout", 10*time.Second, "give up reading /metrics after this long")
	asJSON := fs.Bool("json", false, "print the verdict as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if !strings.HasPrefix(*url, "http://") && !strings.HasPrefix(*url, "https://") {
		return usagef("--url %q: want an http:// or https:// URL", *url)
	}
	if th.MaxErrorRate < 0 || th.MaxLatencyRatio <= 0 || th.MinRequests < 0 {
		return usagef("thresholds must be positive")
	}
	stats, err := fetchVersionStats(ctx, strings.TrimSuffix(*url, "/")+"/metrics", *timeout)
	if err != nil {
		return err
	}
	v := mlopshttp.CheckCanary(stats, th)
	if *asJSON {
		if err := emitJSON(stdout, v); err != nil {
			return err
		}
	} else {
		printVerdict(stdout, v)
	}
	if !v.OK {
		return fmt.Errorf("%w: %s", errCanaryFailed, strings.Join(v.Problems, "; "))
	}
	return nil
}

func fetchVersionStats(ctx context.Context, url string, timeout time.Duration) ([]mlopshttp.VersionStats, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, usagef("--url: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read metrics: %s answered %s", url, resp.Status)
	}
	return mlopshttp.ParseVersionStats(io.LimitReader(resp.Body, 16<<20))
}

func printVerdict(w io.Writer, v mlopshttp.CanaryVerdict) {
	tw := newTable(w)
	row(tw, "ROLE", "VERSION", "REQUESTS", "ERRORS", "ERROR RATE", "P99")
	for _, s := range []mlopshttp.VersionStats{v.Stable, v.Canary} {
		if s.Role == "" {
			continue
		}
		row(tw, s.Role, s.Version, fmt.Sprintf("%.0f", s.Requests), fmt.Sprintf("%.0f", s.Errors),
			fmt.Sprintf("%.4f", s.ErrorRate), fmt.Sprintf("%.1f ms", 1000*s.P99Seconds))
	}
	_ = tw.Flush()
	if v.LatencyRatio > 0 {
		fmt.Fprintf(w, "p99 latency ratio canary/stable: %.2f\n", v.LatencyRatio)
	}
	if v.OK {
		fmt.Fprintln(w, "canary OK")
		return
	}
	for _, p := range v.Problems {
		fmt.Fprintln(w, "FAIL: "+p)
	}
}
