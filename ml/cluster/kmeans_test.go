package cluster

import (
	"math"
	"runtime"
	"slices"
	"strconv"
	"testing"

	"github.com/housing-mlops/mlops/ml"
)

type geoRef struct {
	Features        []string           `json:"features"`
	Inertia         map[string]float64 `json:"inertia_best_of_10"`
	K8Labels        []int              `json:"k8_labels"`
	K8Silhouette    float64            `json:"k8_silhouette"`
	K8DaviesBouldin float64            `json:"k8_davies_bouldin"`
}

// loadGeo returns housing.csv's [latitude, longitude] and the reference.
func loadGeo(t testing.TB) (*ml.Matrix, geoRef) {
	t.Helper()
	X, names := loadCSV(t, "housing.csv", "ocean_proximity")
	var ref geoRef
	loadJSON(t, "reference/kmeans_geo.json", &ref)
	var cols []int
	for _, f := range ref.Features {
		for j, n := range names {
			if n == f {
				cols = append(cols, j)
			}
		}
	}
	if len(cols) != 2 {
		t.Fatalf("features %v not found in %v", ref.Features, names)
	}
	return X.SelectCols(cols), ref
}

// TestKMeansGeoInertia compares our best-of-10 inertia with scikit-learn's
// best-of-10 reference for K=2..20 on the housing coordinates.
//
// A best-of-10 is a random draw, and for K >= 9 the reference was a lucky
// one: with scikit-learn 1.2.1 itself, random_state 0..7 give K=10 inertias
// of 0.998-1.034 times the reference and K=13 0.993-1.033. Our single-run
// distribution matches scikit-learn's (30 runs each, K=10: quartiles
// 1.027/1.062/1.100 vs 1.028/1.063/1.072; K=19: 1.018/1.048/1.104 vs
// 1.016/1.052/1.083). So K <= 8, where every run lands in the same basin,
// is held to 0.5 %, and larger K to 5 %, just above scikit-learn's own spread.
func TestKMeansGeoInertia(t *testing.T) {
	X, ref := loadGeo(t)
	ks := []int{2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	if testing.Short() {
		ks = []int{2, 5, 8, 10, 13, 16, 20}
	}
	for _, k := range ks {
		want := ref.Inertia[strconv.Itoa(k)]
		tol := 0.005
		if k > 8 {
			tol = 0.05
		}
		km := NewKMeans(k, 42)
		if err := km.Fit(X); err != nil {
			t.Fatal(err)
		}
		if km.Inertia > want*(1+tol) {
			t.Errorf("K=%d: inertia %.3f is %.2f%% above scikit-learn's %.3f (allowed %.1f%%)",
				k, km.Inertia, 100*(km.Inertia/want-1), want, 100*tol)
		}
		t.Logf("K=%2d inertia %10.3f  scikit-learn %10.3f  ratio %.4f  %d iterations", k, km.Inertia, want, km.Inertia/want, km.NIter)
	}
}

// TestKMeansFitPredict checks the fitted state is consistent: labels are the
// nearest centres, centres are their clusters' means, inertia is the sum of
// squared distances; and determinism across GOMAXPROCS and a JSON round trip.
func TestKMeansFitPredict(t *testing.T) {
	X, _ := loadGeo(t)
	km := NewKMeans(6, 3)
	if err := km.Fit(X); err != nil {
		t.Fatal(err)
	}
	if km.Dim != 2 || len(km.Centers) != 12 || km.NIter < 1 || km.NIter > 300 || km.Kind() != "kmeans" {
		t.Fatalf("fitted state: dim %d, %d centre values, %d iterations", km.Dim, len(km.Centers), km.NIter)
	}
	labels, err := km.Predict(X)
	if err != nil {
		t.Fatal(err)
	}
	fitLabels := km.Labels()
	sums := make([]float64, 12)
	counts := make([]float64, 6)
	inertia := 0.0
	for i, l := range labels {
		if l != fitLabels[i] {
			t.Fatalf("row %d: Predict %d, Fit %d", i, l, fitLabels[i])
		}
		row := X.Row(i)
		for j, v := range row {
			sums[l*2+j] += v
			d := v - km.Centers[l*2+j]
			inertia += d * d
		}
		counts[l]++
	}
	if math.Abs(inertia-km.Inertia) > 1e-9*inertia {
		t.Errorf("inertia %v, recomputed %v", km.Inertia, inertia)
	}
	// Lloyd stops on a tolerance, so centres are near (not at) the means.
	for c := 0; c < 6; c++ {
		for j := 0; j < 2; j++ {
			if m := sums[c*2+j] / counts[c]; math.Abs(m-km.Centers[c*2+j]) > 0.05 {
				t.Errorf("centre %d[%d] = %v, cluster mean %v", c, j, km.Centers[c*2+j], m)
			}
		}
	}
	prev := runtime.GOMAXPROCS(1)
	one := NewKMeans(6, 3)
	err = one.Fit(X)
	runtime.GOMAXPROCS(prev)
	if err != nil || !sameBits(one.Centers, km.Centers) || one.Inertia != km.Inertia {
		t.Errorf("GOMAXPROCS(1) changed the fit (%v)", err)
	}
	var back KMeans
	roundTrip(t, km, &back)
	again, err := back.Predict(X)
	if err != nil || !slices.Equal(again, labels) || !sameBits(back.Centers, km.Centers) {
		t.Errorf("JSON round trip changed predictions (%v)", err)
	}
	other := NewKMeans(6, 4)
	if err := other.Fit(X); err != nil {
		t.Fatal(err)
	}
	if sameBits(other.Centers, km.Centers) {
		t.Error("a different seed gave identical centres: the seed is ignored")
	}
}

// TestKMeansSmall: well-separated blobs are found exactly, and an empty
// cluster cannot survive (K equal to the number of distinct points).
func TestKMeansSmall(t *testing.T) {
	X := mustMatrix(t, 6, 1, 0, 0.5, 1, 100, 100.5, 101)
	km := NewKMeans(2, 1)
	if err := km.Fit(X); err != nil {
		t.Fatal(err)
	}
	got := []float64{km.Centers[0], km.Centers[1]}
	slices.Sort(got)
	if got[0] != 0.5 || got[1] != 100.5 || km.Inertia != 1 {
		t.Errorf("centres %v inertia %v, want [0.5 100.5] and 1", got, km.Inertia)
	}
	km = NewKMeans(6, 1)
	if err := km.Fit(X); err != nil {
		t.Fatal(err)
	}
	if km.Inertia != 0 {
		t.Errorf("K = rows: inertia %v, want 0", km.Inertia)
	}
}

func TestKMeansErrors(t *testing.T) {
	X := mustMatrix(t, 3, 1, 1, 2, 3)
	for _, km := range []*KMeans{NewKMeans(0, 1), NewKMeans(4, 1), {K: 2, Tol: -1}} {
		if err := km.Fit(X); err == nil {
			t.Errorf("K=%d Tol=%v accepted", km.K, km.Tol)
		}
	}
	if err := NewKMeans(2, 1).Fit(mustMatrix(t, 3, 1, 1, math.NaN(), 3)); err == nil {
		t.Error("NaN accepted")
	}
	if _, err := NewKMeans(2, 1).Predict(X); err != ml.ErrNotFitted {
		t.Errorf("unfitted predict: %v", err)
	}
	km := NewKMeans(2, 1)
	if err := km.Fit(X); err != nil {
		t.Fatal(err)
	}
	if _, err := km.Predict(mustMatrix(t, 1, 2, 1, 2)); err == nil {
		t.Error("column mismatch accepted")
	}
}
