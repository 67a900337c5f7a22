package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/config"
	mlopshttp "github.com/housing-mlops/mlops/http"
	"github.com/housing-mlops/mlops/ml/frame"
	"github.com/housing-mlops/mlops/mlflow"
	"github.com/housing-mlops/mlops/monitor"
	"github.com/housing-mlops/mlops/ui"
	"github.com/housing-mlops/mlops/ui/prommon"
)

// envAdminToken holds the admin bearer token; it is read from the
// environment only, never from a flag, so it stays out of process lists.
const envAdminToken = "MLOPS_ADMIN_TOKEN"

// serveFlags are the options of mlops serve.
type serveFlags struct {
	addr, model, store, artifacts, modelURL, modelFile, sha, name string
	poll, shutdown, loadTimeout, driftEvery                       time.Duration
	maxBatch, driftWindow                                         int
	maxBody                                                       int64
	cors, predLog, reference, target                              string
	sample, level                                                 float64
	canaryVersion                                                 int
	canaryPercent                                                 float64
	mlflow, ui, storeReadOnly                                     bool
}

func parseServeFlags(args []string, stderr io.Writer) (*serveFlags, error) {
	def := config.Default()
	f := &serveFlags{}
	fs := newFlagSet("serve", stderr)
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "listen address (PORT in the environment means :PORT unless --addr is given)")
	fs.StringVar(&f.model, "model", "", "registry model URI: models:/NAME/STAGE, models:/NAME@ALIAS or models:/NAME/VERSION (default models:/"+
		def.Registration.RegisteredModelName+"/Production unless --model-url or --model-file is given)")
	fs.StringVar(&f.store, "store", "", "registry store URI (default $MLOPS_TRACKING_URI or $MLOPS_HOME/mlops.db)")
	readOnly, err := envBool(envStoreReadOnly)
	if err != nil {
		return nil, err
	}
	fs.BoolVar(&f.storeReadOnly, "store-read-only", readOnly, "open a SQLite registry read-only: no migrations, nothing written beside it, so its directory may be a read-only volume; "+
		"registry changes through the MLflow API and the UI are refused (default $"+envStoreReadOnly+")")
	fs.StringVar(&f.artifacts, "artifacts", "", "artifact store URL (default $MLOPS_ARTIFACTS or file://$MLOPS_HOME/artifacts)")
	fs.StringVar(&f.modelURL, "model-url", "", "fallback: artifact key or URI in the artifact store")
	fs.StringVar(&f.modelFile, "model-file", "", "fallback: local artifact file (digest checked against FILE.sha256 when present)")
	fs.StringVar(&f.sha, "sha256", "", "expected SHA-256 of the --model-url / --model-file artifact")
	fs.StringVar(&f.name, "name", "", "model name served when the artifact does not come from the registry (default: the --model name)")
	fs.DurationVar(&f.poll, "poll", 30*time.Second, "registry poll interval for hot reload (0 disables)")
	fs.DurationVar(&f.shutdown, "shutdown-timeout", 30*time.Second, "how long shutdown waits for in-flight requests")
	fs.DurationVar(&f.loadTimeout, "load-timeout", 30*time.Second, "timeout of one load attempt from one source")
	fs.IntVar(&f.maxBatch, "max-batch", 100, "largest number of instances in one predict request (serve.max_batch)")
	fs.Int64Var(&f.maxBody, "max-body-bytes", 1<<20, "largest request body (serve.max_body_bytes)")
	fs.StringVar(&f.cors, "cors", "", "comma-separated origins allowed to call the API from a browser (none by default)")
	fs.StringVar(&f.predLog, "prediction-log", filepath.Join(homeDir(), "predictions"), "prediction log directory (\"\" disables)")
	fs.Float64Var(&f.sample, "log-sample", 1, "fraction of predictions written to the prediction log, in (0,1]")
	fs.StringVar(&f.reference, "reference", "", "reference CSV (training data) for live drift; \"\" disables drift")
	fs.StringVar(&f.target, "target", def.Data.Target, "target column of the reference CSV (left out of drift)")
	fs.IntVar(&f.driftWindow, "drift-window", 1000, "predictions kept in the drift window")
	fs.DurationVar(&f.driftEvery, "drift-interval", 30*time.Second, "how often drift is recomputed")
	fs.Float64Var(&f.level, "level", 0.9, "nominal coverage of the prediction intervals")
	fs.IntVar(&f.canaryVersion, "canary-version", 0, "registry version served as a canary to --canary-percent of requests (default: the version the alias @canary points at, followed by hot reload)")
	fs.Float64Var(&f.canaryPercent, "canary-percent", 0, "share of predict requests, in percent, sent to the canary (0 disables the canary)")
	fs.BoolVar(&f.mlflow, "mlflow", true, "serve MLflow's REST API over the registry store under /api/2.0/mlflow/ (needs --model from the registry)")
	fs.BoolVar(&f.ui, "ui", true, "serve the web UI under /ui/")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mlops serve [--addr 127.0.0.1:8080] [--model URI] [--store URI] [--artifacts URL] [--poll 30s] [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if port := os.Getenv("PORT"); port != "" && !set["addr"] {
		f.addr = ":" + port
	}
	if f.model == "" && f.modelURL == "" && f.modelFile == "" {
		f.model = "models:/" + def.Registration.RegisteredModelName + "/Production"
	}
	if err := f.validate(); err != nil {
		return nil, err
	}
	return f, nil
}

