package cluster

import (
	"github.com/housing-mlops/mlops/ml"
	"math"
	"runtime"
	"testing"
)

// TestScoresGolden checks both scores on scikit-learn's K=8 labels for the
// housing coordinates.
func TestScoresGolden(t *testing.T) {
	X, ref := loadGeo(t)
	sil, err := Silhouette(X, ref.K8Labels, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !relClose(sil, ref.K8Silhouette, 1e-9) {
		t.Errorf("silhouette %.15g, scikit-learn %.15g", sil, ref.K8Silhouette)
	}
	db, err := DaviesBouldin(X, ref.K8Labels)
	if err != nil {
		t.Fatal(err)
	}
	if !relClose(db, ref.K8DaviesBouldin, 1e-9) {
		t.Errorf("davies-bouldin %.15g, scikit-learn %.15g", db, ref.K8DaviesBouldin)
	}
	// Same bits whatever the parallelism (on a subset, to keep the test fast).
	sub := make([]int, 3000)
	for i := range sub {
		sub[i] = i * 6
	}
	Xs, ls := X.SelectRows(sub), make([]int, len(sub))
	for k, i := range sub {
		ls[k] = ref.K8Labels[i]
	}
	all, err := Silhouette(Xs, ls, 0)
	if err != nil {
		t.Fatal(err)
	}
	prev := runtime.GOMAXPROCS(1)
	one, err := Silhouette(Xs, ls, 1)
	runtime.GOMAXPROCS(prev)
	if err != nil || math.Float64bits(one) != math.Float64bits(all) {
		t.Errorf("silhouette with 1 worker %v, with all %v (%v)", one, all, err)
	}
}

// TestSilhouetteSmall checks the definition on a hand-computable case in 1-D
// and 3-D (the generic path), with arbitrary label values.
func TestSilhouetteSmall(t *testing.T) {
	// Points 0, 1 in cluster 7 and 4 in cluster -2.
	// s(0): a=1, b=4 -> 0.75; s(1): a=1, b=3 -> 2/3; s(4): singleton -> 0.
	want := (0.75 + 2.0/3) / 3
	one := mustMatrix(t, 3, 1, 0, 1, 4)
	three := mustMatrix(t, 3, 3, 0, 0, 0, 0, 1, 0, 0, 4, 0)
	for _, X := range []*ml.Matrix{one, three} {
		got, err := Silhouette(X, []int{7, 7, -2}, 2)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-want) > 1e-15 {
			t.Errorf("%d-D silhouette %v, want %v", X.Cols, got, want)
		}
	}
	if _, err := Silhouette(one, []int{1, 1, 1}, 1); err == nil {
		t.Error("one cluster accepted")
	}
	if _, err := Silhouette(one, []int{1, 2}, 1); err == nil {
		t.Error("label count mismatch accepted")
	}
}

func TestDaviesBouldinSmall(t *testing.T) {
	// Clusters {0,2} (centroid 1, S=1) and {10,14} (centroid 12, S=2):
	// both ratios are (1+2)/11.
	X := mustMatrix(t, 4, 1, 0, 2, 10, 14)
	got, err := DaviesBouldin(X, []int{0, 0, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	if want := 3.0 / 11; math.Abs(got-want) > 1e-15 {
		t.Errorf("davies-bouldin %v, want %v", got, want)
	}
}
