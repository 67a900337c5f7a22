package http

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"
)

// route is one registered method and path (ServeMux pattern syntax, which
// is also OpenAPI's path-template syntax).
type route struct {
	Method, Path string
}

// handle registers h for method and path and remembers the route, so tests
// can check the OpenAPI document against what is really served.
func (s *Server) handle(method, path string, h http.HandlerFunc) {
	s.mux.HandleFunc(method+" "+path, h)
	s.routes = append(s.routes, route{method, path})
}

// Routes returns the registered routes (method, path), in registration order.
func (s *Server) Routes() [][2]string {
	out := make([][2]string, len(s.routes))
	for i, r := range s.routes {
		out[i] = [2]string{r.Method, r.Path}
	}
	return out
}

func (s *Server) registerRoutes() {
	s.handle("POST", "/api/v1/predict", s.handlePredict)
	s.handle("GET", "/api/v1/model", s.handleModel)
	s.handle("POST", "/api/v1/admin/reload", s.admin(s.handleReload))

	s.handle("GET", "/health", s.handleLive)
	s.handle("GET", "/health/ready", s.handleReady)
	s.handle("GET", "/health/deep", s.handleDeep)

	s.handle("GET", "/v2", s.handleOIPServer)
	s.handle("GET", "/v2/health/live", s.handleOIPLive)
	s.handle("GET", "/v2/health/ready", s.handleOIPReady)
	s.handle("GET", "/v2/models/{name}", s.handleOIPModel)
	s.handle("GET", "/v2/models/{name}/ready", s.handleOIPModelReady)
	s.handle("POST", "/v2/models/{name}/infer", s.handleOIPInfer)

	s.handle("GET", "/metrics", s.metrics.handler().ServeHTTP)
	s.handle("GET", "/openapi.json", s.handleOpenAPI)
	s.handle("GET", "/docs", s.handleDocs)

	// Anything else: a JSON 404, or 405 when the path exists for another
	// method (ServeMux would answer in plain text).
	s.mux.HandleFunc("/", s.handleFallback)
}

func (s *Server) handleFallback(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{"GET", "POST"} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pat := s.mux.Handler(probe); pat != "" && pat != "/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.writeError(w, r, http.StatusMethodNotAllowed, codeMethod, r.Method+" is not allowed on "+clip(r.URL.Path), nil)
		return
	}
	s.writeError(w, r, http.StatusNotFound, codeNotFound, "no route "+clip(r.URL.Path), nil)
}

// admin guards an admin handler with the bearer token. Without a
// configured token admin routes answer 404: they are disabled, and saying
// so (403) would only advertise them.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.AdminToken == "" {
			s.writeError(w, r, http.StatusNotFound, codeNotFound, "admin routes are disabled (no admin token configured)", nil)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.AdminToken)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mlops-admin"`)
			s.writeError(w, r, http.StatusUnauthorized, codeUnauthorize, "a valid admin bearer token is required", nil)
			return
		}
		h(w, r)
	}
}

// handleReload serves POST /api/v1/admin/reload: it runs the load cascade
// now and swaps the result in.
func (s *Server) handleReload(w http.ResponseWriter, r *http.Request) {
	before, _ := s.ModelInfo()
	res, err := s.Reload(r.Context(), "admin")
	if err != nil {
		s.writeError(w, r, http.StatusServiceUnavailable, codeNotReady, "reload failed: "+err.Error(), nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"model_version":    res.Info.Version,
		"previous_version": before.Version,
		"source":           res.Source,
		"sha256":           res.Info.SHA256,
		"changed":          before.Version != res.Info.Version || before.SHA256 != res.Info.SHA256,
	})
}

// modelJSON describes the loaded model and its input schema.
type modelJSON struct {
	Name          string      `json:"name"`
	Version       string      `json:"version"`
	SHA256        string      `json:"sha256"`
	Source        string      `json:"source"`
	LoadedAt      time.Time   `json:"loaded_at"`
	IntervalLevel float64     `json:"interval_level"`
	Features      []fieldJSON `json:"features"`
}

type fieldJSON struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Required    bool     `json:"required"`
	Min         *float64 `json:"min,omitempty"`
	Max         *float64 `json:"max,omitempty"`
	Categories  []string `json:"categories,omitempty"`
	Description string   `json:"description,omitempty"`
}

func fieldsJSON(sc *Schema) []fieldJSON {
	out := make([]fieldJSON, 0, sc.Len())
	for _, f := range sc.Fields() {
		fj := fieldJSON{Name: f.Name, Type: f.Kind.String(), Required: !f.Optional, Categories: f.Categories, Description: f.Description}
		if f.HasMin {
			fj.Min = &f.Min
		}
		if f.HasMax {
			fj.Max = &f.Max
		}
		out = append(out, fj)
	}
	return out
}

// handleModel serves GET /api/v1/model.
func (s *Server) handleModel(w http.ResponseWriter, r *http.Request) {
	l := s.current.Load()
	if l == nil {
		s.writeError(w, r, http.StatusServiceUnavailable, codeNotReady, s.notReadyReason(), nil)
		return
	}
	writeJSON(w, http.StatusOK, modelJSON{
		Name: l.info.Name, Version: l.info.Version, SHA256: l.info.SHA256, Source: l.source,
		LoadedAt: l.at.UTC(), IntervalLevel: l.info.IntervalLevel, Features: fieldsJSON(l.schema),
	})
}

// handleLive serves GET /health: the process is up.
func (s *Server) handleLive(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReady serves GET /health/ready: 200 once a model is loaded.
func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	if l := s.current.Load(); l != nil {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "model_version": l.info.Version})
		return
	}
	writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not_ready", "reason": s.notReadyReason()})
}

// deepHealth is the body of GET /health/deep.
type deepHealth struct {
	Status       string            `json:"status"`
	ModelLoaded  bool              `json:"model_loaded"`
	ModelVersion string            `json:"model_version"`
	Reason       string            `json:"reason,omitempty"`
	Dependencies map[string]string `json:"dependencies"`
}

// handleDeep serves GET /health/deep. Status is "healthy" when a model is
// loaded and every dependency answers, "degraded" (still 200: predictions
// are served) when a model is loaded but a dependency is down, and
// "unhealthy" (503) when no model is loaded.
func (s *Server) handleDeep(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	h := deepHealth{Status: "healthy", Dependencies: make(map[string]string, len(s.deps.Checks))}
	for name, c := range s.deps.Checks {
		if err := c.Check(ctx); err != nil {
			h.Dependencies[name] = "degraded: " + err.Error()
			h.Status = "degraded"
		} else {
			h.Dependencies[name] = "healthy"
		}
	}
	status := http.StatusOK
	if l := s.current.Load(); l != nil {
		h.ModelLoaded, h.ModelVersion = true, l.info.Version
	} else {
		h.Status, h.Reason, status = "unhealthy", s.notReadyReason(), http.StatusServiceUnavailable
	}
	writeJSON(w, status, h)
}
