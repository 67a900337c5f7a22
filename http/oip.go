package http

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Open Inference Protocol (KServe v2) routes. Features travel as one named
// tensor each (shape [N] or [N,1]): numbers as FP64 (any FP/INT/UINT type is
// accepted), categories as BYTES (UTF-8 strings). Outputs are three FP64
// tensors: predicted_price, lower and upper (interval bounds at the level
// given in the response parameters). Errors use the protocol's
// {"error": "..."} body, with the failing fields listed as well.

// oipTensor is one input or output tensor.
type oipTensor struct {
	Name       string          `json:"name"`
	Shape      []int64         `json:"shape"`
	Datatype   string          `json:"datatype"`
	Parameters json.RawMessage `json:"parameters,omitempty"`
	Data       json.RawMessage `json:"data"`
}

type oipRequest struct {
	ID         string          `json:"id,omitempty"`
	Parameters json.RawMessage `json:"parameters,omitempty"`
	Inputs     []oipTensor     `json:"inputs"`
	Outputs    []struct {
		Name       string          `json:"name"`
		Parameters json.RawMessage `json:"parameters,omitempty"`
	} `json:"outputs,omitempty"`
}

type oipOutput struct {
	Name     string    `json:"name"`
	Shape    []int     `json:"shape"`
	Datatype string    `json:"datatype"`
	Data     []float64 `json:"data"`
}

type oipResponse struct {
	ModelName    string         `json:"model_name"`
	ModelVersion string         `json:"model_version"`
	ID           string         `json:"id,omitempty"`
	Parameters   map[string]any `json:"parameters,omitempty"`
	Outputs      []oipOutput    `json:"outputs"`
}

type oipMeta struct {
	Name     string         `json:"name"`
	Type     string         `json:"datatype"`
	Shape    []int          `json:"shape"`
	Optional bool           `json:"optional,omitempty"`
	Params   map[string]any `json:"parameters,omitempty"`
}

// oipOutputs are the output tensor names, in response order.
var oipOutputs = []string{"predicted_price", "lower", "upper"}

// oipError writes the protocol's error body.
func (s *Server) oipError(w http.ResponseWriter, status int, msg string, fields []FieldError) {
	body := map[string]any{"error": msg}
	if len(fields) > 0 {
		body["fields"] = fields
	}
	writeJSON(w, status, body)
}

func (s *Server) handleOIPServer(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"name": "mlops", "version": "2", "extensions": []string{}})
}

func (s *Server) handleOIPLive(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]bool{"live": true})
}

func (s *Server) handleOIPReady(w http.ResponseWriter, _ *http.Request) {
	ready := s.current.Load() != nil
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]bool{"ready": ready})
}

// oipModel returns the loaded model when name is its name, having answered
// 503 or 404 otherwise.
func (s *Server) oipModel(w http.ResponseWriter, r *http.Request) *loaded {
	l := s.current.Load()
	if l == nil {
		s.oipError(w, http.StatusServiceUnavailable, s.notReadyReason(), nil)
		return nil
	}
	if name := r.PathValue("name"); name != l.info.Name {
		s.oipError(w, http.StatusNotFound, fmt.Sprintf("model %q is not served here (serving %q)", clip(name), l.info.Name), nil)
		return nil
	}
	return l
}

func (s *Server) handleOIPModel(w http.ResponseWriter, r *http.Request) {
	l := s.oipModel(w, r)
	if l == nil {
		return
	}
	inputs := make([]oipMeta, 0, l.schema.Len())
	for _, f := range l.schema.Fields() {
		m := oipMeta{Name: f.Name, Type: "FP64", Shape: []int{-1}, Optional: f.Optional}
		if f.Kind == Category {
			m.Type = "BYTES"
			m.Params = map[string]any{"categories": f.Categories}
		}
		inputs = append(inputs, m)
	}
	outputs := make([]oipMeta, len(oipOutputs))
	for i, n := range oipOutputs {
		outputs[i] = oipMeta{Name: n, Type: "FP64", Shape: []int{-1}}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"name": l.info.Name, "versions": []string{l.info.Version}, "platform": "mlops-go",
		"inputs": inputs, "outputs": outputs,
	})
}

