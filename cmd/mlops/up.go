package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/housing-mlops/mlops"
)

// upCommand is `mlops up [--addr ADDR] [--config FILE] [section.key=value ...]`:
// the one command a new user runs. When the registry has no Production
// version of the configured model it runs the pipeline (cached steps are
// reused) and promotes the version it registered; then it serves the API
// and the web UI until interrupted.
func upCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("up", stderr)
	addr := fs.String("addr", "", "listen address (default 127.0.0.1:8080, or :PORT when PORT is set)")
	cfgPath := fs.String("config", "", "config file (default ./config.yaml when present, else built-in defaults)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mlops up [--addr 127.0.0.1:8080] [--config FILE] [section.key=value ...]")
		fs.PrintDefaults()
	}
	overrides, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	cfg, err := loadRunConfig(*cfgPath, overrides)
	if err != nil {
		return err
	}
	name := cfg.Registration.RegisteredModelName
	version, err := productionVersion(ctx, cfg.Tracking.URI, name)
	if err != nil {
		return err
	}
	if version == 0 {
		fmt.Fprintf(stdout, "No Production version of %s yet: running the pipeline.\n", name)
		runArgs := overrides
		if *cfgPath != "" {
			runArgs = append([]string{"--config", *cfgPath}, overrides...)
		}
		if err := runCommand(ctx, runArgs, stdout, stderr); err != nil {
			return err
		}
		if version, err = promoteLatest(ctx, cfg.Tracking.URI, name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Promoted %s version %d to Production.\n", name, version)
	}
	serveArgs := []string{"--model", fmt.Sprintf("models:/%s/Production", name), "--store", storeURIOrDefault(cfg.Tracking.URI),
		"--artifacts", artifactsURLOrDefault(cfg.Tracking.ArtifactsURL)}
	if ref, err := exportReference(ctx, cfg.Tracking.URI, cfg.Tracking.ArtifactsURL, name, version); err != nil {
		fmt.Fprintf(stderr, "mlops up: no drift reference or map data: %v\n", err)
	} else if ref != "" {
		serveArgs = append(serveArgs, "--reference", ref, "--target", cfg.Data.Target)
	}
	if *addr != "" {
		serveArgs = append(serveArgs, "--addr", *addr)
	}
	printURLs(stdout, listenAddr(*addr))
	return serveCommand(ctx, serveArgs, stdout, stderr)
}

// productionVersion returns the version of name in Production, or 0.
func productionVersion(ctx context.Context, storeURI, name string) (int, error) {
	if err := os.MkdirAll(homeDir(), 0o755); err != nil {
		return 0, fmt.Errorf("creating %s: %w", homeDir(), err)
	}
	store, err := openStore(ctx, storeURI)
	if err != nil {
		return 0, err
	}
	defer store.Close()
	vs, err := store.LatestVersions(ctx, name, mlops.StageProduction)
	if mlops.ErrorCode(err) == mlops.ENOTFOUND || (err == nil && len(vs) == 0) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return vs[0].Version, nil
}

// promoteLatest moves the newest version of name to Production, archiving
// the previous holder, and returns its number.
func promoteLatest(ctx context.Context, storeURI, name string) (int, error) {
	store, err := openStore(ctx, storeURI)
	if err != nil {
		return 0, err
	}
	defer store.Close()
	vs, err := store.SearchModelVersions(ctx, name)
	if err != nil {
		return 0, err
	}
	if len(vs) == 0 {
		return 0, errors.New("the pipeline registered no model version")
	}
	latest := vs[0]
	for _, v := range vs {
		if v.Version > latest.Version {
			latest = v
		}
	}
	_, err = store.TransitionStage(ctx, name, latest.Version, mlops.StageProduction, true,
		mlops.Actor{By: "mlops up", Reason: "first start: no Production version existed"})
	return latest.Version, err
}

func storeURIOrDefault(uri string) string {
	if uri == "" {
		return defaultStoreURI()
	}
	return uri
}

func artifactsURLOrDefault(url string) string {
	if url == "" {
		return defaultArtifactsURL()
	}
	return url
}

// listenAddr mirrors serve's choice of address.
func listenAddr(flagAddr string) string {
	switch {
	case flagAddr != "":
		return flagAddr
	case os.Getenv("PORT") != "":
		return ":" + os.Getenv("PORT")
	default:
		return "127.0.0.1:8080"
	}
}

func printURLs(w io.Writer, addr string) {
	base := "http://" + addr
	if strings.HasPrefix(addr, ":") {
		base = "http://localhost" + addr
	}
	fmt.Fprintf(w, "\nServing (Ctrl-C stops):\n  web UI    %s/ui/\n  predict   POST %s/api/v1/predict\n  API docs  %s/docs\n  health    %s/health\n  metrics   %s/metrics\n\n",
		base, base, base, base, base)
}

// referenceKey is the pipeline output that serves as the drift reference
// and the map's districts: the training split.
const referenceKey = "train.csv"

// exportReference writes the training split of the pipeline run that
// registered version to $MLOPS_HOME/reference.csv (atomically) and returns
// its path, or "" when that run recorded none.
func exportReference(ctx context.Context, storeURI, artifactsURL, name string, version int) (string, error) {
	store, err := openStore(ctx, storeURI)
	if err != nil {
		return "", err
	}
	defer store.Close()
	arts, err := openArtifacts(ctx, artifactsURL)
	if err != nil {
		return "", err
	}
	defer arts.Close()
	mv, err := store.GetModelVersion(ctx, name, version)
	if err != nil {
		return "", err
	}
	b, _, err := pipelineOutput(ctx, store, arts, mv.RunID, referenceKey)
	if err != nil || b == nil {
		return "", err
	}
	path := filepath.Join(homeDir(), "reference.csv")
	tmp, err := os.CreateTemp(homeDir(), "reference-*.csv")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(tmp.Name(), path)
}
