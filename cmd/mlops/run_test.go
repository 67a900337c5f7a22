package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// smallRun is a reduced pipeline (embedded data, tiny grids and forests,
// few trials) that runs in seconds.
func smallRun(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	sweep := filepath.Join(dir, "sweep_config.yaml")
	body := "method: random\nmetric: {name: wmape, goal: minimize}\nparameters:\n" +
		"  n_estimators: {min: 5, max: 8}\n  max_depth: {min: 3, max: 6}\n"
	if err := os.WriteFile(sweep, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{
		"main.output_dir=" + filepath.Join(dir, "out"),
		"download_data.file_url=http://127.0.0.1:1/offline", "download_data.retries=0",
		"preprocessing.strategies=[median, mean]",
		"feature_engineering.k_min=2", "feature_engineering.k_max=3", "feature_engineering.n_init=1",
		"feature_engineering.silhouette_sample=1000",
		"model_selection.families=[random_forest, ridge]",
		"model_selection.grids={random_forest: {n_estimators: [6], max_depth: [6]}, ridge: {alpha: [1]}}",
		"model_selection.cv_folds=2",
		"sweep.trials=2", "sweep.parallelism=1", "sweep.config=" + sweep,
	}
}

func TestRunEndToEndThenCached(t *testing.T) {
	home := t.TempDir()
	t.Setenv(envHome, home)
	t.Setenv(envTrackingURI, "")
	t.Setenv(envArtifacts, "")
	args := smallRun(t)
	var out, errb bytes.Buffer
	code := execute(context.Background(), append([]string{"run", "--log-format", "json"}, args...), &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), tail(errb.String()))
	}
	for _, want := range []string{"FINISHED", "07_registration", "registered:", "housing_price_model v1 (Staging)", "test metrics:", "model family:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	// Every log line is JSON.
	for _, line := range strings.Split(strings.TrimSpace(errb.String()), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
	}
	outDir := strings.TrimPrefix(args[0], "main.output_dir=")
	mc, err := os.ReadFile(filepath.Join(outDir, "model_config.yaml"))
	if err != nil || !strings.Contains(string(mc), "name: housing_price_model") {
		t.Fatalf("model_config.yaml: %v\n%s", err, mc)
	}
	if _, err := os.Stat(filepath.Join(home, "mlops.db")); err != nil {
		t.Fatalf("tracking store not under MLOPS_HOME: %v", err)
	}

	out.Reset()
	errb.Reset()
	if code := execute(context.Background(), append([]string{"run"}, args...), &out, &errb); code != 0 {
		t.Fatalf("second run exit %d: %s", code, tail(errb.String()))
	}
	if n := strings.Count(out.String(), " cached "); n != 7 {
		t.Fatalf("second run: %d cached steps, want 7:\n%s", n, out.String())
	}
}

func TestRunRejectsBadConfigBeforeWork(t *testing.T) {
	home := t.TempDir()
	t.Setenv(envHome, home)
	cases := map[string]string{
		"sweep.trials=x":        `sweep.trials: want an integer, got "x"`,
		"model_selection.foo=1": "unknown key model_selection.foo",
		"main.steps=09":         `unknown step "09"`,
	}
	for arg, want := range cases {
		var out, errb bytes.Buffer
		if code := execute(context.Background(), []string{"run", arg}, &out, &errb); code != 2 || !strings.Contains(errb.String(), want) {
			t.Errorf("%s: exit %d, stderr %q, want 2 and %q", arg, code, errb.String(), want)
		}
	}
	if _, err := os.Stat(filepath.Join(home, "mlops.db")); !os.IsNotExist(err) {
		t.Errorf("a rejected config still opened the store: %v", err)
	}
	var out, errb bytes.Buffer
	if code := execute(context.Background(), []string{"run", "--log-format", "xml"}, &out, &errb); code != 2 {
		t.Errorf("bad --log-format: exit %d", code)
	}
}

func tail(s string) string {
	if len(s) > 3000 {
		return "…" + s[len(s)-3000:]
	}
	return s
}
