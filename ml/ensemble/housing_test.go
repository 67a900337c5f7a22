package ensemble

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/housing-mlops/mlops/ml"
)

// housingData is the benchmark design of the learners: the 8 numeric
// columns of testdata/housing.csv, median-imputed with medians of the train
// rows, then 5 one-hot ocean_proximity columns; target median_house_value;
// rows split by scikit-learn's train_test_split(random_state=42). A
// test-only loader, so this package does not depend on ml/frame.
type housingData struct {
	Xtr, Xte *ml.Matrix
	ytr, yte []float64
}

var (
	housingOnce sync.Once
	housingVal  *housingData
	housingErr  error
)

var oceanCats = []string{"<1H OCEAN", "INLAND", "ISLAND", "NEAR BAY", "NEAR OCEAN"}

// loadHousing parses the data once per test binary (benchmarks and tests
// share it; the matrices must not be modified).
func loadHousing(t testing.TB) *housingData {
	t.Helper()
	housingOnce.Do(func() { housingVal, housingErr = readHousing() })
	if housingErr != nil {
		t.Fatal(housingErr)
	}
	return housingVal
}

func readHousing() (*housingData, error) {
	f, err := os.Open("../../testdata/housing.csv")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, err
	}
	recs = recs[1:]
	num := make([][]float64, len(recs))
	y := make([]float64, len(recs))
	for r, rec := range recs {
		num[r] = make([]float64, 8)
		for j := 0; j < 8; j++ {
			if rec[j] == "" {
				num[r][j] = math.NaN()
				continue
			}
			if num[r][j], err = strconv.ParseFloat(rec[j], 64); err != nil {
				return nil, err
			}
		}
		if y[r], err = strconv.ParseFloat(rec[8], 64); err != nil {
			return nil, err
		}
	}
	b, err := os.ReadFile("../../testdata/reference/split_random_state_42.json")
	if err != nil {
		return nil, err
	}
	var sp struct {
		Train []int `json:"train_rows"`
		Test  []int `json:"test_rows"`
	}
	if err := json.Unmarshal(b, &sp); err != nil {
		return nil, err
	}
	med := make([]float64, 8)
	for j := range med {
		var v []float64
		for _, i := range sp.Train {
			if !math.IsNaN(num[i][j]) {
				v = append(v, num[i][j])
			}
		}
		slices.Sort(v)
		if m := len(v) / 2; len(v)%2 == 1 {
			med[j] = v[m]
		} else {
			med[j] = (v[m-1] + v[m]) / 2
		}
	}
	design := func(rows []int) (*ml.Matrix, []float64) {
		X := ml.NewMatrix(len(rows), 8+len(oceanCats))
		ys := make([]float64, len(rows))
		for k, i := range rows {
			for j := 0; j < 8; j++ {
				v := num[i][j]
				if math.IsNaN(v) {
					v = med[j]
				}
				X.Set(k, j, v)
			}
			for c, cat := range oceanCats {
				if recs[i][9] == cat {
					X.Set(k, 8+c, 1)
				}
			}
			ys[k] = y[i]
		}
		return X, ys
	}
	h := &housingData{}
	h.Xtr, h.ytr = design(sp.Train)
	h.Xte, h.yte = design(sp.Test)
	return h, nil
}

func rmse(y, p []float64) float64 {
	s := 0.0
	for i := range y {
		s += (y[i] - p[i]) * (y[i] - p[i])
	}
	return math.Sqrt(s / float64(len(y)))
}

// tunedForest is the original system's tuned random forest.
func tunedForest() ForestParams {
	return ForestParams{NEstimators: 128, MaxDepth: 23, MinSamplesSplit: 9, MinSamplesLeaf: 9,
		MaxFeatures: "log2", Bootstrap: true, Seed: 42}
}

func BenchmarkRandomForestHousing(b *testing.B) {
	h := loadHousing(b)
	var f *RandomForest
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f = NewRandomForest(tunedForest())
		if err := f.Fit(h.Xtr, h.ytr); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	p, _ := f.Predict(h.Xte)
	b.ReportMetric(r2(h.yte, p), "R2")
	b.ReportMetric(rmse(h.yte, p), "RMSE")
}

func BenchmarkGradientBoostingHousing(b *testing.B) {
	h := loadHousing(b)
	var m *GradientBoosting
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m = NewGradientBoosting(BoostParams{})
		if err := m.Fit(h.Xtr, h.ytr); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	p, _ := m.Predict(h.Xte)
	b.ReportMetric(r2(h.yte, p), "R2")
	b.ReportMetric(rmse(h.yte, p), "RMSE")
}

// benchPredict measures serving-sized batches on the tuned forest.
func benchPredict(b *testing.B, rows int, quantiles bool) {
	h := loadHousing(b)
	f := NewRandomForest(tunedForest())
	if err := f.Fit(h.Xtr, h.ytr); err != nil {
		b.Fatal(err)
	}
	idx := make([]int, rows)
	for i := range idx {
		idx[i] = i
	}
	X := h.Xte.SelectRows(idx)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var err error
		if quantiles {
			_, err = f.PredictQuantiles(X, []float64{0.05, 0.95})
		} else {
			_, err = f.Predict(X)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkForestPredict1(b *testing.B)            { benchPredict(b, 1, false) }
func BenchmarkForestPredict100(b *testing.B)          { benchPredict(b, 100, false) }
func BenchmarkForestPredictQuantiles1(b *testing.B)   { benchPredict(b, 1, true) }
func BenchmarkForestPredictQuantiles100(b *testing.B) { benchPredict(b, 100, true) }
