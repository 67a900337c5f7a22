package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/blob"
	"github.com/housing-mlops/mlops/mlflow"
	"github.com/housing-mlops/mlops/postgres"
	"github.com/housing-mlops/mlops/sqlite"
)

// Environment variables that locate the stores.
const (
	envHome        = "MLOPS_HOME"
	envTrackingURI = "MLOPS_TRACKING_URI"
	envArtifacts   = "MLOPS_ARTIFACTS"
)

// homeDir is where mlops keeps its state by default: $MLOPS_HOME, else
// ./.mlops.
func homeDir() string {
	if h := os.Getenv(envHome); h != "" {
		return h
	}
	return ".mlops"
}

// defaultStoreURI is the tracking store used when neither --store nor
// MLOPS_TRACKING_URI is given: $MLOPS_HOME/mlops.db.
func defaultStoreURI() string {
	if u := os.Getenv(envTrackingURI); u != "" {
		return u
	}
	if u := os.Getenv(mlflow.EnvTrackingURI); u != "" {
		return u
	}
	return filepath.Join(homeDir(), "mlops.db")
}

// defaultArtifactsURL is file://$MLOPS_HOME/artifacts unless MLOPS_ARTIFACTS
// says otherwise.
func defaultArtifactsURL() string {
	if u := os.Getenv(envArtifacts); u != "" {
		return u
	}
	abs, err := filepath.Abs(filepath.Join(homeDir(), "artifacts"))
	if err != nil {
		abs = filepath.Join(homeDir(), "artifacts")
	}
	return "file://" + filepath.ToSlash(abs)
}

// openStore opens the tracking and registry store at uri: sqlite:///abs/path
// or sqlite://rel/path, postgres:// or postgresql:// DSNs, or a plain file
// path (SQLite). "" means the default store.
func openStore(ctx context.Context, uri string) (mlops.Store, error) {
	if uri == "" {
		uri = defaultStoreURI()
	}
	switch {
	case mlflow.IsTrackingURI(uri):
		// An MLflow tracking server is the store; credentials come from
		// MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD.
		return mlflow.NewClient(uri, mlflow.ClientOptionsFromEnv(os.Getenv))
	case strings.HasPrefix(uri, "postgres://"), strings.HasPrefix(uri, "postgresql://"):
		return postgres.Open(ctx, uri)
	case strings.HasPrefix(uri, "sqlite://"):
		p := strings.TrimPrefix(uri, "sqlite://")
		if p == "" {
			return nil, mlops.Errorf(mlops.EINVALID, "store URI %q has no path", uri)
		}
		return sqlite.Open(ctx, p)
	case strings.Contains(uri, "://"):
		return nil, mlops.Errorf(mlops.EINVALID, "unsupported store URI %q: want sqlite:///path, a file path, postgres://... or an MLflow http(s):// URL", uri)
	}
	return sqlite.Open(ctx, uri)
}

// openArtifacts opens the artifact store at url (file://, mem://, s3://,
// gs:// or a directory path); "" means the default.
func openArtifacts(ctx context.Context, url string) (mlops.ArtifactStore, error) {
	if url == "" {
		url = defaultArtifactsURL()
	}
	if mlflow.IsTrackingURI(url) {
		// Artifacts through the MLflow server's artifact proxy.
		return mlflow.NewClient(url, mlflow.ClientOptionsFromEnv(os.Getenv))
	}
	s, err := blob.Open(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("open artifact store: %w", err)
	}
	return s, nil
}
