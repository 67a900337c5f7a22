// Package mltest holds the helpers the ML engine's tests share: reading the
// repository's testdata (CSV files as matrices, reference JSON) and comparing
// floats bit for bit or within a relative tolerance. Only tests import it.
package mltest

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"

	"github.com/housing-mlops/mlops/ml"
)

// TestdataPath returns the path of rel under the repository's testdata/,
// wherever the calling package sits.
func TestdataPath(rel string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", rel)
}

// LoadCSV reads a numeric CSV under testdata/ into a matrix, skipping the
// columns whose header is in skip; empty cells become NaN. The product's
// loader is ml/frame; this one keeps engine tests independent of it.
func LoadCSV(t testing.TB, rel string, skip ...string) (*ml.Matrix, []string) {
	t.Helper()
	f, err := os.Open(TestdataPath(rel))
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
		if !slices.Contains(skip, h) {
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

// LoadJSON decodes the JSON file rel under testdata/ into v.
func LoadJSON(t testing.TB, rel string, v any) {
	t.Helper()
	b, err := os.ReadFile(TestdataPath(rel))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

// RoundTrip marshals src to JSON and decodes it into dst.
func RoundTrip(t testing.TB, src, dst any) {
	t.Helper()
	b, err := json.Marshal(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, dst); err != nil {
		t.Fatal(err)
	}
}

// SameBits reports whether a and b hold bit-identical values.
func SameBits(a, b []float64) bool {
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

// RelClose reports whether got is within tol of want, relative to |want|
// (absolute below 1).
func RelClose(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

// MustMatrix wraps data as a rows×cols matrix or fails the test.
func MustMatrix(t testing.TB, rows, cols int, data ...float64) *ml.Matrix {
	t.Helper()
	m, err := ml.MatrixFrom(rows, cols, data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