// validate checks the ranges of the numeric flags and the flags that only
// make sense together, after the defaults are filled in.
func (f *serveFlags) validate() error {
	switch {
	case f.sample <= 0 || f.sample > 1:
		return usagef("--log-sample %v: want a fraction in (0,1]", f.sample)
	case f.level <= 0 || f.level >= 1:
		return usagef("--level %v: want a level in (0,1)", f.level)
	case f.maxBatch < 1 || f.maxBody < 1:
		return usagef("--max-batch and --max-body-bytes must be positive")
	case f.poll < 0:
		return usagef("--poll %v: want a positive duration or 0", f.poll)
	case f.canaryPercent < 0 || f.canaryPercent >= 100:
		return usagef("--canary-percent %v: want a share in [0, 100)", f.canaryPercent)
	case f.canaryVersion < 0:
		return usagef("--canary-version %d: want a version >= 1", f.canaryVersion)
	case f.canaryVersion > 0 && f.canaryPercent == 0:
		return usagef("--canary-version needs --canary-percent")
	case f.canaryPercent > 0 && f.model == "":
		return usagef("--canary-percent needs a registry --model (the canary is a version of that model)")
	}
	return nil
}

// serveCommand runs the prediction server until ctx is cancelled (SIGINT or
// SIGTERM), then drains in-flight requests and returns nil (exit 0).
func serveCommand(ctx context.Context, args []string, _, stderr io.Writer) error {
	f, err := parseServeFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	w, err := wireServer(f, log)
	if err != nil {
		return err
	}
	defer w.close(log)

	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.addr, err)
	}
	// Load in the background so liveness answers at once; until a model
	// is in, readiness is 503 and predict answers 503 with the reason.
	go func() {
		if err := w.srv.Load(ctx); err != nil {
			log.Error("no model loaded at start-up; serving 503 until one loads", "err", err)
		}
		if w.canary {
			// The poller keeps the canary in step with the registry
			// from here on (--poll).
			if _, err := w.srv.ReloadCanary(ctx, "startup"); err != nil {
				log.Error("canary not loaded; the stable model serves all traffic", "err", err)
			}
		}
	}()
	if w.drift != nil {
		go w.drift.Run(ctx)
	}
	log.Info("serving", "addr", ln.Addr().String())
	return w.srv.Serve(ctx, ln)
}

// wired is a server and the resources it holds.
type wired struct {
	srv     *mlopshttp.Server
	drift   *mlopshttp.DriftMonitor
	canary  bool       // --canary-percent: Deps.Canary is set
	reg     *lazyStore // nil without a registry --model
	closers []io.Closer
}

func (w *wired) close(log *slog.Logger) {
	for i := len(w.closers) - 1; i >= 0; i-- {
		if err := w.closers[i].Close(); err != nil {
			log.Warn("close", "err", err)
		}
	}
}

// wireServer builds the load cascade (registry → blob → file), the monitor
// and the server from the flags.
func wireServer(f *serveFlags, log *slog.Logger) (*wired, error) {
	w := &wired{}
	deps := mlopshttp.Deps{Logger: log, Checks: map[string]mlopshttp.Checker{}}
	arts := &lazyArtifacts{url: f.artifacts}
	w.closers = append(w.closers, arts)
	if err := wireLoader(f, log, w, arts, &deps); err != nil {
		return nil, err
	}

	obs, err := wireMonitor(f, log, w)
	if err != nil {
		w.close(log)
		return nil, err
	}
	if obs.Log != nil || obs.Window != nil {
		deps.Observer = obs
	}
	if w.drift != nil {
		deps.Drift = w.drift
	}
	poll := f.poll
	if poll == 0 {
		poll = -1 // the server's "no polling"
	}
	w.srv = mlopshttp.New(mlopshttp.Config{
		MaxBatch: f.maxBatch, MaxBodyBytes: f.maxBody, CORSOrigins: splitOrigins(f.cors),
		AdminToken: os.Getenv(envAdminToken), PollInterval: poll,
		LoadTimeout: f.loadTimeout, ShutdownTimeout: f.shutdown,
	}, deps)
	if os.Getenv(envAdminToken) == "" {
		log.Info("admin routes disabled: " + envAdminToken + " is not set")
	}
	if err := mountExtras(f, log, w, arts); err != nil {
		w.close(log)
		return nil, err
	}
	return w, nil
}

