package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// healthCommand probes a running server's health URL: exit 0 on a 2xx
// answer, 1 otherwise. It is the container HEALTHCHECK, so it needs no
// shell or curl in the image.
func healthCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("health", stderr)
	def := "http://127.0.0.1:8080/health"
	if port := os.Getenv("PORT"); port != "" {
		def = "http://127.0.0.1:" + port + "/health"
	}
	url := fs.String("url", def, "health URL to probe (/health, /health/ready or /health/deep)")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	quiet := fs.Bool("q", false, "print nothing on success")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	if !strings.HasPrefix(*url, "http://") && !strings.HasPrefix(*url, "https://") {
		return usagef("--url %q: want an http:// or https:// URL", *url)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return usagef("--url %q: %v", *url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("unhealthy: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("unhealthy: %s answered %s: %s", *url, resp.Status, strings.TrimSpace(string(body)))
	}
	if !*quiet {
		fmt.Fprintln(stdout, strings.TrimSpace(string(body)))
	}
	return nil
}
