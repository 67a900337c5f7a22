package http

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestWithMemoryLimit checks the limit follows the largest model decoded,
// never drops for a smaller one, and is left alone under GOMEMLIMIT.
func TestWithMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	t.Setenv("GOMEMLIMIT", "")
	fake := newFake(t, "1", 0)
	d := WithMemoryLimit(func(*Fetched) (Model, error) { return fake, nil })
	for _, n := range []int{10 << 20, 1 << 20} {
		if m, err := d(&Fetched{Data: make([]byte, n)}); err != nil || m != fake {
			t.Fatalf("decode: %v, %v", m, err)
		}
		if got, want := debug.SetMemoryLimit(-1), memoryLimitFor(10<<20); got != want {
			t.Errorf("after a %d-byte model: limit %d, want %d", n, got, want)
		}
	}
	debug.SetMemoryLimit(math.MaxInt64)
	t.Setenv("GOMEMLIMIT", "1GiB")
	if _, err := WithMemoryLimit(func(*Fetched) (Model, error) { return fake, nil })(&Fetched{Data: make([]byte, 100)}); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("GOMEMLIMIT set by the operator, yet the limit became %d", got)
	}
}
