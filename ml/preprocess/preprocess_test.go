package preprocess

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/cluster"
	"github.com/housing-mlops/mlops/ml/frame"
	"github.com/housing-mlops/mlops/ml/impute"
)

var numericCols = []string{"longitude", "latitude", "housing_median_age", "total_rooms",
	"total_bedrooms", "population", "households", "median_income"}

func housing(t testing.TB) *frame.Frame {
	t.Helper()
	f, err := frame.ReadCSVFile("../../testdata/housing.csv", frame.CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

type stats struct {
	Columns    []string  `json:"columns"`
	Median     []float64 `json:"median"`
	Mean       []float64 `json:"mean"`
	ScalerMean []float64 `json:"scaler_mean_after_median_impute"`
	ScalerSD   []float64 `json:"scaler_scale_after_median_impute"`
}

func within(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for j := range want {
		if math.Abs(got[j]-want[j]) > tol*math.Abs(want[j]) {
			t.Errorf("%s[%d] = %.17g, scikit-learn %.17g", what, j, got[j], want[j])
		}
	}
}

// nanMedian is the test's own median of the observed values, independent of
// the impute package.
func nanMedian(v []float64) float64 {
	var obs []float64
	for _, x := range v {
		if !math.IsNaN(x) {
			obs = append(obs, x)
		}
	}
	slices.Sort(obs)
	n := len(obs)
	if n%2 == 1 {
		return obs[n/2]
	}
	return (obs[n/2-1] + obs[n/2]) / 2
}

func TestScalerAfterMedianImputeMatchesScikitLearn(t *testing.T) {
	b, err := os.ReadFile("../../testdata/reference/preprocess_stats.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref stats
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ref.Columns, numericCols) {
		t.Fatalf("reference columns %v", ref.Columns)
	}
	f := housing(t)
	medians := make([]float64, len(numericCols))
	for j, c := range numericCols {
		v, _ := f.Numeric(c)
		medians[j] = nanMedian(v)
	}
	within(t, "median", medians, ref.Median, 1e-12)

	// The scaler alone ignores NaN, so its mean is the plain nan-mean.
	X, err := f.Matrix(numericCols)
	if err != nil {
		t.Fatal(err)
	}
	raw := NewStandardScaler()
	if err := raw.Fit(X); err != nil {
		t.Fatal(err)
	}
	within(t, "nan-mean", raw.Mean, ref.Mean, 1e-9)

	imp := impute.NewSimple("median")
	sc := NewStandardScaler()
	ct, err := NewColumnTransformer(Numeric("num", numericCols, imp, sc))
	if err != nil {
		t.Fatal(err)
	}
	out, err := ct.FitTransform(f)
	if err != nil {
		t.Fatal(err)
	}
	within(t, "imputer statistics", imp.Statistics, ref.Median, 1e-12)
	within(t, "scaler mean", sc.Mean, ref.ScalerMean, 1e-9)
	within(t, "scaler scale", sc.Scale, ref.ScalerSD, 1e-9)
	if err := ml.CheckFinite(out); err != nil {
		t.Error(err)
	}
	// Standardised columns have mean 0 and population variance 1.
	for j := 0; j < out.Cols; j++ {
		col := out.Col(j)
		var m, v float64
		for _, x := range col {
			m += x
		}
		m /= float64(len(col))
		for _, x := range col {
			v += (x - m) * (x - m)
		}
		v /= float64(len(col))
		if math.Abs(m) > 1e-9 || math.Abs(v-1) > 1e-9 {
			t.Errorf("column %d: mean %g variance %g", j, m, v)
		}
	}
}

func TestScalerNaNAndConstantColumns(t *testing.T) {
	X, _ := ml.MatrixFrom(4, 2, []float64{
		1, 5,
		math.NaN(), 5,
		3, 5,
		5, 5,
	})
	s := NewStandardScaler()
	if err := s.Fit(X); err != nil {
		t.Fatal(err)
	}
	wantSD := math.Sqrt(8.0 / 3) // of {1, 3, 5}
	if s.Mean[0] != 3 || math.Abs(s.Scale[0]-wantSD) > 1e-15 {
		t.Errorf("column 0: mean %v scale %v", s.Mean[0], s.Scale[0])
	}
	if s.Mean[1] != 5 || s.Scale[1] != 1 {
		t.Errorf("constant column: mean %v scale %v, want 5 and 1", s.Mean[1], s.Scale[1])
	}
	out, err := s.Transform(X)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(out.At(1, 0)) || out.At(1, 1) != 0 || out.At(0, 0) != -2/wantSD {
		t.Errorf("transform = %v", out.Data)
	}
	back, err := s.InverseTransform(out)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range X.Data {
		if !(math.IsNaN(v) && math.IsNaN(back.Data[i])) && math.Abs(v-back.Data[i]) > 1e-12 {
			t.Errorf("inverse[%d] = %v, want %v", i, back.Data[i], v)
		}
	}
	if _, err := NewStandardScaler().Transform(X); !errors.Is(err, ml.ErrNotFitted) {
		t.Errorf("unfitted: %v", err)
	}
	if _, err := s.Transform(ml.NewMatrix(1, 3)); err == nil {
		t.Error("wrong width: want error")
	}
	allNaN, _ := ml.MatrixFrom(2, 1, []float64{math.NaN(), math.NaN()})
	if err := NewStandardScaler().Fit(allNaN); err == nil {
		t.Error("all-NaN column: want error")
	}
}

func TestOneHotEncoder(t *testing.T) {
	train := [][]string{{"b", "a", "c", "", "b", "a"}}
	e := NewOneHotEncoder(true)
	if err := e.Fit(train); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(e.Categories[0], []string{"a", "b", "c"}) {
		t.Errorf("categories %v", e.Categories[0])
	}
	if e.Fill[0] != "a" { // a and b tie with 2; the smallest wins
		t.Errorf("fill %q, want a", e.Fill[0])
	}
	out, err := e.Transform([][]string{{"c", "", "zzz", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0}
	if !slices.Equal(out.Data, want) {
		t.Errorf("encoded %v, want %v", out.Data, want)
	}
	names, _ := e.FeatureNames([]string{"x"})
	if !slices.Equal(names, []string{"x_a", "x_b", "x_c"}) {
		t.Errorf("names %v", names)
	}
	noFill := NewOneHotEncoder(false)
	if err := noFill.Fit(train); err != nil {
		t.Fatal(err)
	}
	out, _ = noFill.Transform([][]string{{""}})
	if !slices.Equal(out.Data, []float64{0, 0, 0}) {
		t.Errorf("missing without fill: %v", out.Data)
	}
	if _, err := NewOneHotEncoder(false).Transform(train); !errors.Is(err, ml.ErrNotFitted) {
		t.Errorf("unfitted: %v", err)
	}
	if err := NewOneHotEncoder(false).Fit([][]string{{"", ""}}); err == nil {
		t.Error("column without values: want error")
	}
}

func fullTransformer(t testing.TB, k int) *ColumnTransformer {
	t.Helper()
	ct, err := NewColumnTransformer(
		Numeric("num", numericCols, impute.NewSimple("median"), NewStandardScaler()),
		Categorical("cat", []string{"ocean_proximity"}, NewOneHotEncoder(true)),
		Geo("geo", []string{"latitude", "longitude"}, cluster.NewKMeans(k, 42), k),
	)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func TestColumnTransformerOnHousing(t *testing.T) {
	f := housing(t)
	ct := fullTransformer(t, 4)
	if _, err := ct.Transform(f); !errors.Is(err, ml.ErrNotFitted) {
		t.Errorf("unfitted transform: %v", err)
	}
	X, err := ct.FitTransform(f)
	if err != nil {
		t.Fatal(err)
	}
	names := ct.FeatureNamesOut()
	wantNames := []string{"num__longitude", "num__latitude", "num__housing_median_age", "num__total_rooms",
		"num__total_bedrooms", "num__population", "num__households", "num__median_income",
		"cat__ocean_proximity_<1H OCEAN", "cat__ocean_proximity_INLAND", "cat__ocean_proximity_ISLAND",
		"cat__ocean_proximity_NEAR BAY", "cat__ocean_proximity_NEAR OCEAN",
		"geo__cluster_0", "geo__cluster_1", "geo__cluster_2", "geo__cluster_3"}
	if !slices.Equal(names, wantNames) {
		t.Errorf("feature names\n got %v\nwant %v", names, wantNames)
	}
	if X.Rows != f.NumRows() || X.Cols != len(wantNames) {
		t.Fatalf("shape %dx%d", X.Rows, X.Cols)
	}
	if err := ml.CheckFinite(X); err != nil {
		t.Error(err)
	}
	op, _ := f.Categorical("ocean_proximity")
	for i := 0; i < X.Rows; i++ {
		row := X.Row(i)
		var cat, geo float64
		for _, v := range row[8:13] {
			cat += v
		}
		for _, v := range row[13:] {
			geo += v
		}
		if cat != 1 || geo != 1 {
			t.Fatalf("row %d: one-hot sums cat %v geo %v", i, cat, geo)
		}
		k := slices.Index(wantNames, "cat__ocean_proximity_"+op[i])
		if row[k] != 1 {
			t.Fatalf("row %d: %q not encoded in column %d", i, op[i], k)
		}
	}
	// Serving parity: transforming a few rows alone gives the same bits as
	// those rows of the batch transform.
	rows := []int{5, 20000, 17}
	part, err := ct.Transform(f.Select(rows))
	if err != nil {
		t.Fatal(err)
	}
	for k, i := range rows {
		if !slices.Equal(part.Row(k), X.Row(i)) {
			t.Errorf("row %d differs when transformed alone", i)
		}
	}
	in, kinds := ct.InputColumns()
	if len(in) != 9 || in[8] != "ocean_proximity" || kinds[8] != frame.Categorical || kinds[0] != frame.Numeric {
		t.Errorf("input columns %v %v", in, kinds)
	}
}

func TestGeoLabelsOption(t *testing.T) {
	f := housing(t).Select([]int{0, 1, 2, 3, 4, 5000, 5001, 5002, 15000, 15001, 15002, 20000})
	km := cluster.NewKMeans(3, 1)
	g := Geo("geo", []string{"latitude", "longitude"}, km, 3)
	g.Labels = true
	ct, err := NewColumnTransformer(g)
	if err != nil {
		t.Fatal(err)
	}
	X, err := ct.FitTransform(f)
	if err != nil {
		t.Fatal(err)
	}
	if X.Cols != 1 || !slices.Equal(ct.FeatureNamesOut(), []string{"geo__cluster"}) {
		t.Fatalf("cols %d names %v", X.Cols, ct.FeatureNamesOut())
	}
	coords, _ := f.Matrix([]string{"latitude", "longitude"})
	want, _ := km.Predict(coords)
	for i, l := range want {
		if X.Data[i] != float64(l) {
			t.Errorf("row %d: label %v, want %d", i, X.Data[i], l)
		}
	}
}

func TestColumnTransformerErrors(t *testing.T) {
	f := housing(t).Select([]int{0, 1, 2})
	bad := []struct {
		name   string
		blocks []Block
	}{
		{"no blocks", nil},
		{"no columns", []Block{Numeric("num", nil)}},
		{"duplicate block", []Block{Numeric("a", []string{"x"}), Numeric("a", []string{"y"})}},
		{"no encoder", []Block{Categorical("cat", []string{"x"}, nil)}},
		{"no clusterer", []Block{Geo("geo", []string{"x"}, nil, 3)}},
		{"bad k", []Block{Geo("geo", []string{"x"}, cluster.NewKMeans(2, 1), 0)}},
		{"unknown kind", []Block{{Name: "x", Kind: "text", Columns: []string{"x"}}}},
	}
	for _, tc := range bad {
		if _, err := NewColumnTransformer(tc.blocks...); err == nil {
			t.Errorf("%s: want error", tc.name)
		}
	}
	ct, _ := NewColumnTransformer(Numeric("num", []string{"ocean_proximity"}))
	if err := ct.Fit(f); err == nil || !strings.Contains(err.Error(), "not numeric") {
		t.Errorf("categorical column in numeric block: %v", err)
	}
	ct, _ = NewColumnTransformer(Numeric("num", []string{"no_such_column"}))
	if err := ct.Fit(f); err == nil || !strings.Contains(err.Error(), "no_such_column") {
		t.Errorf("absent column: %v", err)
	}
	ct, _ = NewColumnTransformer(Categorical("cat", []string{"median_income"}, NewOneHotEncoder(false)))
	if err := ct.Fit(f); err == nil || !strings.Contains(err.Error(), "not categorical") {
		t.Errorf("numeric column in categorical block: %v", err)
	}
	unsorted := &OneHotEncoder{Categories: [][]string{{"b", "a"}}}
	if _, err := Restore(Categorical("cat", []string{"x"}, unsorted)); err == nil {
		t.Error("restore with unsorted categories: want error")
	}
}

func BenchmarkColumnTransformHousing(b *testing.B) {
	f := housing(b)
	ct := fullTransformer(b, 8)
	if err := ct.Fit(f); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := ct.Transform(f); err != nil {
			b.Fatal(err)
		}
	}
}
