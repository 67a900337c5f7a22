package http

import (
	_ "embed"
	"encoding/json"
	"net/http"
)

// openAPISpec is the hand-written OpenAPI 3.1 document; the Instance schema
// is filled in from the loaded model at request time. A test checks that
// its paths and the registered routes are the same set.
//
//go:embed static/openapi.json
var openAPISpec []byte

// docsHTML renders openapi.json in a browser with no network access: plain
// HTML and JavaScript, no CDN.
//
//go:embed static/docs.html
var docsHTML []byte

// handleOpenAPI serves GET /openapi.json.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	var spec map[string]any
	if err := json.Unmarshal(openAPISpec, &spec); err != nil {
		s.writeError(w, r, http.StatusInternalServerError, codeInternal, "embedded OpenAPI document is invalid", nil)
		return
	}
	schemas := spec["components"].(map[string]any)["schemas"].(map[string]any)
	req := schemas["PredictRequest"].(map[string]any)["properties"].(map[string]any)["instances"].(map[string]any)
	req["maxItems"] = s.cfg.MaxBatch
	if l := s.current.Load(); l != nil {
		schemas["Instance"] = instanceSchema(l.schema)
	}
	writeJSON(w, http.StatusOK, spec)
}

// instanceSchema is the JSON Schema of one instance under sc.
func instanceSchema(sc *Schema) map[string]any {
	props := make(map[string]any, sc.Len())
	required := []string{}
	for _, f := range sc.Fields() {
		p := map[string]any{}
		if f.Description != "" {
			p["description"] = f.Description
		}
		if f.Kind == Category {
			p["type"] = "string"
			p["description"] = "one of the categories (case-insensitive, spaces normalised)"
			p["examples"] = f.Categories
		} else {
			p["type"] = "number"
			if f.HasMin {
				p["minimum"] = f.Min
			}
			if f.HasMax {
				p["maximum"] = f.Max
			}
		}
		if f.Optional {
			p["type"] = []string{p["type"].(string), "null"}
		} else {
			required = append(required, f.Name)
		}
		props[f.Name] = p
	}
	return map[string]any{"type": "object", "additionalProperties": false, "properties": props, "required": required}
}

// handleDocs serves GET /docs.
func (s *Server) handleDocs(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// The page may only talk to this server.
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
	_, _ = w.Write(docsHTML)
}
