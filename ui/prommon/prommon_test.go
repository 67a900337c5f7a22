package prommon

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	apihttp "github.com/housing-mlops/mlops/http"
	"github.com/housing-mlops/mlops/monitor"
	"github.com/prometheus/client_golang/prometheus"
)

func TestStatsFromRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	req := prometheus.NewCounterVec(prometheus.CounterOpts{Name: requestsMetric}, []string{"route", "method", "code"})
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: latencyMetric, Buckets: []float64{0.001, 0.01, 0.1}}, []string{"route"})
	pred := prometheus.NewHistogram(prometheus.HistogramOpts{Name: predictionsMetric, Buckets: []float64{100000, 300000}})
	reg.MustRegister(req, lat, pred)
	req.WithLabelValues(DefaultRoute, "POST", "200").Add(7)
	req.WithLabelValues(DefaultRoute, "POST", "400").Add(2)
	req.WithLabelValues("GET /health", "GET", "200").Add(100) // another route: not counted
	for _, v := range []float64{0.0005, 0.005, 0.005, 0.5} {
		lat.WithLabelValues(DefaultRoute).Observe(v)
	}
	lat.WithLabelValues("GET /health").Observe(0.05)
	for _, v := range []float64{50000, 200000, 250000, 400000, 500000} {
		pred.Observe(v)
	}
	m := &Monitor{Gatherer: reg, PSI: func() map[string]float64 { return map[string]float64{"latitude": 0.15, "longitude": 0.25} }}
	st, err := m.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Requests != 9 || st.Errors != 2 {
		t.Errorf("requests %v errors %v, want 9 and 2", st.Requests, st.Errors)
	}
	if want := []float64{1, 2, 0, 1}; !equal(st.Latency.Counts, want) || !equal(st.Latency.Bounds, []float64{0.001, 0.01, 0.1}) {
		t.Errorf("latency %+v, want counts %v", st.Latency, want)
	}
	if want := []float64{1, 2, 2}; !equal(st.Predictions.Counts, want) {
		t.Errorf("predictions %+v, want %v", st.Predictions, want)
	}
	if st.Drift == nil || len(st.Drift.Features) != 2 || st.Drift.Features[0].Name != "latitude" || st.Drift.Features[0].PSIBand != monitor.PSIBand(0.15) {
		t.Fatalf("drift %+v", st.Drift)
	}
	// One of two features at PSI >= 0.2: half drifted, so the dataset does.
	if st.Drift.Features[0].Drifted || !st.Drift.Features[1].Drifted || st.Drift.DriftedFeatures != 1 || !st.Drift.DatasetDrift {
		t.Errorf("drift verdicts %+v", st.Drift)
	}
}

func TestDriftFuncWins(t *testing.T) {
	rep := &monitor.Report{DatasetDrift: true}
	m := &Monitor{Gatherer: prometheus.NewRegistry(), Drift: func(context.Context) (*monitor.Report, error) { return rep, nil },
		PSI: func() map[string]float64 { return map[string]float64{"x": 1} }}
	st, err := m.Stats(context.Background())
	if err != nil || st.Drift != rep || st.Requests != 0 {
		t.Fatalf("%+v %v", st, err)
	}
}

type oneField struct{ sc *apihttp.Schema }

func (m oneField) Info() apihttp.ModelInfo {
	return apihttp.ModelInfo{Name: "m", Version: "1", IntervalLevel: 0.9}
}
func (m oneField) Schema() *apihttp.Schema { return m.sc }
func (m oneField) Predict(_ context.Context, b *apihttp.Batch) ([]apihttp.Prediction, error) {
	out := make([]apihttp.Prediction, b.Rows)
	for i := range out {
		v := b.Columns[0].Num[i]
		out[i] = apihttp.Prediction{Value: v, Lower: v, Upper: v}
	}
	return out, nil
}

// The names read here must be those the API server exports: serve two
// predict requests (one refused) and read them back.
func TestAgainstTheAPIServer(t *testing.T) {
	sc, err := apihttp.NewSchema([]apihttp.Field{{Name: "x", Kind: apihttp.Number}})
	if err != nil {
		t.Fatal(err)
	}
	srv := apihttp.New(apihttp.Config{PollInterval: -1, PredictionBuckets: []float64{1, 10}}, apihttp.Deps{})
	srv.SetModel(oneField{sc: sc}, "file")
	for _, body := range []string{`{"instances":[{"x":5},{"x":50}]}`, `{"instances":[{"x":"no"}]}`} {
		req := httptest.NewRequest("POST", "/api/v1/predict", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("%s: %d %s", body, rec.Code, rec.Body)
		}
	}
	st, err := (&Monitor{Gatherer: srv.Registry()}).Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Requests != 2 || st.Errors != 1 || st.Latency.Total() != 2 || !equal(st.Predictions.Counts, []float64{0, 1, 1}) {
		t.Errorf("stats %+v", st)
	}
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
