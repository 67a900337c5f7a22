package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"

	"golang.org/x/term"

	"github.com/housing-mlops/mlops/config"
	"github.com/housing-mlops/mlops/pipeline"
)

// defaultConfigFile is read when --config is not given and it exists.
const defaultConfigFile = "config.yaml"

// runCommand is `mlops run [--config FILE] [--force] [--log-format text|json]
// [key=value ...]`: load the configuration, run the selected steps, write
// best_params.yaml and model_config.yaml to main.output_dir (default: the
// working directory) and print a summary.
func runCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", stderr)
	cfgPath := fs.String("config", "", "config file (default ./config.yaml when present, else built-in defaults)")
	force := fs.Bool("force", false, "re-run steps even when a finished run with the same cache key exists")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mlops run [--config FILE] [--force] [--log-format text|json] [section.key=value ...]")
		fs.PrintDefaults()
	}
	overrides, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	logOut := stderr
	if terminal(stderr) != nil {
		logOut = clearLine{stderr}
	}
	log, err := newLogger(logOut, *logFormat)
	if err != nil {
		return err
	}
	cfg, err := loadRunConfig(*cfgPath, overrides)
	if err != nil {
		return err
	}
	all := pipeline.Steps(cfg, codeVersion())
	selected, err := pipeline.Select(all, cfg.Main.Steps)
	if err != nil {
		return usagef("main.steps: %v", err)
	}
	rep, runErr := runPipeline(ctx, cfg, all, selected, *force, log, stderr)
	if rep == nil {
		return runErr
	}
	files, werr := writeOutputs(ctx, cfg, rep)
	printSummary(stdout, cfg, rep, files, runErr)
	return errors.Join(runErr, werr)
}

// loadRunConfig loads the config file (./config.yaml by default) with
// $MLOPS_HOME defaulting to the absolute home directory.
func loadRunConfig(path string, overrides []string) (*config.Config, error) {
	if path == "" {
		if _, err := os.Stat(defaultConfigFile); err == nil {
			path = defaultConfigFile
		}
	}
	home, err := filepath.Abs(homeDir())
	if err != nil {
		return nil, err
	}
	lookup := func(k string) (string, bool) {
		if v, ok := os.LookupEnv(k); ok && v != "" {
			if k == envHome {
				abs, err := filepath.Abs(v)
				return abs, err == nil
			}
			return v, true
		}
		if k == envHome {
			return home, true
		}
		return "", false
	}
	cfg, err := config.LoadEnv(path, overrides, lookup)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return cfg, nil
}

// runPipeline opens the stores and runs the steps.
func runPipeline(ctx context.Context, cfg *config.Config, all, selected []pipeline.Step, force bool, log *slog.Logger, stderr io.Writer) (*pipeline.Report, error) {
	if err := os.MkdirAll(homeDir(), 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", homeDir(), err)
	}
	store, err := openStore(ctx, cfg.Tracking.URI)
	if err != nil {
		return nil, fmt.Errorf("tracking store %s: %w", cfg.Tracking.URI, err)
	}
	defer store.Close()
	arts, err := openArtifacts(ctx, cfg.Tracking.ArtifactsURL)
	if err != nil {
		return nil, err
	}
	defer arts.Close()
	r := &pipeline.Runner{
		Tracker: store, Registry: store, Artifacts: arts, Log: log,
		Experiment: cfg.Main.ExperimentName, RunName: cfg.Main.ProjectName,
		CodeVersion: cacheCodeVersion(), ConfigHash: cfg.Hash(), DataKey: pipeline.KeyRaw, Force: force,
		ProgressOut: terminal(stderr),
	}
	return r.Run(ctx, all, selected)
}

// cacheCodeVersion is the code version that enters cache keys: the VCS
// revision, plus the executable's SHA-256 when the build is not a clean
// commit, so a rebuilt binary with changed steps never reuses stale outputs.
func cacheCodeVersion() string {
	v := codeVersion()
	if info, ok := debug.ReadBuildInfo(); ok && v != "devel" {
		clean := true
		for _, s := range info.Settings {
			if s.Key == "vcs.modified" && s.Value == "true" {
				clean = false
			}
		}
		if clean {
			return v
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return v
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		return v
	}
	sum := sha256.Sum256(b)
	return v + "+" + hex.EncodeToString(sum[:6])
}

// newLogger logs to w as text or JSON.
func newLogger(w io.Writer, format string) (*slog.Logger, error) {
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, nil)), nil
	}
	return nil, usagef("--log-format: want text or json, got %q", format)
}

// clearLine erases a half-drawn progress bar before each log record (slog
// writes a record in one Write), so bar and log lines do not run together.
type clearLine struct{ w io.Writer }

func (c clearLine) Write(p []byte) (int, error) {
	if _, err := io.WriteString(c.w, "\r\x1b[K"); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// terminal returns w when it is a terminal (progress bars), else nil (log
// lines).
func terminal(w io.Writer) io.Writer {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return f
	}
	return nil
}
