package pipeline

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/config"
	"github.com/housing-mlops/mlops/ml/frame"
	"github.com/housing-mlops/mlops/ml/model"
	"github.com/housing-mlops/mlops/sqlite"
)

// reduced is a configuration that runs the whole pipeline in seconds: the
// embedded archive (no network), few K values, one point per grid, few
// trials. Every code path of the full run is still taken.
var reduced = []string{
	"download_data.file_url=http://127.0.0.1:1/offline", "download_data.retries=0",
	"preprocessing.strategies=[median, mean, knn]",
	"feature_engineering.k_min=3", "feature_engineering.k_max=5", "feature_engineering.n_init=2",
	"feature_engineering.silhouette_sample=1500",
	"model_selection.families=[random_forest, gradient_boosting, ridge, lasso, decision_tree]",
	"model_selection.grids={random_forest: {n_estimators: [8], max_depth: [6]}, gradient_boosting: {n_estimators: [10], max_depth: [3]}," +
		" ridge: {alpha: [1, 10]}, lasso: {alpha: [10]}, decision_tree: {max_depth: [6]}}",
	"model_selection.cv_folds=3",
	"sweep.trials=3", "sweep.parallelism=2",
}

// smallSweep is a random-forest search space of small forests, in the
// original sweep_config.yaml shape, with Hyperband.
const smallSweep = `method: bayes
metric: {name: wmape, goal: minimize}
parameters:
  n_estimators: {min: 6, max: 12}
  max_depth: {min: 4, max: 8}
  min_samples_leaf: {min: 1, max: 4}
  max_features: {values: [sqrt, log2]}
early_terminate: {type: hyperband, min_iter: 3, eta: 2}
`

type harness struct {
	store *sqlite.DB
	art   *fakeArtifacts
	cfg   *config.Config
}

func newHarness(t *testing.T, extra ...string) *harness {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "mlops.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sweep := filepath.Join(t.TempDir(), "sweep_config.yaml")
	if err := os.WriteFile(sweep, []byte(smallSweep), 0o600); err != nil {
		t.Fatal(err)
	}
	over := append(append([]string{}, reduced...), "sweep.config="+sweep)
	return &harness{store: db, art: newFakeArtifacts(), cfg: testConfig(t, append(over, extra...)...)}
}

