package tune

import (
	"testing"

	"github.com/housing-mlops/mlops/ml"
)

// BenchmarkTPESample measures one TPE proposal for the random-forest space
// with 100 finished trials (the sampler's cost per trial late in a sweep).
func BenchmarkTPESample(b *testing.B) {
	cfg, err := DefaultSpace("random_forest")
	if err != nil {
		b.Fatal(err)
	}
	ds := dims(cfg)
	s := newTPE(ds)
	hist := make([]observation, 100)
	for i := range hist {
		p := randomSampler{ds}.sample(i, nil, ml.NewRand(1, uint64(i)))
		hist[i] = observation{index: i, params: p, loss: float64(p["max_depth"].(int))}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.sample(100+i, hist, ml.NewRand(2, uint64(i)))
	}
}
