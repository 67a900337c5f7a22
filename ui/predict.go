package ui

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// exampleRecord is the first district of the California Housing data, the
// example of the original service's documentation. It only pre-fills the
// fields of the loaded schema that carry these names; the form itself
// comes from the schema.
var exampleRecord = map[string]string{
	"longitude": "-122.23", "latitude": "37.88", "housing_median_age": "41",
	"total_rooms": "880", "total_bedrooms": "129", "population": "322",
	"households": "126", "median_income": "8.3252", "ocean_proximity": "NEAR BAY",
}

// inputView is one form field.
type inputView struct {
	Field
	ID, Value, Error, Hint string
}

// resultView is a prediction as shown.
type resultView struct {
	Value, Lower, Upper string
	Level               string
	Version             string
	MapURL              string
}

// csvErrorView is one refused CSV value.
type csvErrorView struct {
	Row, Line     int
	Field, Reason string
}

// predictView is the prediction page.
type predictView struct {
	Model     ModelInfo
	Inputs    []inputView
	Result    *resultView
	Message   string
	CSVErrors []csvErrorView
	MaxUpload string
}

func (h *handler) predictPage(w http.ResponseWriter, r *http.Request) {
	if h.deps.Predictor == nil {
		h.notConfigured(w, r, "Predict", "predict", "The model")
		return
	}
	m, err := h.deps.Predictor.Model(r.Context())
	if err != nil {
		h.failErr(w, r, "reading the model schema", err)
		return
	}
	v := h.newPredictView(m, nil)
	h.render(w, r, http.StatusOK, "predict", page{Title: "Predict", Nav: "predict", Data: v})
}

func (h *handler) newPredictView(m ModelInfo, form url.Values) *predictView {
	v := &predictView{Model: m, MaxUpload: fmtBytes(h.deps.MaxUploadBytes)}
	for _, fd := range m.Fields {
		in := inputView{Field: fd, ID: "f-" + fd.Name, Hint: hint(fd)}
		if form != nil {
			in.Value = form.Get(fd.Name)
		} else {
			in.Value = exampleRecord[fd.Name]
		}
		v.Inputs = append(v.Inputs, in)
	}
	return v
}

// hint states a field's rule in words; app.js checks the same rule from the
// data attributes while the user types.
func hint(fd Field) string {
	var parts []string
	if fd.Kind == "category" {
		parts = append(parts, "one of the listed values")
	} else {
		switch {
		case fd.Min != nil && fd.Max != nil:
			parts = append(parts, "a number from "+fmtPtr(fd.Min)+" to "+fmtPtr(fd.Max))
		case fd.Min != nil:
			parts = append(parts, "a number ≥ "+fmtPtr(fd.Min))
		case fd.Max != nil:
			parts = append(parts, "a number ≤ "+fmtPtr(fd.Max))
		default:
			parts = append(parts, "a number")
		}
	}
	if !fd.Required {
		parts = append(parts, "optional")
	}
	return strings.Join(parts, "; ")
}

// recordFromForm turns form text into a JSON-like record: numbers are
// parsed here (the API takes JSON numbers), empty fields are left out so
// the predictor decides whether they are required.
func recordFromForm(fields []Field, get func(string) string) (map[string]any, map[string]string) {
	rec := map[string]any{}
	errs := map[string]string{}
	for _, fd := range fields {
		s := strings.TrimSpace(get(fd.Name))
		if s == "" {
			continue
		}
		if fd.Kind == "category" {
			rec[fd.Name] = s
			continue
		}
		x, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			errs[fd.Name] = fmt.Sprintf("must be a finite number, got %q", clipText(s))
			continue
		}
		rec[fd.Name] = x
	}
	return rec, errs
}

func clipText(s string) string {
	if len(s) > 40 {
		return strings.ToValidUTF8(s[:40], "") + "…"
	}
	return s
}

