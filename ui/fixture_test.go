package ui

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/blob"
	"github.com/housing-mlops/mlops/chart"
	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/cluster"
	"github.com/housing-mlops/mlops/monitor"
	"github.com/housing-mlops/mlops/sqlite"
)

// fakePredictor applies the API's rules to the nine California Housing
// features (bounds are the training ranges) and predicts a price from the
// income, so tests can compute the expected value independently.
type fakePredictor struct {
	version string
	mu      sync.Mutex
	calls   int
}

func ptr(v float64) *float64 { return &v }

var testFields = []Field{
	{Name: "longitude", Kind: "number", Min: ptr(-124.35), Max: ptr(-114.31), Required: true},
	{Name: "latitude", Kind: "number", Min: ptr(32.54), Max: ptr(41.95), Required: true},
	{Name: "housing_median_age", Kind: "number", Min: ptr(1), Max: ptr(52), Required: true},
	{Name: "total_rooms", Kind: "number", Min: ptr(0), Required: true},
	{Name: "total_bedrooms", Kind: "number", Min: ptr(0)},
	{Name: "population", Kind: "number", Min: ptr(0), Required: true},
	{Name: "households", Kind: "number", Min: ptr(0), Required: true},
	{Name: "median_income", Kind: "number", Min: ptr(0), Required: true},
	{Name: "ocean_proximity", Kind: "category", Categories: []string{"<1H OCEAN", "INLAND", "ISLAND", "NEAR BAY", "NEAR OCEAN"}, Required: true},
}

func (p *fakePredictor) Model(context.Context) (ModelInfo, error) {
	return ModelInfo{Name: "housing", Version: p.version, IntervalLevel: 0.9, Fields: testFields}, nil
}