// wireLoader sets deps.Loader to the load cascade of the flags (registry
// → blob → file), with the health checks and the registry watch that go
// with its sources.
func wireLoader(f *serveFlags, log *slog.Logger, w *wired, arts *lazyArtifacts, deps *mlopshttp.Deps) error {
	name := f.name
	var sources []mlopshttp.Source
	if f.model != "" || f.modelURL != "" {
		deps.Checks["artifact_store"] = mlopshttp.CheckerFunc(arts.check)
	}
	if f.model != "" {
		src, err := wireRegistry(f, log, w, arts)
		if err != nil {
			return err
		}
		if name == "" {
			name = src.URI.Name
		}
		sources = append(sources, src)
		deps.Watch = src
		deps.Checks["registry"] = src
		deps.Canary = wireCanary(f, log, src, arts)
		w.canary = deps.Canary != nil
	}
	if f.modelURL != "" {
		sources = append(sources, &mlopshttp.BlobSource{Store: arts, Key: f.modelURL, SHA256: f.sha})
	}
	if f.modelFile != "" {
		sources = append(sources, &mlopshttp.FileSource{Path: f.modelFile, SHA256: f.sha})
	}
	if name == "" {
		name = "model"
	}
	deps.Loader = &mlopshttp.Cascade{Sources: sources, Decode: mlopshttp.WithMemoryLimit(mlopshttp.ArtifactDecoder(name, f.level)), Timeout: f.loadTimeout, Logger: log}
	return nil
}

// wireRegistry opens (lazily) the registry store named by --store and
// returns the registry source of --model.
func wireRegistry(f *serveFlags, log *slog.Logger, w *wired, arts *lazyArtifacts) (*mlopshttp.RegistrySource, error) {
	u, err := mlopshttp.ParseModelURI(f.model)
	if err != nil {
		return nil, usagef("--model: %v", err)
	}
	reg := &lazyStore{uri: f.store, readOnly: f.storeReadOnly}
	w.closers = append(w.closers, reg)
	w.reg = reg
	if f.storeReadOnly {
		if _, isFile, _ := sqlitePath(f.store); isFile {
			log.Info("registry store opens read-only: the MLflow API and the UI cannot change it")
		} else {
			log.Warn("--store-read-only applies to SQLite files only; this store opens read-write (make it read-only with the database's grants)")
		}
	}
	return &mlopshttp.RegistrySource{URI: u, Registry: reg, Artifacts: arts, Breaker: mlopshttp.NewBreaker(3, 30*time.Second)}, nil
}

// wireCanary returns the canary of --canary-percent (nil without it): the
// version --canary-version pins, else the one the alias @canary of the
// stable model points at, followed by the poller. It shares the stable
// source's registry and breaker: one registry, one view of its health.
func wireCanary(f *serveFlags, log *slog.Logger, stable *mlopshttp.RegistrySource, arts *lazyArtifacts) *mlopshttp.CanaryWatch {
	if f.canaryPercent <= 0 {
		return nil
	}
	name := stable.URI.Name
	cu := mlopshttp.ModelURI{Name: name, Alias: "canary"}
	if f.canaryVersion > 0 {
		cu = mlopshttp.ModelURI{Name: name, Version: f.canaryVersion}
	}
	src := &mlopshttp.RegistrySource{URI: cu, Registry: stable.Registry, Artifacts: arts, Breaker: stable.Breaker}
	return &mlopshttp.CanaryWatch{
		Loader: &mlopshttp.Cascade{Sources: []mlopshttp.Source{src}, Decode: mlopshttp.WithMemoryLimit(mlopshttp.ArtifactDecoder(name, f.level)), Timeout: f.loadTimeout, Logger: log},
		Watch:  src, Percent: f.canaryPercent,
	}
}

