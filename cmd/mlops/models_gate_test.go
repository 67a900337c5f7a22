package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/ml/frame"
	"github.com/housing-mlops/mlops/ml/metrics"
	"github.com/housing-mlops/mlops/ml/model"
)

// gateHome makes a store and artifact store in a temp MLOPS_HOME holding a
// good model (ridge, alpha 1) and a much worse one (alpha 1e6), neither in
// Production yet, and returns the store path and artifact URL.
func gateHome(t *testing.T) (store mlops.Store, arts mlops.ArtifactStore, good, bad *mlops.ModelVersion) {
	t.Helper()
	home := t.TempDir()
	t.Setenv(envHome, home)
	t.Setenv(envTrackingURI, "")
	t.Setenv(envArtifacts, "")
	ctx := context.Background()
	var err error
	if store, err = openStore(ctx, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if arts, err = openArtifacts(ctx, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { arts.Close() })
	add := func(key string, data []byte) *mlops.ModelVersion {
		info, err := arts.Put(ctx, key, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		mv, err := store.CreateModelVersion(ctx, mlops.ModelVersionCreate{Name: "housing", Source: info.URI, SHA256: info.SHA256})
		if err != nil {
			t.Fatal(err)
		}
		return mv
	}
	good = add("models/good.json", ridgeArtifact(t, 1))
	bad = add("models/bad.json", ridgeArtifact(t, 1e6))
	return store, arts, good, bad
}

func stageOf(t *testing.T, st mlops.Store, v int) mlops.Stage {
	t.Helper()
	mv, err := st.GetModelVersion(context.Background(), "housing", v)
	if err != nil {
		t.Fatal(err)
	}
	return mv.Stage
}

// wmapeOf scores a stored version on data directly, independently of the
// command, to check the figures it prints.
func wmapeOf(t *testing.T, arts mlops.ArtifactStore, mv *mlops.ModelVersion, f *frame.Frame) float64 {
	t.Helper()
	b, err := arts.Get(context.Background(), mv.Source, mv.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	a, err := model.Load(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Predict(f)
	if err != nil {
		t.Fatal(err)
	}
	y, _ := f.Numeric("median_house_value")
	w, err := metrics.WMAPE(y, p)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestPromoteIfBetter(t *testing.T) {
	store, arts, good, bad := gateHome(t)
	data := "../../testdata/housing.csv"
	f, err := frame.ReadCSVFile(data, frame.CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if wmapeOf(t, arts, good, f) >= wmapeOf(t, arts, bad, f) {
		t.Fatal("test setup: the good model is not better")
	}
	gate := []string{"--stage", "Production", "--if-better", "--metric", "wmape", "--data", data, "--target", "median_house_value"}

	// Nobody holds Production: the bad model is promoted without comparison.
	r := runCLI(t, append([]string{"models", "promote", "housing", "2"}, gate...)...)
	if r.code != 0 || stageOf(t, store, bad.Version) != mlops.StageProduction || !strings.Contains(r.stdout, "without comparison") {
		t.Fatalf("first promotion: %+v", r)
	}
	// The good model beats it: promoted, the bad one archived.
	r = runCLI(t, append([]string{"models", "promote", "housing", "1"}, gate...)...)
	if r.code != 0 || stageOf(t, store, good.Version) != mlops.StageProduction || stageOf(t, store, bad.Version) != mlops.StageArchived {
		t.Fatalf("better candidate: %+v", r)
	}
	if !strings.Contains(r.stdout, "beats production v2") {
		t.Errorf("stdout %q", r.stdout)
	}
	// Move the bad one to Staging and try again: refused with exit 3, and
	// nothing is recorded.
	if _, err := store.TransitionStage(context.Background(), "housing", bad.Version, mlops.StageStaging, false, mlops.Actor{By: "test"}); err != nil {
		t.Fatal(err)
	}
	before, _ := store.Transitions(context.Background(), "housing")
	r = runCLI(t, append([]string{"models", "promote", "housing", "2"}, gate...)...)
	if r.code != exitNotBetter {
		t.Fatalf("worse candidate: exit %d, stderr %s", r.code, r.stderr)
	}
	want := "kept in Staging: candidate wmape "
	if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, " ≥ production ") {
		t.Errorf("stderr %q, want %q…", r.stderr, want)
	}
	after, _ := store.Transitions(context.Background(), "housing")
	if len(after) != len(before) || stageOf(t, store, good.Version) != mlops.StageProduction || stageOf(t, store, bad.Version) != mlops.StageStaging {
		t.Errorf("a refused promotion changed the registry: %d -> %d transitions", len(before), len(after))
	}
	// Without --data and no pipeline run, the command asks for --data.
	r = runCLI(t, "models", "promote", "housing", "2", "--stage", "Production", "--if-better")
	if r.code != 2 || !strings.Contains(r.stderr, "--data") {
		t.Errorf("no data: %+v", r)
	}
	if r := runCLI(t, "models", "promote", "housing", "2", "--alias", "x", "--if-better"); r.code != 2 {
		t.Errorf("--if-better with --alias: %+v", r)
	}
	if r := runCLI(t, append(append([]string{"models", "promote", "housing", "2"}, gate...), "--metric", "nope")...); r.code != 2 {
		t.Errorf("unknown metric: %+v", r)
	}
}

// TestPromoteIfBetterUsesPipelineTestSplit records a test split the way the
// pipeline does (a step run tagged with the test.csv output, sibling of the
// run that registered the model) and checks that the gate evaluates on it.
func TestPromoteIfBetterUsesPipelineTestSplit(t *testing.T) {
	store, arts, good, bad := gateHome(t)
	ctx := context.Background()
	src, err := os.ReadFile("../../testdata/housing.csv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(src), "\n")
	split := strings.Join(lines[:301], "") // header and 300 rows
	info, err := arts.Put(ctx, "runs/split/test.csv", strings.NewReader(split))
	if err != nil {
		t.Fatal(err)
	}
	exp, err := store.CreateExperiment(ctx, "housing", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	parent, err := store.CreateRun(ctx, mlops.RunCreate{ExperimentID: exp.ID, Name: "pipeline"})
	if err != nil {
		t.Fatal(err)
	}
	seg, err := store.CreateRun(ctx, mlops.RunCreate{ExperimentID: exp.ID, Name: "04_segregation", ParentID: parent.ID,
		Tags: map[string]string{tagOutURIPrefix + testSplitKey: info.URI, tagOutSHAPrefix + testSplitKey: info.SHA256}})
	if err != nil || seg == nil {
		t.Fatal(err)
	}
	reg, err := store.CreateRun(ctx, mlops.RunCreate{ExperimentID: exp.ID, Name: "07_registration", ParentID: parent.ID})
	if err != nil {
		t.Fatal(err)
	}
	b, err := arts.Get(ctx, bad.Source, bad.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	cand, err := store.CreateModelVersion(ctx, mlops.ModelVersionCreate{Name: "housing", Source: bad.Source, SHA256: bad.SHA256, RunID: reg.ID})
	if err != nil || len(b) == 0 {
		t.Fatal(err)
	}
	if _, err := store.TransitionStage(ctx, "housing", good.Version, mlops.StageProduction, true, mlops.Actor{By: "test"}); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "models", "promote", "housing", "3", "--stage", "Production", "--if-better")
	if r.code != exitNotBetter || !strings.Contains(r.stderr, "on 300 rows of the test split "+info.URI) {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	f, err := frame.ReadCSV(strings.NewReader(split), "split", frame.CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The figures printed are the two models' wMAPE on exactly those rows.
	for _, v := range []float64{wmapeOf(t, arts, cand, f), wmapeOf(t, arts, good, f)} {
		if !strings.Contains(r.stderr, trimG(v)) {
			t.Errorf("stderr %q lacks %s", r.stderr, trimG(v))
		}
	}
}

func trimG(v float64) string { return fmt.Sprintf("%.6g", v) }
