package http

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestPredictHappyPath(t *testing.T) {
	m := newFake(t, "7", 1000)
	s := newServer(t, Config{}, Deps{}, m)
	a, b := validInstance(), validInstance()
	b["ocean_proximity"] = "  near   bay "
	b["median_income"] = 2.5
	rec := postJSON(s.Handler(), "/api/v1/predict", mustJSON(t, map[string]any{"instances": []any{a, b}}))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var got predictResp
	decodeBody(t, rec, &got)
	if got.ModelVersion != "7" || len(got.Predictions) != 2 {
		t.Fatalf("got %+v", got)
	}
	// The model saw the canonical category spelling.
	if c := m.seen[0].Columns[8].Cat[1]; c != "NEAR BAY" {
		t.Fatalf("category reached the model as %q, want NEAR BAY", c)
	}
	want := fakePredict(m.seen[0], 1000)
	for i, p := range got.Predictions {
		if p.PredictedPrice != want[i].Value || p.ConfidenceInterval.Lower != want[i].Lower ||
			p.ConfidenceInterval.Upper != want[i].Upper || p.ConfidenceInterval.Level != 0.9 {
			t.Errorf("prediction %d = %+v, want %+v", i, p, want[i])
		}
	}
	// Rows are in request order: the two differ in median_income.
	if got.Predictions[0].PredictedPrice == got.Predictions[1].PredictedPrice {
		t.Error("both instances got the same prediction")
	}
	if rec.Header().Get("X-Request-ID") == "" {
		t.Error("no X-Request-ID")
	}
}

func TestPredictExactNumbers(t *testing.T) {
	// Values that need all 17 digits must reach the client unchanged.
	m := newFake(t, "1", 0)
	m.schema = mustSchema(t, []Field{{Name: "x", Kind: Number}})
	s := newServer(t, Config{}, Deps{}, m)
	for _, x := range []float64{0.1, 1.0 / 3, 123456.78901234567, 1e-300, -2.5e21} {
		rec := postJSON(s.Handler(), "/api/v1/predict", mustJSON(t, map[string]any{"instances": []any{map[string]any{"x": x}}}))
		var got predictResp
		decodeBody(t, rec, &got)
		if got.Predictions[0].PredictedPrice != x {
			t.Errorf("x=%v came back as %v", x, got.Predictions[0].PredictedPrice)
		}
	}
}