// splitOrigins turns the comma-separated --cors list into origins,
// dropping blanks.
func splitOrigins(list string) []string {
	var origins []string
	for _, o := range strings.Split(list, ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	return origins
}

// mountExtras mounts MLflow's REST API (over the registry store) and the
// web UI on the server. Both need the stores open now, not lazily: when the
// registry cannot be opened at start-up they are left out (logged) and the
// prediction API serves on.
//
// MLflow's write endpoints are open, as on an MLflow tracking server
// without auth: anyone who can reach the port can log runs and move stages.
// Keep the server on a private address, or front it with a proxy that
// authenticates. The UI asks for MLOPS_ADMIN_TOKEN before registry changes.
func mountExtras(f *serveFlags, log *slog.Logger, w *wired, arts *lazyArtifacts) error {
	var st mlops.Store
	var as mlops.ArtifactStore
	if w.reg != nil && (f.mlflow || f.ui) {
		st, as = openExtraStores(f.loadTimeout, log, w.reg, arts)
	}
	if f.mlflow && st != nil && as != nil {
		if err := mountMLflow(log, w.srv, st, as); err != nil {
			return err
		}
	}
	if !f.ui {
		return nil
	}
	return mountUI(f, log, w, st, as)
}

// openExtraStores opens the registry and artifact stores within timeout;
// a store that does not open is logged and returned nil, so the pages
// that need it are left out.
func openExtraStores(timeout time.Duration, log *slog.Logger, reg *lazyStore, arts *lazyArtifacts) (mlops.Store, mlops.ArtifactStore) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	st, err := reg.get(ctx)
	if err != nil {
		log.Warn("registry store unavailable at start-up: MLflow API and UI registry pages are off", "err", err)
		st = nil
	}
	as, err := arts.get(ctx)
	if err != nil {
		log.Warn("artifact store unavailable at start-up: MLflow API and UI artifacts are off", "err", err)
		as = nil
	}
	return st, as
}

// mountMLflow mounts MLflow's REST, artifact and ajax routes over st and as.
func mountMLflow(log *slog.Logger, srv *mlopshttp.Server, st mlops.Store, as mlops.ArtifactStore) error {
	h := mlflow.NewHandler(st, as, mlflow.Options{Logger: log})
	for _, p := range []string{mlflow.APIPrefix, mlflow.ArtifactsPrefix, mlflow.AjaxPrefix} {
		if err := srv.Mount(p, h); err != nil {
			return err
		}
	}
	log.Info("MLflow REST API mounted", "prefix", mlflow.APIPrefix)
	return nil
}

// mountUI mounts the web UI under ui.Prefix (and redirects / to it); st
// and as may be nil, which turns the UI's registry and artifact pages off.
func mountUI(f *serveFlags, log *slog.Logger, w *wired, st mlops.Store, as mlops.ArtifactStore) error {
	deps := ui.Deps{Predictor: ui.APIPredictor{API: w.srv.Handler()}, AdminToken: os.Getenv(envAdminToken),
		Monitor: &prommon.Monitor{Gatherer: w.srv.Registry()}, MaxUploadBytes: f.maxBody, Logger: log,
		AfterRegistryChange: func(ctx context.Context, _ string) {
			if _, err := w.srv.Reload(ctx, "ui"); err != nil {
				log.Warn("reload after a registry change from the UI failed", "err", err)
			}
			if w.canary {
				if _, err := w.srv.ReloadCanary(ctx, "ui"); err != nil {
					log.Info("no canary after a registry change from the UI", "err", err)
				}
			}
		}}
	if st != nil {
		deps.Tracker, deps.Registry = st, st
	}
	if as != nil {
		deps.Artifacts = as
	}
	if w.drift != nil {
		deps.Monitor = &prommon.Monitor{Gatherer: w.srv.Registry(), PSI: w.drift.PSI}
	}
	mapData := ui.MapData{}
	if f.reference != "" {
		if m, err := referenceMap(f.reference, f.target); err != nil {
			log.Warn("UI map has no districts", "err", err)
		} else {
			mapData = ui.MapData(m)
		}
	}
	deps.Map = ui.ModelMap{Base: mapData, Centres: func(context.Context) ([]ui.Centre, error) {
		return servedCentres(w.srv)
	}}
	h, err := ui.New(deps)
	if err != nil {
		return fmt.Errorf("web UI: %w", err)
	}
	if err := w.srv.Mount(ui.Prefix, h); err != nil {
		return err
	}
	return w.srv.Mount("GET /{$}", http.RedirectHandler(ui.Prefix, http.StatusFound))
}

// servedCentres returns the KMeans centres of the model being served, so
// the map follows promotions.
func servedCentres(srv *mlopshttp.Server) ([]ui.Centre, error) {
	m, ok := srv.Model()
	if !ok {
		return nil, nil
	}
	am, ok := m.(*mlopshttp.ArtifactModel)
	if !ok {
		return nil, nil
	}
	return ui.GeoCentres(am.Artifact)
}