// count is the number of Predict calls so far.
func (p *fakePredictor) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// newServer serves h over HTTP for the browser.
func newServer(t testing.TB, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// expectedPrice is the fake model: 50 000 dollars per unit of income.
func expectedPrice(income float64) float64 { return 50000 * income }

func (p *fakePredictor) Predict(_ context.Context, recs []map[string]any) ([]Prediction, []FieldError, error) {
	p.mu.Lock()
	p.calls++
	p.mu.Unlock()
	if len(recs) > 100 {
		return nil, nil, &RequestError{Status: 400, Message: fmt.Sprintf("too many instances: %d > 100", len(recs))}
	}
	var errs []FieldError
	for i, r := range recs {
		for _, f := range testFields {
			v, ok := r[f.Name]
			if !ok {
				if f.Required {
					errs = append(errs, FieldError{Index: i, Field: f.Name, Reason: "is required"})
				}
				continue
			}
			if f.Kind == "category" {
				s, _ := v.(string)
				found := false
				for _, c := range f.Categories {
					found = found || c == s
				}
				if !found {
					errs = append(errs, FieldError{Index: i, Field: f.Name, Reason: fmt.Sprintf("must be one of the categories, got %q", s)})
				}
				continue
			}
			x := v.(float64)
			if f.Min != nil && x < *f.Min {
				errs = append(errs, FieldError{Index: i, Field: f.Name, Reason: fmt.Sprintf("must be >= %g, got %g", *f.Min, x)})
			}
			if f.Max != nil && x > *f.Max {
				errs = append(errs, FieldError{Index: i, Field: f.Name, Reason: fmt.Sprintf("must be <= %g, got %g", *f.Max, x)})
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs, nil
	}
	out := make([]Prediction, len(recs))
	for i, r := range recs {
		v := expectedPrice(r["median_income"].(float64))
		out[i] = Prediction{Value: v, Lower: v * 0.8, Upper: v * 1.2}
	}
	return out, nil, nil
}

// fakeMonitor returns fixed readings whose request counter grows by 10 per
// call.
type fakeMonitor struct {
	mu sync.Mutex
	n  float64
}

func (m *fakeMonitor) Stats(context.Context) (MonitorStats, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n += 10
	return MonitorStats{
		Requests: m.n, Errors: 1,
		Latency:     Histogram{Bounds: []float64{0.001, 0.005, 0.01}, Counts: []float64{m.n / 2, m.n / 2, 0, 0}},
		Predictions: Histogram{Bounds: []float64{100000, 200000, 300000}, Counts: []float64{1, m.n, 3, 2}},
		Drift: &monitor.Report{ReferenceRows: 1000, CurrentRows: 200, DriftedFeatures: 1, DriftShare: 0.5, DriftShareThreshold: 0.5, DatasetDrift: true,
			Features: []monitor.FeatureResult{{Name: "median_income", PSI: 0.25, Drifted: true}, {Name: "latitude", PSI: 0.12}, {Name: "longitude", PSI: 0.03}}},
	}, nil
}

// fixture is a populated store, artifact store and UI handler.
type fixture struct {
	store     *sqlite.DB
	art       *blob.Store
	pred      *fakePredictor
	handler   http.Handler
	pipeline  [2]string // two pipeline run ids
	sweep     string    // the sweep step's run id
	trials    int
	stopped   int
	changed   []string
	changedMu sync.Mutex
}

// svgBytes is an elbow chart as the pipeline stores it.
func svgBytes(t testing.TB) []byte {
	svg, err := chart.LineChart{Options: chart.Options{Title: "Elbow <method>", XLabel: "K", YLabel: "inertia", Width: 800, Height: 500, Standalone: true},
		IntegerX: true, Series: []chart.Series{{Name: "inertia", X: []float64{2, 3, 4, 5}, Y: []float64{9e5, 5e5, 3e5, 2.6e5}, Class: "s1", Draw: chart.LinesAndDots}}}.SVG()
	if err != nil {
		t.Fatal(err)
	}
	return []byte(svg)
}

// pngBytes is a plot as runs recorded before the pipeline drew SVG have it.
func pngBytes(t testing.TB) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 80, 50))
	for x := 0; x < 80; x++ {
		img.Set(x, 25, color.RGBA{200, 0, 0, 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// newFixture fills a SQLite store the way the pipeline does: pipeline runs
// with step child runs, a sweep step with trial child runs, plot artifacts
// under runs/<id>/plots/, and a registered model with two versions.
func newFixture(t testing.TB, token string) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mlops.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	art, err := blob.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { art.Close() })
	fx := &fixture{store: db, art: art, pred: &fakePredictor{version: "2"}}
	exp, err := db.CreateExperiment(ctx, "housing", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	for i := range fx.pipeline {
		fx.pipeline[i] = fx.seedPipeline(t, exp.ID, start.Add(time.Duration(i)*time.Hour), i)
	}
	fx.seedRegistry(t)
	mapData := MapData{ValueName: "median_house_value", Source: "test districts",
		Districts: []District{{-122.23, 37.88, 452600}, {-118.3, 34.2, 200000}, {-121.5, 38.5, 90000}, {-117.1, 32.7, 300000}},
		Centres:   []Centre{{-122, 37.7}, {-118.2, 34.1}}}
	h, err := New(Deps{Tracker: db, Registry: db, Artifacts: art, Predictor: fx.pred, Monitor: &fakeMonitor{},
		Map: StaticMap(mapData), AdminToken: token,
		AfterRegistryChange: func(_ context.Context, name string) {
			fx.changedMu.Lock()
			fx.changed = append(fx.changed, name)
			fx.changedMu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	fx.handler = h
	return fx
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (fx *fixture) seedPipeline(t testing.TB, expID string, start time.Time, k int) string {
	ctx := context.Background()
	db := fx.store
	p, err := db.CreateRun(ctx, mlops.RunCreate{ExperimentID: expID, Name: fmt.Sprintf("pipeline-%d", k+1), StartTime: start,
		Tags: map[string]string{tagKind: "pipeline"}})
	must(t, err)
	must(t, db.LogBatch(ctx, p.ID, nil, []mlops.Param{{Key: "config.seed", Value: fmt.Sprint(42 + k)}},
		[]mlops.Tag{{Key: tagSummary + "model_version", Value: fmt.Sprint(k + 1)}}))
	steps := []string{"01_download", "04_features", "06_sweep"}
	for i, name := range steps {
		s, err := db.CreateRun(ctx, mlops.RunCreate{ExperimentID: expID, Name: name, ParentID: p.ID, StartTime: start.Add(time.Duration(i) * time.Minute),
			Tags: map[string]string{tagKind: "step", tagStep: name, tagParentRunID: p.ID}})
		must(t, err)
		ms := []mlops.Metric{{Key: metricStepSecs, Value: float64(10 * (i + 1))}}
		if name == "04_features" {
			ms = append(ms, mlops.Metric{Key: "silhouette", Value: 0.5 + 0.1*float64(k)})
			_, err := fx.art.Put(ctx, "runs/"+s.ID+"/plots/elbow.svg", bytes.NewReader(svgBytes(t)))
			must(t, err)
			_, err = fx.art.Put(ctx, "runs/"+s.ID+"/plots/legacy.png", bytes.NewReader(pngBytes(t)))
			must(t, err)
		}
		must(t, db.LogBatch(ctx, s.ID, ms, nil, nil))
		_, err = db.UpdateRun(ctx, s.ID, mlops.RunUpdate{Status: mlops.RunFinished, EndTime: start.Add(time.Duration(i+1) * time.Minute)})
		must(t, err)
		if name == "06_sweep" && k == 1 {
			fx.seedSweep(t, expID, s.ID, start, 8)
		}
	}
	_, err = db.UpdateRun(ctx, p.ID, mlops.RunUpdate{Status: mlops.RunFinished, EndTime: start.Add(5 * time.Minute)})
	must(t, err)
	return p.ID
}

// seedSweep records trials as package pipeline does: tag mlops.kind=trial,
// params, the sweep metric "rmse" plus "r2", "seconds", "budget", and
// stopped_early.
func (fx *fixture) seedSweep(t testing.TB, expID, sweepID string, start time.Time, n int) {
	ctx := context.Background()
	db := fx.store
	must(t, db.LogBatch(ctx, sweepID, []mlops.Metric{{Key: "best_rmse", Value: 47000}}, []mlops.Param{{Key: "sweep.metric", Value: "rmse"}, {Key: "sweep.goal", Value: "minimize"}}, nil))
	fx.trials, fx.stopped = n, 0
	for i := 0; i < fx.trials; i++ {
		tr, err := db.CreateRun(ctx, mlops.RunCreate{ExperimentID: expID, Name: fmt.Sprintf("trial-%03d", i+1), ParentID: sweepID,
			StartTime: start.Add(time.Duration(i) * time.Second), Tags: map[string]string{tagKind: kindTrial, tagParentRunID: sweepID}})
		must(t, err)
		rmse := 47000 + 1000*math.Abs(float64(i-3))
		stopped := i%3 == 2
		if stopped {
			fx.stopped++
		}
		must(t, db.LogBatch(ctx, tr.ID,
			[]mlops.Metric{{Key: "rmse", Value: rmse}, {Key: "r2", Value: 0.8 - float64(i)/100}, {Key: "seconds", Value: 1.5}, {Key: "budget", Value: 100}},
			[]mlops.Param{{Key: "max_depth", Value: fmt.Sprint(4 + i)}, {Key: "max_features", Value: []string{"sqrt", "log2"}[i%2]}},
			[]mlops.Tag{{Key: tagStopped, Value: fmt.Sprint(stopped)}}))
		_, err = db.UpdateRun(ctx, tr.ID, mlops.RunUpdate{Status: mlops.RunFinished})
		must(t, err)
	}
	fx.sweep = sweepID
}

func (fx *fixture) seedRegistry(t testing.TB) {
	ctx := context.Background()
	db := fx.store
	for i := 1; i <= 2; i++ {
		_, err := db.CreateModelVersion(ctx, mlops.ModelVersionCreate{Name: "housing", Source: fmt.Sprintf("mem://models/%d", i),
			SHA256: fmt.Sprintf("%064d", i), RunID: fx.pipeline[i-1], Description: fmt.Sprintf("# version %d", i), Tags: map[string]string{"family": "random_forest"}})
		must(t, err)
	}
	_, err := db.TransitionStage(ctx, "housing", 1, mlops.StageProduction, true, mlops.Actor{By: "pipeline", Reason: "first"})
	must(t, err)
}

// get fetches a page from the handler.
func (fx *fixture) do(t testing.TB, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	fx.handler.ServeHTTP(rec, req)
	return rec
}

func (fx *fixture) get(t testing.TB, path string) *httptest.ResponseRecorder {
	return fx.do(t, httptest.NewRequest("GET", path, nil))
}

// artifactsDir is where tests save screenshots: $MLOPS_TEST_ARTIFACTS or
// a temporary directory.
func artifactsDir(t testing.TB) string {
	if d := os.Getenv("MLOPS_TEST_ARTIFACTS"); d != "" {
		must(t, os.MkdirAll(d, 0o755))
		return d
	}
	return t.TempDir()
}

// housingMap samples the real training districts from testdata and
// clusters them with our KMeans, as a served model's geo block would.
func housingMap(t testing.TB) MapData {
	f, err := os.Open("../testdata/housing.csv")
	must(t, err)
	defer f.Close()
	ds, err := LoadDistricts(f, "median_house_value", DefaultMapPoints)
	must(t, err)
	X := ml.NewMatrix(len(ds), 2)
	for i, d := range ds {
		X.Set(i, 0, d.Lon)
		X.Set(i, 1, d.Lat)
	}
	km := cluster.NewKMeans(8, 42)
	must(t, km.Fit(X))
	var cs []Centre
	for i := 0; i < km.K; i++ {
		cs = append(cs, Centre{Lon: km.Centers[2*i], Lat: km.Centers[2*i+1]})
	}
	return MapData{Districts: ds, Centres: cs, ValueName: "median_house_value", Source: "every 9th district of testdata/housing.csv; 8 KMeans centres"}
}
