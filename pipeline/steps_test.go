package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops/ml/frame"
	"github.com/housing-mlops/mlops/ml/selection"
	"github.com/housing-mlops/mlops/tune"
)

// runFirst runs the first n steps of the pipeline on the fakes.
func runFirst(t *testing.T, n int, overrides ...string) (*Report, *fakeArtifacts) {
	t.Helper()
	cfg := testConfig(t, append([]string{"download_data.file_url=http://127.0.0.1:1/offline", "download_data.retries=0",
		"preprocessing.strategies=[median, mean]"}, overrides...)...)
	steps := Steps(cfg, "test")[:n]
	steps[0].(*Download).Backoff = 1
	tr, art := newFakeTracker(), newFakeArtifacts()
	rep, err := newRunner(tr, art).Run(context.Background(), steps, steps)
	if err != nil {
		t.Fatal(err)
	}
	return rep, art
}

func readOutput(t *testing.T, art *fakeArtifacts, s StepResult, key string) *frame.Frame {
	t.Helper()
	b, err := art.Get(context.Background(), s.Outputs[key].URI, s.Outputs[key].SHA256)
	if err != nil {
		t.Fatal(err)
	}
	f, err := frame.ReadCSV(bytes.NewReader(b), key, frame.CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestImputationFillsOnlyMissingAndHonoursFixedStrategy(t *testing.T) {
	auto, art := runFirst(t, 2)
	fixed, _ := runFirst(t, 2, "preprocessing.imputation_strategy=median")
	a, f := auto.Steps[1], fixed.Steps[1]
	if f.Summary["imputer"] != "median" {
		t.Fatalf("fixed strategy ignored: %v", f.Summary)
	}
	// auto picks the lowest RMSE, whichever it is.
	want := "mean"
	if a.Metrics["rmse_median"] < a.Metrics["rmse_mean"] {
		want = "median"
	}
	if a.Summary["imputer"] != want {
		t.Fatalf("auto chose %s with RMSEs %v", a.Summary["imputer"], a.Metrics)
	}
	raw := readOutput(t, art, auto.Steps[0], KeyRaw)
	imp := readOutput(t, art, a, KeyImputed)
	before, _ := raw.Numeric("total_bedrooms")
	after, _ := imp.Numeric("total_bedrooms")
	filled := 0
	for i := range before {
		switch {
		case math.IsNaN(after[i]):
			t.Fatalf("row %d still missing", i)
		case math.IsNaN(before[i]):
			filled++
		case before[i] != after[i]:
			t.Fatalf("row %d: observed value %v changed to %v", i, before[i], after[i])
		}
	}
	if filled != 207 || len(imp.Names()) != len(raw.Names()) {
		t.Fatalf("filled %d, columns %v", filled, imp.Names())
	}
}

func TestFeaturesFixedK(t *testing.T) {
	rep, _ := runFirst(t, 3, "feature_engineering.optimize_hyperparams=false", "feature_engineering.n_clusters=4")
	fe := rep.Steps[2]
	if fe.Summary["k"] != "4" || fe.Metrics["n_features_out"] != 8+5+4 {
		t.Fatalf("summary %v metrics %v", fe.Summary, fe.Metrics)
	}
	if _, ok := fe.Metrics["best_silhouette"]; ok {
		t.Fatal("K search ran although K was fixed")
	}
}

func TestSegregationStratifiedKeepsShares(t *testing.T) {
	rep, art := runFirst(t, 4, "segregation.stratify_column=median_income", "segregation.stratify_bins=[1.5, 3, 4.5, 6]",
		"feature_engineering.optimize_hyperparams=false")
	seg := rep.Steps[3]
	if seg.Metrics["train_rows"] != 16512 || seg.Metrics["test_rows"] != 4128 {
		t.Fatalf("rows %v", seg.Metrics)
	}
	for k := 0; k <= 4; k++ {
		tr, te := seg.Metrics[fmt.Sprintf("stratum_%d_train_share", k)], seg.Metrics[fmt.Sprintf("stratum_%d_test_share", k)]
		if tr == 0 || math.Abs(tr-te) > 0.002 {
			t.Errorf("stratum %d: train share %v, test share %v", k, tr, te)
		}
	}
	train := readOutput(t, art, seg, KeyTrain)
	test := readOutput(t, art, seg, KeyTest)
	if train.NumRows()+test.NumRows() != 20640 {
		t.Fatalf("%d + %d rows", train.NumRows(), test.NumRows())
	}
}

func TestBuildModelRejectsUnknownOrBadParams(t *testing.T) {
	if _, err := buildModel("ridge", selection.Params{"alpah": 1.0}, 1, 1); err == nil || !strings.Contains(err.Error(), "alpah") {
		t.Fatalf("typo accepted: %v", err)
	}
	if _, err := buildModel("random_forest", selection.Params{"max_depth": "deep"}, 1, 1); err == nil {
		t.Fatal("string max_depth accepted")
	}
	if _, err := buildModel("svm", nil, 1, 1); err == nil {
		t.Fatal("unknown family accepted")
	}
	for _, fam := range []string{"random_forest", "gradient_boosting", "ridge", "lasso", "decision_tree"} {
		if _, err := buildModel(fam, selection.Params{"max_depth": nil}, 1, 1); fam != "ridge" && fam != "lasso" && err != nil {
			t.Errorf("%s with max_depth null: %v", fam, err)
		}
	}
}

// Every default sweep space of package tune must name only parameters the
// model builder knows, or step 06 would fail every trial.
func TestDefaultSweepSpacesBuild(t *testing.T) {
	for _, fam := range tune.Families() {
		sp, err := tune.DefaultSpace(fam)
		if err != nil {
			t.Fatal(err)
		}
		p := selection.Params{}
		for name, spec := range sp.Parameters {
			switch {
			case len(spec.Values) > 0:
				p[name] = spec.Values[0]
			case spec.Value != nil:
				p[name] = spec.Value
			case spec.Distribution == tune.DistIntUniform || spec.IntValued:
				p[name] = int(spec.Min)
			default:
				p[name] = spec.Min
			}
		}
		if _, err := buildModel(fam, p, 1, 1); err != nil {
			t.Errorf("default %s space: %v", fam, err)
		}
	}
}