// referenceMap loads the map's districts from the reference CSV.
func referenceMap(path, target string) (ui.StaticMap, error) {
	fh, err := os.Open(path)
	if err != nil {
		return ui.StaticMap{}, err
	}
	defer fh.Close()
	ds, err := ui.LoadDistricts(fh, target, ui.DefaultMapPoints)
	if err != nil {
		return ui.StaticMap{}, fmt.Errorf("%s: %w", path, err)
	}
	return ui.StaticMap{Districts: ds, ValueName: target, Source: filepath.Base(path)}, nil
}

// wireMonitor opens the prediction log and the drift window.
func wireMonitor(f *serveFlags, log *slog.Logger, w *wired) (*mlopshttp.MonitorObserver, error) {
	obs := &mlopshttp.MonitorObserver{}
	if f.predLog != "" {
		pl, err := monitor.NewPredictionLog(f.predLog, monitor.LogOptions{SampleRate: f.sample})
		if err != nil {
			return nil, fmt.Errorf("prediction log: %w", err)
		}
		obs.Log = pl
		w.closers = append(w.closers, pl)
	}
	if f.reference == "" {
		return obs, nil
	}
	fr, err := frame.ReadCSVFile(f.reference, frame.CSVOptions{})
	if err != nil {
		return nil, fmt.Errorf("--reference: %w", err)
	}
	ref, err := monitor.FromFrame(fr.Drop(f.target))
	if err != nil {
		return nil, fmt.Errorf("--reference: %w", err)
	}
	win, err := monitor.NewWindow(ref, f.driftWindow, monitor.WindowOptions{OnAlert: mlopshttp.NewDriftAlertLogger(log)})
	if err != nil {
		return nil, fmt.Errorf("drift window: %w", err)
	}
	obs.Window = win
	w.drift = &mlopshttp.DriftMonitor{Window: win, Interval: f.driftEvery, Logger: log}
	return obs, nil
}

// lazyStore opens the registry store on first use and again after a failed
// open, so a registry that is down at start-up is picked up when it comes
// back (the server meanwhile serves a fallback artifact).
type lazyStore struct {
	uri      string
	readOnly bool // see openStoreMode
	mu       sync.Mutex
	st       mlops.Store
}

func (l *lazyStore) get(ctx context.Context) (mlops.Store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st != nil {
		return l.st, nil
	}
	st, err := openStoreMode(ctx, l.uri, l.readOnly)
	if err != nil {
		return nil, fmt.Errorf("open registry: %w", err)
	}
	l.st = st
	return st, nil
}

func (l *lazyStore) GetModelVersion(ctx context.Context, name string, version int) (*mlops.ModelVersion, error) {
	st, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return st.GetModelVersion(ctx, name, version)
}

func (l *lazyStore) GetModelVersionByAlias(ctx context.Context, name, alias string) (*mlops.ModelVersion, error) {
	st, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return st.GetModelVersionByAlias(ctx, name, alias)
}

func (l *lazyStore) LatestVersions(ctx context.Context, name string, stages ...mlops.Stage) ([]*mlops.ModelVersion, error) {
	st, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return st.LatestVersions(ctx, name, stages...)
}

// Close closes the store if it was opened.
func (l *lazyStore) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st == nil {
		return nil
	}
	err := l.st.Close()
	l.st = nil
	return err
}

// lazyArtifacts opens the artifact store on first use (and retries a
// failed open), like lazyStore.
type lazyArtifacts struct {
	url string
	mu  sync.Mutex
	st  mlops.ArtifactStore
}

func (l *lazyArtifacts) get(ctx context.Context) (mlops.ArtifactStore, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st != nil {
		return l.st, nil
	}
	st, err := openArtifacts(ctx, l.url)
	if err != nil {
		return nil, err
	}
	l.st = st
	return st, nil
}

// Get reads an artifact.
func (l *lazyArtifacts) Get(ctx context.Context, keyOrURI, wantSHA256 string) ([]byte, error) {
	st, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return st.Get(ctx, keyOrURI, wantSHA256)
}

// check lists an unlikely prefix: cheap, and it proves the store answers.
func (l *lazyArtifacts) check(ctx context.Context) error {
	st, err := l.get(ctx)
	if err != nil {
		return err
	}
	if _, err := st.List(ctx, ".mlops-health-probe/"); err != nil && mlops.ErrorCode(err) != mlops.ENOTFOUND {
		return err
	}
	return nil
}

// Close closes the store if it was opened.
func (l *lazyArtifacts) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.st == nil {
		return nil
	}
	err := l.st.Close()
	l.st = nil
	return err
}
