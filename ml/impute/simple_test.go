package impute

import (
	"math"
	"strings"
	"testing"
)

var nan = math.NaN()

func TestSimpleStrategies(t *testing.T) {
	X := mustMatrix(t, 5, 2,
		1, nan,
		2, 5,
		2, 7,
		nan, 7,
		9, 5)
	cases := []struct {
		strategy string
		want     []float64
	}{
		{"mean", []float64{3.5, 6}},
		{"median", []float64{2, 6}},        // even count: mean of middle pair 5,7
		{"most_frequent", []float64{2, 5}}, // 5 and 7 tie: smallest wins
		{"constant", []float64{-1, -1}},
	}
	for _, c := range cases {
		s := NewSimple(c.strategy)
		s.Fill = -1
		if err := s.Fit(X); err != nil {
			t.Fatalf("%s: %v", c.strategy, err)
		}
		if !sameBits(s.Statistics, c.want) {
			t.Errorf("%s: statistics %v, want %v", c.strategy, s.Statistics, c.want)
		}
		out, err := s.Transform(X)
		if err != nil {
			t.Fatal(err)
		}
		if out.At(3, 0) != c.want[0] || out.At(0, 1) != c.want[1] || out.At(1, 1) != 5 {
			t.Errorf("%s: transform %v", c.strategy, out.Data)
		}
		if !math.IsNaN(X.At(0, 1)) {
			t.Fatalf("%s: Transform modified its input", c.strategy)
		}
	}
}

func TestSimpleErrors(t *testing.T) {
	X := mustMatrix(t, 2, 3, 1, nan, 3, 4, nan, 6)
	err := NewSimple("median").Fit(X)
	if err == nil || !strings.Contains(err.Error(), "column 1") {
		t.Errorf("all-missing column: got %v, want an error naming column 1", err)
	}
	if err := NewSimple("constant").Fit(X); err != nil {
		t.Errorf("constant needs no observed values: %v", err)
	}
	if err := NewSimple("mode").Fit(X); err == nil {
		t.Error("unknown strategy accepted")
	}
	if _, err := NewSimple("mean").Transform(X); err != ErrNotFitted {
		t.Errorf("unfitted transform: %v", err)
	}
	inf := mustMatrix(t, 1, 2, 1, math.Inf(1))
	if err := NewSimple("mean").Fit(inf); err == nil || !strings.Contains(err.Error(), "row 0 column 1") {
		t.Errorf("infinite value: got %v", err)
	}
	s := NewSimple("mean")
	if err := s.Fit(mustMatrix(t, 1, 2, 1, 2)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transform(X); err == nil {
		t.Error("column-count mismatch accepted")
	}
}

// TestSimpleHousingGolden checks median and mean against scikit-learn's on
// the 8 numeric feature columns of housing.csv.
func TestSimpleHousingGolden(t *testing.T) {
	X, _ := loadCSV(t, "housing.csv", "ocean_proximity", "median_house_value")
	var ref struct{ Median, Mean []float64 }
	loadJSON(t, "reference/preprocess_stats.json", &ref)
	for strategy, want := range map[string][]float64{"median": ref.Median, "mean": ref.Mean} {
		s := NewSimple(strategy)
		if err := s.Fit(X); err != nil {
			t.Fatal(err)
		}
		for j, w := range want {
			if !relClose(s.Statistics[j], w, 1e-12) {
				t.Errorf("%s column %d: %v, want %v", strategy, j, s.Statistics[j], w)
			}
		}
		// A saved imputer must transform bit-identically.
		var back Simple
		roundTrip(t, s, &back)
		a, _ := s.Transform(X)
		b, err := back.Transform(X)
		if err != nil || !sameBits(a.Data, b.Data) || back.Kind() != "simple_imputer" {
			t.Errorf("%s: JSON round trip changed the transform (%v)", strategy, err)
		}
	}
}