func (s *Server) handleOIPModelReady(w http.ResponseWriter, r *http.Request) {
	if l := s.oipModel(w, r); l != nil {
		writeJSON(w, http.StatusOK, map[string]any{"name": l.info.Name, "ready": true})
	}
}

// handleOIPInfer serves POST /v2/models/{name}/infer.
func (s *Server) handleOIPInfer(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if !s.checkJSON(w, r) {
		return
	}
	l := s.pick(r, s.oipModel(w, r))
	if l == nil {
		return
	}
	body := getBuf()
	defer putBuf(body)
	if !s.readBody(w, r, body) {
		return
	}
	var req oipRequest
	if err := decodeJSONStrict(body.Bytes(), &req); err != nil {
		s.oipError(w, http.StatusBadRequest, err.Error(), nil)
		return
	}
	want, msg := oipWantedOutputs(&req)
	if msg != "" {
		s.oipError(w, http.StatusBadRequest, msg, nil)
		return
	}
	batch, errs, msg := decodeTensors(l.schema, req.Inputs, s.cfg.MaxBatch)
	if msg != "" || len(errs) > 0 {
		if msg == "" {
			msg = fmt.Sprintf("%d invalid value(s): %s", len(errs), summarize(errs))
		}
		s.oipError(w, http.StatusBadRequest, msg, errs)
		return
	}
	preds, ok := s.predict(w, r, l, batch)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, oipResponseFor(l, req.ID, preds, want))
	s.afterPredict(r, l, batch, preds, time.Since(start))
}

// oipWantedOutputs returns which outputs were requested (all by default).
func oipWantedOutputs(req *oipRequest) (map[string]bool, string) {
	want := make(map[string]bool, len(oipOutputs))
	for _, o := range req.Outputs {
		known := false
		for _, n := range oipOutputs {
			known = known || n == o.Name
		}
		if !known {
			return nil, fmt.Sprintf("unknown output %q: want one of %s", clip(o.Name), strings.Join(oipOutputs, ", "))
		}
		want[o.Name] = true
	}
	if len(want) == 0 {
		for _, n := range oipOutputs {
			want[n] = true
		}
	}
	return want, ""
}

func oipResponseFor(l *loaded, id string, preds []Prediction, want map[string]bool) oipResponse {
	resp := oipResponse{
		ModelName: l.info.Name, ModelVersion: l.info.Version, ID: id,
		Parameters: map[string]any{"interval_level": l.info.IntervalLevel},
	}
	for k, name := range oipOutputs {
		if !want[name] {
			continue
		}
		data := make([]float64, len(preds))
		for i, p := range preds {
			data[i] = [3]float64{p.Value, p.Lower, p.Upper}[k]
		}
		resp.Outputs = append(resp.Outputs, oipOutput{Name: name, Shape: []int{len(preds)}, Datatype: "FP64", Data: data})
	}
	return resp
}

// summarize lists the first few field errors in one line.
func summarize(errs fieldErrors) string {
	var sb strings.Builder
	for i, e := range errs {
		if i == 3 {
			sb.WriteString("; …")
			break
		}
		if i > 0 {
			sb.WriteString("; ")
		}
		sb.WriteString(e.Path + " " + e.Reason)
	}
	return sb.String()
}

// numericTypes are the OIP datatypes accepted for Number fields.
var numericTypes = map[string]bool{
	"FP16": true, "FP32": true, "FP64": true,
	"INT8": true, "INT16": true, "INT32": true, "INT64": true,
	"UINT8": true, "UINT16": true, "UINT32": true, "UINT64": true,
}

