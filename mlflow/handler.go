// Package mlflow speaks MLflow's REST API in both directions: NewHandler
// serves an mlops.Store and an mlops.ArtifactStore under
// /api/2.0/mlflow/... and /api/2.0/mlflow-artifacts/... so that MLflow's own
// Python client works against housing-mlops unchanged, and NewClient
// implements mlops.Store and mlops.ArtifactStore over an MLflow tracking
// server, so that housing-mlops can log to and resolve models from one.
//
// The wire format follows MLflow's published REST API reference (protobuf
// JSON with snake_case field names); docs/mlflow.md lists the supported
// subset and every gap.
package mlflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/housing-mlops/mlops"
)

// Path prefixes the handler answers under. Mount the handler at both (and
// optionally at AjaxPrefix, which MLflow's web UI uses).
const (
	APIPrefix       = "/api/2.0/mlflow/"
	AjaxPrefix      = "/ajax-api/2.0/mlflow/"
	ArtifactsPrefix = "/api/2.0/mlflow-artifacts/"
)

// Error codes of MLflow's that have no counterpart among the domain's.
const (
	codeEndpointNotFound = "ENDPOINT_NOT_FOUND"
	codeNotImplemented   = "NOT_IMPLEMENTED"
	codeBadRequest       = "BAD_REQUEST"
)

// Options tune the handler. The zero value is usable.
type Options struct {
	// ArtifactPrefix is prepended to every proxied artifact path to form
	// its key in the artifact store ("" keeps paths as keys, e.g.
	// 0/<run_id>/artifacts/model.pkl).
	ArtifactPrefix string
	// Actor names who made a stage change or alias move, for the
	// transition log; nil records "mlflow-api".
	Actor func(r *http.Request) mlops.Actor
	// MaxBodyBytes bounds JSON request bodies (default 16 MiB).
	MaxBodyBytes int64
	// MaxArtifactBytes bounds one artifact upload (default 2 GiB).
	MaxArtifactBytes int64
	// Logger receives internal errors (never request bodies or
	// credentials); nil discards them.
	Logger *slog.Logger
}

// endpoint answers one JSON call: it returns the response message or an
// error that writeError maps to MLflow's error shape.
type endpoint func(r *http.Request) (any, error)

// handler is the http.Handler NewHandler returns.
type handler struct {
	store mlops.Store
	art   mlops.ArtifactStore
	opts  Options
	// routes maps a path below APIPrefix to its endpoints by method.
	routes map[string]map[string]endpoint
}

// NewHandler returns the MLflow-compatible REST API over store and
// artifacts. artifacts may be nil: the artifact proxy then answers
// NOT_IMPLEMENTED and artifact locations are left as the store has them.
func NewHandler(store mlops.Store, artifacts mlops.ArtifactStore, opts Options) http.Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 16 << 20
	}
	if opts.MaxArtifactBytes <= 0 {
		opts.MaxArtifactBytes = 2 << 30
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{store: store, art: artifacts, opts: opts}
	h.routes = h.routeTable()
	return h
}

// routeTable lists every supported endpoint. Searches answer both GET and
// POST, as MLflow's server does for some of them, so that any client
// flavour works.
func (h *handler) routeTable() map[string]map[string]endpoint {
	get, post, patch, del := http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete
	return map[string]map[string]endpoint{
		"experiments/create":             {post: h.createExperiment},
		"experiments/get":                {get: h.getExperiment},
		"experiments/get-by-name":        {get: h.getExperimentByName},
		"experiments/search":             {post: h.searchExperiments, get: h.searchExperiments},
		"experiments/update":             {post: h.updateExperiment},
		"experiments/delete":             {post: h.deleteExperiment},
		"experiments/restore":            {post: h.restoreExperiment},
		"experiments/set-experiment-tag": {post: h.setExperimentTag},

		"runs/create":         {post: h.createRun},
		"runs/update":         {post: h.updateRun},
		"runs/delete":         {post: h.deleteRun},
		"runs/restore":        {post: h.restoreRun},
		"runs/get":            {get: h.getRun},
		"runs/search":         {post: h.searchRuns, get: h.searchRuns},
		"runs/log-metric":     {post: h.logMetric},
		"runs/log-parameter":  {post: h.logParam},
		"runs/log-batch":      {post: h.logBatch},
		"runs/log-inputs":     {post: h.logInputs},
		"runs/log-model":      {post: h.logModel},
		"runs/set-tag":        {post: h.setTag},
		"runs/delete-tag":     {post: h.deleteTag},
		"metrics/get-history": {get: h.metricHistory},

		"registered-models/create":              {post: h.createModel},
		"registered-models/get":                 {get: h.getModel},
		"registered-models/rename":              {post: h.renameModel},
		"registered-models/update":              {patch: h.updateModel},
		"registered-models/delete":              {del: h.deleteModel},
		"registered-models/search":              {get: h.searchModels, post: h.searchModels},
		"registered-models/get-latest-versions": {post: h.latestVersions, get: h.latestVersions},
		"registered-models/set-tag":             {post: h.setModelTag},
		"registered-models/delete-tag":          {del: h.deleteModelTag},
		"registered-models/alias":               {post: h.setAlias, del: h.deleteAlias, get: h.getByAlias},

		"model-versions/create":           {post: h.createVersion},
		"model-versions/get":              {get: h.getVersion},
		"model-versions/update":           {patch: h.updateVersion},
		"model-versions/delete":           {del: h.deleteVersion},
		"model-versions/search":           {get: h.searchVersions, post: h.searchVersions},
		"model-versions/get-download-uri": {get: h.downloadURI},
		"model-versions/transition-stage": {post: h.transitionStage},
		"model-versions/set-tag":          {post: h.setVersionTag},
		"model-versions/delete-tag":       {del: h.deleteVersionTag},
	}
}

