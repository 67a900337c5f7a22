package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
)

// APIPredictor is a Predictor that calls the prediction API's handler in
// the same process (GET /api/v1/model, POST /api/v1/predict). The UI then
// applies exactly the API's validation, limits and error messages, and its
// predictions are counted and monitored like any other.
type APIPredictor struct {
	// API is the API server's handler (package http's Server.Handler()).
	API http.Handler
}

// modelDoc is the API's GET /api/v1/model answer.
type modelDoc struct {
	Name          string  `json:"name"`
	Version       string  `json:"version"`
	IntervalLevel float64 `json:"interval_level"`
	Features      []struct {
		Name        string   `json:"name"`
		Type        string   `json:"type"`
		Required    bool     `json:"required"`
		Min         *float64 `json:"min"`
		Max         *float64 `json:"max"`
		Categories  []string `json:"categories"`
		Description string   `json:"description"`
	} `json:"features"`
}

// apiError is the API's error body.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Fields  []struct {
			Path   string `json:"path"`
			Reason string `json:"reason"`
		} `json:"fields"`
	} `json:"error"`
}

// Model implements Predictor.
func (p APIPredictor) Model(ctx context.Context) (ModelInfo, error) {
	status, body, err := p.call(ctx, http.MethodGet, "/api/v1/model", nil)
	if err != nil {
		return ModelInfo{}, err
	}
	if status != http.StatusOK {
		return ModelInfo{}, apiFailure(status, body)
	}
	var d modelDoc
	if err := json.Unmarshal(body, &d); err != nil {
		return ModelInfo{}, fmt.Errorf("decoding /api/v1/model: %w", err)
	}
	m := ModelInfo{Name: d.Name, Version: d.Version, IntervalLevel: d.IntervalLevel}
	for _, f := range d.Features {
		m.Fields = append(m.Fields, Field{Name: f.Name, Kind: f.Type, Min: f.Min, Max: f.Max,
			Categories: f.Categories, Required: f.Required, Description: f.Description})
	}
	return m, nil
}

// predictDoc is the API's POST /api/v1/predict answer.
type predictDoc struct {
	Predictions []struct {
		Price    float64 `json:"predicted_price"`
		Interval struct {
			Lower float64 `json:"lower"`
			Upper float64 `json:"upper"`
		} `json:"confidence_interval"`
	} `json:"predictions"`
}

// Predict implements Predictor.
func (p APIPredictor) Predict(ctx context.Context, records []map[string]any) ([]Prediction, []FieldError, error) {
	req, err := json.Marshal(map[string]any{"instances": records})
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the request: %w", err)
	}
	status, body, err := p.call(ctx, http.MethodPost, "/api/v1/predict", req)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case status == http.StatusOK:
		var d predictDoc
		if err := json.Unmarshal(body, &d); err != nil {
			return nil, nil, fmt.Errorf("decoding /api/v1/predict: %w", err)
		}
		out := make([]Prediction, len(d.Predictions))
		for i, q := range d.Predictions {
			out[i] = Prediction{Value: q.Price, Lower: q.Interval.Lower, Upper: q.Interval.Upper}
		}
		return out, nil, nil
	case status == http.StatusBadRequest:
		var e apiError
		if json.Unmarshal(body, &e) == nil && len(e.Error.Fields) > 0 {
			fes := make([]FieldError, len(e.Error.Fields))
			for i, f := range e.Error.Fields {
				fes[i] = parsePath(f.Path, f.Reason)
			}
			return nil, fes, nil
		}
	}
	return nil, nil, apiFailure(status, body)
}

// pathRE matches the API's error paths: instances[3].latitude.
var pathRE = regexp.MustCompile(`^instances\[(\d+)\](?:\.(.+))?$`)

func parsePath(path, reason string) FieldError {
	m := pathRE.FindStringSubmatch(path)
	if m == nil {
		return FieldError{Index: -1, Reason: path + ": " + reason}
	}
	i, _ := strconv.Atoi(m[1])
	return FieldError{Index: i, Field: m[2], Reason: reason}
}

// apiFailure turns a non-OK API answer into an error: 4xx and 503 carry a
// message for the user, anything else is an internal failure.
func apiFailure(status int, body []byte) error {
	var e apiError
	msg := ""
	if json.Unmarshal(body, &e) == nil {
		msg = e.Error.Message
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	if status < 500 || status == http.StatusServiceUnavailable {
		return &RequestError{Status: status, Message: msg}
	}
	return fmt.Errorf("API answered %d: %s", status, msg)
}

func (p APIPredictor) call(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	if p.API == nil {
		return 0, nil, &RequestError{Status: http.StatusServiceUnavailable, Message: "no prediction API is configured"}
	}
	req, err := http.NewRequestWithContext(ctx, method, path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.RemoteAddr = "127.0.0.1:0"
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = int64(len(body))
	}
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	p.API.ServeHTTP(rec, req)
	return rec.status, rec.body.Bytes(), nil
}

// recorder is the minimal in-memory ResponseWriter of an in-process call.
type recorder struct {
	header      http.Header
	body        bytes.Buffer
	status      int
	wroteHeader bool
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	return r.body.Write(b)
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
}
