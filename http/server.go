// Package http is the prediction server: the predict API, the Open
// Inference Protocol v2 routes, health, admin, metrics, OpenAPI docs, the
// model loading cascade and hot reload.
//
// It depends on small interfaces defined here (Model, Source, Observer,
// DriftSource, Checker) rather than on concrete packages, so that it can be
// tested with fakes; adapters to ml/model and monitor live in their own
// files.
//
// Error statuses: 400 for any invalid input (malformed JSON, failing
// fields, listed all at once with their paths), 413 for a body over
// Config.MaxBodyBytes, 415 for a content type other than JSON, 404 for
// unknown routes and for admin routes when no admin token is configured
// (they do not exist then), 401 for a missing or wrong admin token, 503
// when no model is loaded, 500 only for server faults.
package http

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ModelInfo identifies a loaded model.
type ModelInfo struct {
	// Name is the registered model name (the OIP model name).
	Name string
	// Version is what responses report as model_version.
	Version string
	// SHA256 is the hex digest of the artifact bytes.
	SHA256 string
	// IntervalLevel is the nominal coverage of Prediction intervals (0.9).
	IntervalLevel float64
}

// Model is what the server needs from a loaded model. Implementations must
// be safe for concurrent use.
type Model interface {
	Info() ModelInfo
	// Schema is the model's raw input schema; the server validates every
	// request against it before calling Predict.
	Schema() *Schema
	// Predict returns one Prediction per row of b, in order.
	Predict(ctx context.Context, b *Batch) ([]Prediction, error)
}

// Observer receives every (sampled) prediction batch. Observe must not
// block and must not keep b or preds after it returns.
type Observer interface {
	Observe(ev PredictionEvent)
}

// PredictionEvent is one served batch, as the monitor sees it.
type PredictionEvent struct {
	RequestID    string
	Time         time.Time
	ModelVersion string
	Latency      time.Duration
	Batch        *Batch
	Predictions  []Prediction
}

// DriftSource reports the current drift score (PSI) of each feature.
type DriftSource interface {
	PSI() map[string]float64
}

// Checker probes one dependency for /health/deep.
type Checker interface {
	Check(ctx context.Context) error
}

// CheckerFunc adapts a function to Checker.
type CheckerFunc func(ctx context.Context) error

// Check calls f.
func (f CheckerFunc) Check(ctx context.Context) error { return f(ctx) }

// Config holds the server's tunables; zero values take the defaults below.
type Config struct {
	// MaxBatch bounds the instances of one predict request (default 100).
	MaxBatch int
	// MaxBodyBytes bounds a request body (default 1 MiB).
	MaxBodyBytes int64
	// CORSOrigins lists the origins allowed to call the API from a browser;
	// none by default. "*" allows any origin.
	CORSOrigins []string
	// AdminToken guards /api/v1/admin/*; empty disables those routes (404).
	AdminToken string
	// PollInterval is how often the registry is polled for a new version
	// (default 30s; negative disables polling).
	PollInterval time.Duration
	// LoadTimeout bounds one attempt at one source (default 30s).
	LoadTimeout time.Duration
	// ShutdownTimeout bounds the drain of in-flight requests (default 30s).
	ShutdownTimeout time.Duration
	// SampleRate is the fraction of predict requests sent to the Observer
	// (default 1; set it in (0,1] — 0 means the default).
	SampleRate float64
	// PredictionBuckets are the histogram buckets of predicted values.
	PredictionBuckets []float64
}