// notImplemented lists MLflow endpoints that exist but that this server
// does not support: they answer 501 NOT_IMPLEMENTED instead of
// ENDPOINT_NOT_FOUND, so a caller can tell "old server" from "typo".
var notImplemented = map[string]string{
	"experiments/delete-experiment-tag": "experiment tags cannot be deleted by this server",
	"runs/set-logged-model":             "logged models (MLflow 3) are not supported",
	"model-versions/get-by-alias":       "use GET registered-models/alias",
	"traces":                            "tracing is not supported",
	"logged-models":                     "logged models (MLflow 3) are not supported",
	"gateway-proxy":                     "the AI gateway is not supported",
	"users":                             "MLflow authentication endpoints are not supported",
}

// ServeHTTP routes MLflow API calls and artifact proxy calls.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rest, ok := strings.CutPrefix(r.URL.Path, ArtifactsPrefix); ok {
		h.serveArtifacts(w, r, rest)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, APIPrefix)
	if !ok {
		rest, ok = strings.CutPrefix(r.URL.Path, AjaxPrefix)
	}
	if !ok {
		writeError(w, h.opts.Logger, mlops.Errorf(codeEndpointNotFound, "no MLflow endpoint at %s", r.URL.Path))
		return
	}
	rest = strings.TrimSuffix(rest, "/")
	methods, ok := h.routes[rest]
	if !ok {
		writeError(w, h.opts.Logger, unknownEndpoint(rest, r.URL.Path))
		return
	}
	ep, ok := methods[r.Method]
	if !ok {
		writeError(w, h.opts.Logger, mlops.Errorf(codeEndpointNotFound, "%s does not answer %s", r.URL.Path, r.Method))
		return
	}
	resp, err := ep(r)
	if err != nil {
		writeError(w, h.opts.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func unknownEndpoint(rest, path string) error {
	for p, why := range notImplemented {
		if rest == p || strings.HasPrefix(rest, p+"/") {
			return mlops.Errorf(codeNotImplemented, "%s is not supported by housing-mlops: %s (see docs/mlflow.md)", path, why)
		}
	}
	return mlops.Errorf(codeEndpointNotFound, "no MLflow endpoint at %s", path)
}

// statusOf maps error codes to MLflow's HTTP statuses. INVALID_STATE is
// 400 rather than MLflow's 500 because MLflow's client retries 500s for
// minutes, and acting on a deleted run is the caller's error.
func statusOf(code string) int {
	switch code {
	case mlops.ENOTFOUND, codeEndpointNotFound:
		return http.StatusNotFound
	case mlops.EEXISTS, mlops.EINVALID, mlops.ECONFLICT, codeBadRequest:
		return http.StatusBadRequest
	case codeNotImplemented:
		return http.StatusNotImplemented
	default:
		return http.StatusInternalServerError
	}
}

// apiError is MLflow's error body.
type apiError struct {
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
}

func writeError(w http.ResponseWriter, log *slog.Logger, err error) {
	code := mlops.ErrorCode(err)
	msg := err.Error()
	if code == mlops.EINTERNAL {
		var e *mlops.Error
		if !errors.As(err, &e) {
			// Unexpected errors may carry driver details: log them, answer
			// with a generic message.
			log.Error("mlflow api: internal error", "err", err)
			msg = "internal error"
		}
	}
	writeJSON(w, statusOf(code), apiError{ErrorCode: code, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error_code":"INTERNAL_ERROR","message":"cannot encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// decode reads a request message: GET parameters from the query string,
// other methods from a JSON body (or the query string when the body is
// empty, which some clients do for DELETE). Unknown fields are ignored, as
// MLflow clients send extras such as run_uuid.
func (h *handler) decode(r *http.Request, dst any) error {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return decodeQuery(r.URL.Query(), dst)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, h.opts.MaxBodyBytes+1))
	if err != nil {
		return mlops.Errorf(codeBadRequest, "read request body: %v", err)
	}
	if int64(len(body)) > h.opts.MaxBodyBytes {
		return mlops.Errorf(mlops.EINVALID, "request body exceeds %d bytes", h.opts.MaxBodyBytes)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return decodeQuery(r.URL.Query(), dst)
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return mlops.Errorf(mlops.EINVALID, "malformed JSON request body: %v", err)
	}
	return nil
}

// decodeQuery maps query parameters onto the request message through JSON,
// so that the flexible field types accept "10" for numbers and a single
// value for lists.
func decodeQuery(q url.Values, dst any) error {
	m := make(map[string]any, len(q))
	for k, vs := range q {
		if len(vs) == 1 {
			m[k] = vs[0]
		} else {
			m[k] = vs
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return mlops.Errorf(mlops.EINVALID, "malformed query string: %v", err)
	}
	if err := json.Unmarshal(b, dst); err != nil {
		return mlops.Errorf(mlops.EINVALID, "malformed query parameter: %v", err)
	}
	return nil
}

// required reports a missing parameter the way MLflow words it.
func required(name, value string) error {
	if strings.TrimSpace(value) == "" {
		return mlops.Errorf(mlops.EINVALID, "Missing value for required parameter '%s'.", name)
	}
	return nil
}

func (h *handler) actor(r *http.Request, reason string) mlops.Actor {
	a := mlops.Actor{By: "mlflow-api"}
	if h.opts.Actor != nil {
		a = h.opts.Actor(r)
	}
	if reason != "" {
		a.Reason = reason
	}
	return a
}

// empty is the body of calls that return nothing.
type empty struct{}
