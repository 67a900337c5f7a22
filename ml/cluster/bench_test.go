package cluster

import "testing"

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
