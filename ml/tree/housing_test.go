package tree

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/housing-mlops/mlops/ml"
)

// housing is testdata/housing.csv: the 8 numeric feature columns (NaN where
// empty) and the target. A test-only loader, so this package does not depend
// on ml/frame.
type housing struct {
	num   [][]float64 // num[row][col]
	ocean []string    // ocean_proximity
	y     []float64
}

var oceanCats = []string{"<1H OCEAN", "INLAND", "ISLAND", "NEAR BAY", "NEAR OCEAN"}

const housingNumeric = 8

func loadHousing(t testing.TB) *housing {
	t.Helper()
	f, err := os.Open("../../testdata/housing.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	h := &housing{}
	for r, rec := range recs[1:] {
		row := make([]float64, housingNumeric)
		for j := 0; j < housingNumeric; j++ {
			row[j] = parseCell(t, rec[j], r)
		}
		h.num = append(h.num, row)
		h.ocean = append(h.ocean, rec[9])
		h.y = append(h.y, parseCell(t, rec[8], r))
	}
	return h
}

func parseCell(t testing.TB, s string, row int) float64 {
	if s == "" {
		return math.NaN()
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("housing.csv row %d: %v", row, err)
	}
	return v
}

// medians returns each numeric column's median over the given rows,
// ignoring missing values (numpy/pandas definition: mean of the two middle
// values for an even count).
func (h *housing) medians(rows []int) []float64 {
	out := make([]float64, housingNumeric)
	for j := range out {
		var v []float64
		for _, i := range rows {
			if x := h.num[i][j]; !math.IsNaN(x) {
				v = append(v, x)
			}
		}
		slices.Sort(v)
		m := len(v) / 2
		if len(v)%2 == 1 {
			out[j] = v[m]
		} else {
			out[j] = (v[m-1] + v[m]) / 2
		}
	}
	return out
}

// matrix returns the imputed numeric design for rows, and their targets.
func (h *housing) matrix(rows []int, med []float64) (*ml.Matrix, []float64) {
	X := ml.NewMatrix(len(rows), housingNumeric)
	y := make([]float64, len(rows))
	for k, i := range rows {
		for j, x := range h.num[i] {
			if math.IsNaN(x) {
				x = med[j]
			}
			X.Set(k, j, x)
		}
		y[k] = h.y[i]
	}
	return X, y
}

// matrix13 is the learners' benchmark design: matrix plus 5 one-hot
// ocean_proximity columns.
func (h *housing) matrix13(rows []int, med []float64) (*ml.Matrix, []float64) {
	num, y := h.matrix(rows, med)
	X := ml.NewMatrix(len(rows), housingNumeric+len(oceanCats))
	for k, i := range rows {
		copy(X.Row(k), num.Row(k))
		for c, cat := range oceanCats {
			if h.ocean[i] == cat {
				X.Set(k, housingNumeric+c, 1)
			}
		}
	}
	return X, y
}

func allRows(n int) []int {
	r := make([]int, n)
	for i := range r {
		r[i] = i
	}
	return r
}

type splitRows struct {
	Train []int `json:"train_rows"`
	Test  []int `json:"test_rows"`
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func loadSplit(t testing.TB) splitRows {
	var s splitRows
	readJSON(t, "../../testdata/reference/split_random_state_42.json", &s)
	return s
}
