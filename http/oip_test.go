package http

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// oipInputs turns instances into one tensor per feature.
func oipInputs(instances []map[string]any) []map[string]any {
	var out []map[string]any
	for _, f := range housingFields() {
		data := make([]any, len(instances))
		for i, in := range instances {
			data[i] = in[f.Name]
		}
		dt := "FP64"
		if f.Kind == Category {
			dt = "BYTES"
		}
		out = append(out, map[string]any{"name": f.Name, "shape": []int{len(instances)}, "datatype": dt, "data": data})
	}
	return out
}

type oipResp struct {
	ModelName    string         `json:"model_name"`
	ModelVersion string         `json:"model_version"`
	ID           string         `json:"id"`
	Parameters   map[string]any `json:"parameters"`
	Outputs      []struct {
		Name     string    `json:"name"`
		Shape    []int     `json:"shape"`
		Datatype string    `json:"datatype"`
		Data     []float64 `json:"data"`
	} `json:"outputs"`
}

func TestOIPInferMatchesPredict(t *testing.T) {
	s := newServer(t, Config{}, Deps{}, newFake(t, "2", 10))
	a, b := validInstance(), validInstance()
	b["median_income"], b["ocean_proximity"] = 1.5, "inland"
	rec := postJSON(s.Handler(), "/v2/models/housing/infer", mustJSON(t, map[string]any{"id": "q1", "inputs": oipInputs([]map[string]any{a, b})}))
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var got oipResp
	decodeBody(t, rec, &got)
	var pr predictResp
	decodeBody(t, postJSON(s.Handler(), "/api/v1/predict", mustJSON(t, map[string]any{"instances": []any{a, b}})), &pr)
	if got.ModelName != "housing" || got.ModelVersion != "2" || got.ID != "q1" || got.Parameters["interval_level"] != 0.9 || len(got.Outputs) != 3 {
		t.Fatalf("response %+v", got)
	}
	for i := range 2 {
		p := pr.Predictions[i]
		if got.Outputs[0].Data[i] != p.PredictedPrice || got.Outputs[1].Data[i] != p.ConfidenceInterval.Lower || got.Outputs[2].Data[i] != p.ConfidenceInterval.Upper {
			t.Errorf("row %d: OIP %v/%v/%v, predict %+v", i, got.Outputs[0].Data[i], got.Outputs[1].Data[i], got.Outputs[2].Data[i], p)
		}
	}
	if got.Outputs[0].Name != "predicted_price" || !slices.Equal(got.Outputs[0].Shape, []int{2}) || got.Outputs[0].Datatype != "FP64" {
		t.Fatalf("output tensor %+v", got.Outputs[0])
	}

	// Requested outputs only; [N,1] shapes and nested data are accepted.
	in := oipInputs([]map[string]any{a})
	in[0]["shape"] = []int{1, 1}
	in[0]["data"] = []any{[]any{a["longitude"]}}
	rec = postJSON(s.Handler(), "/v2/models/housing/infer", mustJSON(t, map[string]any{"inputs": in, "outputs": []any{map[string]any{"name": "upper"}}}))
	got = oipResp{}
	decodeBody(t, rec, &got)
	if rec.Code != 200 || len(got.Outputs) != 1 || got.Outputs[0].Name != "upper" || got.Outputs[0].Data[0] != pr.Predictions[0].ConfidenceInterval.Upper {
		t.Fatalf("selected outputs: %d %+v", rec.Code, got)
	}
}

