package ui

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// csvBatch is an uploaded CSV file read against the schema.
type csvBatch struct {
	header  []string
	rows    [][]string
	records []map[string]any
	errs    []csvErrorView
}

// readCSVBatch reads the upload: a header naming at least every required
// field, then one record per line. Columns that are not schema fields (an
// id, the target) are kept for the output file but not sent to the model,
// so a CSV of the training data can be uploaded as it is.
func readCSVBatch(r io.Reader, fields []Field) (*csvBatch, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 0
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("the file is empty: want a header line naming the features")
	}
	if err != nil {
		return nil, fmt.Errorf("line 1: %v", err)
	}
	for i := range header {
		header[i] = strings.TrimSpace(strings.TrimPrefix(header[i], "\ufeff"))
	}
	col := map[string]int{}
	for i, n := range header {
		col[n] = i
	}
	var missing []string
	for _, fd := range fields {
		if _, ok := col[fd.Name]; !ok && fd.Required {
			missing = append(missing, fd.Name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the header lacks required column(s) %s", strings.Join(missing, ", "))
	}
	b := &csvBatch{header: header}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", line, csvReason(err))
		}
		b.add(rec, col, fields, line)
	}
	if len(b.rows) == 0 {
		return nil, errors.New("the file has a header but no rows")
	}
	return b, nil
}

func csvReason(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func (b *csvBatch) add(rec []string, col map[string]int, fields []Field, line int) {
	row := len(b.rows) + 1
	b.rows = append(b.rows, rec)
	get := func(name string) string {
		if i, ok := col[name]; ok {
			return rec[i]
		}
		return ""
	}
	r, errs := recordFromForm(fields, get)
	names := make([]string, 0, len(errs))
	for n := range errs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		b.errs = append(b.errs, csvErrorView{Row: row, Line: line, Field: n, Reason: errs[n]})
	}
	b.records = append(b.records, r)
}

// output writes the uploaded columns followed by the prediction columns.
func (b *csvBatch) output(preds []Prediction, version string) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	head := append(slices.Clone(b.header), "predicted_price", "lower", "upper", "model_version")
	if err := w.Write(head); err != nil {
		return nil, err
	}
	for i, row := range b.rows {
		p := preds[i]
		out := append(slices.Clone(row),
			strconv.FormatFloat(p.Value, 'f', -1, 64), strconv.FormatFloat(p.Lower, 'f', -1, 64),
			strconv.FormatFloat(p.Upper, 'f', -1, 64), version)
		if err := w.Write(out); err != nil {
			return nil, err
		}
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// csvJSON is the answer to the upload script: a preview, the whole file to
// save, or the errors by row.
type csvJSON struct {
	OK      bool           `json:"ok"`
	Header  []string       `json:"header,omitempty"`
	Preview [][]string     `json:"preview,omitempty"`
	Rows    int            `json:"rows"`
	CSV     string         `json:"csv,omitempty"`
	Errors  []csvErrorJSON `json:"errors,omitempty"`
	Message string         `json:"message,omitempty"`
}

type csvErrorJSON struct {
	Row    int    `json:"row"`
	Line   int    `json:"line"`
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// predictCSV serves the batch upload: the predictions as a CSV download
// (or a JSON preview for app.js); errors by row otherwise.
func (h *handler) predictCSV(w http.ResponseWriter, r *http.Request) {
	if h.deps.Predictor == nil {
		h.notConfigured(w, r, "Predict", "predict", "The model")
		return
	}
	m, err := h.deps.Predictor.Model(r.Context())
	if err != nil {
		h.failErr(w, r, "reading the model schema", err)
		return
	}
	data, preds, errs, status, msg := h.runCSV(w, r, m)
	if wantsJSON(r) {
		writeJSON(w, status, csvAnswer(data, preds, errs, msg, m))
		return
	}
	if status == http.StatusOK {
		out, err := data.output(preds, m.Version)
		if err != nil {
			h.failErr(w, r, "writing the CSV", err)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="predictions.csv"`)
		_, _ = w.Write(out)
		return
	}
	v := h.newPredictView(m, nil)
	v.Message, v.CSVErrors = msg, errs
	h.render(w, r, status, "predict", page{Title: "Predict", Nav: "predict", Data: v})
}

func csvAnswer(data *csvBatch, preds []Prediction, errs []csvErrorView, msg string, m ModelInfo) csvJSON {
	out := csvJSON{Message: msg}
	for _, e := range errs {
		out.Errors = append(out.Errors, csvErrorJSON(e))
	}
	if data == nil || preds == nil {
		return out
	}
	body, err := data.output(preds, m.Version)
	if err != nil {
		return csvJSON{Message: "cannot write the CSV: " + err.Error()}
	}
	rows, _ := csv.NewReader(bytes.NewReader(body)).ReadAll()
	out.OK, out.Rows, out.CSV = true, len(data.rows), string(body)
	if len(rows) > 0 {
		out.Header = rows[0]
		out.Preview = rows[1:min(len(rows), 11)]
	}
	return out
}

// runCSV reads, validates and predicts an upload. Row numbers count data
// rows from 1; Line is the line in the file (the header is line 1).
func (h *handler) runCSV(w http.ResponseWriter, r *http.Request, m ModelInfo) (*csvBatch, []Prediction, []csvErrorView, int, string) {
	r.Body = http.MaxBytesReader(w, r.Body, h.deps.MaxUploadBytes+64<<10)
	file, hdr, err := r.FormFile("file")
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, nil, nil, http.StatusRequestEntityTooLarge, "the file is larger than " + fmtBytes(h.deps.MaxUploadBytes)
		}
		return nil, nil, nil, http.StatusBadRequest, "choose a CSV file to upload"
	}
	defer file.Close()
	if hdr.Size > h.deps.MaxUploadBytes {
		return nil, nil, nil, http.StatusRequestEntityTooLarge, "the file is larger than " + fmtBytes(h.deps.MaxUploadBytes)
	}
	data, err := readCSVBatch(file, m.Fields)
	if err != nil {
		return nil, nil, nil, http.StatusBadRequest, "cannot read the CSV: " + err.Error()
	}
	if len(data.errs) > 0 {
		return nil, nil, data.errs, http.StatusBadRequest, fmt.Sprintf("%d invalid value(s); nothing was predicted", len(data.errs))
	}
	preds, ferrs, err := h.deps.Predictor.Predict(r.Context(), data.records)
	if err != nil {
		status, msg := requestFailure(err)
		return nil, nil, nil, status, msg
	}
	if len(ferrs) > 0 {
		var errs []csvErrorView
		for _, fe := range ferrs {
			errs = append(errs, csvErrorView{Row: fe.Index + 1, Line: fe.Index + 2, Field: fe.Field, Reason: fe.Reason})
		}
		return nil, nil, errs, http.StatusBadRequest, fmt.Sprintf("%d invalid value(s); nothing was predicted", len(errs))
	}
	if len(preds) != len(data.records) {
		return nil, nil, nil, http.StatusBadGateway, fmt.Sprintf("the model returned %d predictions for %d rows", len(preds), len(data.records))
	}
	return data, preds, nil, http.StatusOK, ""
}
