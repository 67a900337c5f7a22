package ui

import (
	"math"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	h := Histogram{Bounds: []float64{1, 2, 4}, Counts: []float64{10, 10, 0, 0}}
	for _, c := range []struct{ q, want float64 }{{0.5, 1}, {0.25, 0.5}, {0.75, 1.5}, {1, 2}} {
		if got := quantile(h, c.q); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("q%v = %v, want %v", c.q, got, c.want)
		}
	}
	// Past the last bound, the last bound is the best estimate.
	if got := quantile(Histogram{Bounds: []float64{1}, Counts: []float64{0, 5}}, 0.9); got != 1 {
		t.Errorf("overflow quantile %v", got)
	}
	if !math.IsNaN(quantile(Histogram{Bounds: []float64{1}, Counts: []float64{0, 0}}, 0.5)) {
		t.Error("empty histogram should give NaN")
	}
}

func TestDiffHistAndWindow(t *testing.T) {
	a := Histogram{Bounds: []float64{1}, Counts: []float64{3, 1}}
	b := Histogram{Bounds: []float64{1}, Counts: []float64{5, 4}}
	if d := diffHist(b, a); d.Counts[0] != 2 || d.Counts[1] != 3 {
		t.Errorf("diff %v", d.Counts)
	}
	// A counter reset never yields negative counts.
	if d := diffHist(a, b); d.Total() != 0 {
		t.Errorf("after reset %v", d.Counts)
	}
	t0 := time.Unix(1000, 0)
	hist := []sample{{at: t0}, {at: t0.Add(30 * time.Second)}, {at: t0.Add(80 * time.Second)}, {at: t0.Add(100 * time.Second)}}
	if s := windowStart(hist, time.Minute); s == nil || !s.at.Equal(t0.Add(80*time.Second)) {
		t.Errorf("window start %v", s)
	}
	if windowStart(hist[:1], time.Minute) != nil {
		t.Error("one sample has no window")
	}
	// Nothing within the window: fall back to the previous reading.
	if s := windowStart(hist[:2], time.Second); s == nil || !s.at.Equal(t0) {
		t.Errorf("fallback %v", s)
	}
}

func TestFormatting(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{{416260.00000000006, "$416,260"}, {999.5, "$1,000"}, {-1234, "−$1,234"}, {0, "$0"}} {
		if got := fmtMoney(c.v); got != c.want {
			t.Errorf("fmtMoney(%v) = %q, want %q", c.v, got, c.want)
		}
	}
	if got := fmtDur(0.0042); got != "4 ms" {
		t.Errorf("fmtDur %q", got)
	}
}
