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

// TestKMeansGeoInertia compares our best-of-10 inertia (seed 42, default
// refinement) with scikit-learn's best-of-10 reference for K=2..20 on the
// housing coordinates; the issue asks for at most 0.5 % above it, for every
// K.
//
// For K >= 9 the reference is a lucky draw: with scikit-learn 1.2.1 itself,
// random_state 0..7 give K=10 inertias of 0.998-1.034 times it. Lloyd and
// Hartigan moves alone leave a restart in whichever basin its seeds fall
// in, and the basins are several percent apart: without the escapes, 35 of
// the 190 (K, seed) pairs for seeds 0..9 missed 0.5 %, worst 7.6 % (K=15,
// seed 7), and only 83 of 360 single restarts (K=9..20, 30 seeds each) were
// within 0.5 %. With them, 309 of 360 single restarts are, and every
// best-of-10 for seeds 0..9 is, the worst at 1.0004. So seed 42 is not
// special here; the bound below holds for it with room to spare.
func TestKMeansGeoInertia(t *testing.T) {
	X, ref := loadGeo(t)
	ks := []int{2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	if testing.Short() {
		ks = []int{2, 5, 8, 10, 13, 16, 20}
	}
	const tol = 0.005
	for _, k := range ks {
		want := ref.Inertia[strconv.Itoa(k)]
		km := NewKMeans(k, 42)
		if err := km.Fit(X); err != nil {
			t.Fatal(err)
		}
		if km.Inertia > want*(1+tol) {
			t.Errorf("K=%d: inertia %.3f is %.2f%% above scikit-learn's %.3f (allowed %.1f%%)",
				k, km.Inertia, 100*(km.Inertia/want-1), want, 100*tol)
		}
		t.Logf("K=%2d inertia %10.3f  scikit-learn %10.3f  ratio %.4f  %d iterations  %d Hartigan passes  %d escapes",
			k, km.Inertia, want, km.Inertia/want, km.NIter, km.NSweeps, km.NSwaps)
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
	// The Hartigan refinement ends with the centres at the means.
	for c := 0; c < 6; c++ {
		for j := 0; j < 2; j++ {
			if m := sums[c*2+j] / counts[c]; math.Abs(m-km.Centers[c*2+j]) > 1e-9 {
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
	for _, km := range []*KMeans{NewKMeans(0, 1), NewKMeans(4, 1), {K: 2, Tol: -1}, {K: 2, Algorithm: "elkan"}} {
		if err := km.Fit(X); err == nil {
			t.Errorf("K=%d Tol=%v Algorithm=%q accepted", km.K, km.Tol, km.Algorithm)
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

// hartigan runs the Hartigan passes alone on a Lloyd result, in place.
func hartigan(X *ml.Matrix, k, maxSweeps int, r *run) {
	h := newHartiganState(X, k, r.labels, r.centers)
	h.converge(maxSweeps)
	h.store(r)
}

// TestHartiganLeavesLloydFixedPoint: {0, 2 | 2.4, 4} is a Lloyd fixed point
// (2 is nearer 1 than 3.2) with inertia 3.28, but moving 2 to the right
// shrinks the left cluster's spread by 2·1² and grows the right one's by only
// 2/3·1.2², reaching {0 | 2, 2.4, 4} with inertia 2.24, the optimum for K=2.
func TestHartiganLeavesLloydFixedPoint(t *testing.T) {
	X := mustMatrix(t, 4, 1, 0, 2, 2.4, 4)
	l := lloyd(X, []float64{1, 3.2}, 2, 300, 0)
	if !slices.Equal(l.labels, []int{0, 0, 1, 1}) || math.Abs(l.inertia-3.28) > 1e-12 {
		t.Fatalf("lloyd: labels %v inertia %v, want [0 0 1 1] and 3.28", l.labels, l.inertia)
	}
	hartigan(X, 2, 300, &l)
	if !slices.Equal(l.labels, []int{0, 1, 1, 1}) || math.Abs(l.inertia-2.24) > 1e-12 ||
		math.Abs(l.centers[0]) > 1e-15 || math.Abs(l.centers[1]-2.8) > 1e-12 {
		t.Errorf("hartigan: labels %v centres %v inertia %v, want [0 1 1 1], [0 2.8] and 2.24", l.labels, l.centers, l.inertia)
	}
	if l.sweeps != 2 {
		t.Errorf("%d passes, want 2 (one move, then one pass without)", l.sweeps)
	}
}

// TestKMeansHartiganGeo: on the housing coordinates the refined fit is no
// worse than Lloyd's from the same seeds, its centres are exactly the
// cluster means, no single row move lowers the inertia, and it does not
// depend on GOMAXPROCS. (Seed 3 is one whose winning restart keeps
// escapes, so they are covered too.)
func TestKMeansHartiganGeo(t *testing.T) {
	X, _ := loadGeo(t)
	const k = 9
	plain := &KMeans{K: k, NInit: 3, Seed: 3, Algorithm: AlgorithmLloyd}
	refined := &KMeans{K: k, NInit: 3, Seed: 3} // empty Algorithm: Hartigan
	if err := plain.Fit(X); err != nil {
		t.Fatal(err)
	}
	if err := refined.Fit(X); err != nil {
		t.Fatal(err)
	}
	if refined.Inertia > plain.Inertia || refined.NSweeps < 1 || plain.NSweeps != 0 || plain.NSwaps != 0 {
		t.Errorf("inertia %v after %d passes, Lloyd alone %v after %d", refined.Inertia, refined.NSweeps, plain.Inertia, plain.NSweeps)
	}
	if refined.NSwaps < 1 {
		t.Errorf("no escape kept: the test no longer covers them")
	}
	prev := runtime.GOMAXPROCS(1)
	one := &KMeans{K: k, NInit: 3, Seed: 3}
	err := one.Fit(X)
	runtime.GOMAXPROCS(prev)
	if err != nil || !sameBits(one.Centers, refined.Centers) || one.Inertia != refined.Inertia || one.NSwaps != refined.NSwaps {
		t.Errorf("GOMAXPROCS(1) changed the fit (%v)", err)
	}
	t.Logf("K=%d best of 3: Lloyd %.3f, refined %.3f (%d passes, %d escapes)", k, plain.Inertia, refined.Inertia, refined.NSweeps, refined.NSwaps)
	checkHartiganOptimum(t, X, refined)
	predicted, err := refined.Predict(X)
	if err != nil || !slices.Equal(predicted, refined.Labels()) {
		t.Errorf("Predict disagrees with the fitted labels (%v)", err)
	}
}

// checkHartiganOptimum checks a fit on two-dimensional X: its centres are
// exactly the cluster means, and no single row move lowers the inertia.
func checkHartiganOptimum(t *testing.T, X *ml.Matrix, km *KMeans) {
	t.Helper()
	labels, k := km.Labels(), km.K
	sums := make([]float64, 2*k)
	counts := make([]float64, k)
	for i, l := range labels {
		sums[2*l] += X.Data[2*i]
		sums[2*l+1] += X.Data[2*i+1]
		counts[l]++
	}
	for j, s := range sums {
		if m := s / counts[j/2]; math.Abs(m-km.Centers[j]) > 1e-9 {
			t.Fatalf("centre value %d = %v, cluster mean %v", j, km.Centers[j], m)
		}
	}
	for i, a := range labels {
		x := X.Row(i)
		if counts[a] < 2 {
			continue
		}
		leave := counts[a] / (counts[a] - 1) * sqDist(x, km.Centers[2*a:2*a+2])
		for b := 0; b < k; b++ {
			join := counts[b] / (counts[b] + 1) * sqDist(x, km.Centers[2*b:2*b+2])
			if b != a && join < leave*(1-1e-9) {
				t.Fatalf("row %d: moving from %d to %d lowers the inertia by %v", i, a, b, leave-join)
			}
		}
	}
}

// TestKMeansOldJSON: a model saved before the Algorithm, NSweeps and NSwaps
// fields existed still loads, predicts the same, and refits with the
// refinement.
func TestKMeansOldJSON(t *testing.T) {
	X := mustMatrix(t, 6, 1, 0, 0.5, 1, 100, 100.5, 101)
	km := NewKMeans(2, 1)
	if err := km.Fit(X); err != nil {
		t.Fatal(err)
	}
	want, err := km.Predict(X)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	roundTrip(t, km, &fields)
	if _, ok := fields["n_sweeps"]; !ok {
		t.Fatalf("saved model has no n_sweeps: %v", fields)
	}
	delete(fields, "algorithm")
	delete(fields, "n_sweeps")
	delete(fields, "n_swaps")
	var old KMeans
	roundTrip(t, fields, &old)
	got, err := old.Predict(X)
	if err != nil || !slices.Equal(got, want) || !sameBits(old.Centers, km.Centers) {
		t.Fatalf("old model predicts %v, want %v (%v)", got, want, err)
	}
	if err := old.Fit(X); err != nil || old.NSweeps < 1 {
		t.Errorf("refit of old model: %d Hartigan passes (%v)", old.NSweeps, err)
	}
}
