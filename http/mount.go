package http

import (
	"fmt"
	"net/http"
)

// Mount serves h for pattern (a ServeMux pattern such as
// "/api/2.0/mlflow/", which matches every path under it) behind the
// server's middleware: request ids, CORS, panic recovery and request
// metrics. Mounted handlers are other components (the MLflow REST API, the
// web UI): they are not in Routes nor in the OpenAPI document, and they do
// their own authorisation. Call Mount before Serve. A pattern that
// conflicts with a registered one is an error, not a panic.
func (s *Server) Mount(pattern string, h http.Handler) (err error) {
	if h == nil {
		return fmt.Errorf("mount %q: nil handler", pattern)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("mount %q: %v", pattern, p)
		}
	}()
	s.mux.Handle(pattern, h)
	s.mounts = append(s.mounts, pattern)
	return nil
}

// Mounts returns the patterns added with Mount, in order.
func (s *Server) Mounts() []string { return append([]string(nil), s.mounts...) }
