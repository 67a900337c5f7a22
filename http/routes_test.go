package http

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestHealth(t *testing.T) {
	regDown := CheckerFunc(func(context.Context) error { return errors.New("dial tcp: refused") })
	ok := CheckerFunc(func(context.Context) error { return nil })
	s := New(Config{}, Deps{Checks: map[string]Checker{"registry": regDown, "artifact_store": ok}})
	h := s.Handler()

	if rec := do(h, "GET", "/health", "", nil); rec.Code != 200 {
		t.Fatalf("live %d", rec.Code)
	}
	if rec := do(h, "GET", "/health/ready", "", nil); rec.Code != 503 {
		t.Fatalf("ready without model %d", rec.Code)
	}
	var deep deepHealth
	rec := do(h, "GET", "/health/deep", "", nil)
	decodeBody(t, rec, &deep)
	if rec.Code != 503 || deep.Status != "unhealthy" || deep.ModelLoaded {
		t.Fatalf("deep without model: %d %+v", rec.Code, deep)
	}

	s.SetModel(newFake(t, "9", 0), "file")
	if rec := do(h, "GET", "/health/ready", "", nil); rec.Code != 200 {
		t.Fatalf("ready with model %d", rec.Code)
	}
	rec = do(h, "GET", "/health/deep", "", nil)
	deep = deepHealth{}
	decodeBody(t, rec, &deep)
	if rec.Code != 200 || deep.Status != "degraded" || !deep.ModelLoaded || deep.ModelVersion != "9" ||
		deep.Dependencies["registry"] != "degraded: dial tcp: refused" || deep.Dependencies["artifact_store"] != "healthy" {
		t.Fatalf("deep with registry down: %d %+v", rec.Code, deep)
	}

	s.deps.Checks["registry"] = ok
	rec = do(h, "GET", "/health/deep", "", nil)
	deep = deepHealth{}
	decodeBody(t, rec, &deep)
	if rec.Code != 200 || deep.Status != "healthy" {
		t.Fatalf("deep all up: %d %+v", rec.Code, deep)
	}
}

func TestNotFoundAndMethod(t *testing.T) {
	s := newServer(t, Config{}, Deps{}, newFake(t, "1", 0))
	rec := do(s.Handler(), "GET", "/nope", "", nil)
	var e errResp
	decodeBody(t, rec, &e)
	if rec.Code != 404 || e.Error.Code != codeNotFound {
		t.Fatalf("unknown route: %d %+v", rec.Code, e)
	}
	rec = do(s.Handler(), "GET", "/api/v1/predict", "", nil)
	decodeBody(t, rec, &e)
	if rec.Code != 405 || rec.Header().Get("Allow") != "POST" || e.Error.Code != codeMethod {
		t.Fatalf("wrong method: %d allow %q %+v", rec.Code, rec.Header().Get("Allow"), e)
	}
	if rec := do(s.Handler(), "DELETE", "/health", "", nil); rec.Code != 405 {
		t.Fatalf("DELETE /health: %d", rec.Code)
	}
}

func TestModelRoute(t *testing.T) {
	s := newServer(t, Config{}, Deps{}, nil)
	if rec := do(s.Handler(), "GET", "/api/v1/model", "", nil); rec.Code != 503 {
		t.Fatalf("no model: %d", rec.Code)
	}
	s.SetModel(newFake(t, "5", 0), "blob")
	var got modelJSON
	rec := do(s.Handler(), "GET", "/api/v1/model", "", nil)
	decodeBody(t, rec, &got)
	if got.Version != "5" || got.Source != "blob" || len(got.Features) != 9 || got.Features[1].Name != "latitude" ||
		*got.Features[1].Max != 90 || len(got.Features[8].Categories) != 5 {
		t.Fatalf("model route: %+v", got)
	}
}

