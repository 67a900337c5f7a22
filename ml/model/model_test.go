package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/housing-mlops/mlops/internal/mltest"
	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/cluster"
	"github.com/housing-mlops/mlops/ml/ensemble"
	"github.com/housing-mlops/mlops/ml/frame"
	"github.com/housing-mlops/mlops/ml/impute"
	"github.com/housing-mlops/mlops/ml/linear"
	"github.com/housing-mlops/mlops/ml/metrics"
	"github.com/housing-mlops/mlops/ml/preprocess"
	"github.com/housing-mlops/mlops/ml/tree"
)

const target = "median_house_value"

var numericCols = []string{"longitude", "latitude", "housing_median_age", "total_rooms",
	"total_bedrooms", "population", "households", "median_income"}

// data returns a training frame and a disjoint test frame from housing.csv
// (every fifth row is a test row; small enough to keep tests fast).
func data(t testing.TB) (train, test *frame.Frame) {
	t.Helper()
	f, err := frame.ReadCSVFile("../../testdata/housing.csv", frame.CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var tr, te []int
	for i := 0; i < f.NumRows(); i += 3 {
		if i%5 == 0 {
			te = append(te, i)
		} else {
			tr = append(tr, i)
		}
	}
	return f.Select(tr), f.Select(te)
}

func pipeline(t testing.TB) *preprocess.ColumnTransformer {
	t.Helper()
	ct, err := preprocess.NewColumnTransformer(
		preprocess.Numeric("num", numericCols, impute.NewSimple("median"), preprocess.NewStandardScaler()),
		preprocess.Categorical("cat", []string{"ocean_proximity"}, preprocess.NewOneHotEncoder(true)),
		preprocess.Geo("geo", []string{"latitude", "longitude"}, cluster.NewKMeans(5, 7), 5),
	)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

// train fits the pipeline and reg on the training frame and wraps them.
func train(t testing.TB, tr *frame.Frame, reg ml.Regressor) *Artifact {
	t.Helper()
	ct := pipeline(t)
	X, err := ct.FitTransform(tr)
	if err != nil {
		t.Fatal(err)
	}
	y, err := tr.Numeric(target)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Fit(X, y); err != nil {
		t.Fatal(err)
	}
	schema, err := SchemaFromFrame(tr, nil, target)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(schema, ct, reg, Meta{
		Params:    map[string]any{"alpha": 1.0},
		Metrics:   map[string]float64{"train_rows": float64(X.Rows)},
		CreatedAt: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC),
		Tags:      map[string]string{"run": "test"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func roundTrip(t *testing.T, a *Artifact) (*Artifact, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := a.Save(&buf); err != nil {
		t.Fatal(err)
	}
	b, err := Load(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	return b, buf.Bytes()
}

// sameBits reports whether a and b hold bit-identical values.
var sameBits = mltest.SameBits

func TestSaveLoadPredictsBitIdentically(t *testing.T) {
	tr, te := data(t)
	regs := []ml.Regressor{
		linear.NewRidge(1),
		&linear.Lasso{Alpha: 10, Tol: 1e-4, MaxIter: 1000},
		tree.New(tree.Params{MaxDepth: 8}),
		ensemble.NewRandomForest(ensemble.ForestParams{NEstimators: 10, Bootstrap: true, MaxDepth: 10, Seed: 3}),
		ensemble.NewGradientBoosting(ensemble.BoostParams{NEstimators: 30, LearningRate: 0.2, Seed: 3}),
	}
	for _, reg := range regs {
		a := train(t, tr, reg)
		want, err := a.Predict(te)
		if err != nil {
			t.Fatal(err)
		}
		b, saved := roundTrip(t, a)
		got, err := b.Predict(te)
		if err != nil {
			t.Fatal(err)
		}
		kind := a.ModelKind()
		if !sameBits(got, want) {
			t.Errorf("%s: predictions differ after save/load", kind)
		}
		if b.SHA256() != a.SHA256() || len(a.SHA256()) != 64 {
			t.Errorf("%s: sha %s after load, %s before", kind, b.SHA256(), a.SHA256())
		}
		if b.ModelKind() != kind || !slices.Equal(b.OutputFeatures, a.OutputFeatures) {
			t.Errorf("%s: kind %s, features %v", kind, b.ModelKind(), b.OutputFeatures)
		}
		// Saving the loaded artifact reproduces the file byte for byte.
		_, again := roundTrip(t, b)
		if !bytes.Equal(again, saved) {
			t.Errorf("%s: re-saved file differs", kind)
		}
		// The model is a sensible predictor, not just a consistent one.
		y, _ := te.Numeric(target)
		r2, err := metrics.R2(y, got)
		if err != nil || r2 < 0.5 {
			t.Errorf("%s: test R² %v (%v)", kind, r2, err)
		}
	}
}

func TestArtifactContents(t *testing.T) {
	tr, _ := data(t)
	a := train(t, tr, linear.NewRidge(1))
	_, saved := roundTrip(t, a)
	if !bytes.HasPrefix(saved, []byte(`{"magic":"housing-mlops/model","format_version":1,"sha256":"`)) {
		t.Errorf("file starts %.80s", saved)
	}
	var env struct {
		Payload struct {
			Schema         Schema   `json:"schema"`
			OutputFeatures []string `json:"output_features"`
			Preprocessor   []struct {
				Name  string `json:"name"`
				Steps []struct {
					Kind string `json:"kind"`
				} `json:"steps"`
			} `json:"preprocessor"`
			Model struct {
				Kind  string          `json:"kind"`
				State json.RawMessage `json:"state"`
			} `json:"model"`
			Meta Meta `json:"meta"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(saved, &env); err != nil {
		t.Fatal(err)
	}
	p := env.Payload
	if p.Model.Kind != "ridge" || !strings.Contains(string(p.Model.State), `"coef"`) {
		t.Errorf("model %s %s", p.Model.Kind, p.Model.State)
	}
	if len(p.Preprocessor) != 3 || p.Preprocessor[0].Steps[0].Kind != "simple_imputer" ||
		p.Preprocessor[0].Steps[1].Kind != "standard_scaler" {
		t.Errorf("preprocessor %+v", p.Preprocessor)
	}
	if len(p.OutputFeatures) != 8+5+5 || p.OutputFeatures[9] != "cat__ocean_proximity_INLAND" {
		t.Errorf("output features %v", p.OutputFeatures)
	}
	if p.Schema.Target != target || len(p.Schema.Features) != 9 || p.Schema.Rows != tr.NumRows() {
		t.Errorf("schema %+v", p.Schema)
	}
	if p.Meta.CreatedAt.IsZero() || p.Meta.LibraryVersion == "" || p.Meta.Params["alpha"] != 1.0 {
		t.Errorf("meta %+v", p.Meta)
	}
	op, _ := p.Schema.Feature("ocean_proximity")
	if op.Type != TypeCategorical || len(op.Categories) != 5 || !op.Nullable {
		t.Errorf("ocean_proximity %+v", op)
	}
	bed, _ := p.Schema.Feature("total_bedrooms")
	inc, _ := tr.Numeric("total_bedrooms")
	lo, hi := math.Inf(1), math.Inf(-1)
	nan := 0
	for _, v := range inc {
		if math.IsNaN(v) {
			nan++
			continue
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if bed.Type != TypeNumeric || *bed.Min != lo || *bed.Max != hi || bed.Missing != nan || nan == 0 || !bed.Nullable {
		t.Errorf("total_bedrooms %+v (want min %v max %v missing %d)", bed, lo, hi, nan)
	}
}

func TestLoadRejectsBadFiles(t *testing.T) {
	tr, _ := data(t)
	_, saved := roundTrip(t, train(t, tr, linear.NewRidge(1)))
	s := string(saved)
	idx := strings.Index(s, `"coef"`)
	corrupt := s[:idx] + `"coeg"` + s[idx+6:]
	cases := map[string]struct{ file, want string }{
		"bit flip":  {corrupt, "checksum mismatch"},
		"truncated": {s[:len(s)/2], "truncated or malformed"},
		"empty":     {"", "not a model artifact"},
		"magic":     {strings.Replace(s, "housing-mlops/model", "other/model", 1), "not a model artifact"},
		"csv":       {"a,b\n1,2\n", "not a model artifact"},
		"newer":     {strings.Replace(s, `"format_version":1`, `"format_version":2`, 1), "format version 2 is newer than the supported version 1"},
		"older":     {strings.Replace(s, `"format_version":1`, `"format_version":0`, 1), "format version 0 is older"},
	}
	for name, tc := range cases {
		_, err := Load(strings.NewReader(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
	// A checksum that matches but a component kind this build lacks.
	var env envelope
	if err := json.Unmarshal(saved, &env); err != nil {
		t.Fatal(err)
	}
	env.Payload = []byte(strings.Replace(string(env.Payload), `"kind":"ridge"`, `"kind":"svm"`, 1))
	if _, err := decodePayload(env.Payload, ""); err == nil || !strings.Contains(err.Error(), `unknown regressor kind "svm"`) {
		t.Errorf("unknown kind: %v", err)
	}
}

func TestSaveFileLoadFile(t *testing.T) {
	tr, te := data(t)
	a := train(t, tr, linear.NewRidge(5))
	path := filepath.Join(t.TempDir(), "model.json")
	if err := a.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	b, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p1, _ := a.Predict(te)
	p2, _ := b.Predict(te)
	if !sameBits(p1, p2) {
		t.Error("predictions differ after SaveFile/LoadFile")
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadFile error does not name the file: %v", err)
	}
}

func TestPredictInterval(t *testing.T) {
	tr, te := data(t)
	rf := train(t, tr, ensemble.NewRandomForest(ensemble.ForestParams{NEstimators: 20, Bootstrap: true, MaxDepth: 8, Seed: 1}))
	if !rf.SupportsIntervals() {
		t.Fatal("random forest should support intervals")
	}
	lo, hi, err := rf.PredictInterval(te, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	wide := 0
	for i := range lo {
		if lo[i] > hi[i] {
			t.Fatalf("row %d: lower %v > upper %v", i, lo[i], hi[i])
		}
		if hi[i] > lo[i] {
			wide++
		}
	}
	if wide < len(lo)/2 {
		t.Errorf("only %d of %d intervals have width", wide, len(lo))
	}
	loaded, _ := roundTrip(t, rf)
	lo2, hi2, err := loaded.PredictInterval(te, 0.9)
	if err != nil || !sameBits(lo, lo2) || !sameBits(hi, hi2) {
		t.Errorf("intervals differ after load (%v)", err)
	}
	if _, _, err := rf.PredictInterval(te, 1.5); err == nil {
		t.Error("level 1.5: want error")
	}
	ridge := train(t, tr, linear.NewRidge(1))
	if _, _, err := ridge.PredictInterval(te, 0.9); !errors.Is(err, ErrNoIntervals) {
		t.Errorf("ridge intervals: %v", err)
	}
}

func TestValidateAndPredictRecords(t *testing.T) {
	tr, te := data(t)
	a := train(t, tr, linear.NewRidge(1))
	// Records built from test rows predict exactly like the frame does.
	n := 5
	recs := make([]map[string]any, n)
	for i := range recs {
		recs[i] = map[string]any{}
		for _, c := range numericCols {
			v, _ := te.Numeric(c)
			if !math.IsNaN(v[i]) {
				recs[i][c] = v[i]
			}
		}
		op, _ := te.Categorical("ocean_proximity")
		recs[i]["ocean_proximity"] = op[i]
		recs[i][target] = 1.0 // the target is tolerated and ignored
	}
	got, err := a.PredictRecords(recs)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := a.Predict(te.Select([]int{0, 1, 2, 3, 4}))
	if !sameBits(got, want) {
		t.Errorf("records predict %v, frame %v", got, want)
	}

	bad := map[string]any{
		"longitude":          "west",
		"latitude":           true,
		"housing_median_age": json.Number("12"),
		"total_rooms":        nil, // nullable: the imputer fills it
		"population":         1.0,
		"households":         1.0,
		"median_income":      math.Inf(1),
		"ocean_proximity":    3.0,
		"colour":             "red",
	}
	errs := a.Schema.Validate(bad)
	got2 := map[string]string{}
	for _, e := range errs {
		got2[e.Field] = e.Reason
	}
	wantFields := []string{"longitude", "latitude", "median_income", "ocean_proximity", "colour"}
	if len(errs) != len(wantFields) {
		t.Errorf("errors %v, want fields %v", errs, wantFields)
	}
	for _, f := range wantFields {
		if got2[f] == "" {
			t.Errorf("no error for %s (got %v)", f, errs)
		}
	}
	if !strings.Contains(got2["longitude"], `string "west"`) || !strings.Contains(got2["colour"], "not a feature") {
		t.Errorf("reasons %v", got2)
	}
	_, err = a.PredictRecords([]map[string]any{recs[0], bad})
	var re *RecordError
	if !errors.As(err, &re) || re.Index != 1 || len(re.Fields) != len(wantFields) {
		t.Errorf("PredictRecords error %v", err)
	}

	odd := map[string]any{"longitude": -200.0, "ocean_proximity": "MOON"}
	warns := a.Schema.Warnings(odd)
	if len(warns) != 2 || warns[0].Field != "longitude" || !strings.Contains(warns[1].Reason, `unknown category "MOON"`) {
		t.Errorf("warnings %v", warns)
	}
}

func TestNullableComesFromThePipeline(t *testing.T) {
	tr, _ := data(t)
	ct, err := preprocess.NewColumnTransformer(
		preprocess.Numeric("num", []string{"median_income"}, preprocess.NewStandardScaler()),
		preprocess.Numeric("imp", []string{"total_rooms"}, impute.NewSimple("mean")),
	)
	if err != nil {
		t.Fatal(err)
	}
	X, err := ct.FitTransform(tr)
	if err != nil {
		t.Fatal(err)
	}
	y, _ := tr.Numeric(target)
	reg := linear.NewRidge(1)
	if err := reg.Fit(X, y); err != nil {
		t.Fatal(err)
	}
	schema, err := SchemaFromFrame(tr, []string{"median_income", "total_rooms"}, target)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(schema, ct, reg, Meta{})
	if err != nil {
		t.Fatal(err)
	}
	inc, _ := a.Schema.Feature("median_income")
	rooms, _ := a.Schema.Feature("total_rooms")
	if inc.Nullable || !rooms.Nullable {
		t.Errorf("nullable: median_income %v (scaler only), total_rooms %v (imputed)", inc.Nullable, rooms.Nullable)
	}
	errs := a.Schema.Validate(map[string]any{})
	if len(errs) != 1 || errs[0].Field != "median_income" || errs[0].Reason != "is required" {
		t.Errorf("empty record: %v", errs)
	}
}

type opaque struct{ linear.Ridge }

func (o *opaque) Kind() string { return "ridge" }

func TestNewRejectsBadParts(t *testing.T) {
	tr, _ := data(t)
	schema, _ := SchemaFromFrame(tr, nil, target)
	if _, err := New(schema, pipeline(t), linear.NewRidge(1), Meta{}); !errors.Is(err, ml.ErrNotFitted) {
		t.Errorf("unfitted preprocessor: %v", err)
	}
	a := train(t, tr, linear.NewRidge(1))
	if _, err := New(schema, a.Preprocessor, &opaque{}, Meta{}); err == nil || !strings.Contains(err.Error(), "loads as") {
		t.Errorf("type claiming another kind: %v", err)
	}
	short := schema
	short.Features = schema.Features[:3]
	if _, err := New(short, a.Preprocessor, a.Regressor, Meta{}); err == nil || !strings.Contains(err.Error(), "schema lacks") {
		t.Errorf("schema without a used column: %v", err)
	}
	if _, err := New(schema, a.Preprocessor, a.Regressor, Meta{Metrics: map[string]float64{"r2": math.NaN()}}); err == nil {
		t.Error("NaN metric: want error")
	}
	if _, err := SchemaFromFrame(tr, []string{"longitude", target}, target); err == nil {
		t.Error("target listed as feature: want error")
	}
}

// BenchmarkPredictOneRecord measures the serving path for one JSON-like
// record: validation, frame building, preprocessing and a ridge prediction.
func BenchmarkPredictOneRecord(b *testing.B) {
	tr, _ := data(b)
	a := train(b, tr, linear.NewRidge(1))
	rec := map[string]any{"longitude": -122.23, "latitude": 37.88, "housing_median_age": 41.0,
		"total_rooms": 880.0, "total_bedrooms": 129.0, "population": 322.0, "households": 126.0,
		"median_income": 8.3252, "ocean_proximity": "NEAR BAY"}
	recs := []map[string]any{rec}
	for b.Loop() {
		if _, err := a.PredictRecords(recs); err != nil {
			b.Fatal(err)
		}
	}
}

func TestConcurrentPredict(t *testing.T) {
	tr, te := data(t)
	a := train(t, tr, tree.New(tree.Params{MaxDepth: 6}))
	want, err := a.Predict(te)
	if err != nil {
		t.Fatal(err)
	}
	got := make([][]float64, 4)
	errs := make([]error, 4)
	done := make(chan struct{})
	for g := range got {
		go func() {
			defer func() { done <- struct{}{} }()
			got[g], errs[g] = a.Predict(te)
		}()
	}
	for range got {
		<-done
	}
	for g := range got {
		if errs[g] != nil || !sameBits(got[g], want) {
			t.Errorf("goroutine %d: %v", g, errs[g])
		}
	}
}

// TestImputersRoundTrip saves pipelines using the KNN and iterative imputers
// and checks predictions on rows with missing values survive bit-identically.
func TestImputersRoundTrip(t *testing.T) {
	tr, te := data(t)
	tr = tr.Select(seq(0, 1200))
	iter := impute.NewIterative(nil)
	iter.MaxIter = 2
	iter.Columns = []int{4} // total_bedrooms, the column with missing values
	imputers := []ml.Transformer{impute.NewKNN(5), iter}
	// Test rows with a missing total_bedrooms exercise the imputer.
	bed, _ := te.Numeric("total_bedrooms")
	var missing []int
	for i, v := range bed {
		if math.IsNaN(v) {
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		t.Fatal("no test row lacks total_bedrooms")
	}
	te = te.Select(missing)
	for _, imp := range imputers {
		ct, err := preprocess.NewColumnTransformer(
			preprocess.Numeric("num", numericCols, imp, preprocess.NewStandardScaler()))
		if err != nil {
			t.Fatal(err)
		}
		X, err := ct.FitTransform(tr)
		if err != nil {
			t.Fatal(err)
		}
		y, _ := tr.Numeric(target)
		reg := linear.NewRidge(1)
		if err := reg.Fit(X, y); err != nil {
			t.Fatal(err)
		}
		schema, _ := SchemaFromFrame(tr, numericCols, target)
		a, err := New(schema, ct, reg, Meta{})
		if err != nil {
			t.Fatal(err)
		}
		if f, _ := a.Schema.Feature("total_bedrooms"); !f.Nullable {
			t.Errorf("%T: total_bedrooms should be nullable", imp)
		}
		want, err := a.Predict(te)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := roundTrip(t, a)
		got, err := b.Predict(te)
		if err != nil || !sameBits(got, want) {
			t.Errorf("%T: predictions differ after load (%v)", imp, err)
		}
	}
	custom := impute.NewIterative(func() ml.Regressor { return linear.NewRidge(1) })
	if _, err := encode[ml.Transformer](custom, newTransformer); err == nil {
		t.Error("iterative imputer with a custom estimator: want error")
	}
}

func seq(from, to int) []int {
	out := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}
