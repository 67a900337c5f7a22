package rawjson

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops/ml"
)

func TestValueSplitsWhatMarshalWrites(t *testing.T) {
	parts := []string{`{"a":[1,{"b":"x\"]}"}],"c":null}`, `"q\\"`, `-1.5e3`, `true`, `[]`, `{}`}
	c := Cursor{Data: []byte(strings.Join(parts, ","))}
	for i, want := range parts {
		if i > 0 && !c.Lit(",") {
			t.Fatalf("no comma before part %d at %d", i, c.Pos)
		}
		got, ok := c.Value()
		if !ok || string(got) != want {
			t.Fatalf("part %d: %q, %v; want %q", i, got, ok, want)
		}
	}
	if !c.Done() {
		t.Errorf("stopped at %d of %d", c.Pos, len(c.Data))
	}
	for _, bad := range []string{``, `"open`, `{"a":1`, `[[]`, `}`} {
		c := Cursor{Data: []byte(bad)}
		if v, ok := c.Value(); ok && c.Done() && bad != "}" {
			t.Errorf("%q: accepted as %q", bad, v)
		}
	}
}

func TestPlainStringRefusesEscapes(t *testing.T) {
	c := Cursor{Data: []byte(`"abc""a\u0062c"`)}
	if s, ok := c.PlainString(); !ok || string(s) != "abc" {
		t.Fatalf("plain string: %q %v", s, ok)
	}
	if _, ok := c.PlainString(); ok || c.Pos != 5 {
		t.Errorf("escaped string accepted, or the cursor moved (at %d)", c.Pos)
	}
}

// TestArraysRoundTripMarshal decodes what ml.Float64s and ml.Int32s marshal
// to, across sizes that end in every padding and span several chunks.
func TestArraysRoundTripMarshal(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 383, 384, 385, 1000, 5000} {
		f := make(ml.Float64s, n)
		ints := make(ml.Int32s, n)
		for i := range f {
			f[i] = math.Float64frombits(uint64(i)*0x9E3779B97F4A7C15 + 1)
			ints[i] = int32(uint32(i) * 2654435761)
		}
		fj, _ := json.Marshal(f)
		ij, _ := json.Marshal(ints)
		gotF, err := Float64s(fj[1 : len(fj)-1])
		if err != nil || !slices.Equal(toBits(gotF), toBits(f)) {
			t.Fatalf("n=%d float64s: err %v", n, err)
		}
		gotI, err := Int32s(ij[1 : len(ij)-1])
		if err != nil || !slices.Equal(gotI, ints) {
			t.Fatalf("n=%d int32s: err %v", n, err)
		}
	}
}

func toBits(v []float64) []uint64 {
	out := make([]uint64, len(v))
	for i, x := range v {
		out[i] = math.Float64bits(x)
	}
	return out
}

// TestArraysRefuseOtherSpellings: every accepted string is exactly the one
// json.Marshal writes, so re-encoding reproduces the file.
func TestArraysRefuseOtherSpellings(t *testing.T) {
	good, _ := json.Marshal(ml.Float64s(make([]float64, 601))) // two chunks, one "="
	s := string(good[1 : len(good)-1])
	for name, bad := range map[string]string{
		"line break":        s[:8] + "\n" + s[8:len(s)-1],
		"line break, later": s[:5000] + "\r\n" + s[5000:len(s)-2],
		"unpadded":          strings.TrimRight(s, "="),
		"non-zero pad bits": s[:len(s)-2] + "B=",
		"url alphabet":      "-" + s[1:],
		"not a multiple":    s[:len(s)-4] + "AAAAAAA=",
		"truncated":         s[:len(s)-4],
	} {
		if _, err := Float64s([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := Int32s([]byte("AAA=")); err == nil || !strings.Contains(err.Error(), "multiple of 4") {
		t.Errorf("2 bytes as int32s: %v", err)
	}
	if _, err := Float64s([]byte("AAAAAA==")); err == nil || !strings.Contains(err.Error(), "multiple of 8") {
		t.Errorf("4 bytes as float64s: %v", err)
	}
}
