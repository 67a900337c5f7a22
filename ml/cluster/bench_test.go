package cluster

import (
	"fmt"
	"testing"
)

// BenchmarkSilhouetteHousing scores scikit-learn's K=8 labels on all 20,640
// housing coordinates (426 million distances per op).
func BenchmarkSilhouetteHousing(b *testing.B) {
	X, ref := loadGeo(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := Silhouette(X, ref.K8Labels, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKMeansHousing fits K=8, best of 10, on the housing coordinates.
func BenchmarkKMeansHousing(b *testing.B) {
	X, _ := loadGeo(b)
	b.ResetTimer()
	for b.Loop() {
		if err := NewKMeans(8, 42).Fit(X); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKMeansHousingK fits each K=2..20, best of 10, on the housing
// coordinates (the workload of pipeline step 03's K search), with and
// without the refinement (Hartigan moves and escapes), interleaved so that
// both see the same machine load.
func BenchmarkKMeansHousingK(b *testing.B) {
	X, _ := loadGeo(b)
	for k := 2; k <= 20; k++ {
		for _, alg := range []string{AlgorithmLloyd, AlgorithmHartigan} {
			b.Run(fmt.Sprintf("K=%d/%s", k, alg), func(b *testing.B) {
				for b.Loop() {
					km := NewKMeans(k, 42)
					km.Algorithm = alg
					if err := km.Fit(X); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
