package main

import (
	"bytes"
	"context"
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