func mustSchema(t testing.TB, f []Field) *Schema {
	t.Helper()
	s, err := NewSchema(f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type errResp struct {
	Error struct {
		Code    string       `json:"code"`
		Message string       `json:"message"`
		Fields  []FieldError `json:"fields"`
	} `json:"error"`
	RequestID string `json:"request_id"`
}

func TestPredictValidationListsEveryField(t *testing.T) {
	s := newServer(t, Config{}, Deps{}, newFake(t, "1", 0))
	i0 := validInstance()
	i0["latitude"] = 123.0
	i0["longitude"] = -181.0
	i1 := validInstance()
	i1["ocean_proximity"] = "MOON"
	i1["zzz"] = 1
	i1["aaa"] = 2
	i2 := validInstance()
	delete(i2, "median_income")
	i2["population"] = "many"
	i2["households"] = nil
	i3 := validInstance()
	i3["total_rooms"] = -1.0
	i3["ocean_proximity"] = 5
	i4 := validInstance() // valid: must not be listed
	body := mustJSON(t, map[string]any{"instances": []any{i0, i1, i2, i3, i4, "not an object"}})
	rec := postJSON(s.Handler(), "/api/v1/predict", body)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var got errResp
	decodeBody(t, rec, &got)
	var paths []string
	for _, f := range got.Error.Fields {
		paths = append(paths, f.Path)
		if f.Reason == "" {
			t.Errorf("%s has no reason", f.Path)
		}
	}
	want := []string{
		"instances[0].longitude", "instances[0].latitude",
		"instances[1].ocean_proximity", "instances[1].aaa", "instances[1].zzz",
		"instances[2].population", "instances[2].households", "instances[2].median_income",
		"instances[3].total_rooms", "instances[3].ocean_proximity",
		"instances[5]",
	}
	if !slices.Equal(paths, want) {
		t.Fatalf("paths\n got %q\nwant %q", paths, want)
	}
	if got.Error.Code != codeValidation {
		t.Errorf("code %q", got.Error.Code)
	}
	reasons := map[string]string{}
	for _, f := range got.Error.Fields {
		reasons[f.Path] = f.Reason
	}
	for path, frag := range map[string]string{
		"instances[0].latitude":        "<= 90",
		"instances[0].longitude":       ">= -180",
		"instances[1].ocean_proximity": `"NEAR BAY"`,
		"instances[1].zzz":             "unknown field",
		"instances[2].population":      "must be a number",
		"instances[2].households":      "required",
		"instances[2].median_income":   "required",
		"instances[3].total_rooms":     ">= 0",
		"instances[3].ocean_proximity": "must be a string",
		"instances[5]":                 "JSON object",
	} {
		if !strings.Contains(reasons[path], frag) {
			t.Errorf("%s: reason %q lacks %q", path, reasons[path], frag)
		}
	}
}

func TestPredictOptionalField(t *testing.T) {
	m := newFake(t, "1", 0)
	f := housingFields()
	f[4].Optional = true // total_bedrooms: the model imputes it
	m.schema = mustSchema(t, f)
	s := newServer(t, Config{}, Deps{}, m)
	in := validInstance()
	delete(in, "total_bedrooms")
	in2 := validInstance()
	in2["total_bedrooms"] = nil
	rec := postJSON(s.Handler(), "/api/v1/predict", mustJSON(t, map[string]any{"instances": []any{in, in2}}))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	col := m.seen[0].Columns[4].Num
	if !math.IsNaN(col[0]) || !math.IsNaN(col[1]) {
		t.Fatalf("missing optional values reached the model as %v, want NaN", col)
	}
}

func TestPredictRequestErrors(t *testing.T) {
	s := newServer(t, Config{MaxBatch: 2, MaxBodyBytes: 4096}, Deps{}, newFake(t, "1", 0))
	one := string(mustJSON(t, validInstance()))
	cases := []struct {
		name, ct, body string
		status         int
		code           string
	}{
		{"malformed", "application/json", `{"instances":[`, 400, codeInvalid},
		{"not json", "application/json", `hello`, 400, codeInvalid},
		{"empty body", "application/json", ``, 400, codeInvalid},
		{"trailing data", "application/json", `{"instances":[` + one + `]} {}`, 400, codeInvalid},
		{"unknown top-level", "application/json", `{"instances":[` + one + `],"x":1}`, 400, codeInvalid},
		{"no instances", "application/json", `{}`, 400, codeInvalid},
		{"null instances", "application/json", `{"instances":null}`, 400, codeInvalid},
		{"instances object", "application/json", `{"instances":{}}`, 400, codeInvalid},
		{"top-level array", "application/json", `[1]`, 400, codeInvalid},
		{"zero instances", "application/json", `{"instances":[]}`, 400, codeInvalid},
		{"too many", "application/json", `{"instances":[` + one + `,` + one + `,` + one + `]}`, 400, codeInvalid},
		{"text/plain", "text/plain", `{"instances":[` + one + `]}`, 415, codeMediaType},
		{"no content type", "", `{"instances":[` + one + `]}`, 415, codeMediaType},
		{"too large", "application/json", `{"instances":[` + strings.Repeat(" ", 5000) + one + `]}`, 413, codeTooLarge},
		{"ok with charset", "application/json; charset=utf-8", `{"instances":[` + one + `]}`, 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := do(s.Handler(), "POST", "/api/v1/predict", c.ct, []byte(c.body))
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, c.status, rec.Body)
			}
			if c.code == "" {
				return
			}
			var got errResp
			decodeBody(t, rec, &got)
			if got.Error.Code != c.code || got.Error.Message == "" || got.RequestID == "" {
				t.Fatalf("error body %+v", got)
			}
		})
	}
}