// predictJSON is the answer to the form's script.
type predictJSON struct {
	OK           bool              `json:"ok"`
	Prediction   *resultView       `json:"prediction,omitempty"`
	Errors       map[string]string `json:"errors,omitempty"`
	Message      string            `json:"message,omitempty"`
	ModelVersion string            `json:"model_version,omitempty"`
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// predictSubmit serves the form: as JSON to app.js, or as the re-rendered
// page without JavaScript. Errors are keyed by field so both show them next
// to the input.
func (h *handler) predictSubmit(w http.ResponseWriter, r *http.Request) {
	if h.deps.Predictor == nil {
		h.notConfigured(w, r, "Predict", "predict", "The model")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, http.StatusBadRequest, "cannot read the form: "+err.Error())
		return
	}
	m, err := h.deps.Predictor.Model(r.Context())
	if err != nil {
		h.failErr(w, r, "reading the model schema", err)
		return
	}
	out, status := h.predictOne(r, m)
	if wantsJSON(r) {
		writeJSON(w, status, out)
		return
	}
	v := h.newPredictView(m, r.PostForm)
	v.Result, v.Message = out.Prediction, out.Message
	for i := range v.Inputs {
		v.Inputs[i].Error = out.Errors[v.Inputs[i].Name]
	}
	h.render(w, r, status, "predict", page{Title: "Predict", Nav: "predict", Data: v})
}

// predictOne validates and predicts the posted record.
func (h *handler) predictOne(r *http.Request, m ModelInfo) (predictJSON, int) {
	rec, errs := recordFromForm(m.Fields, r.PostForm.Get)
	if len(errs) > 0 {
		return predictJSON{Errors: errs, Message: "Please correct the highlighted fields."}, http.StatusBadRequest
	}
	preds, ferrs, err := h.deps.Predictor.Predict(r.Context(), []map[string]any{rec})
	if err != nil {
		status, msg := requestFailure(err)
		if status >= 500 {
			h.deps.Logger.Error("ui: predict", "err", err)
		}
		return predictJSON{Message: msg}, status
	}
	if len(ferrs) > 0 {
		out := predictJSON{Errors: map[string]string{}, Message: "Please correct the highlighted fields."}
		var general []string
		for _, fe := range ferrs {
			if fe.Field == "" {
				general = append(general, fe.Reason)
				continue
			}
			out.Errors[fe.Field] = joinReason(out.Errors[fe.Field], fe.Reason)
		}
		if len(general) > 0 {
			out.Message = strings.Join(general, "; ")
		}
		return out, http.StatusBadRequest
	}
	if len(preds) != 1 {
		return predictJSON{Message: "the model returned no prediction"}, http.StatusBadGateway
	}
	res := resultFor(m, preds[0], rec)
	return predictJSON{OK: true, Prediction: res, ModelVersion: m.Version}, http.StatusOK
}

func joinReason(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// requestFailure turns a predictor error into a status and a message fit
// for the user.
func requestFailure(err error) (int, string) {
	if re, ok := err.(*RequestError); ok {
		return re.Status, re.Message
	}
	return http.StatusBadGateway, "prediction failed: the model server did not answer (see the server log)"
}

func resultFor(m ModelInfo, p Prediction, rec map[string]any) *resultView {
	res := &resultView{Value: fmtMoney(p.Value), Lower: fmtMoney(p.Lower), Upper: fmtMoney(p.Upper),
		Version: m.Version, Level: strconv.FormatFloat(100*m.IntervalLevel, 'g', 3, 64) + " %"}
	lon, okLon := rec["longitude"].(float64)
	lat, okLat := rec["latitude"].(float64)
	if okLon && okLat {
		q := url.Values{}
		q.Set("lon", strconv.FormatFloat(lon, 'g', -1, 64))
		q.Set("lat", strconv.FormatFloat(lat, 'g', -1, 64))
		q.Set("value", strconv.FormatFloat(p.Value, 'f', 0, 64))
		res.MapURL = "/ui/map?" + q.Encode()
	}
	return res
}

// writeJSON writes v as JSON; HTML escaping stays on because the script
// puts some of these strings into the page.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"message":"cannot encode response"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