func TestAdminReload(t *testing.T) {
	src := &fakeSource{name: "registry", data: []byte("v2")}
	deps := Deps{Loader: &Cascade{Sources: []Source{src}, Decode: fakeDecoder(t), Retry: noWait(1)}}

	disabled := newServer(t, Config{}, deps, newFake(t, "v1", 0))
	if rec := do(disabled.Handler(), "POST", "/api/v1/admin/reload", "", nil, "Authorization", "Bearer x"); rec.Code != 404 {
		t.Fatalf("admin without configured token: %d", rec.Code)
	}
	if src.calls != 0 {
		t.Fatal("disabled admin route ran a reload")
	}

	s := newServer(t, Config{AdminToken: "s3cret"}, deps, newFake(t, "v1", 0))
	for _, auth := range []string{"", "Bearer wrong", "s3cret", "Basic s3cret", "Bearer s3cret2"} {
		rec := do(s.Handler(), "POST", "/api/v1/admin/reload", "", nil, "Authorization", auth)
		if rec.Code != 401 || rec.Header().Get("WWW-Authenticate") == "" {
			t.Fatalf("auth %q: %d", auth, rec.Code)
		}
	}
	if src.calls != 0 {
		t.Fatal("unauthorised request ran a reload")
	}
	rec := do(s.Handler(), "POST", "/api/v1/admin/reload", "", nil, "Authorization", "Bearer s3cret")
	var got map[string]any
	decodeBody(t, rec, &got)
	if rec.Code != 200 || got["model_version"] != "v2" || got["previous_version"] != "v1" || got["changed"] != true || got["source"] != "registry" {
		t.Fatalf("reload: %d %v", rec.Code, got)
	}
	if info, _ := s.ModelInfo(); info.Version != "v2" {
		t.Fatalf("serving %q after reload", info.Version)
	}
	src.err = errDown
	rec = do(s.Handler(), "POST", "/api/v1/admin/reload", "", nil, "Authorization", "Bearer s3cret")
	if rec.Code != 503 {
		t.Fatalf("failed reload: %d", rec.Code)
	}
	if info, _ := s.ModelInfo(); info.Version != "v2" {
		t.Fatal("failed reload dropped the model")
	}
}

func TestCORS(t *testing.T) {
	none := newServer(t, Config{}, Deps{}, nil)
	rec := do(none.Handler(), "GET", "/health", "", nil, "Origin", "https://evil.example")
	if rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS allowed with no allow-list")
	}

	s := newServer(t, Config{CORSOrigins: []string{"https://app.example"}}, Deps{}, nil)
	rec = do(s.Handler(), "GET", "/health", "", nil, "Origin", "https://app.example")
	if rec.Header().Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Fatal("allowed origin not echoed")
	}
	if rec.Header().Get("Access-Control-Allow-Credentials") != "" {
		t.Fatal("credentials must never be allowed")
	}
	rec = do(s.Handler(), "OPTIONS", "/api/v1/predict", "", nil, "Origin", "https://app.example", "Access-Control-Request-Method", "POST")
	if rec.Code != 204 || rec.Header().Get("Access-Control-Allow-Methods") != "GET, POST" {
		t.Fatalf("preflight: %d %v", rec.Code, rec.Header())
	}
	rec = do(s.Handler(), "OPTIONS", "/api/v1/predict", "", nil, "Origin", "https://evil.example", "Access-Control-Request-Method", "POST")
	if rec.Code != 403 || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from a stranger: %d %v", rec.Code, rec.Header())
	}
	rec = do(s.Handler(), "GET", "/health", "", nil, "Origin", "https://evil.example")
	if rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("stranger origin allowed")
	}
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	s := newServer(t, Config{MaxBatch: 42}, Deps{}, newFake(t, "1", 0))
	rec := do(s.Handler(), "GET", "/openapi.json", "", nil)
	var spec struct {
		OpenAPI    string                                `json:"openapi"`
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	decodeBody(t, rec, &spec)
	if !strings.HasPrefix(spec.OpenAPI, "3.1") {
		t.Fatalf("openapi %q", spec.OpenAPI)
	}
	var inSpec, served []string
	for p, ops := range spec.Paths {
		for m := range ops {
			inSpec = append(inSpec, strings.ToUpper(m)+" "+p)
		}
	}
	for _, r := range s.Routes() {
		served = append(served, r[0]+" "+r[1])
	}
	slices.Sort(inSpec)
	slices.Sort(served)
	if !slices.Equal(inSpec, served) {
		t.Fatalf("spec and routes differ\nspec   %q\nserved %q", inSpec, served)
	}
	// Every route in the spec is really served (not a 404 from the fallback).
	for _, r := range s.Routes() {
		path := strings.ReplaceAll(r[1], "{name}", "housing")
		rec := do(s.Handler(), r[0], path, "application/json", []byte("{}"))
		if rec.Code == 404 && !strings.HasPrefix(r[1], "/api/v1/admin") || rec.Code == 405 {
			t.Errorf("%s %s answered %d", r[0], path, rec.Code)
		}
	}
	var inst struct {
		Properties map[string]map[string]any `json:"properties"`
		Required   []string                  `json:"required"`
	}
	if err := json.Unmarshal(spec.Components.Schemas["Instance"], &inst); err != nil {
		t.Fatal(err)
	}
	if len(inst.Properties) != 9 || len(inst.Required) != 9 || inst.Properties["latitude"]["maximum"] != 90.0 {
		t.Fatalf("Instance schema not taken from the model: %+v", inst)
	}
	if !strings.Contains(string(spec.Components.Schemas["PredictRequest"]), `"maxItems":42`) {
		t.Fatal("maxItems does not follow the config")
	}
}

