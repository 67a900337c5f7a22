package http

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/housing-mlops/mlops/ml/ensemble"
	"github.com/housing-mlops/mlops/ml/frame"
	"github.com/housing-mlops/mlops/ml/impute"
	"github.com/housing-mlops/mlops/ml/model"
	"github.com/housing-mlops/mlops/ml/preprocess"
)

const target = "median_house_value"

var numericCols = []string{"longitude", "latitude", "housing_median_age", "total_rooms",
	"total_bedrooms", "population", "households", "median_income"}

// trained is a small real artifact shared by the tests of this file:
// training it once keeps the package test fast.
var trained struct {
	once        sync.Once
	data        []byte
	art         *model.Artifact
	train, test *frame.Frame
	err         error
}

// realArtifact trains a small random forest on every third row of
// housing.csv (every fifth of those is the test split) and saves it.
func realArtifact(t testing.TB) ([]byte, *model.Artifact, *frame.Frame) {
	t.Helper()
	trained.once.Do(func() {
		trained.err = trainArtifact()
	})
	if trained.err != nil {
		t.Fatal(trained.err)
	}
	return trained.data, trained.art, trained.test
}

func trainArtifact() error {
	f, err := frame.ReadCSVFile("../testdata/housing.csv", frame.CSVOptions{})
	if err != nil {
		return err
	}
	var tr, te []int
	for i := 0; i < f.NumRows(); i += 3 {
		if (i/3)%5 == 0 {
			te = append(te, i)
		} else {
			tr = append(tr, i)
		}
	}
	train, test := f.Select(tr), f.Select(te)
	ct, err := preprocess.NewColumnTransformer(
		preprocess.Numeric("num", numericCols, impute.NewSimple("median"), preprocess.NewStandardScaler()),
		preprocess.Categorical("cat", []string{"ocean_proximity"}, preprocess.NewOneHotEncoder(true)),
	)
	if err != nil {
		return err
	}
	X, err := ct.FitTransform(train)
	if err != nil {
		return err
	}
	y, err := train.Numeric(target)
	if err != nil {
		return err
	}
	rf := ensemble.NewRandomForest(ensemble.ForestParams{NEstimators: 30, Bootstrap: true, MaxDepth: 12, Seed: 1})
	if err := rf.Fit(X, y); err != nil {
		return err
	}
	schema, err := model.SchemaFromFrame(train, nil, target)
	if err != nil {
		return err
	}
	a, err := model.New(schema, ct, rf, model.Meta{CreatedAt: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := a.Save(&buf); err != nil {
		return err
	}
	trained.data, trained.art, trained.train, trained.test = buf.Bytes(), a, train, test
	return nil
}

// frameInstances turns frame rows into request instances (missing values
// omitted).
func frameInstances(t testing.TB, f *frame.Frame, rows []int) []map[string]any {
	t.Helper()
	out := make([]map[string]any, len(rows))
	for k := range out {
		out[k] = map[string]any{}
	}
	for _, name := range f.Names() {
		if name == target {
			continue
		}
		kind, _ := f.Kind(name)
		for k, r := range rows {
			if kind == frame.Categorical {
				v, _ := f.Categorical(name)
				if v[r] != "" {
					out[k][name] = v[r]
				}
				continue
			}
			v, _ := f.Numeric(name)
			if !math.IsNaN(v[r]) {
				out[k][name] = v[r]
			}
		}
	}
	return out
}

func TestArtifactSchema(t *testing.T) {
	data, _, _ := realArtifact(t)
	m, err := ArtifactDecoder("housing", 0.9)(&Fetched{Data: data})
	if err != nil {
		t.Fatal(err)
	}
	info := m.Info()
	if info.Name != "housing" || !strings.HasPrefix(info.Version, "sha256:") || info.IntervalLevel != 0.9 || len(info.SHA256) != 64 {
		t.Fatalf("info %+v", info)
	}
	sc := m.Schema()
	get := func(name string) Field { return sc.Fields()[sc.Index(name)] }
	if f := get("latitude"); !f.HasMin || !f.HasMax || f.Min != -90 || f.Max != 90 {
		t.Errorf("latitude %+v", f)
	}
	if f := get("longitude"); f.Min != -180 || f.Max != 180 {
		t.Errorf("longitude %+v", f)
	}
	if f := get("population"); !f.HasMin || f.Min != 0 || f.HasMax {
		t.Errorf("population %+v", f)
	}
	if f := get("ocean_proximity"); f.Kind != Category || len(f.Categories) < 4 {
		t.Errorf("ocean_proximity %+v", f)
	}
	if f := get("total_bedrooms"); !f.Optional {
		t.Error("total_bedrooms is imputed by the pipeline, so it must be optional")
	}
	if f := get("latitude"); f.Optional {
		t.Error("latitude was never missing in training: it must be required")
	}
	if sc.Index(target) >= 0 {
		t.Error("the target is not an input")
	}
	if _, err := ArtifactDecoder("housing", 0.9)(&Fetched{Data: []byte(`{"magic":"nope"}`)}); err == nil {
		t.Error("garbage decoded")
	}
}

// TestTrainingServingParity predicts the test split through HTTP and
// through Artifact.Predict / PredictInterval directly: bit-identical.
func TestTrainingServingParity(t *testing.T) {
	data, art, test := realArtifact(t)
	m, err := ArtifactDecoder("housing", 0.9)(&Fetched{Data: data, Name: "housing", Version: "1"})
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, Config{}, Deps{}, m)
	want, err := art.Predict(test)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi, err := art.PredictInterval(test, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	yTrue, _ := test.Numeric(target)
	n := test.NumRows()
	covered := 0
	for start := 0; start < n; start += 100 {
		rows := make([]int, 0, 100)
		for r := start; r < min(n, start+100); r++ {
			rows = append(rows, r)
		}
		rec := postJSON(s.Handler(), "/api/v1/predict", mustJSON(t, map[string]any{"instances": frameInstances(t, test, rows)}))
		if rec.Code != 200 {
			t.Fatalf("rows %d..: %d %s", start, rec.Code, rec.Body)
		}
		var got predictResp
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		for k, p := range got.Predictions {
			r := rows[k]
			if math.Float64bits(p.PredictedPrice) != math.Float64bits(want[r]) ||
				math.Float64bits(p.ConfidenceInterval.Lower) != math.Float64bits(lo[r]) ||
				math.Float64bits(p.ConfidenceInterval.Upper) != math.Float64bits(hi[r]) {
				t.Fatalf("row %d: HTTP %+v, direct %v [%v, %v]", r, p, want[r], lo[r], hi[r])
			}
			if lo[r] <= yTrue[r] && yTrue[r] <= hi[r] {
				covered++
			}
		}
	}
	t.Logf("%d test rows bit-identical; 90%% interval covers %.3f of the true values", n, float64(covered)/float64(n))
}

func TestArtifactRangeTags(t *testing.T) {
	_, art, _ := realArtifact(t)
	f := Field{Name: "median_income"}
	ft, _ := art.Schema.Feature("median_income")
	if err := setRange(&f, ft, "0.5:15"); err != nil || !f.HasMin || !f.HasMax || f.Min != 0.5 || f.Max != 15 {
		t.Fatalf("tag range: %+v %v", f, err)
	}
	f = Field{Name: "median_income"}
	if err := setRange(&f, ft, ":15"); err != nil || f.HasMin || f.Max != 15 {
		t.Fatalf("open lower bound: %+v %v", f, err)
	}
	for _, bad := range []string{"15", "a:1", "1:b"} {
		if err := setRange(&Field{}, ft, bad); err == nil {
			t.Errorf("tag %q accepted", bad)
		}
	}
}

// TestCalibratedServingParity serves a calibrated copy of the test forest:
// HTTP intervals are the calibrated PredictInterval's, bit for bit.
func TestCalibratedServingParity(t *testing.T) {
	data, _, test := realArtifact(t)
	a, err := model.Load(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var calRows, rows []int
	for r := 0; r < test.NumRows(); r++ {
		if r%2 == 0 {
			calRows = append(calRows, r)
		} else if len(rows) < 100 {
			rows = append(rows, r)
		}
	}
	cal := test.Select(calRows)
	y, _ := cal.Numeric(target)
	if _, _, err := a.CalibrateIntervals(cal, y, 0.9); err != nil {
		t.Fatal(err)
	}
	m, err := NewArtifactModel(a, ModelInfo{Name: "housing", Version: "c"}, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, Config{}, Deps{}, m)
	eval := test.Select(rows)
	lo, hi, err := a.PredictInterval(eval, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	rec := postJSON(s.Handler(), "/api/v1/predict", mustJSON(t, map[string]any{"instances": frameInstances(t, test, rows)}))
	var got predictResp
	decodeBody(t, rec, &got)
	if rec.Code != 200 || len(got.Predictions) != len(rows) {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	raw := 0
	for k, p := range got.Predictions {
		if math.Float64bits(p.ConfidenceInterval.Lower) != math.Float64bits(lo[k]) ||
			math.Float64bits(p.ConfidenceInterval.Upper) != math.Float64bits(hi[k]) || p.ConfidenceInterval.Level != 0.9 {
			t.Fatalf("row %d: HTTP %+v, calibrated [%v, %v]", k, p.ConfidenceInterval, lo[k], hi[k])
		}
		if a.Calibration.Scale != 1 {
			raw++
		}
	}
	if raw == 0 {
		t.Error("calibration scale is exactly 1: the test cannot tell calibrated from raw")
	}
}