// decodeTensors turns named input tensors into a batch. Every problem with
// a tensor or one of its elements is listed with its path.
func decodeTensors(schema *Schema, inputs []oipTensor, maxBatch int) (*Batch, fieldErrors, string) {
	if len(inputs) == 0 {
		return nil, nil, `"inputs" is required: one tensor per feature`
	}
	flat, rows, errs := flattenTensors(schema, inputs)
	if len(errs) > 0 {
		return nil, errs, ""
	}
	if rows < 1 || rows > maxBatch {
		return nil, nil, fmt.Sprintf("batch size must be 1 to %d, got %d", maxBatch, rows)
	}
	b := newBatch(schema, rows)
	for k, vals := range flat {
		i := schema.Index(inputs[k].Name)
		for r, v := range vals {
			if reason := schema.setValue(b, i, r, v); reason != "" {
				errs.add("inputs["+strconv.Itoa(k)+"].data["+strconv.Itoa(r)+"]", "%s", reason)
			}
		}
	}
	return b, errs, ""
}

// flattenTensors checks each tensor's name, datatype and shape and returns
// its elements (flat[k] for inputs[k]) and the common batch size (-1 when no
// tensor is valid); it also lists the required inputs that are missing.
func flattenTensors(schema *Schema, inputs []oipTensor) (flat [][]json.RawMessage, rows int, errs fieldErrors) {
	flat = make([][]json.RawMessage, len(inputs))
	rows = -1
	seen := make([]bool, schema.Len())
	for k := range inputs {
		t := &inputs[k]
		path := "inputs[" + strconv.Itoa(k) + "]"
		i := schema.Index(t.Name)
		switch {
		case i < 0:
			errs.add(path+".name", "unknown input %q", clip(t.Name))
			continue
		case seen[i]:
			errs.add(path+".name", "input %q appears twice", t.Name)
			continue
		}
		seen[i] = true
		vals, reason := flattenData(t.Data)
		if reason != "" {
			errs.add(path+".data", "%s", reason)
			continue
		}
		if reason := checkTensorHead(schema.fields[i], t, len(vals)); reason != "" {
			errs.add(path, "%s", reason)
			continue
		}
		if rows >= 0 && len(vals) != rows {
			errs.add(path+".shape", "batch size %d differs from the other inputs' %d", len(vals), rows)
			continue
		}
		rows = len(vals)
		flat[k] = vals
	}
	for i, f := range schema.fields {
		if !seen[i] && !f.Optional {
			errs.add("inputs", "missing input %q", f.Name)
		}
	}
	return flat, rows, errs
}

// checkTensorHead checks a tensor's datatype and shape against its field.
func checkTensorHead(f Field, t *oipTensor, n int) string {
	switch {
	case f.Kind == Category && t.Datatype != "BYTES":
		return fmt.Sprintf("datatype must be BYTES for categorical %q, got %q", f.Name, clip(t.Datatype))
	case f.Kind == Number && !numericTypes[t.Datatype]:
		return fmt.Sprintf("datatype must be numeric (FP64, FP32, INT64, …) for %q, got %q", f.Name, clip(t.Datatype))
	}
	if len(t.Shape) == 0 || len(t.Shape) > 2 || (len(t.Shape) == 2 && t.Shape[1] != 1) {
		return fmt.Sprintf("shape must be [N] or [N,1], got %v", t.Shape)
	}
	if t.Shape[0] != int64(n) {
		return fmt.Sprintf("shape %v does not match the %d data elements", t.Shape, n)
	}
	return ""
}

// flattenData returns the elements of a tensor's data, flattening nested
// arrays (row-major), as the protocol allows.
func flattenData(raw json.RawMessage) ([]json.RawMessage, string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '[' {
		return nil, "must be an array"
	}
	var out []json.RawMessage
	var walk func(json.RawMessage, int) string
	walk = func(v json.RawMessage, depth int) string {
		if depth > 2 {
			return "nests arrays too deeply"
		}
		var items []json.RawMessage
		if err := json.Unmarshal(v, &items); err != nil {
			return "must be an array"
		}
		for _, it := range items {
			it = bytes.TrimSpace(it)
			if len(it) > 0 && it[0] == '[' {
				if reason := walk(it, depth+1); reason != "" {
					return reason
				}
				continue
			}
			out = append(out, it)
		}
		return ""
	}
	if reason := walk(raw, 0); reason != "" {
		return nil, reason
	}
	return out, ""
}
