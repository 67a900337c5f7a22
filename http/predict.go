package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Error codes of the JSON error body {"error":{"code":…}}.
const (
	codeInvalid     = "invalid_request"
	codeValidation  = "validation_error"
	codeTooLarge    = "request_too_large"
	codeMediaType   = "unsupported_media_type"
	codeNotReady    = "model_not_ready"
	codeInternal    = "internal_error"
	codeNotFound    = "not_found"
	codeMethod      = "method_not_allowed"
	codeUnauthorize = "unauthorized"
)

// bufPool recycles request and response buffers of the predict path.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuf() *bytes.Buffer {
	b := bufPool.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

func putBuf(b *bytes.Buffer) {
	if b.Cap() <= 4<<20 { // do not pin huge buffers
		bufPool.Put(b)
	}
}

// predictRequest is the body of POST /api/v1/predict. Instances are kept raw
// so that each one is validated on its own and every failure is reported.
type predictRequest struct {
	Instances json.RawMessage `json:"instances"`
}

// handlePredict serves POST /api/v1/predict.
func (s *Server) handlePredict(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if !s.checkJSON(w, r) {
		return
	}
	l := s.pick(r, s.current.Load())
	if l == nil {
		s.writeError(w, r, http.StatusServiceUnavailable, codeNotReady, s.notReadyReason(), nil)
		return
	}
	body := getBuf()
	defer putBuf(body)
	if !s.readBody(w, r, body) {
		return
	}
	batch, errs, msg := decodeInstances(l.schema, body.Bytes(), s.cfg.MaxBatch)
	if msg != "" {
		s.writeError(w, r, http.StatusBadRequest, codeInvalid, msg, nil)
		return
	}
	if len(errs) > 0 {
		s.writeError(w, r, http.StatusBadRequest, codeValidation, fmt.Sprintf("%d invalid field(s)", len(errs)), errs)
		return
	}
	preds, ok := s.predict(w, r, l, batch)
	if !ok {
		return
	}
	out := getBuf()
	defer putBuf(out)
	writePredictResponse(out, l, preds)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out.Bytes())
	s.afterPredict(r, l, batch, preds, time.Since(start))
}

// predict runs the model and checks its output; on failure it has written
// the error response.
func (s *Server) predict(w http.ResponseWriter, r *http.Request, l *loaded, b *Batch) ([]Prediction, bool) {
	preds, err := l.model.Predict(r.Context(), b)
	if err == nil && len(preds) != b.Rows {
		err = fmt.Errorf("model returned %d predictions for %d instances", len(preds), b.Rows)
	}
	if err == nil {
		for i, p := range preds {
			if !finite(p.Value) || !finite(p.Lower) || !finite(p.Upper) {
				err = fmt.Errorf("model returned a non-finite prediction for instance %d", i)
				break
			}
		}
	}
	if err != nil {
		if r.Context().Err() != nil {
			return nil, false // client went away; nobody reads the answer
		}
		s.log.Error("predict failed", "request_id", requestID(r.Context()), "model_version", l.info.Version, "err", err)
		s.writeError(w, r, http.StatusInternalServerError, codeInternal, "prediction failed", nil)
		return nil, false
	}
	return preds, true
}

// afterPredict records metrics and hands the batch to the observer.
func (s *Server) afterPredict(r *http.Request, l *loaded, b *Batch, preds []Prediction, lat time.Duration) {
	s.metrics.observePredictions(preds)
	if s.deps.Observer == nil {
		return
	}
	if s.cfg.SampleRate < 1 && rand.Float64() >= s.cfg.SampleRate {
		return
	}
	defer func() {
		// The answer is already written: an observer fault must not turn
		// it into an error, only be counted and logged.
		if p := recover(); p != nil {
			s.metrics.observeErr.Inc()
			s.log.Error("observer panic", "request_id", requestID(r.Context()), "panic", p)
		}
	}()
	s.deps.Observer.Observe(PredictionEvent{
		RequestID:    requestID(r.Context()),
		Time:         time.Now(),
		ModelVersion: l.info.Version,
		Latency:      lat,
		Batch:        b,
		Predictions:  preds,
	})
}

// checkJSON answers 415 unless the request declares a JSON body.
func (s *Server) checkJSON(w http.ResponseWriter, r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || (len(mt) > 5 && mt[len(mt)-5:] == "+json")) {
		return true
	}
	s.writeError(w, r, http.StatusUnsupportedMediaType, codeMediaType,
		fmt.Sprintf("Content-Type must be application/json, got %q", clip(ct)), nil)
	return false
}

// readBody reads the whole body into buf, answering 413 past the limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, buf *bytes.Buffer) bool {
	if r.ContentLength > s.cfg.MaxBodyBytes {
		s.writeTooLarge(w, r)
		return false
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err == nil {
		return true
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		s.writeTooLarge(w, r)
		return false
	}
	s.writeError(w, r, http.StatusBadRequest, codeInvalid, "cannot read request body: "+err.Error(), nil)
	return false
}

func (s *Server) writeTooLarge(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, http.StatusRequestEntityTooLarge, codeTooLarge,
		fmt.Sprintf("request body is larger than %d bytes", s.cfg.MaxBodyBytes), nil)
}

// decodeJSONStrict decodes exactly one JSON value from data into v,
// refusing unknown object fields and trailing data.
func decodeJSONStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("malformed JSON: unexpected data after the top-level value")
	}
	return nil
}

