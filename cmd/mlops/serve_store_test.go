package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/housing-mlops/mlops"
)

// startServe runs `mlops serve` with args until the test ends and returns
// its base URL once it serves a model.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- serveCommand(ctx, append([]string{"--addr", "127.0.0.1:0", "--poll", "20ms"}, args...), io.Discard, pw)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v after cancellation", err)
		}
	})
	return "http://" + waitServing(t, pr)
}

// predictVersion sends one predict request with the given request id and
// returns the model version that answered.
func predictVersion(t *testing.T, base, requestID string) string {
	t.Helper()
	body := `{"instances":[{"longitude":-122.23,"latitude":37.88,"housing_median_age":41,"total_rooms":880,"total_bedrooms":129,"population":322,"households":126,"median_income":8.3252,"ocean_proximity":"near bay"}]}`
	req, err := http.NewRequest("POST", base+"/api/v1/predict", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-ID", requestID)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		ModelVersion string `json:"model_version"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("predict: %d %v", resp.StatusCode, err)
	}
	return got.ModelVersion
}

// TestServeReadOnlyStore serves from a SQLite registry opened with
// --store-read-only, the way the compose api service does: the model
// loads, nothing is written beside the database, registry writes through
// the MLflow API are refused, and a version the pipeline registers later
// is hot-reloaded.
func TestServeReadOnlyStore(t *testing.T) {
	ctx := t.Context()
	home := t.TempDir() // the shared volume: registry and artifacts
	storePath := filepath.Join(home, "mlops.db")
	artsURL := "file://" + filepath.Join(home, "artifacts")
	store, err := openStore(ctx, storePath)
	if err != nil {
		t.Fatal(err)
	}
	arts, err := openArtifacts(ctx, artsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer arts.Close()
	register(t, ctx, store, arts, "models/housing/1/model.json", ridgeArtifact(t, 1))
	if err := store.Close(); err != nil { // the pipeline is done
		t.Fatal(err)
	}
	listHome := func() []string {
		ents, err := os.ReadDir(home)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}
	before := listHome()

	t.Setenv(envStoreReadOnly, "true")
	base := startServe(t, "--model", "models:/housing/Production", "--store", storePath, "--artifacts", artsURL,
		"--prediction-log", filepath.Join(t.TempDir(), "predlog"))
	if v := predictVersion(t, base, "a"); v != "1" {
		t.Fatalf("serving version %q, want 1", v)
	}
	resp, err := http.Post(base+"/api/2.0/mlflow/registered-models/create", "application/json", strings.NewReader(`{"name":"other"}`))
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == 200 || !strings.Contains(string(msg), "read-only") {
		t.Fatalf("MLflow create on a read-only store: %d %s", resp.StatusCode, msg)
	}
	if after := listHome(); !slices.Equal(before, after) {
		t.Fatalf("serving changed the store directory: %v, was %v", after, before)
	}

	// The pipeline registers and promotes version 2 while the server runs.
	store, err = openStore(ctx, storePath)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	register(t, ctx, store, arts, "models/housing/2/model.json", ridgeArtifact(t, 1000))
	for i := 0; predictVersion(t, base, "a") != "2"; i++ {
		if i == 500 {
			t.Fatal("promotion not picked up from the read-only store")
		}
		time.Sleep(10 * time.Millisecond) // polling an external process's state
	}
}

func TestServeReadOnlyFlag(t *testing.T) {
	for env, want := range map[string]bool{"": false, "true": true, "1": true, "false": false} {
		t.Setenv(envStoreReadOnly, env)
		f, err := parseServeFlags(nil, io.Discard)
		if err != nil || f.storeReadOnly != want {
			t.Errorf("%s=%q: read-only %v, err %v; want %v", envStoreReadOnly, env, f != nil && f.storeReadOnly, err, want)
		}
	}
	t.Setenv(envStoreReadOnly, "true")
	if f, err := parseServeFlags([]string{"--store-read-only=false"}, io.Discard); err != nil || f.storeReadOnly {
		t.Errorf("the flag does not override the environment: %+v %v", f, err)
	}
	t.Setenv(envStoreReadOnly, "yes please")
	if _, err := parseServeFlags(nil, io.Discard); err == nil || !strings.Contains(err.Error(), envStoreReadOnly) {
		t.Errorf("bad %s: %v", envStoreReadOnly, err)
	}
	t.Setenv(envStoreReadOnly, "")
	if _, err := openStoreMode(t.Context(), filepath.Join(t.TempDir(), "none.db"), true); mlops.ErrorCode(err) != mlops.ENOTFOUND {
		t.Errorf("read-only open of a missing store: %v", err)
	}
}

// TestServeCanaryFollowsAlias serves @champion with a 50 % canary: the
// canary starts on @canary's version, follows the alias when it moves and
// goes away when it is deleted, without a restart.
func TestServeCanaryFollowsAlias(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	storePath, artsURL, store, arts := openTestRegistry(t, dir)
	for v, alpha := range []float64{1, 100, 1000} {
		info, err := arts.Put(ctx, fmt.Sprintf("models/housing/%d/model.json", v+1), bytes.NewReader(ridgeArtifact(t, alpha)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.CreateModelVersion(ctx, mlops.ModelVersionCreate{Name: "housing", Source: info.URI, SHA256: info.SHA256}); err != nil {
			t.Fatal(err)
		}
	}
	alias := func(name string, version int) {
		t.Helper()
		var err error
		if version == 0 {
			err = store.DeleteAlias(ctx, "housing", name, mlops.Actor{By: "test"})
		} else {
			err = store.SetAlias(ctx, "housing", name, version, mlops.Actor{By: "test"})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	alias("champion", 1)
	alias("canary", 2)
	base := startServe(t, "--model", "models:/housing@champion", "--canary-percent", "50",
		"--store", storePath, "--artifacts", artsURL, "--prediction-log", "", "--ui=false", "--mlflow=false")

	// versionsSeen sends n requests with distinct ids and counts the
	// versions that answered.
	round := 0
	versionsSeen := func(n int) map[string]int {
		round++
		seen := map[string]int{}
		for i := range n {
			seen[predictVersion(t, base, fmt.Sprintf("r%d-%d", round, i))]++
		}
		return seen
	}
	// waitFor polls until ok holds for the versions 40 requests reach.
	waitFor := func(what string, ok func(map[string]int) bool) {
		t.Helper()
		for i := 0; ; i++ {
			seen := versionsSeen(40)
			if ok(seen) {
				return
			}
			if i == 300 {
				t.Fatalf("%s: answers by version %v", what, seen)
			}
			time.Sleep(10 * time.Millisecond) // polling an external process's state
		}
	}
	waitFor("start-up canary on @canary", func(s map[string]int) bool { return s["2"] > 0 && s["1"] > 0 })
	alias("canary", 3)
	waitFor("canary follows @canary to 3", func(s map[string]int) bool { return s["3"] > 0 && s["2"] == 0 })
	alias("canary", 0)
	// With a canary at 50 %, 40 answers all from stable has odds 2^-40.
	waitFor("canary cleared with @canary", func(s map[string]int) bool { return s["1"] == 40 })
}
