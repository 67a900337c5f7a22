package http

import (
	"context"
	"errors"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/housing-mlops/mlops"
)

// Load runs the start-up cascade. When nothing loads the server keeps
// running, not ready, and predict answers 503 with the reason; the poller
// keeps trying.
func (s *Server) Load(ctx context.Context) error {
	_, err := s.Reload(ctx, "startup")
	return err
}

// Reload runs the load cascade now and swaps the result in. Only one load
// runs at a time. On failure the current model, if any, keeps serving.
func (s *Server) Reload(ctx context.Context, trigger string) (LoadResult, error) {
	if s.deps.Loader == nil {
		err := errors.New("no model sources configured")
		s.noteLoadFailure(err)
		return LoadResult{}, err
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	return s.loadAndSwap(ctx, trigger, s.deps.Loader.Sources...)
}

// loadAndSwap loads from sources and swaps the model in; the caller holds
// reloadMu.
func (s *Server) loadAndSwap(ctx context.Context, trigger string, sources ...Source) (LoadResult, error) {
	c := s.cascade(s.deps.Loader)
	res, err := c.LoadFrom(ctx, sources...)
	if err != nil {
		s.metrics.reloads.WithLabelValues(trigger, "error").Inc()
		s.noteLoadFailure(err)
		return res, err
	}
	s.metrics.reloads.WithLabelValues(trigger, "ok").Inc()
	s.SetModel(res.Model, res.Source)
	// Decoding an artifact allocates several times its size in transient
	// buffers; hand them back to the OS now rather than keep a resident
	// set of the peak for the life of the process. Loads are rare.
	debug.FreeOSMemory()
	return res, nil
}

// cascade returns a copy of base with the server's defaults filled in and
// load attempts counted in the metrics.
func (s *Server) cascade(base *Cascade) Cascade {
	c := *base
	c.OnAttempt = func(source, result string) { s.metrics.loads.WithLabelValues(source, result).Inc() }
	if c.Timeout <= 0 {
		c.Timeout = s.cfg.LoadTimeout
	}
	if c.Logger == nil {
		c.Logger = s.log
	}
	return c
}

// noteLoadFailure keeps the reason for 503 answers while no model is loaded.
func (s *Server) noteLoadFailure(err error) {
	if s.current.Load() == nil {
		reason := "no model loaded: " + err.Error()
		s.loadErr.Store(&reason)
	}
}

// Watch polls the registry every Config.PollInterval until ctx ends. When
// the URI's stage or alias points at another version, that version is
// loaded in the background and swapped in atomically; requests in flight
// finish on the model they started with. While no model is loaded, each
// tick retries the whole cascade.
func (s *Server) Watch(ctx context.Context) {
	if s.cfg.PollInterval < 0 || s.deps.Loader == nil {
		return
	}
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.PollOnce(ctx)
		}
	}
}

// PollOnce does one poll of the watch loop: the stable model, then the
// canary (ReloadCanary), so that promoting the canary's version to stable
// ends the split in the same poll. It reports whether a new stable model
// was swapped in; canary changes are logged and visible through Canary.
func (s *Server) PollOnce(ctx context.Context) bool {
	swapped := s.pollStable(ctx)
	if s.deps.Canary != nil && s.deps.Canary.Watch != nil {
		if _, err := s.ReloadCanary(ctx, "poll"); err != nil {
			s.log.Debug("canary poll failed", "err", err)
		}
	}
	return swapped
}

// pollStable follows Deps.Watch, or retries the whole cascade while no
// model is loaded.
func (s *Server) pollStable(ctx context.Context) bool {
	if s.deps.Loader == nil {
		return false
	}
	if s.current.Load() == nil {
		s.reloadMu.Lock()
		defer s.reloadMu.Unlock()
		if s.current.Load() != nil {
			return false // the start-up load finished meanwhile
		}
		_, err := s.loadAndSwap(ctx, "poll", s.deps.Loader.Sources...)
		return err == nil
	}
	if s.deps.Watch == nil {
		return false
	}
	mv, err := s.deps.Watch.Resolve(ctx)
	if err != nil {
		s.log.Debug("registry poll failed", "err", err)
		return false
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if cur := s.current.Load(); cur != nil && cur.is(mv) {
		return false
	}
	s.log.Info("registry points at a new version; loading it", "uri", s.deps.Watch.URI.String(), "version", mv.Version)
	_, err = s.loadAndSwap(ctx, "poll", s.deps.Watch)
	return err == nil
}

// is reports whether l is the registry version mv: the same artifact
// digest, or the same name and version from the registry.
func (l *loaded) is(mv *mlops.ModelVersion) bool {
	return l.info.SHA256 != "" && l.info.SHA256 == mv.SHA256 ||
		l.source == "registry" && l.info.Name == mv.Name && l.info.Version == strconv.Itoa(mv.Version)
}