func TestPredictTooLargeChunked(t *testing.T) {
	// Without Content-Length the limit is enforced while reading.
	s := newServer(t, Config{MaxBodyBytes: 100}, Deps{}, newFake(t, "1", 0))
	req := httptest.NewRequest("POST", "/api/v1/predict", strings.NewReader(`{"instances":[`+strings.Repeat(" ", 200)+`]}`))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
}

func TestPredictNoModel(t *testing.T) {
	s := New(Config{}, Deps{Loader: &Cascade{Sources: []Source{&fakeSource{name: "registry", err: errDown}}}})
	if err := s.Load(t.Context()); err == nil {
		t.Fatal("Load succeeded with a failing source")
	}
	rec := postJSON(s.Handler(), "/api/v1/predict", mustJSON(t, map[string]any{"instances": []any{validInstance()}}))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d", rec.Code)
	}
	var got errResp
	decodeBody(t, rec, &got)
	if got.Error.Code != codeNotReady || !strings.Contains(got.Error.Message, "connection refused") {
		t.Fatalf("503 body does not give the reason: %+v", got)
	}
}

func TestPredictServerFaults(t *testing.T) {
	body := mustJSON(t, map[string]any{"instances": []any{validInstance()}})
	cases := map[string]func(m *fakeModel){
		"model error": func(m *fakeModel) { m.err = errors.New("tree corrupt") },
		"model panic": func(m *fakeModel) { m.panics = true },
		"non-finite":  func(m *fakeModel) { m.offset = math.Inf(1) },
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			m := newFake(t, "1", 0)
			setup(m)
			s := newServer(t, Config{}, Deps{}, m)
			rec := postJSON(s.Handler(), "/api/v1/predict", body)
			if rec.Code != http.StatusInternalServerError {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var got errResp
			decodeBody(t, rec, &got)
			if got.Error.Code != codeInternal || strings.Contains(got.Error.Message, "tree corrupt") {
				t.Fatalf("500 body %+v (must not leak internals)", got)
			}
		})
	}
}

func TestPredictShortModelOutput(t *testing.T) {
	s := newServer(t, Config{}, Deps{}, &shortModel{newFake(t, "1", 0)})
	rec := postJSON(s.Handler(), "/api/v1/predict", mustJSON(t, map[string]any{"instances": []any{validInstance(), validInstance()}}))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d", rec.Code)
	}
}

// shortModel returns one prediction fewer than asked.
type shortModel struct{ *fakeModel }

func (m *shortModel) Predict(ctx context.Context, b *Batch) ([]Prediction, error) {
	p, err := m.fakeModel.Predict(ctx, b)
	return p[:len(p)-1], err
}

func TestRequestID(t *testing.T) {
	s := newServer(t, Config{}, Deps{}, nil)
	rec := do(s.Handler(), "GET", "/health", "", nil, "X-Request-ID", "abc-123")
	if got := rec.Header().Get("X-Request-ID"); got != "abc-123" {
		t.Fatalf("request id %q, want the client's", got)
	}
	rec = do(s.Handler(), "GET", "/health", "", nil, "X-Request-ID", "bad id\n"+strings.Repeat("x", 100))
	got := rec.Header().Get("X-Request-ID")
	if got == "" || strings.ContainsAny(got, " \n") {
		t.Fatalf("unsafe request id %q echoed", got)
	}
	rec2 := do(s.Handler(), "GET", "/health", "", nil)
	if rec2.Header().Get("X-Request-ID") == got {
		t.Fatal("generated request ids repeat")
	}
}

func TestObserver(t *testing.T) {
	obs := &recObserver{}
	s := newServer(t, Config{}, Deps{Observer: obs}, newFake(t, "4", 0))
	req := httptest.NewRequest("POST", "/api/v1/predict", bytes.NewReader(mustJSON(t, map[string]any{"instances": []any{validInstance(), validInstance()}})))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-ID", "req-1")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatal(rec.Body)
	}
	if len(obs.events) != 1 {
		t.Fatalf("%d events", len(obs.events))
	}
	ev := obs.events[0]
	if ev.RequestID != "req-1" || ev.ModelVersion != "4" || ev.Batch.Rows != 2 || len(ev.Predictions) != 2 || ev.Latency <= 0 {
		t.Fatalf("event %+v", ev)
	}
}

