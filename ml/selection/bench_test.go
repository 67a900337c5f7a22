package selection

import (
	"context"
	"testing"
)

// BenchmarkGridSearch measures the search machinery (fold copies, task
// scheduling, ranking) with a trivial model: 20 candidates × 5 folds.
func BenchmarkGridSearch(b *testing.B) {
	X, y := lineData(2000)
	folds, _ := KFold{K: 5, Shuffle: true, Seed: 1}.Splits(2000)
	slopes := make([]any, 20)
	for i := range slopes {
		slopes[i] = float64(i) / 5
	}
	grid := map[string][]any{"slope": slopes}
	for i := 0; i < b.N; i++ {
		if _, _, err := GridSearch(context.Background(), grid, buildSlope, X, y, folds, MAE(), 0, nil); err != nil {
			b.Fatal(err)
		}
	}
}
