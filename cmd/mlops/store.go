package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
	// envStoreReadOnly is the default of mlops serve --store-read-only.
	envStoreReadOnly = "MLOPS_STORE_READ_ONLY"
)

// envBool reads a boolean environment variable; unset or empty is false.
func envBool(name string) (bool, error) {
	v := os.Getenv(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, usagef("%s=%q: want true or false", name, v)
	}
	return b, nil
}

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
	return openStoreMode(ctx, uri, false)
}

// openStoreMode is openStore; with readOnly a SQLite file is opened with
// sqlite.OpenReadOnly (no migrations, nothing written, the directory may be
// read-only). Other stores open as usual: a database server is made
// read-only by its grants, not by the client.
func openStoreMode(ctx context.Context, uri string, readOnly bool) (mlops.Store, error) {
	if uri == "" {
		uri = defaultStoreURI()
	}
	p, isFile, err := sqlitePath(uri)
	if err != nil {
		return nil, err
	}
	if isFile {
		open := sqlite.Open
		if readOnly {
			open = sqlite.OpenReadOnly
		}
		db, err := open(ctx, p)
		if err != nil {
			return nil, err // not a nil *sqlite.DB in a non-nil interface
		}
		return db, nil
	}
	switch {
	case mlflow.IsTrackingURI(uri):
		// An MLflow tracking server is the store; credentials come from
		// MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD.
		return mlflow.NewClient(uri, mlflow.ClientOptionsFromEnv(os.Getenv))
	case strings.HasPrefix(uri, "postgres://"), strings.HasPrefix(uri, "postgresql://"):
		return postgres.Open(ctx, uri)
	}
	return nil, mlops.Errorf(mlops.EINVALID, "unsupported store URI %q: want sqlite:///path, a file path, postgres://... or an MLflow http(s):// URL", uri)
}

// sqlitePath returns the database file of a SQLite store URI (sqlite://PATH
// or a plain path) and whether uri names one; "" means the default store.
func sqlitePath(uri string) (string, bool, error) {
	if uri == "" {
		uri = defaultStoreURI()
	}
	if p, ok := strings.CutPrefix(uri, "sqlite://"); ok {
		if p == "" {
			return "", true, mlops.Errorf(mlops.EINVALID, "store URI %q has no path", uri)
		}
		return p, true, nil
	}
	if strings.Contains(uri, "://") {
		return "", false, nil
	}
	return uri, true, nil
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
