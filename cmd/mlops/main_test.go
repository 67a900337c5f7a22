package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnknownCommandExitsTwoWithUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := execute(context.Background(), []string{"nope"}, &out, &errb); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(errb.String(), `unknown command "nope"`) || !strings.Contains(errb.String(), "usage:") {
		t.Fatalf("stderr = %q", errb.String())
	}
}

func TestVersionPrints(t *testing.T) {
	var out, errb bytes.Buffer
	if code := execute(context.Background(), []string{"version"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.HasPrefix(out.String(), "mlops ") {
		t.Fatalf("stdout = %q", out.String())
	}
}

// TestProfiledWritesProfile runs a command the way main does with
// MLOPS_CPUPROFILE set, and checks that a profile (gzip-compressed
// protocol buffer) is written once the command returns.
func TestProfiledWritesProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.prof")
	var out, errb bytes.Buffer
	if code := profiled(context.Background(), path, []string{"version"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	checkProfile(t, path)
}

// checkProfile checks that path holds a CPU profile: pprof writes a
// gzip-compressed protocol buffer.
func checkProfile(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
		t.Fatalf("profile of %d bytes does not start with gzip's magic: %q", len(data), data[:min(len(data), 8)])
	}
}

// TestProfiledRefusesUnwritablePath checks that a profile path that cannot
// be created stops the command with exit 1 and names the variable.
func TestProfiledRefusesUnwritablePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "cpu.prof")
	var out, errb bytes.Buffer
	if code := profiled(context.Background(), path, []string{"version"}, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(errb.String(), "MLOPS_CPUPROFILE") || out.Len() != 0 {
		t.Fatalf("stdout %q, stderr %q: want only an error naming MLOPS_CPUPROFILE", out.String(), errb.String())
	}
}
