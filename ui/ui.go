// Package ui is the web user interface of housing-mlops, served by
// `mlops serve` under /ui/: prediction form and CSV batch upload, a map of
// the training districts, pipeline runs, the model registry, hyperparameter
// sweeps and live monitoring.
//
// Everything the browser loads comes from this binary: pages are rendered on
// the server with html/template, charts are inline SVG drawn by this
// package's Go code, and the few lines of JavaScript and CSS are embedded
// with go:embed. No page asks for anything from another origin, so the UI
// works offline and under a strict Content-Security-Policy.
//
// The handler depends only on the small interfaces in Deps; each one may be
// nil, and the page that needs it then says it is not configured.
package ui

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/chart"
	"github.com/housing-mlops/mlops/monitor"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is where the handler expects to be mounted.
const Prefix = "/ui/"

// Field describes one raw input feature of the loaded model, as its schema
// states it; the prediction form and its client-side hints are built from
// these values only.
type Field struct {
	Name string
	// Kind is "number" or "category".
	Kind string
	// Min and Max bound a number (nil: unbounded).
	Min, Max *float64
	// Categories are the accepted values of a category field.
	Categories []string
	// Required fields must be given.
	Required    bool
	Description string
}

// ModelInfo is the loaded model as the prediction page shows it.
type ModelInfo struct {
	Name, Version string
	// IntervalLevel is the nominal coverage of the prediction interval (0.9).
	IntervalLevel float64
	Fields        []Field
}

// Prediction is one model output with its interval.
type Prediction struct {
	Value, Lower, Upper float64
}

// FieldError is one refused input value. Index is the record's position in
// the request (-1 when the error concerns the request as a whole); Field is
// empty when the error concerns the whole record.
type FieldError struct {
	Index  int
	Field  string
	Reason string
}

// RequestError is a refusal of a whole request that names no field (too
// many records, body too large, no model loaded). Its message is shown to
// the user as it is.
type RequestError struct {
	Status  int
	Message string
}

// Error implements error.
func (e *RequestError) Error() string { return e.Message }

// Predictor is the model currently served.
type Predictor interface {
	// Model describes the loaded model and its input schema.
	Model(ctx context.Context) (ModelInfo, error)
	// Predict validates and predicts raw records (JSON-like values: float64
	// for numbers, string for categories). Invalid records yield field
	// errors and no predictions; a refused request yields a *RequestError.
	Predict(ctx context.Context, records []map[string]any) ([]Prediction, []FieldError, error)
}

// Histogram is a cumulative-from-start histogram: Counts[i] observations
// fell at or below Bounds[i] and above Bounds[i-1]; the last count (one more
// than len(Bounds)) is the overflow bucket.
type Histogram struct {
	Bounds []float64
	Counts []float64
}

// Total is the number of observations.
func (h Histogram) Total() float64 {
	var t float64
	for _, c := range h.Counts {
		t += c
	}
	return t
}

// MonitorStats is one reading of the serving statistics. Counters and
// histograms are cumulative since the server started; the UI differentiates
// successive readings to show rates and recent quantiles.
type MonitorStats struct {
	At time.Time
	// Requests counts predict requests served, Errors those answered with
	// a status of 400 or more.
	Requests, Errors float64
	// Latency is in seconds.
	Latency Histogram
	// Predictions holds the point predictions.
	Predictions Histogram
	// Drift is the latest drift report (nil: none yet).
	Drift *monitor.Report
}

// Monitor reports serving statistics.
type Monitor interface {
	Stats(ctx context.Context) (MonitorStats, error)
}

// ArtifactReader reads run artifacts; mlops.ArtifactStore satisfies it.
type ArtifactReader interface {
	Get(ctx context.Context, keyOrURI, wantSHA256 string) ([]byte, error)
	List(ctx context.Context, prefix string) ([]mlops.ArtifactInfo, error)
}

// Deps are what the UI reads and acts on. Any of them may be nil.
type Deps struct {
	Tracker   mlops.Tracker
	Registry  mlops.Registry
	Artifacts ArtifactReader
	Predictor Predictor
	Monitor   Monitor
	Map       MapSource
	// AdminToken, when not empty, must be given to change the registry.
	AdminToken string
	// AfterRegistryChange is called after a successful promote, archive or
	// rollback (for instance to make the server reload its model).
	AfterRegistryChange func(ctx context.Context, model string)
	// MaxUploadBytes bounds a CSV upload (default 1 MiB, the API's body
	// limit).
	MaxUploadBytes int64
	// PollInterval is how often the monitoring page refreshes (default 5 s).
	PollInterval time.Duration
	Logger       *slog.Logger
}

// handler serves the UI.
type handler struct {
	deps  Deps
	pages map[string]*template.Template
	mux   *http.ServeMux
	mon   *sampler
}