func (c Config) withDefaults() Config {
	if c.MaxBatch <= 0 {
		c.MaxBatch = 100
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.PollInterval == 0 {
		c.PollInterval = 30 * time.Second
	}
	if c.LoadTimeout <= 0 {
		c.LoadTimeout = 30 * time.Second
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.SampleRate <= 0 || c.SampleRate > 1 {
		c.SampleRate = 1
	}
	if len(c.PredictionBuckets) == 0 {
		// House values: 15k to 1M and a bit, roughly ×1.4 per bucket.
		c.PredictionBuckets = prometheus.ExponentialBuckets(15000, 1.4, 14)
	}
	return c
}

// Deps are the server's collaborators; every one is optional.
type Deps struct {
	Logger *slog.Logger
	// Loader is the start-up cascade, also used by admin reload.
	Loader *Cascade
	// Watch is polled for a new registry version (hot reload).
	Watch *RegistrySource
	// Canary, when set, is the canary split, kept in step with the
	// registry by ReloadCanary and the poller.
	Canary *CanaryWatch
	// Checks are the dependencies reported by /health/deep, by name
	// ("registry", "artifact_store").
	Checks   map[string]Checker
	Observer Observer
	Drift    DriftSource
}

// loaded is one immutable loaded model and where it came from.
type loaded struct {
	model   Model
	info    ModelInfo
	schema  *Schema
	source  string
	at      time.Time
	version []byte // model_version, JSON-quoted once
}

// Server serves predictions from the currently loaded model.
type Server struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	current atomic.Pointer[loaded]
	// canary, when set, serves a share of predict requests.
	canary atomic.Pointer[canary]
	// loadErr is why no model is loaded (for 503 bodies and readiness).
	loadErr atomic.Pointer[string]
	// reloadMu serialises loads (start-up, poll, admin) so only one runs.
	reloadMu sync.Mutex
	// swapMu keeps the swap and the model-info gauge in step.
	swapMu  sync.Mutex
	metrics *metrics
	mux     *http.ServeMux
	routes  []route
	mounts  []string
	handler http.Handler
	reqSeq  atomic.Uint64
	reqBase string
	// onShutdown, when set (tests), runs once shutdown has closed the
	// listeners.
	onShutdown func()
}

// New returns a server with no model loaded; call Load or SetModel.
func New(cfg Config, deps Deps) *Server {
	cfg = cfg.withDefaults()
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, deps: deps, log: deps.Logger, reqBase: newRequestBase()}
	s.metrics = newMetrics(cfg, deps.Drift)
	reason := "model is loading"
	s.loadErr.Store(&reason)
	s.mux = http.NewServeMux()
	s.registerRoutes()
	s.handler = s.middleware(s.mux)
	return s
}

// Handler returns the server's root handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Registry returns the server's private Prometheus registry.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

// SetModel swaps m in atomically; requests already running keep the model
// they started with. source names where it came from (metrics, logs).
func (s *Server) SetModel(m Model, source string) {
	info := m.Info()
	l := &loaded{model: m, info: info, schema: m.Schema(), source: source, at: time.Now(), version: jsonString(info.Version)}
	s.swapMu.Lock()
	defer s.swapMu.Unlock()
	old := s.current.Swap(l)
	s.loadErr.Store(nil)
	s.metrics.setModel(info, source, old)
	s.log.Info("model swapped in", "name", info.Name, "version", info.Version, "sha256", info.SHA256, "source", source)
}

// ModelInfo returns the loaded model's info and whether one is loaded.
func (s *Server) ModelInfo() (ModelInfo, bool) {
	if l := s.current.Load(); l != nil {
		return l.info, true
	}
	return ModelInfo{}, false
}

// Model returns the loaded stable model and whether one is loaded.
func (s *Server) Model() (Model, bool) {
	if l := s.current.Load(); l != nil {
		return l.model, true
	}
	return nil, false
}

// notReadyReason says why no model is loaded.
func (s *Server) notReadyReason() string {
	if p := s.loadErr.Load(); p != nil {
		return *p
	}
	return "no model loaded"
}

// Serve serves on ln until ctx is cancelled, then stops accepting, drains
// in-flight requests (up to Config.ShutdownTimeout) and returns nil; a
// drain that times out closes the remaining connections and returns an
// error. Hot reload polling runs for as long as Serve does.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if s.onShutdown != nil {
		hs.RegisterOnShutdown(s.onShutdown)
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() { defer close(watchDone); s.Watch(watchCtx) }()
	// On return, the poller has stopped: callers may close the stores.
	defer func() { stopWatch(); <-watchDone }()

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down: draining in-flight requests", "timeout", s.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if err != nil {
		// Drain timed out: cut the remaining connections.
		_ = hs.Close()
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	s.log.Info("shutdown complete")
	return nil
}
