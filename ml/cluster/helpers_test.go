package cluster

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/housing-mlops/mlops/ml"
)

// loadCSV reads a numeric CSV under testdata/ into a matrix, skipping the
// columns whose header is in skip; empty cells become NaN. Test-only: the
// real loader lives in ml/frame.
func loadCSV(t testing.TB, rel string, skip ...string) (*ml.Matrix, []string) {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var keep []int
	var names []string
	for j, h := range recs[0] {
		if !contains(skip, h) {
			keep = append(keep, j)
			names = append(names, h)
		}
	}
	X := ml.NewMatrix(len(recs)-1, len(keep))
	for i, rec := range recs[1:] {
		for k, j := range keep {
			v := math.NaN()
			if rec[j] != "" {
				if v, err = strconv.ParseFloat(rec[j], 64); err != nil {
					t.Fatalf("%s row %d col %s: %v", rel, i+1, names[k], err)
				}
			}
			X.Set(i, k, v)
		}
	}
	return X, names
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func loadJSON(t testing.TB, rel string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", rel))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

// roundTrip marshals src to JSON and decodes it into dst.
func roundTrip(t *testing.T, src, dst any) {
	t.Helper()
	b, err := json.Marshal(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, dst); err != nil {
		t.Fatal(err)
	}
}

// sameBits reports whether a and b hold bit-identical values.
func sameBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

func relClose(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

func mustMatrix(t *testing.T, rows, cols int, data ...float64) *ml.Matrix {
	t.Helper()
	m, err := ml.MatrixFrom(rows, cols, data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
