package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// housingFields is a housing-like schema, as the pipeline would record it.
func housingFields() []Field {
	return []Field{
		{Name: "longitude", Kind: Number, Min: -180, Max: 180, HasMin: true, HasMax: true},
		{Name: "latitude", Kind: Number, Min: -90, Max: 90, HasMin: true, HasMax: true},
		{Name: "housing_median_age", Kind: Number, Min: 0, HasMin: true},
		{Name: "total_rooms", Kind: Number, Min: 0, HasMin: true},
		{Name: "total_bedrooms", Kind: Number, Min: 0, HasMin: true},
		{Name: "population", Kind: Number, Min: 0, HasMin: true},
		{Name: "households", Kind: Number, Min: 0, HasMin: true},
		{Name: "median_income", Kind: Number, Min: 0, HasMin: true},
		{Name: "ocean_proximity", Kind: Category, Categories: []string{"<1H OCEAN", "INLAND", "ISLAND", "NEAR BAY", "NEAR OCEAN"}},
	}
}

func housingSchema(t testing.TB) *Schema {
	t.Helper()
	s, err := NewSchema(housingFields())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fakeModel predicts offset + Σ numeric features + len(category) per row:
// cheap, deterministic and different for each version, so a test can tell
// which model answered.
type fakeModel struct {
	info   ModelInfo
	schema *Schema
	offset float64
	err    error
	panics bool
	// entered, when set, receives one value per Predict call before it
	// waits on release (for drain tests).
	entered chan struct{}
	release chan struct{}

	mu   sync.Mutex
	seen []*Batch
}

func newFake(t testing.TB, version string, offset float64) *fakeModel {
	return &fakeModel{
		info:   ModelInfo{Name: "housing", Version: version, SHA256: "sha-" + version, IntervalLevel: 0.9},
		schema: housingSchema(t), offset: offset,
	}
}

func (m *fakeModel) Info() ModelInfo { return m.info }
func (m *fakeModel) Schema() *Schema { return m.schema }

func (m *fakeModel) Predict(ctx context.Context, b *Batch) ([]Prediction, error) {
	if m.entered != nil {
		m.entered <- struct{}{}
		select {
		case <-m.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if m.panics {
		panic("boom")
	}
	if m.err != nil {
		return nil, m.err
	}
	m.mu.Lock()
	m.seen = append(m.seen, b)
	m.mu.Unlock()
	return fakePredict(b, m.offset), nil
}

// fakePredict is the fake model's formula.
func fakePredict(b *Batch, offset float64) []Prediction {
	out := make([]Prediction, b.Rows)
	for r := range out {
		v := offset
		for _, c := range b.Columns {
			if c.Num != nil {
				if !math.IsNaN(c.Num[r]) {
					v += c.Num[r]
				}
			} else {
				v += float64(len(c.Cat[r]))
			}
		}
		out[r] = Prediction{Value: v, Lower: v - 1, Upper: v + 1}
	}
	return out
}

// validInstance returns one valid instance as a map.
func validInstance() map[string]any {
	return map[string]any{
		"longitude": -122.23, "latitude": 37.88, "housing_median_age": 41.0, "total_rooms": 880.0,
		"total_bedrooms": 129.0, "population": 322.0, "households": 126.0, "median_income": 8.3252,
		"ocean_proximity": "NEAR BAY",
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// do sends one request to h and returns the recorder.
func do(h http.Handler, method, path, contentType string, body []byte, hdr ...string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func postJSON(h http.Handler, path string, body []byte) *httptest.ResponseRecorder {
	return do(h, "POST", path, "application/json", body)
}

// decodeBody decodes a JSON response into v, failing the test otherwise.
func decodeBody(t testing.TB, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q, want JSON; body %s", ct, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, rec.Body)
	}
}

// predictResp is the predict response shape.
type predictResp struct {
	Predictions []struct {
		PredictedPrice     float64 `json:"predicted_price"`
		ConfidenceInterval struct {
			Lower, Upper, Level float64
		} `json:"confidence_interval"`
	} `json:"predictions"`
	ModelVersion string `json:"model_version"`
}

// newServer returns a server with m loaded (when not nil).
func newServer(t testing.TB, cfg Config, deps Deps, m Model) *Server {
	t.Helper()
	s := New(cfg, deps)
	if m != nil {
		s.SetModel(m, "test")
	}
	return s
}

var errDown = errors.New("connection refused")
