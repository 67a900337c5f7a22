package http

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/housing-mlops/mlops"
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
	cc := s.cascade(c)
	res, err := cc.Load(ctx)
	if err != nil {
		return res, err
	}
	return res, s.SetCanary(res.Model, res.Source, percent)
}

// CanaryWatch is a canary the server keeps in step with the registry
// (Deps.Canary).
type CanaryWatch struct {
	// Loader loads the canary when there is no Watch; its Decode, Timeout
	// and Retry also serve the loads from Watch.
	Loader *Cascade
	// Watch is resolved at start-up and on every poll: models:/NAME@canary
	// follows the alias, models:/NAME/N pins one version. Nil: the canary
	// is loaded once from Loader's sources.
	Watch *RegistrySource
	// Percent is the share of predict requests the canary serves, in
	// (0, 100).
	Percent float64
}

// ReloadCanary brings the canary in step with Deps.Canary; serve calls it
// after the start-up load, and PollOnce on every poll. When Watch resolves
//
//   - to a version that is not the canary yet, that version is loaded in
//     the caller's goroutine (the poller's: requests never wait on it) and
//     swapped in atomically; requests in flight finish on the model they
//     started with. A failed load keeps the current canary.
//   - to the version the stable model is, the canary is cleared: a split
//     between two copies of one model measures nothing, and promoting the
//     canary by moving the stable stage or alias onto it ends the split.
//     If the stable model moves away again, the next poll reloads the
//     canary.
//   - to nothing (the registry answers not found: the alias or the version
//     was deleted), the canary is cleared and the error returned.
//
// Any other error (the registry is down) keeps the canary as it is. It
// reports whether the canary changed; every change is logged.
func (s *Server) ReloadCanary(ctx context.Context, trigger string) (bool, error) {
	cw := s.deps.Canary
	if cw == nil || cw.Loader == nil {
		return false, errors.New("no canary source configured")
	}
	if cw.Watch == nil {
		s.reloadMu.Lock()
		defer s.reloadMu.Unlock()
		if s.canary.Load() != nil {
			return false, nil
		}
		return s.loadCanary(ctx, trigger, cw, cw.Loader.Sources...)
	}
	mv, err := cw.Watch.Resolve(ctx)
	if mlops.ErrorCode(err) == mlops.ENOTFOUND {
		changed := s.dropCanary("its registry source no longer resolves", "uri", cw.Watch.URI.String(), "reason", err.Error())
		return changed, err
	}
	if err != nil {
		return false, err
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if st := s.current.Load(); st != nil && st.is(mv) {
		return s.dropCanary("its registry source points at the stable version", "uri", cw.Watch.URI.String(), "stable_version", st.info.Version), nil
	}
	if c := s.canary.Load(); c != nil && c.l.is(mv) {
		return false, nil
	}
	s.log.Info("canary source points at a new version; loading it", "uri", cw.Watch.URI.String(), "version", mv.Version)
	return s.loadCanary(ctx, trigger, cw, cw.Watch)
}

// loadCanary loads from sources with cw's loader and sets the result as
// the canary; the caller holds reloadMu. Its reloads count under the
// trigger "canary_" + trigger.
func (s *Server) loadCanary(ctx context.Context, trigger string, cw *CanaryWatch, sources ...Source) (bool, error) {
	c := s.cascade(cw.Loader)
	trigger = "canary_" + trigger
	res, err := c.LoadFrom(ctx, sources...)
	if err == nil {
		err = s.SetCanary(res.Model, res.Source, cw.Percent)
	}
	if err != nil {
		s.metrics.reloads.WithLabelValues(trigger, "error").Inc()
		if cur := s.canary.Load(); cur != nil {
			s.log.Warn("canary load failed; the current canary keeps serving", "version", cur.l.info.Version, "err", err)
		}
		return false, err
	}
	s.metrics.reloads.WithLabelValues(trigger, "ok").Inc()
	debug.FreeOSMemory() // as after a stable load
	return true, nil
}

// dropCanary clears the canary, logging why, and reports whether there
// was one.
func (s *Server) dropCanary(why string, args ...any) bool {
	old := s.canary.Swap(nil)
	if old == nil {
		return false
	}
	s.log.Info("canary cleared: "+why+"; the stable model serves all traffic", append([]any{"canary_version", old.l.info.Version}, args...)...)
	return true
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
