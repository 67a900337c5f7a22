package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

var home = env(map[string]string{"MLOPS_HOME": "/h"})

func TestRepoConfigEqualsDefaults(t *testing.T) {
	fromFile, err := LoadEnv("../config.yaml", nil, home)
	if err != nil {
		t.Fatal(err)
	}
	builtIn, err := LoadEnv("", nil, home)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromFile, builtIn) {
		a, _ := fromFile.YAML()
		b, _ := builtIn.YAML()
		t.Fatalf("config.yaml differs from defaults:\n%s\nvs\n%s", a, b)
	}
	if fromFile.Hash() != builtIn.Hash() {
		t.Fatal("equal configs, different hashes")
	}
	if got := builtIn.Tracking.URI; got != "sqlite:///h/mlops.db" {
		t.Fatalf("tracking.uri = %q", got)
	}
}

func TestDefaultsMatchOriginalGrids(t *testing.T) {
	c, err := LoadEnv("", nil, home)
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[string]int{"random_forest": 180, "gradient_boosting": 300, "ridge": 9, "lasso": 9, "decision_tree": 96}
	for fam, want := range sizes {
		n := 1
		for _, v := range c.ModelSelection.Grids[fam] {
			n *= len(v)
		}
		if n != want {
			t.Errorf("%s grid has %d combinations, want %d", fam, n, want)
		}
	}
	if c.Download.Timeout != Duration(30*time.Second) || c.Main.Steps != nil {
		t.Fatalf("timeout %v steps %v", c.Download.Timeout, c.Main.Steps)
	}
}

func TestOverrides(t *testing.T) {
	c, err := LoadEnv("", []string{
		"main.steps=03,05",
		"sweep.trials=7",
		"model_selection.families=[ridge, lasso]",
		"model_selection.grids.ridge.alpha=[1, 2]",
		"feature_engineering.k_max=4",
		"segregation.stratify_column=median_income",
		"download_data.timeout=2s",
	}, home)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Main.Steps, StepList{"03", "05"}) {
		t.Errorf("steps = %v", c.Main.Steps)
	}
	if c.Sweep.Trials != 7 || c.FeatureEngineering.KMax != 4 || c.Download.Timeout != Duration(2*time.Second) {
		t.Errorf("trials %d kmax %d timeout %v", c.Sweep.Trials, c.FeatureEngineering.KMax, c.Download.Timeout)
	}
	if !reflect.DeepEqual(c.ModelSelection.Families, []string{"ridge", "lasso"}) {
		t.Errorf("families = %v", c.ModelSelection.Families)
	}
	if got := c.ModelSelection.Grids["ridge"]["alpha"]; !reflect.DeepEqual(got, []any{1, 2}) {
		t.Errorf("ridge alpha = %#v", got)
	}
	if len(c.ModelSelection.Grids["random_forest"]) != 4 {
		t.Error("overriding one grid dropped the others")
	}
	c3, err := LoadEnv("", []string{"model_selection.grids={random_forest: {n_estimators: [8]}}"}, home)
	if err != nil || len(c3.ModelSelection.Grids["random_forest"]) != 1 || len(c3.ModelSelection.Grids["ridge"]) != 1 {
		t.Fatalf("a family's grid is replaced whole, others kept: %v %v", c3.ModelSelection.Grids, err)
	}
	c2, err := LoadEnv("", []string{"main.steps=[1, 2]"}, home)
	if err != nil || !reflect.DeepEqual(c2.Main.Steps, StepList{"1", "2"}) {
		t.Fatalf("list steps: %v %v", c2.Main.Steps, err)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	cases := map[string]string{
		"sweep.trials=x":                  `sweep.trials: want an integer, got "x"`,
		"model_selection.foo=1":           "unknown key model_selection.foo",
		"nosection.a=1":                   "unknown key nosection",
		"download_data.timeout=soon":      `download_data.timeout: want a duration like 30s, got "soon"`,
		"data.numeric=3":                  `data.numeric: want a list, got "3"`,
		"feature_engineering.k_min=1":     "feature_engineering: want 2 <= k_min",
		"model_selection.families=[svm]":  `unknown family "svm"`,
		"registration.model_stage=Prod":   "registration.model_stage",
		"sweep.trials":                    "want section.key=value",
		"preprocessing.test_size=[1]":     "preprocessing.test_size: want a number, got a list",
		"model_selection.grids.svm.c=[1]": "unknown key model_selection.grids.svm",
	}
	for o, want := range cases {
		_, err := LoadEnv("", []string{o}, home)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want it to contain %q", o, err, want)
		}
	}
}

func TestFileErrorsAndEmptyFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("sweep:\n  trails: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadEnv(bad, nil, home); err == nil || !strings.Contains(err.Error(), "unknown key sweep.trails") {
		t.Fatalf("err = %v", err)
	}
	empty := filepath.Join(dir, "empty.yaml")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadEnv(empty, nil, home)
	if err != nil || c.Sweep.Trials != 50 {
		t.Fatalf("empty file: %v", err)
	}
	if _, err := LoadEnv(filepath.Join(dir, "missing.yaml"), nil, home); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestInterpolation(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yaml")
	body := "sweep:\n  trials: ${TRIALS:-20}\nmain:\n  experiment_name: ${EXP}\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadEnv(p, nil, env(map[string]string{"MLOPS_HOME": "/h", "EXP": "e1"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Sweep.Trials != 20 || c.Main.ExperimentName != "e1" {
		t.Fatalf("trials %d exp %q", c.Sweep.Trials, c.Main.ExperimentName)
	}
	_, err = LoadEnv(p, nil, home)
	if err == nil || !strings.Contains(err.Error(), "main.experiment_name: environment variable EXP is not set") {
		t.Fatalf("err = %v", err)
	}
	_, err = LoadEnv("", nil, env(nil))
	if err == nil || !strings.Contains(err.Error(), "MLOPS_HOME") {
		t.Fatalf("unset MLOPS_HOME: %v", err)
	}
}

func TestSecretsOnlyForRemoteBackends(t *testing.T) {
	c, err := LoadEnv("", nil, home)
	if err != nil {
		t.Fatal(err)
	}
	if s := c.RequiredSecrets(); len(s) != 0 {
		t.Fatalf("local backends need %v", s)
	}
	c.Tracking.ArtifactsURL = "s3://bucket/x"
	c.Tracking.URI = "postgres://u@db/x"
	if s := c.RequiredSecrets(); len(s) != 3 {
		t.Fatalf("secrets = %v", s)
	}
}

func TestHashChangesWithConfig(t *testing.T) {
	a, _ := LoadEnv("", nil, home)
	b, _ := LoadEnv("", []string{"sweep.trials=51"}, home)
	if a.Hash() == b.Hash() || len(a.Hash()) != 64 {
		t.Fatalf("hashes %s %s", a.Hash(), b.Hash())
	}
}

func TestObjectStoresWorkWithoutKeysButNotHalfAPair(t *testing.T) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "GOOGLE_APPLICATION_CREDENTIALS"} {
		t.Setenv(k, "")
	}
	c, err := LoadEnv("", nil, home)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"s3://bucket/x", "gs://bucket/x"} {
		c.Tracking.ArtifactsURL = u
		if err := c.Validate(); err != nil {
			t.Errorf("%s without keys (anonymous or ambient credentials): %v", u, err)
		}
	}
	c.Tracking.ArtifactsURL = "s3://bucket/x"
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY") {
		t.Fatalf("half an S3 key pair: %v", err)
	}
}
