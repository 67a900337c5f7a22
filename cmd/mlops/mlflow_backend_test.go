package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/blob"
	"github.com/housing-mlops/mlops/mlflow"
	"github.com/housing-mlops/mlops/sqlite"
)

// TestRunLogsToAnMLflowServer points the pipeline at an MLflow REST server
// (our own handler over a SQLite store stands in for one) for tracking,
// registry and artifacts, and checks that what the pipeline produced lives
// on that server.
func TestRunLogsToAnMLflowServer(t *testing.T) {
	ctx := context.Background()
	backing, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer backing.Close()
	arts, err := blob.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	defer arts.Close()
	srv := httptest.NewServer(mlflow.NewHandler(backing, arts, mlflow.Options{}))
	defer srv.Close()

	t.Setenv(envHome, t.TempDir())
	t.Setenv(envTrackingURI, "")
	t.Setenv(envArtifacts, "")
	args := append([]string{"run", "tracking.uri=" + srv.URL, "tracking.artifacts_url=" + srv.URL}, smallRun(t)...)
	var out, errb bytes.Buffer
	if code := execute(ctx, args, &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), tail(errb.String()))
	}
	vs, err := backing.SearchModelVersions(ctx, "housing_price_model")
	if err != nil || len(vs) != 1 || vs[0].Stage != mlops.StageStaging {
		t.Fatalf("versions on the MLflow server: %+v, %v", vs, err)
	}
	if !strings.HasPrefix(vs[0].Source, "mlflow-artifacts:/") {
		t.Errorf("model source %q is not on the MLflow artifact proxy", vs[0].Source)
	}
	runs, _, err := backing.SearchRuns(ctx, mlops.RunFilter{Filter: "tags.`mlops.step` = '07_registration'"})
	if err != nil || len(runs) != 1 {
		t.Fatalf("step runs on the MLflow server: %d, %v", len(runs), err)
	}
}
