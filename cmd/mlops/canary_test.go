package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops"
)

// TestServeCanaryMLflowAndUI runs `mlops serve` with a canary version, then
// checks the traffic split, `mlops canary check`, the mounted MLflow REST
// API and the UI redirect against the running server.
func TestServeCanaryMLflowAndUI(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	storePath, artsURL, store, arts := openTestRegistry(t, dir)
	register(t, ctx, store, arts, "models/housing/1/model.json", ridgeArtifact(t, 1))
	info, err := arts.Put(ctx, "models/housing/2/model.json", bytes.NewReader(ridgeArtifact(t, 1000)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateModelVersion(ctx, mlops.ModelVersionCreate{Name: "housing", Source: info.URI, SHA256: info.SHA256}); err != nil {
		t.Fatal(err)
	}

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- serveCommand(sctx, []string{"--addr", "127.0.0.1:0", "--model", "models:/housing/Production",
			"--store", storePath, "--artifacts", artsURL, "--poll", "0", "--prediction-log", "",
			"--canary-version", "2", "--canary-percent", "30"}, io.Discard, pw)
		pw.Close()
	}()
	addr := waitServing(t, pr)
	base := "http://" + addr

	// MLflow's REST API answers on the same port.
	resp, err := http.Get(base + "/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default")
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Experiment struct {
			ExperimentID string `json:"experiment_id"`
			Name         string `json:"name"`
		} `json:"experiment"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&exp)
	resp.Body.Close()
	if resp.StatusCode != 200 || exp.Experiment.ExperimentID != "0" || exp.Experiment.Name != "Default" {
		t.Fatalf("MLflow get-by-name: %d %+v", resp.StatusCode, exp)
	}

	// / redirects to the UI, which answers.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("GET /: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, err = http.Get(base + "/ui/"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /ui/: %v %v", resp.Status, err)
	}
	resp.Body.Close()

	// The canary loads in the background after the stable model: wait for
	// it, then count which version answers.
	body := `{"instances":[{"longitude":-122.23,"latitude":37.88,"housing_median_age":41,"total_rooms":880,"total_bedrooms":129,"population":322,"households":126,"median_income":8.3252,"ocean_proximity":"near bay"}]}`
	predictVersion := func() string {
		resp, err := http.Post(base+"/api/v1/predict", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got struct {
			ModelVersion string `json:"model_version"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&got)
		return got.ModelVersion
	}
	for i := 0; predictVersion() != "2"; i++ {
		if i == 2000 {
			t.Fatal("the canary never answered")
		}
	}
	counts := map[string]int{}
	const n = 400
	for i := 0; i < n; i++ {
		counts[predictVersion()]++
	}
	if share := float64(counts["2"]) / n; share < 0.22 || share > 0.38 || counts["1"]+counts["2"] != n {
		t.Errorf("canary share %.3f (%v), want about 0.30", share, counts)
	}

	var out bytes.Buffer
	err = canaryCommand(ctx, []string{"check", "--url", base, "--max-latency-ratio", "1000", "--min-requests", "50"}, &out, io.Discard)
	if err != nil || !strings.Contains(out.String(), "canary OK") || !strings.Contains(out.String(), "stable") {
		t.Errorf("canary check on a healthy pair: %v\n%s", err, out.String())
	}
	out.Reset()
	err = canaryCommand(ctx, []string{"check", "--url", base, "--min-requests", "100000"}, &out, io.Discard)
	if err == nil || !strings.Contains(out.String(), "FAIL") {
		t.Errorf("canary check with too little traffic passed: %s", out.String())
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve returned %v after cancellation", err)
	}
}

func TestCanaryCommandUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"nope"}, {"check", "--url", "ftp://x"}, {"check", "extra"}} {
		var ue usageError
		if err := canaryCommand(t.Context(), args, io.Discard, io.Discard); !asUsage(err, &ue) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}

func asUsage(err error, ue *usageError) bool {
	u, ok := err.(usageError)
	if ok {
		*ue = u
	}
	return ok
}
