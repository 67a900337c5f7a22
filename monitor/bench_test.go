package monitor

import (
	"testing"
)

// go test -run '^$' -bench . -benchmem ./monitor/

// BenchmarkKS2SampExactWorstCase is the largest exact case Evidently's rule
// produces: a 1000-row reference against 10,000 current values, shifted so
// the band is wide.
func BenchmarkKS2SampExactWorstCase(b *testing.B) {
	ref, cur := seq(1000, phi1, 1, 0), seq(10000, phi2, 1, 0.3)
	for b.Loop() {
		KS2Samp(ref, cur)
	}
}

func BenchmarkCompareHousing(b *testing.B) {
	full, _, cur := housingSamples(b)
	for b.Loop() {
		if _, err := Compare(full, cur, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWindowAdd(b *testing.B) {
	w, err := NewWindow(windowReference(), 1000, WindowOptions{})
	if err != nil {
		b.Fatal(err)
	}
	obs := map[string]any{"income": 3.2, "ocean": "INLAND"}
	for b.Loop() {
		w.Add(obs)
	}
}

func BenchmarkPredictionLogLog(b *testing.B) {
	l, err := NewPredictionLog(b.TempDir(), LogOptions{BufferSize: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	r := rec(1)
	for b.Loop() {
		l.Log(r)
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	st := l.Stats()
	b.ReportMetric(float64(st.Dropped)/float64(st.Written+st.Dropped), "dropped/op")
}
