package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/ml/frame"
	"github.com/housing-mlops/mlops/ml/impute"
	"github.com/housing-mlops/mlops/ml/linear"
	"github.com/housing-mlops/mlops/ml/model"
	"github.com/housing-mlops/mlops/ml/preprocess"
)

// ridgeArtifact trains a small ridge model on the first rows of housing.csv;
// alpha makes different versions predict differently.
func ridgeArtifact(t *testing.T, alpha float64) []byte {
	t.Helper()
	f, err := frame.ReadCSVFile("../../testdata/housing.csv", frame.CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]int, 400)
	for i := range rows {
		rows[i] = i * 40
	}
	tr := f.Select(rows)
	num := []string{"longitude", "latitude", "housing_median_age", "total_rooms", "total_bedrooms", "population", "households", "median_income"}
	ct, err := preprocess.NewColumnTransformer(
		preprocess.Numeric("num", num, impute.NewSimple("median"), preprocess.NewStandardScaler()),
		preprocess.Categorical("cat", []string{"ocean_proximity"}, preprocess.NewOneHotEncoder(true)),
	)
	if err != nil {
		t.Fatal(err)
	}
	X, err := ct.FitTransform(tr)
	if err != nil {
		t.Fatal(err)
	}
	y, _ := tr.Numeric("median_house_value")
	reg := linear.NewRidge(alpha)
	if err := reg.Fit(X, y); err != nil {
		t.Fatal(err)
	}
	schema, err := model.SchemaFromFrame(tr, nil, "median_house_value")
	if err != nil {
		t.Fatal(err)
	}
	a, err := model.New(schema, ct, reg, model.Meta{CreatedAt: time.Unix(0, 0).UTC()})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := a.Save(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// register stores an artifact and registers it as a new version in stage.
func register(t *testing.T, ctx context.Context, store mlops.Store, arts mlops.ArtifactStore, key string, data []byte) *mlops.ModelVersion {
	t.Helper()
	info, err := arts.Put(ctx, key, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	mv, err := store.CreateModelVersion(ctx, mlops.ModelVersionCreate{Name: "housing", Source: info.URI, SHA256: info.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.TransitionStage(ctx, "housing", mv.Version, mlops.StageProduction, true, mlops.Actor{By: "test"}); err != nil {
		t.Fatal(err)
	}
	return mv
}

// TestServeEndToEnd runs `mlops serve` against a real registry and
// artifact store: it loads the Production version, predicts, reports
// healthy, hot-reloads a promotion, and exits cleanly on cancellation.
func TestServeEndToEnd(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	storePath, artsURL, store, arts := openTestRegistry(t, dir)
	register(t, ctx, store, arts, "models/housing/1/model.json", ridgeArtifact(t, 1))

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- serveCommand(sctx, []string{"--addr", "127.0.0.1:0", "--model", "models:/housing/Production",
			"--store", storePath, "--artifacts", artsURL, "--poll", "20ms", "--prediction-log", filepath.Join(dir, "predlog")}, io.Discard, pw)
		pw.Close()
	}()
	addr := waitServing(t, pr)
	base := "http://" + addr

	version := func() string {
		resp, err := http.Get(base + "/api/v1/model")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m struct{ Version, Source string }
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return m.Version + "/" + m.Source
	}
	if v := version(); v != "1/registry" {
		t.Fatalf("serving %q, want version 1 from the registry", v)
	}
	body := `{"instances":[{"longitude":-122.23,"latitude":37.88,"housing_median_age":41,"total_rooms":880,"total_bedrooms":129,"population":322,"households":126,"median_income":8.3252,"ocean_proximity":"near bay"}]}`
	resp, err := http.Post(base+"/api/v1/predict", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Predictions []struct {
			PredictedPrice float64 `json:"predicted_price"`
		}
		ModelVersion string `json:"model_version"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if resp.StatusCode != 200 || got.ModelVersion != "1" || len(got.Predictions) != 1 || got.Predictions[0].PredictedPrice == 0 {
		t.Fatalf("predict: %d %+v", resp.StatusCode, got)
	}

	var out bytes.Buffer
	if err := healthCommand(ctx, []string{"--url", base + "/health/deep"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), `"healthy"`) {
		t.Fatalf("health: %v %s", err, out.String())
	}

	// Promote a new version: the poller picks it up.
	register(t, ctx, store, arts, "models/housing/2/model.json", ridgeArtifact(t, 1000))
	for i := 0; version() != "2/registry"; i++ {
		if i == 500 {
			t.Fatalf("promotion not picked up; serving %q", version())
		}
		time.Sleep(10 * time.Millisecond) // polling an external process's state
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve returned %v after cancellation", err)
	}
	if err := healthCommand(ctx, []string{"--url", base + "/health", "--timeout", "1s"}, io.Discard, io.Discard); err == nil {
		t.Fatal("health succeeded against a stopped server")
	}
}

// waitServing reads the server's JSON log until it is serving and has a
// model, and returns its address; the rest of the log is drained in the
// background.
func waitServing(t *testing.T, r io.Reader) string {
	t.Helper()
	sc := bufio.NewScanner(r)
	addr, loaded := "", false
	for sc.Scan() {
		var line struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		switch line.Msg {
		case "serving":
			addr = line.Addr
		case "model swapped in":
			loaded = true
		}
		if addr != "" && loaded {
			go func() { _, _ = io.Copy(io.Discard, r) }()
			return addr
		}
	}
	t.Fatal("server exited before serving a model")
	return ""
}

func TestServeFlags(t *testing.T) {
	t.Setenv("PORT", "9999")
	f, err := parseServeFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if f.addr != ":9999" || !strings.HasPrefix(f.model, "models:/") {
		t.Fatalf("defaults: addr %q model %q", f.addr, f.model)
	}
	f, err = parseServeFlags([]string{"--addr", "127.0.0.1:1", "--model-file", "m.json"}, io.Discard)
	if err != nil || f.addr != "127.0.0.1:1" || f.model != "" {
		t.Fatalf("explicit addr / file only: %+v %v", f, err)
	}
	for _, bad := range [][]string{{"--level", "1"}, {"--log-sample", "0"}, {"--max-batch", "0"}, {"extra"}, {"--poll", "-1s"}} {
		if _, err := parseServeFlags(bad, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if code := execute(t.Context(), []string{"serve", "--model", "nope"}, io.Discard, io.Discard); code != 2 {
		t.Errorf("bad --model exits %d, want 2", code)
	}
}

func TestHealthCommandErrors(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"status":"not_ready"}`, http.StatusServiceUnavailable)
	}))
	defer down.Close()
	err := healthCommand(t.Context(), []string{"--url", down.URL + "/health/ready"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("503 answer: %v", err)
	}
	if err := healthCommand(t.Context(), []string{"--url", "ftp://x"}, io.Discard, io.Discard); err == nil {
		t.Error("ftp URL accepted")
	}
}

// TestServeFallsBackToBlob starts with an unreachable registry: the blob
// fallback serves, and /health/deep says degraded while staying 200.
func TestServeFallsBackToBlob(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	artsURL := "file://" + filepath.Join(dir, "artifacts")
	arts, err := openArtifacts(ctx, artsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer arts.Close()
	info, err := arts.Put(ctx, "fallback/model.json", bytes.NewReader(ridgeArtifact(t, 1)))
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- serveCommand(sctx, []string{"--addr", "127.0.0.1:0", "--model", "models:/housing/Production",
			"--store", "postgres://127.0.0.1:1/nope?connect_timeout=1", "--artifacts", artsURL,
			"--model-url", "fallback/model.json", "--sha256", info.SHA256, "--poll", "0",
			"--load-timeout", "2s", "--prediction-log", ""}, io.Discard, pw)
		pw.Close()
	}()
	base := "http://" + waitServing(t, pr)
	resp, err := http.Get(base + "/health/deep")
	if err != nil {
		t.Fatal(err)
	}
	var deep struct {
		Status       string
		ModelLoaded  bool `json:"model_loaded"`
		Dependencies map[string]string
	}
	_ = json.NewDecoder(resp.Body).Decode(&deep)
	resp.Body.Close()
	if resp.StatusCode != 200 || deep.Status != "degraded" || !deep.ModelLoaded ||
		!strings.HasPrefix(deep.Dependencies["registry"], "degraded: ") || deep.Dependencies["artifact_store"] != "healthy" {
		t.Fatalf("deep health: %d %+v", resp.StatusCode, deep)
	}
	resp, err = http.Get(base + "/api/v1/model")
	if err != nil {
		t.Fatal(err)
	}
	var m struct{ Source string }
	_ = json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if m.Source != "blob" {
		t.Fatalf("served from %q, want blob", m.Source)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// openTestRegistry opens the embedded store and a file artifact folder in
// dir, as `mlops serve` would find them, closed when the test ends.
func openTestRegistry(t *testing.T, dir string) (storePath, artsURL string, store mlops.Store, arts mlops.ArtifactStore) {
	t.Helper()
	storePath = filepath.Join(dir, "mlops.db")
	artsURL = "file://" + filepath.Join(dir, "artifacts")
	store, err := openStore(t.Context(), storePath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	arts, err = openArtifacts(t.Context(), artsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = arts.Close() })
	return storePath, artsURL, store, arts
}
