package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

	// Serving resolves models:/NAME@champion and downloads the artifact
	// through the same MLflow server.
	if err := backing.SetAlias(ctx, "housing_price_model", "champion", vs[0].Version, mlops.Actor{By: "test"}); err != nil {
		t.Fatal(err)
	}
	addr := freeLoopbackAddr(t)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	var sout, serr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- execute(sctx, []string{"serve", "--addr", addr, "--store", srv.URL, "--artifacts", srv.URL,
			"--model", "models:/housing_price_model@champion", "--prediction-log", "", "--poll", "0"}, &sout, &serr)
	}()
	awaitReady(t, "http://"+addr+"/health/ready", done, time.Minute)
	resp, err := http.Get("http://" + addr + "/api/v1/model")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"version":"1"`) {
		t.Errorf("model info through MLflow: %d %s", resp.StatusCode, body)
	}
	stop()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d: %s", code, tail(serr.String()))
	}
}
