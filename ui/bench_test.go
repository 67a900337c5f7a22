package ui

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/housing-mlops/mlops"
)

// defaultDataHandler serves the UI over what a default pipeline run leaves:
// the map's DefaultMapPoints districts of the real data with 8 centres and
// a sweep of 50 trials (config.yaml's sweep.trials).
func defaultDataHandler(tb testing.TB) (*fixture, http.Handler, [][2]string) {
	fx := newFixture(tb, "")
	ctx := context.Background()
	exp, err := fx.store.GetExperimentByName(ctx, "housing")
	must(tb, err)
	run, err := fx.store.CreateRun(ctx, mlops.RunCreate{ExperimentID: exp.ID, Name: "06_sweep", ParentID: fx.pipeline[0],
		Tags: map[string]string{tagKind: "step", tagStep: "06_sweep", tagParentRunID: fx.pipeline[0]}})
	must(tb, err)
	fx.seedSweep(tb, exp.ID, run.ID, time.Now(), 50)
	h, err := New(Deps{Tracker: fx.store, Registry: fx.store, Artifacts: fx.art, Predictor: fx.pred, Monitor: &fakeMonitor{}, Map: StaticMap(housingMap(tb))})
	must(tb, err)
	paths := [][2]string{{"predict", "/ui/predict"}, {"map", "/ui/map?lon=-122.23&lat=37.88&value=416260"}, {"runs", "/ui/runs"},
		{"run", "/ui/runs/" + fx.pipeline[0]}, {"compare", "/ui/runs/compare?run=" + fx.pipeline[0] + "&run=" + fx.pipeline[1]},
		{"models", "/ui/models"}, {"model", "/ui/models/housing"}, {"sweeps", "/ui/sweeps"}, {"sweep", "/ui/sweeps/" + run.ID},
		{"monitoring", "/ui/monitoring"}, {"monitoring.json", "/ui/monitoring.json"}}
	return fx, h, paths
}

// TestPageSizesWithDefaultData keeps every page under 100 KB.
func TestPageSizesWithDefaultData(t *testing.T) {
	_, h, paths := defaultDataHandler(t)
	for _, np := range paths {
		p := np[1]
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d", p, rec.Code)
		}
		if n := rec.Body.Len(); n >= 100<<10 {
			t.Errorf("%s: %d bytes, want < 100 KB", p, n)
		}
	}
}

// BenchmarkPages measures the server-side time of each page with the
// default data (the target is < 200 ms a page) and reports its size.
func BenchmarkPages(b *testing.B) {
	_, h, paths := defaultDataHandler(b)
	for _, np := range paths {
		p := np[1]
		b.Run(np[0], func(b *testing.B) {
			var size int
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d", p, rec.Code)
				}
				size = rec.Body.Len()
			}
			b.ReportMetric(float64(size), "bytes/page")
		})
	}
}
