package http

import (
	"net/http"
	"strings"
	"testing"
)

func TestMount(t *testing.T) {
	s := newServer(t, Config{}, Deps{}, newFake(t, "1", 0))
	before := len(s.Routes())
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("extra " + r.URL.Path)) })
	if err := s.Mount("/api/2.0/mlflow/", h); err != nil {
		t.Fatal(err)
	}
	rec := do(s.Handler(), "GET", "/api/2.0/mlflow/experiments/get", "", nil)
	if rec.Code != 200 || rec.Body.String() != "extra /api/2.0/mlflow/experiments/get" || rec.Header().Get("X-Request-ID") == "" {
		t.Errorf("mounted handler: %d %q, request id %q", rec.Code, rec.Body, rec.Header().Get("X-Request-ID"))
	}
	if len(s.Routes()) != before || len(s.Mounts()) != 1 {
		t.Errorf("routes %d -> %d, mounts %v: mounts must stay out of the OpenAPI route list", before, len(s.Routes()), s.Mounts())
	}
	if !strings.Contains(do(s.Handler(), "GET", "/metrics", "", nil).Body.String(), `route="/api/2.0/mlflow/"`) {
		t.Error("mounted requests are not in the request metrics")
	}
	// Our own routes still win, and a conflicting pattern is an error.
	if rec := do(s.Handler(), "GET", "/health", "", nil); rec.Code != 200 || strings.Contains(rec.Body.String(), "extra") {
		t.Errorf("/health: %d %s", rec.Code, rec.Body)
	}
	if err := s.Mount("/api/2.0/mlflow/", h); err == nil {
		t.Error("mounting the same pattern twice: want an error")
	}
	if err := s.Mount("/x/", nil); err == nil {
		t.Error("nil handler: want an error")
	}
}
