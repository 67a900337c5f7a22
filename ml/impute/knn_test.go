package impute

import (
	"math"
	"runtime"
	"strconv"
	"testing"
)

// TestKNNGolden reproduces scikit-learn's KNNImputer(n_neighbors=5) on
// standardised data (scaler fitted on the same 300 rows, NaN ignored).
func TestKNNGolden(t *testing.T) {
	X, names := loadCSV(t, "reference/knn_input.csv")
	var ref struct {
		NNeighbors int                `json:"n_neighbors"`
		Masked     []int              `json:"masked_rows"`
		Imputed    map[string]float64 `json:"imputed_total_bedrooms"`
	}
	loadJSON(t, "reference/knn_imputer.json", &ref)
	col := -1
	for j, n := range names {
		if n == "total_bedrooms" {
			col = j
		}
	}
	for _, i := range ref.Masked {
		if !math.IsNaN(X.At(i, col)) {
			t.Fatalf("row %d is not masked in knn_input.csv", i)
		}
	}
	m := NewKNN(ref.NNeighbors)
	m.Standardize = true
	if err := m.Fit(X); err != nil {
		t.Fatal(err)
	}
	out, err := m.Transform(X)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ref.Masked {
		want := ref.Imputed[strconv.Itoa(i)]
		if got := out.At(i, col); !relClose(got, want, 1e-6) {
			t.Errorf("row %d: imputed %v, scikit-learn %v", i, got, want)
		}
	}
	for k, v := range X.Data {
		if !math.IsNaN(v) && out.Data[k] != v {
			t.Fatalf("observed value %d changed from %v to %v", k, v, out.Data[k])
		}
	}
	// Same bits with one worker and after a JSON round trip.
	prev := runtime.GOMAXPROCS(1)
	one, err := m.Transform(X)
	runtime.GOMAXPROCS(prev)
	if err != nil || !sameBits(one.Data, out.Data) {
		t.Errorf("GOMAXPROCS(1) changed the result (%v)", err)
	}
	var back KNN
	roundTrip(t, m, &back)
	again, err := back.Transform(X)
	if err != nil || !sameBits(again.Data, out.Data) || back.Kind() != "knn_imputer" {
		t.Errorf("JSON round trip changed the result (%v)", err)
	}
}

// TestKNNSemantics checks partial donors, skipped rows sharing no
// coordinate, and the nan_euclidean weight on a hand-computed case (k=2,
// 3 columns, so weight = 3 / coordinates present in both rows).
func TestKNNSemantics(t *testing.T) {
	X := mustMatrix(t, 6, 3,
		0, 0, 10,
		1, nan, 20,
		1, 0, nan,
		-1, 0, 30,
		nan, nan, 40,
		5, 5, 50)
	m := NewKNN(2)
	if err := m.Fit(X); err != nil {
		t.Fatal(err)
	}
	R := mustMatrix(t, 3, 3,
		0, 0, nan,
		nan, nan, 45,
		nan, 1, 1)
	out, err := m.Transform(R)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		i, j int
		want float64
		why  string
	}{
		// Donors for column 2: rows 0 (d²=0), 1 (3·1/1=3), 3 (3·1/2=1.5),
		// 4 (skipped: no shared coordinate), 5 (3·50/2=75) → rows 0, 3.
		{0, 2, 20, "(10+30)/2"},
		// Only column 2 present: row 0 (3·35²), 1 (3·25²), 2 (skipped),
		// 3 (3·15²), 5 (3·5²) → rows 5, 3.
		{1, 0, 2, "(5-1)/2"},
		// Column 1 donors: rows 0 (3·35²), 2 (skipped), 3 (3·15²), 5 (3·5²).
		{1, 1, 2.5, "(5+0)/2"},
		// Columns 1, 2 present. Column 0 donors: row 0 (3·(1+81)/2=123),
		// 1 (3·19²/1=1083), 2 (3·1/1=3), 3 (3·(1+841)/2=1263),
		// 5 (3·(16+2401)/2) → rows 2, 0.
		{2, 0, 0.5, "(1+0)/2"},
	}
	for _, c := range cases {
		if got := out.At(c.i, c.j); got != c.want {
			t.Errorf("receiver %d column %d: %v, want %v = %s", c.i, c.j, got, c.want, c.why)
		}
	}
}

func TestKNNErrors(t *testing.T) {
	if err := NewKNN(3).Fit(mustMatrix(t, 2, 2, 1, nan, 2, nan)); err == nil {
		t.Error("all-missing column accepted")
	}
	if _, err := NewKNN(3).Transform(mustMatrix(t, 1, 1, 1)); err != ErrNotFitted {
		t.Errorf("unfitted: %v", err)
	}
	m := NewKNN(3)
	if err := m.Fit(mustMatrix(t, 2, 2, 1, 2, 3, 4)); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Transform(mustMatrix(t, 1, 3, 1, 2, 3)); err == nil {
		t.Error("column mismatch accepted")
	}
	// Fewer donors than k: the mean of all of them.
	out, err := m.Transform(mustMatrix(t, 1, 2, 0, nan))
	if err != nil || out.At(0, 1) != 3 {
		t.Errorf("fewer donors than k: %v (%v), want 3", out.At(0, 1), err)
	}
	// A receiver sharing no coordinate with any donor gets the column mean;
	// donors sharing none are skipped, even when fewer than k remain.
	m = NewKNN(2)
	if err := m.Fit(mustMatrix(t, 3, 3, 1, 2, nan, 3, 4, nan, 11, 12, 5)); err != nil {
		t.Fatal(err)
	}
	out, err = m.Transform(mustMatrix(t, 2, 3, nan, nan, nan, nan, nan, 1))
	if err != nil || !sameBits(out.Data, []float64{5, 6, 5, 11, 12, 1}) {
		t.Errorf("no shared coordinate: %v (%v), want [5 6 5 11 12 1]", out.Data, err)
	}
}

// TestKNNTies checks that equidistant donors go to the lowest row index.
func TestKNNTies(t *testing.T) {
	X := mustMatrix(t, 3, 2, 1, 100, -1, 200, 1, 300)
	for k, want := range map[int]float64{1: 100, 2: 150} {
		m := NewKNN(k)
		if err := m.Fit(X); err != nil {
			t.Fatal(err)
		}
		out, err := m.Transform(mustMatrix(t, 1, 2, 0, nan))
		if err != nil || out.At(0, 1) != want {
			t.Errorf("k=%d: %v (%v), want %v", k, out.At(0, 1), err, want)
		}
	}
}