// New builds the UI handler, to be mounted at Prefix (it sees full paths
// such as /ui/runs).
func New(deps Deps) (http.Handler, error) {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.MaxUploadBytes <= 0 {
		deps.MaxUploadBytes = 1 << 20
	}
	if deps.PollInterval <= 0 {
		deps.PollInterval = 5 * time.Second
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	h := &handler{deps: deps, pages: pages, mux: http.NewServeMux(), mon: newSampler(deps.Monitor)}
	h.routes()
	// Form posts change state: refuse them from other origins (CSRF), which
	// matters when no admin token is configured.
	return securityHeaders(http.NewCrossOriginProtection().Handler(h.mux)), nil
}

func (h *handler) routes() {
	static, _ := fs.Sub(staticFS, "static")
	h.mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", cacheStatic(http.FileServerFS(static))))
	h.mux.HandleFunc("GET /ui/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/predict", http.StatusSeeOther)
	})
	h.mux.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/predict", http.StatusSeeOther)
	})
	h.mux.HandleFunc("GET /ui/predict", h.predictPage)
	h.mux.HandleFunc("POST /ui/predict", h.predictSubmit)
	h.mux.HandleFunc("POST /ui/predict/csv", h.predictCSV)
	h.mux.HandleFunc("GET /ui/map", h.mapPage)
	h.mux.HandleFunc("GET /ui/runs", h.runsPage)
	h.mux.HandleFunc("GET /ui/runs/compare", h.comparePage)
	h.mux.HandleFunc("GET /ui/runs/{id}", h.runPage)
	h.mux.HandleFunc("GET /ui/runs/{id}/artifacts/{path...}", h.artifact)
	h.mux.HandleFunc("GET /ui/models", h.modelsPage)
	h.mux.HandleFunc("GET /ui/models/{name}", h.modelPage)
	h.mux.HandleFunc("GET /ui/models/{name}/confirm", h.confirmPage)
	h.mux.HandleFunc("POST /ui/models/{name}/action", h.modelAction)
	h.mux.HandleFunc("GET /ui/sweeps", h.sweepsPage)
	h.mux.HandleFunc("GET /ui/sweeps/{id}", h.sweepPage)
	h.mux.HandleFunc("GET /ui/monitoring", h.monitoringPage)
	h.mux.HandleFunc("GET /ui/monitoring.json", h.monitoringJSON)
	h.mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, http.StatusNotFound, "No such page: "+r.URL.Path)
	})
}

// securityHeaders forbids every origin but our own for every kind of
// resource: the pages need nothing else, and it proves it in the browser.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

// page is what every template receives.
type page struct {
	Title string
	Nav   string // which menu entry is current
	Flash string // a success message
	Error string // a page-level error message
	Data  any
}

var funcs = template.FuncMap{
	"num":      chart.Num,
	"money":    fmtMoney,
	"dur":      fmtDur,
	"when":     fmtTime,
	"short":    shortID,
	"join":     strings.Join,
	"fptr":     func(p *float64) string { return fmtPtr(p) },
	"lower":    strings.ToLower,
	"contains": strings.Contains,
	"metric": func(m map[string]float64, k string) string {
		if v, ok := m[k]; ok {
			return chart.Num(v)
		}
		return ""
	},
	"navEntries": func() []navEntry { return nav },
}

// navEntry is one item of the main menu.
type navEntry struct{ Key, Label, Href string }

var nav = []navEntry{
	{"predict", "Predict", "/ui/predict"}, {"map", "Map", "/ui/map"}, {"runs", "Runs", "/ui/runs"},
	{"models", "Models", "/ui/models"}, {"sweeps", "Sweeps", "/ui/sweeps"}, {"monitoring", "Monitoring", "/ui/monitoring"},
}

// parsePages parses each page template together with the shared layout.
func parsePages() (map[string]*template.Template, error) {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("ui: parsing layout: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("ui: parsing %s: %w", n, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// render writes a page; template errors become a plain 500 because the
// page is rendered to a buffer first and nothing half-written is sent.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t, ok := h.pages[name]
	if !ok {
		http.Error(w, "missing template "+name, http.StatusInternalServerError)
		return
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout.html", p); err != nil {
		h.deps.Logger.Error("ui: rendering", "page", name, "err", err)
		http.Error(w, "cannot render page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, b.String())
}

// fail renders the error page.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.render(w, r, status, "error", page{Title: http.StatusText(status), Error: msg})
}

// failErr maps a domain error to a status and renders it.
func (h *handler) failErr(w http.ResponseWriter, r *http.Request, what string, err error) {
	status := http.StatusInternalServerError
	msg := what + ": " + err.Error()
	switch mlops.ErrorCode(err) {
	case mlops.ENOTFOUND:
		status = http.StatusNotFound
	case mlops.EINVALID:
		status = http.StatusBadRequest
	case mlops.ECONFLICT, mlops.EEXISTS:
		status = http.StatusConflict
	default:
		var re *RequestError
		if errors.As(err, &re) {
			status = re.Status
		} else {
			h.deps.Logger.Error("ui: "+what, "err", err)
			msg = what + " failed; see the server log"
		}
	}
	h.fail(w, r, status, msg)
}

// notConfigured renders the page explaining that a dependency is missing.
func (h *handler) notConfigured(w http.ResponseWriter, r *http.Request, title, nav, what string) {
	h.render(w, r, http.StatusServiceUnavailable, "error", page{Title: title, Nav: nav,
		Error: what + " is not configured on this server."})
}

// tokenOK compares in constant time; no configured token means no check.
func (h *handler) tokenOK(given string) bool {
	if h.deps.AdminToken == "" {
		return true
	}
	return subtle.ConstantTimeCompare([]byte(given), []byte(h.deps.AdminToken)) == 1
}