func TestDocsOffline(t *testing.T) {
	s := newServer(t, Config{}, Deps{}, nil)
	rec := do(s.Handler(), "GET", "/docs", "", nil)
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("docs: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	page := rec.Body.String()
	for _, bad := range []string{"http://", "https://", "//cdn", "<script src", "<link", "@import"} {
		if strings.Contains(page, bad) {
			t.Errorf("docs page references the network: %q", bad)
		}
	}
	if !strings.Contains(page, `fetch("openapi.json")`) {
		t.Error("docs page does not load the spec")
	}
}

func TestMetrics(t *testing.T) {
	drift := driftFunc(func() map[string]float64 { return map[string]float64{"median_income": 0.31} })
	s := newServer(t, Config{}, Deps{Drift: drift}, newFake(t, "3", 0))
	h := s.Handler()
	postJSON(h, "/api/v1/predict", mustJSON(t, map[string]any{"instances": []any{validInstance(), validInstance(), validInstance()}}))
	postJSON(h, "/api/v1/predict", []byte("{"))
	do(h, "GET", "/nope", "", nil)
	rec := do(h, "GET", "/metrics", "", nil)
	if rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	text := rec.Body.String()
	for _, want := range []string{
		`mlops_http_requests_total{code="200",method="POST",route="POST /api/v1/predict"} 1`,
		`mlops_http_requests_total{code="400",method="POST",route="POST /api/v1/predict"} 1`,
		`mlops_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`mlops_http_request_duration_seconds_count{route="POST /api/v1/predict"} 2`,
		`mlops_predict_instances_sum 3`,
		`mlops_predicted_value_count 3`,
		`mlops_model_info{name="housing",sha256="sha-3",source="test",version="3"} 1`,
		`mlops_feature_drift_psi{feature="median_income"} 0.31`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	s.SetModel(newFake(t, "4", 0), "registry")
	text = do(h, "GET", "/metrics", "", nil).Body.String()
	// Per-version request counters keep version 3's history; the info
	// gauge names only the loaded model.
	if strings.Contains(text, `mlops_model_info{name="housing",sha256="sha-3"`) || !strings.Contains(text, `source="registry",version="4"} 1`) {
		t.Error("model info gauge not moved to the new model")
	}
}

type driftFunc func() map[string]float64

func (f driftFunc) PSI() map[string]float64 { return f() }

func TestHandlerNeverPanicsOnRouteErrors(t *testing.T) {
	// A panic inside a handler becomes a JSON 500, not a dropped connection.
	m := newFake(t, "1", 0)
	m.panics = true
	s := newServer(t, Config{}, Deps{}, m)
	rec := postJSON(s.Handler(), "/api/v1/predict", mustJSON(t, map[string]any{"instances": []any{validInstance()}}))
	if rec.Code != http.StatusInternalServerError {
		t.Fatal(rec.Code)
	}
}