func (h *harness) run(t *testing.T, force bool) *Report {
	t.Helper()
	steps := Steps(h.cfg, "test")
	for _, s := range steps {
		if d, ok := s.(*Download); ok {
			d.Backoff = 1
		}
	}
	r := &Runner{Tracker: h.store, Registry: h.store, Artifacts: h.art, Log: testLogger(),
		Experiment: "test", CodeVersion: "test", ConfigHash: h.cfg.Hash(), DataKey: KeyRaw, Force: force}
	rep, err := r.Run(context.Background(), steps, steps)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func step(rep *Report, name string) StepResult {
	for _, s := range rep.Steps {
		if s.Name == name {
			return s
		}
	}
	return StepResult{}
}

func TestPipelineEndToEndReducedAndCached(t *testing.T) {
	h := newHarness(t)
	rep := h.run(t, false)
	reg := step(rep, "07_registration")
	if reg.Status != StatusRan || reg.Summary["registered_model"] != "housing_price_model" || reg.Summary["model_stage"] != "Staging" {
		t.Fatalf("registration: %+v", reg)
	}
	for _, k := range []string{"mae", "rmse", "r2", "mape", "smape", "wmape", "median_ape", "within_5pct", "within_10pct", "within_15pct"} {
		if _, ok := reg.Metrics["test_"+k]; !ok {
			t.Errorf("test metric %s not logged", k)
		}
	}
	if r2 := reg.Metrics["test_r2"]; r2 < 0.5 || r2 > 1 {
		t.Errorf("test R² %v: the reduced model should still explain most variance", r2)
	}
	checkArtifact(t, h, reg)
	checkBestParams(t, h, step(rep, "06_sweep"))
	checkPlots(t, h)
	mvs, err := h.store.SearchModelVersions(context.Background(), "housing_price_model")
	if err != nil || len(mvs) != 1 || mvs[0].SHA256 != reg.Outputs[KeyModel].SHA256 || mvs[0].Stage != mlops.StageStaging {
		t.Fatalf("versions %+v err %v", mvs, err)
	}
	if !strings.Contains(mvs[0].Description, "## Hyperparameters") || mvs[0].Tags["algorithm"] == "" {
		t.Fatalf("description/tags: %q %v", mvs[0].Description, mvs[0].Tags)
	}

	again := h.run(t, false)
	for _, s := range again.Steps {
		if s.Status != StatusCached {
			t.Errorf("second run: step %s %s, want cached", s.Name, s.Status)
		}
	}
	if step(again, "03_feature_engineering").Summary["k"] != step(rep, "03_feature_engineering").Summary["k"] {
		t.Error("cached step lost its summary")
	}
	if mvs, _ := h.store.SearchModelVersions(context.Background(), "housing_price_model"); len(mvs) != 1 {
		t.Fatalf("a cached registration registered again: %d versions", len(mvs))
	}
}

// checkArtifact loads the registered artifact and predicts the test split
// with it: serving uses exactly these bytes.
func checkArtifact(t *testing.T, h *harness, reg StepResult) {
	t.Helper()
	b, err := h.art.Get(context.Background(), reg.Outputs[KeyModel].URI, reg.Outputs[KeyModel].SHA256)
	if err != nil {
		t.Fatal(err)
	}
	art, err := model.Load(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	f, err := frame.ReadCSVFile("../testdata/housing.csv", frame.CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pred, err := art.Predict(f)
	if err != nil || len(pred) != f.NumRows() {
		t.Fatalf("predict: %d rows, %v", len(pred), err)
	}
	// Step 07 calibrates the intervals on held-out test rows, so every
	// family serves a 90 % interval that brackets its point prediction.
	if !art.SupportsIntervalsAt(0.9) {
		t.Fatal("registered artifact has no calibrated 90 % interval")
	}
	lo, hi, err := art.PredictInterval(f.Select([]int{0, 1, 2}), 0.9)
	if err != nil {
		t.Fatal(err)
	}
	for i := range lo {
		if !(lo[i] <= pred[i] && pred[i] <= hi[i] && lo[i] < hi[i]) {
			t.Errorf("row %d: interval [%v, %v] around %v", i, lo[i], hi[i], pred[i])
		}
	}
	if _, ok := reg.Metrics["interval_holdout_coverage"]; !ok {
		t.Errorf("step 07 logged no interval_holdout_coverage: %v", reg.Metrics)
	}
}

func checkBestParams(t *testing.T, h *harness, sw StepResult) {
	t.Helper()
	b, err := h.art.Get(context.Background(), sw.Outputs[KeyBestParams].URI, "")
	if err != nil {
		t.Fatal(err)
	}
	var bp map[string]any
	if err := yaml.Unmarshal(b, &bp); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"hyperparameters", "metrics", "sweep_id", "best_run_id", "best_run_name"} {
		if bp[k] == nil || bp[k] == "" {
			t.Errorf("best_params.yaml has no %s:\n%s", k, b)
		}
	}
	if m, _ := bp["metrics"].(map[string]any); len(m) != 10 {
		t.Errorf("best_params.yaml metrics: %v", m)
	}
	kids, _, err := h.store.SearchRuns(context.Background(), mlops.RunFilter{ParentID: sw.RunID})
	if err != nil || len(kids) != 3 {
		t.Fatalf("trial runs: %d, %v", len(kids), err)
	}
}

func TestForcedRerunRegistersIdenticalArtifact(t *testing.T) {
	h := newHarness(t, "preprocessing.strategies=[median, mean]")
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	first := step(h.run(t, true), "07_registration").Outputs[KeyModel].SHA256
	runtime.GOMAXPROCS(2)
	second := step(h.run(t, true), "07_registration").Outputs[KeyModel].SHA256
	if first == "" || first != second {
		t.Fatalf("artifact SHA-256 %s (GOMAXPROCS=1) vs %s (GOMAXPROCS=2)", first, second)
	}
	mvs, _ := h.store.SearchModelVersions(context.Background(), "housing_price_model")
	if len(mvs) != 2 || mvs[0].SHA256 != mvs[1].SHA256 {
		t.Fatalf("versions %+v", mvs)
	}
}

// testLogger discards logs unless MLOPS_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("MLOPS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