func TestOIPInferErrors(t *testing.T) {
	s := newServer(t, Config{MaxBatch: 2}, Deps{}, newFake(t, "2", 0))
	base := func() []map[string]any { return oipInputs([]map[string]any{validInstance()}) }
	cases := map[string]struct {
		mutate  func(in []map[string]any) []map[string]any
		status  int
		path    string
		message string
	}{
		"category not BYTES": {func(in []map[string]any) []map[string]any { in[8]["datatype"] = "FP64"; return in }, 400, "inputs[8]", "BYTES"},
		"number as BOOL":     {func(in []map[string]any) []map[string]any { in[0]["datatype"] = "BOOL"; return in }, 400, "inputs[0]", "numeric"},
		"shape mismatch":     {func(in []map[string]any) []map[string]any { in[1]["shape"] = []int{2}; return in }, 400, "inputs[1]", "does not match"},
		"unknown input":      {func(in []map[string]any) []map[string]any { in[2]["name"] = "rooms"; return in }, 400, "inputs[2].name", "unknown input"},
		"missing input":      {func(in []map[string]any) []map[string]any { return in[:8] }, 400, "inputs", "ocean_proximity"},
		"duplicate input":    {func(in []map[string]any) []map[string]any { in[1]["name"] = "longitude"; return in }, 400, "inputs[1].name", "twice"},
		"bad element":        {func(in []map[string]any) []map[string]any { in[1]["data"] = []any{95.0}; return in }, 400, "inputs[1].data[0]", "<= 90"},
		"bad category":       {func(in []map[string]any) []map[string]any { in[8]["data"] = []any{"MARS"}; return in }, 400, "inputs[8].data[0]", "one of"},
		"data not array":     {func(in []map[string]any) []map[string]any { in[0]["data"] = 3; return in }, 400, "inputs[0].data", "array"},
		"batch sizes differ": {func(in []map[string]any) []map[string]any {
			in[3]["data"], in[3]["shape"] = []any{1.0, 2.0}, []int{2}
			return in
		}, 400, "inputs[3].shape", "differs"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			rec := postJSON(s.Handler(), "/v2/models/housing/infer", mustJSON(t, map[string]any{"inputs": c.mutate(base())}))
			if rec.Code != c.status {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			var e struct {
				Error  string       `json:"error"`
				Fields []FieldError `json:"fields"`
			}
			decodeBody(t, rec, &e)
			found := false
			for _, f := range e.Fields {
				found = found || (f.Path == c.path && strings.Contains(f.Reason, c.message))
			}
			if !found || e.Error == "" {
				t.Fatalf("no %s error containing %q in %+v", c.path, c.message, e)
			}
		})
	}
	for name, body := range map[string]string{
		"no inputs":      `{"inputs":[]}`,
		"unknown output": `{"inputs":[],"outputs":[{"name":"x"}]}`,
		"malformed":      `{"inputs":`,
		"unknown key":    `{"inputs":[],"foo":1}`,
	} {
		if rec := postJSON(s.Handler(), "/v2/models/housing/infer", []byte(body)); rec.Code != 400 {
			t.Errorf("%s: %d", name, rec.Code)
		}
	}
	three := oipInputs([]map[string]any{validInstance(), validInstance(), validInstance()})
	if rec := postJSON(s.Handler(), "/v2/models/housing/infer", mustJSON(t, map[string]any{"inputs": three})); rec.Code != 400 {
		t.Errorf("over max batch: %d", rec.Code)
	}
	if rec := postJSON(s.Handler(), "/v2/models/other/infer", mustJSON(t, map[string]any{"inputs": base()})); rec.Code != 404 {
		t.Errorf("other model: %d", rec.Code)
	}
	if rec := do(s.Handler(), "POST", "/v2/models/housing/infer", "text/csv", []byte("a,b")); rec.Code != http.StatusUnsupportedMediaType {
		t.Errorf("csv: %d", rec.Code)
	}
}

func TestOIPMetadataAndHealth(t *testing.T) {
	s := newServer(t, Config{}, Deps{}, nil)
	h := s.Handler()
	if rec := do(h, "GET", "/v2/health/live", "", nil); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	if rec := do(h, "GET", "/v2/health/ready", "", nil); rec.Code != 503 {
		t.Fatal(rec.Code)
	}
	if rec := do(h, "GET", "/v2/models/housing/ready", "", nil); rec.Code != 503 {
		t.Fatal(rec.Code)
	}
	s.SetModel(newFake(t, "8", 0), "test")
	if rec := do(h, "GET", "/v2/health/ready", "", nil); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	if rec := do(h, "GET", "/v2/models/housing/ready", "", nil); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	if rec := do(h, "GET", "/v2/models/nope/ready", "", nil); rec.Code != 404 {
		t.Fatal(rec.Code)
	}
	var meta struct {
		Name     string   `json:"name"`
		Versions []string `json:"versions"`
		Inputs   []struct {
			Name, Datatype string
			Shape          []int
		} `json:"inputs"`
		Outputs []struct{ Name string } `json:"outputs"`
	}
	decodeBody(t, do(h, "GET", "/v2/models/housing", "", nil), &meta)
	if meta.Name != "housing" || !slices.Equal(meta.Versions, []string{"8"}) || len(meta.Inputs) != 9 ||
		meta.Inputs[8].Datatype != "BYTES" || meta.Inputs[0].Datatype != "FP64" || len(meta.Outputs) != 3 {
		t.Fatalf("metadata %+v", meta)
	}
	if rec := do(h, "GET", "/v2", "", nil); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
}
