package http

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Roles of a model in a canary split: the label "role" of the per-version
// metrics.
const (
	RoleStable = "stable"
	RoleCanary = "canary"
)

// canary is the model that receives a share of predict traffic.
type canary struct {
	l *loaded
	// per10k is the share of requests it serves, in 1/10000.
	per10k uint64
}

// SetCanary makes m serve percent (0 < percent < 100) of predict requests
// (REST and OIP infer); the stable model serves the rest. A request goes to
// the canary when the FNV-1a hash of its request id, modulo 10000, is below
// percent×100: a client that sends the same X-Request-ID always reaches the
// same model, and the server's own ids (a random prefix and a sequence
// number) spread evenly. Metrics by model version say how each one does.
func (s *Server) SetCanary(m Model, source string, percent float64) error {
	if !(percent > 0 && percent < 100) {
		return fmt.Errorf("canary percent %v: want a share in (0, 100)", percent)
	}
	info := m.Info()
	l := &loaded{model: m, info: info, schema: m.Schema(), source: source, at: time.Now(), version: jsonString(info.Version)}
	s.canary.Store(&canary{l: l, per10k: uint64(percent*100 + 0.5)})
	s.log.Info("canary set", "name", info.Name, "version", info.Version, "sha256", info.SHA256, "percent", percent, "source", source)
	return nil
}

// ClearCanary sends all traffic back to the stable model.
func (s *Server) ClearCanary() { s.canary.Store(nil) }

// Canary returns the canary's info and share, and whether there is one.
func (s *Server) Canary() (ModelInfo, float64, bool) {
	if c := s.canary.Load(); c != nil {
		return c.l.info, float64(c.per10k) / 100, true
	}
	return ModelInfo{}, 0, false
}

// LoadCanary loads a model with c (typically one registry source for
// models:/NAME/N or models:/NAME@canary) and sets it as the canary.
func (s *Server) LoadCanary(ctx context.Context, c *Cascade, percent float64) (LoadResult, error) {
	if c == nil {
		return LoadResult{}, errors.New("no canary source configured")
	}
	cc := *c
	if cc.Timeout <= 0 {
		cc.Timeout = s.cfg.LoadTimeout
	}
	if cc.Logger == nil {
		cc.Logger = s.log
	}
	res, err := cc.Load(ctx)
	if err != nil {
		return res, err
	}
	return res, s.SetCanary(res.Model, res.Source, percent)
}

// pick chooses the model that serves r: the canary for its share of
// request ids, else stable (which may be nil: not ready). It records the
// choice for the per-version metrics.
func (s *Server) pick(r *http.Request, stable *loaded) *loaded {
	l := stable
	if c := s.canary.Load(); c != nil && stable != nil && inCanary(requestID(r.Context()), c.per10k) {
		l = c.l
	}
	if l != nil {
		if t, ok := r.Context().Value(servedKey).(*served); ok {
			t.version = l.info.Version
			t.role = RoleStable
			if l != stable {
				t.role = RoleCanary
			}
		}
	}
	return l
}

func inCanary(id string, per10k uint64) bool {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	return h.Sum64()%10000 < per10k
}

// served is filled by pick and read by the middleware once the handler
// has answered, so per-version metrics count every outcome (400s and 500s
// included) against the model that was chosen.
type served struct{ version, role string }

const servedKey ctxKey = 1

// versionMetrics are the per-model-version series a canary check reads.
type versionMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newVersionMetrics(reg prometheus.Registerer) *versionMetrics {
	v := &versionMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mlops_model_requests_total",
			Help: "Predict requests (REST and OIP infer) by the model version and role (stable, canary) that served them and status code.",
		}, []string{"version", "role", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mlops_model_request_duration_seconds",
			Help:    "Predict request latency by model version and role.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"version", "role"}),
	}
	reg.MustRegister(v.requests, v.latency)
	return v
}

func (v *versionMetrics) observe(t *served, status int, d time.Duration) {
	if t.version == "" {
		return
	}
	if status == 0 {
		status = 200
	}
	v.requests.WithLabelValues(t.version, t.role, strconv.Itoa(status)).Inc()
	v.latency.WithLabelValues(t.version, t.role).Observe(d.Seconds())
}
