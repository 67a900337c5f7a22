package pipeline

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/housing-mlops/mlops/config"
	"github.com/housing-mlops/mlops/dataset"
	"github.com/housing-mlops/mlops/ml/frame"
)

func testConfig(t *testing.T, overrides ...string) *config.Config {
	t.Helper()
	cfg, err := config.LoadEnv("", overrides, func(k string) (string, bool) {
		if k == "MLOPS_HOME" {
			return t.TempDir(), true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// serve answers with failures 500s, then body.
func serve(t *testing.T, failures int32, body []byte) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) <= failures {
			http.Error(w, "busy", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func runDownload(t *testing.T, s *Download) (*Report, *fakeArtifacts, error) {
	t.Helper()
	tr, art := newFakeTracker(), newFakeArtifacts()
	rep, err := newRunner(tr, art).Run(context.Background(), []Step{s}, []Step{s})
	return rep, art, err
}

func TestDownloadRetriesThenSucceeds(t *testing.T) {
	srv, calls := serve(t, 2, dataset.HousingTGZ)
	cfg := testConfig(t, "download_data.file_url="+srv.URL, "download_data.retries=3")
	rep, art, err := runDownload(t, &Download{Cfg: cfg, Backoff: time.Millisecond, Embedded: []byte("never used")})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 {
		t.Fatalf("%d requests, want 3 (two 500s, then success)", calls.Load())
	}
	if got := rep.Steps[0].Summary["data_source"]; got != srv.URL {
		t.Fatalf("data source %q", got)
	}
	raw, err := art.Get(context.Background(), rep.Steps[0].Outputs[KeyRaw].URI, "")
	if err != nil {
		t.Fatal(err)
	}
	f, err := frame.ReadCSV(bytes.NewReader(raw), KeyRaw, frame.CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if f.NumRows() != 20640 || f.NumCols() != 10 {
		t.Fatalf("raw table %dx%d", f.NumRows(), f.NumCols())
	}
	if rep.Steps[0].Metrics["missing_total_bedrooms"] != 207 {
		t.Fatalf("metrics %v", rep.Steps[0].Metrics)
	}
}

func TestDownloadBadChecksumFallsBackToEmbedded(t *testing.T) {
	srv, calls := serve(t, 0, []byte("not the archive"))
	cfg := testConfig(t, "download_data.file_url="+srv.URL, "download_data.retries=1")
	rep, _, err := runDownload(t, &Download{Cfg: cfg, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 || rep.Steps[0].Summary["data_source"] != "embedded:housing.tgz" {
		t.Fatalf("calls %d source %q", calls.Load(), rep.Steps[0].Summary["data_source"])
	}
}

func TestDownloadNoFallbackForOtherData(t *testing.T) {
	srv, _ := serve(t, 100, nil)
	cfg := testConfig(t, "download_data.file_url="+srv.URL, "download_data.retries=0",
		"download_data.sha256="+strings.Repeat("0", 64))
	_, _, err := runDownload(t, &Download{Cfg: cfg, Backoff: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), "embedded archive does not match") {
		t.Fatalf("err = %v", err)
	}
}

func TestDownloadMissingColumnNamed(t *testing.T) {
	srv, _ := serve(t, 0, dataset.HousingTGZ)
	cfg := testConfig(t, "download_data.file_url="+srv.URL, "data.categorical=[ocean_proximity, zipcode]")
	_, _, err := runDownload(t, &Download{Cfg: cfg, Backoff: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), `"zipcode"`) {
		t.Fatalf("err = %v", err)
	}
}