// jsonError turns an encoding/json error into a message for the client.
func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("malformed JSON at byte %d: %s", se.Offset, se.Error())
	case errors.As(err, &te):
		where := te.Field
		if where == "" {
			where = "body"
		}
		return fmt.Errorf("%s: must be %s, got a JSON %s", where, jsonTypeName(te.Type.Kind().String()), te.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Errorf("unknown field %s", clip(strings.TrimPrefix(err.Error(), "json: unknown field ")))
	case errors.Is(err, io.EOF):
		return errors.New("malformed JSON: empty body")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("malformed JSON: unexpected end of body")
	}
	return fmt.Errorf("malformed JSON: %s", clip(err.Error()))
}

func jsonTypeName(kind string) string {
	switch kind {
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	case "string":
		return "a string"
	}
	return "a " + kind
}

// decodeInstances parses {"instances":[…]} against schema. A non-empty msg
// is a request-level error; errs lists every invalid field otherwise.
func decodeInstances(schema *Schema, body []byte, maxBatch int) (b *Batch, errs fieldErrors, msg string) {
	if b, ok := fastDecode(schema, body, maxBatch); ok {
		return b, nil, ""
	}
	return slowDecodeInstances(schema, body, maxBatch)
}

// slowDecodeInstances is decodeInstances through encoding/json: it handles
// every input and lists every problem.
func slowDecodeInstances(schema *Schema, body []byte, maxBatch int) (b *Batch, errs fieldErrors, msg string) {
	var req predictRequest
	if err := decodeJSONStrict(body, &req); err != nil {
		return nil, nil, err.Error()
	}
	raw := bytes.TrimSpace(req.Instances)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil, `"instances" is required: {"instances":[{...}, ...]}`
	}
	var items []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
		return nil, nil, `"instances" must be an array of objects`
	}
	if len(items) == 0 || len(items) > maxBatch {
		return nil, nil, fmt.Sprintf(`"instances" must hold 1 to %d instances, got %d`, maxBatch, len(items))
	}
	b = newBatch(schema, len(items))
	rec := make(map[string]json.RawMessage, schema.Len())
	for r, item := range items {
		clear(rec)
		decodeInstance(schema, b, r, item, rec, &errs)
	}
	return b, errs, ""
}

// decodeInstance validates one instance into row r of b.
func decodeInstance(schema *Schema, b *Batch, r int, item json.RawMessage, rec map[string]json.RawMessage, errs *fieldErrors) {
	item = bytes.TrimSpace(item)
	if len(item) == 0 || item[0] != '{' || json.Unmarshal(item, &rec) != nil {
		errs.add(instancePath(r, ""), "must be a JSON object")
		return
	}
	for i, f := range schema.fields {
		if reason := schema.setValue(b, i, r, rec[f.Name]); reason != "" {
			errs.add(instancePath(r, f.Name), "%s", reason)
		}
	}
	if len(rec) <= schema.Len() && allKnown(schema, rec) {
		return
	}
	var unknown []string
	for k := range rec {
		if schema.Index(k) < 0 {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		errs.add(instancePath(r, clip(k)), "unknown field")
	}
}

func allKnown(schema *Schema, rec map[string]json.RawMessage) bool {
	for k := range rec {
		if schema.Index(k) < 0 {
			return false
		}
	}
	return true
}

func instancePath(r int, field string) string {
	p := "instances[" + strconv.Itoa(r) + "]"
	if field != "" {
		p += "." + field
	}
	return p
}

// writePredictResponse writes the predict answer by hand: numbers use the
// shortest text that reads back to the same float64, so HTTP clients see
// exactly what the model computed.
func writePredictResponse(out *bytes.Buffer, l *loaded, preds []Prediction) {
	level := l.info.IntervalLevel
	var num [32]byte
	out.WriteString(`{"predictions":[`)
	for i, p := range preds {
		if i > 0 {
			out.WriteByte(',')
		}
		out.WriteString(`{"predicted_price":`)
		out.Write(strconv.AppendFloat(num[:0], p.Value, 'g', -1, 64))
		out.WriteString(`,"confidence_interval":{"lower":`)
		out.Write(strconv.AppendFloat(num[:0], p.Lower, 'g', -1, 64))
		out.WriteString(`,"upper":`)
		out.Write(strconv.AppendFloat(num[:0], p.Upper, 'g', -1, 64))
		out.WriteString(`,"level":`)
		out.Write(strconv.AppendFloat(num[:0], level, 'g', -1, 64))
		out.WriteString(`}}`)
	}
	out.WriteString(`],"model_version":`)
	out.Write(l.version)
	out.WriteString("}\n")
}

// jsonString returns s as a JSON string literal.
func jsonString(s string) []byte {
	b, err := json.Marshal(s)
	if err != nil { // cannot happen for a string
		return []byte(`""`)
	}
	return b
}

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Error struct {
		Code    string       `json:"code"`
		Message string       `json:"message"`
		Fields  []FieldError `json:"fields,omitempty"`
	} `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}

// writeError writes a JSON error response.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, status int, code, msg string, fields []FieldError) {
	var e errorBody
	e.Error.Code, e.Error.Message, e.Error.Fields = code, msg, fields
	e.RequestID = requestID(r.Context())
	writeJSON(w, status, &e)
}

// writeJSON writes v as JSON with status. HTML escaping is off: error
// messages quote "<1H OCEAN" and ">= 0" and are read by people.
func writeJSON(w http.ResponseWriter, status int, v any) {
	buf := getBuf()
	defer putBuf(buf)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":{"code":"internal_error","message":"cannot encode response"}}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
