package ui

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"

	apihttp "github.com/housing-mlops/mlops/http"
)

// apiModel is a model for the real API server: the price is 50 000 per
// unit of median_income, the interval ±20 %.
type apiModel struct{ schema *apihttp.Schema }

func (m apiModel) Info() apihttp.ModelInfo {
	return apihttp.ModelInfo{Name: "housing", Version: "7", SHA256: "abc", IntervalLevel: 0.9}
}
func (m apiModel) Schema() *apihttp.Schema { return m.schema }
func (m apiModel) Predict(_ context.Context, b *apihttp.Batch) ([]apihttp.Prediction, error) {
	inc := b.Columns[m.schema.Index("median_income")].Num
	out := make([]apihttp.Prediction, b.Rows)
	for i := range out {
		v := expectedPrice(inc[i])
		out[i] = apihttp.Prediction{Value: v, Lower: 0.8 * v, Upper: 1.2 * v}
	}
	return out, nil
}

func newAPI(t *testing.T, loaded bool) *apihttp.Server {
	var fields []apihttp.Field
	for _, f := range testFields {
		af := apihttp.Field{Name: f.Name, Optional: !f.Required, Categories: f.Categories}
		if f.Kind == "category" {
			af.Kind = apihttp.Category
		}
		if f.Min != nil {
			af.Min, af.HasMin = *f.Min, true
		}
		if f.Max != nil {
			af.Max, af.HasMax = *f.Max, true
		}
		fields = append(fields, af)
	}
	sc, err := apihttp.NewSchema(fields)
	must(t, err)
	srv := apihttp.New(apihttp.Config{MaxBatch: 2, PollInterval: -1}, apihttp.Deps{})
	if loaded {
		srv.SetModel(apiModel{schema: sc}, "file")
	}
	return srv
}

func exampleRecordJSON(income float64) map[string]any {
	return map[string]any{"longitude": -122.23, "latitude": 37.88, "housing_median_age": 41.0, "total_rooms": 880.0,
		"total_bedrooms": 129.0, "population": 322.0, "households": 126.0, "median_income": income, "ocean_proximity": "NEAR BAY"}
}

// TestAPIPredictorAgainstTheAPI runs the adapter against the real API
// handler, so the UI and the API cannot disagree on shapes.
func TestAPIPredictorAgainstTheAPI(t *testing.T) {
	ctx := context.Background()
	p := APIPredictor{API: newAPI(t, true).Handler()}
	m, err := p.Model(ctx)
	must(t, err)
	if m.Version != "7" || m.IntervalLevel != 0.9 || len(m.Fields) != len(testFields) {
		t.Fatalf("model %+v", m)
	}
	lat := m.Fields[1]
	if lat.Name != "latitude" || lat.Kind != "number" || lat.Min == nil || *lat.Max != 41.95 || !lat.Required {
		t.Errorf("latitude field %+v", lat)
	}
	if op := m.Fields[8]; op.Kind != "category" || len(op.Categories) != 5 {
		t.Errorf("ocean_proximity field %+v", op)
	}
	if m.Fields[4].Required {
		t.Error("total_bedrooms should be optional")
	}

	preds, ferrs, err := p.Predict(ctx, []map[string]any{exampleRecordJSON(8.3252), exampleRecordJSON(2)})
	must(t, err)
	if len(ferrs) != 0 || len(preds) != 2 || preds[0].Value != expectedPrice(8.3252) || math.Abs(preds[1].Upper-1.2*expectedPrice(2)) > 1e-6 {
		t.Fatalf("preds %+v errs %+v", preds, ferrs)
	}

	bad := exampleRecordJSON(3)
	bad["latitude"] = 95.0
	delete(bad, "population")
	_, ferrs, err = p.Predict(ctx, []map[string]any{exampleRecordJSON(1), bad})
	must(t, err)
	got := map[string]FieldError{}
	for _, fe := range ferrs {
		got[fe.Field] = fe
	}
	if len(ferrs) != 2 || got["latitude"].Index != 1 || got["latitude"].Reason != "must be <= 41.95, got 95" || got["population"].Index != 1 {
		t.Errorf("field errors %+v", ferrs)
	}

	_, _, err = p.Predict(ctx, []map[string]any{exampleRecordJSON(1), exampleRecordJSON(1), exampleRecordJSON(1)})
	var re *RequestError
	if !errors.As(err, &re) || re.Status != http.StatusBadRequest {
		t.Errorf("3 instances over a batch limit of 2: %v", err)
	}

	_, err = APIPredictor{API: newAPI(t, false).Handler()}.Model(ctx)
	if !errors.As(err, &re) || re.Status != http.StatusServiceUnavailable {
		t.Errorf("no model loaded: %v", err)
	}
}

func TestPredictPageThroughTheAPI(t *testing.T) {
	h, err := New(Deps{Predictor: APIPredictor{API: newAPI(t, true).Handler()}})
	must(t, err)
	fx := &fixture{handler: h}
	form := exampleForm()
	form.Set("latitude", "95")
	body := checkPage(t, fx.do(t, postForm("/ui/predict", form, "")), http.StatusBadRequest)
	if want := `data-field="latitude" role="status">must be &lt;= 41.95, got 95</span>`; !strings.Contains(body, want) {
		t.Errorf("no API error next to latitude")
	}
	checkPage(t, fx.do(t, postForm("/ui/predict", exampleForm(), "")), http.StatusOK, fmtMoney(expectedPrice(8.3252)), "model version 7")
}