type recObserver struct{ events []PredictionEvent }

func (o *recObserver) Observe(ev PredictionEvent) { o.events = append(o.events, ev) }

func TestNewSchemaErrors(t *testing.T) {
	cases := map[string][]Field{
		"empty":        nil,
		"no name":      {{Kind: Number}},
		"duplicate":    {{Name: "a"}, {Name: "a"}},
		"no cats":      {{Name: "a", Kind: Category}},
		"bad bounds":   {{Name: "a", Min: 2, Max: 1, HasMin: true, HasMax: true}},
		"nan bound":    {{Name: "a", Min: math.NaN(), HasMin: true}},
		"unknown kind": {{Name: "a", Kind: 7}},
	}
	for name, f := range cases {
		if _, err := NewSchema(f); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestNormalizeCategory(t *testing.T) {
	for in, want := range map[string]string{"near bay": "NEAR BAY", "  Near\t\tBay ": "NEAR BAY", "<1h ocean": "<1H OCEAN", "": ""} {
		if got := NormalizeCategory(in); got != want {
			t.Errorf("NormalizeCategory(%q) = %q, want %q", in, got, want)
		}
	}
}

func ExampleNormalizeCategory() {
	fmt.Println(NormalizeCategory("  near   bay "))
	// Output: NEAR BAY
}

func TestFastPathTakesTypicalRequests(t *testing.T) {
	sc := housingSchema(t)
	a, b := validInstance(), validInstance()
	b["ocean_proximity"] = " near bay"
	body := mustJSON(t, map[string]any{"instances": []any{a, b}})
	fb, ok := fastDecode(sc, body, 100)
	if !ok || fb.Rows != 2 || fb.Columns[8].Cat[1] != "NEAR BAY" || fb.Columns[1].Num[0] != 37.88 {
		t.Fatalf("fast path refused or misread a valid body: %v %+v", ok, fb)
	}
	esc := strings.Replace(string(body), `"NEAR BAY"`, `"\u003c1H OCEAN"`, 1)
	if fb, ok := fastDecode(sc, []byte(esc), 100); !ok || fb.Columns[8].Cat[0] != "<1H OCEAN" {
		t.Fatalf("fast path refused or misread an escaped category: %v", ok)
	}
	for _, bad := range []string{
		`{"instances":[{"longitude":1}]}`, // missing fields
		strings.Replace(string(body), `"latitude":37.88`, `"latitude":99`, 1),
		strings.Replace(string(body), `"latitude":37.88`, `"latitude":37.88,"latitude":1`, 1),
		strings.Replace(string(body), `"NEAR BAY"`, `"NEAR\x BAY"`, 1), // invalid escape
	} {
		if _, ok := fastDecode(sc, []byte(bad), 100); ok {
			t.Errorf("fast path accepted %s", bad)
		}
	}
}

func TestPredictMessagesNameTheProblem(t *testing.T) {
	s := newServer(t, Config{MaxBatch: 2}, Deps{}, newFake(t, "1", 0))
	one := string(mustJSON(t, validInstance()))
	for body, frag := range map[string]string{
		`{"instances":[` + one + `],"extra":1}`:               `unknown field "extra"`,
		`{"instances":[` + one + `,` + one + `,` + one + `]}`: "1 to 2 instances, got 3",
		`{"instances":"x"}`:                                   "must be an array",
		`{"instances":[` + one + `]`:                          "unexpected end",
		`{"instances":[` + one + `]} []`:                      "after the top-level value",
		`[]`:                                                  "must be an object",
	} {
		var e errResp
		decodeBody(t, postJSON(s.Handler(), "/api/v1/predict", []byte(body)), &e)
		if !strings.Contains(e.Error.Message, frag) {
			t.Errorf("%.40s…: message %q lacks %q", body, e.Error.Message, frag)
		}
	}
}
