package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/ensemble"
	"github.com/housing-mlops/mlops/ml/frame"
	"github.com/housing-mlops/mlops/ml/impute"
	"github.com/housing-mlops/mlops/ml/linear"
	"github.com/housing-mlops/mlops/ml/metrics"
	"github.com/housing-mlops/mlops/ml/preprocess"
	"github.com/housing-mlops/mlops/ml/selection"
	"github.com/housing-mlops/mlops/ml/tree"
)

// benchCommand dispatches the benchmark harnesses. They measure; unit tests
// never do.
func benchCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("want a harness: learners, serve or sweep")
	}
	switch args[0] {
	case "learners":
		return benchLearnersCommand(ctx, args[1:], stdout, stderr)
	case "serve":
		return benchServeCommand(ctx, args[1:], stdout, stderr)
	case "sweep":
		return benchSweepCommand(ctx, args[1:], stdout, stderr)
	default:
		return usagef("unknown harness %q: want learners, serve or sweep", args[0])
	}
}

// learnerResult is one row of `mlops bench learners --json`.
type learnerResult struct {
	Learner        string             `json:"learner"`
	Params         map[string]any     `json:"params"`
	FitSeconds     float64            `json:"fit_seconds"`
	PredictSeconds float64            `json:"predict_seconds"`
	Metrics        map[string]float64 `json:"metrics"`
}

// benchLearner names a learner, its parameters and how to build it.
type benchLearner struct {
	name   string
	params map[string]any
	build  func() ml.Regressor
}

// harnessLearners returns the learners the harness covers: the original
// system's tuned random forest and our defaults for the others.
func harnessLearners(seed uint64) []benchLearner {
	return []benchLearner{
		{"random_forest", map[string]any{"n_estimators": 128, "max_depth": 23, "min_samples_split": 9,
			"min_samples_leaf": 9, "max_features": "log2", "seed": seed}, func() ml.Regressor {
			p := ensemble.DefaultForestParams()
			p.NEstimators, p.MaxDepth, p.MinSamplesSplit, p.MinSamplesLeaf = 128, 23, 9, 9
			p.MaxFeatures, p.Seed = "log2", seed
			return ensemble.NewRandomForest(p)
		}},
		{"gradient_boosting", map[string]any{"n_estimators": 100, "learning_rate": 0.1, "max_leaf_nodes": 31,
			"min_samples_leaf": 20, "seed": seed}, func() ml.Regressor {
			return ensemble.NewGradientBoosting(ensemble.BoostParams{NEstimators: 100, LearningRate: 0.1,
				MaxLeafNodes: 31, MinSamplesLeaf: 20, Seed: seed})
		}},
		{"ridge", map[string]any{"alpha": 1.0}, func() ml.Regressor { return linear.NewRidge(1) }},
		{"lasso", map[string]any{"alpha": 1.0}, func() ml.Regressor { return linear.NewLasso(1) }},
		{"decision_tree", map[string]any{"max_depth": 8, "seed": seed}, func() ml.Regressor {
			return tree.New(tree.Params{MaxDepth: 8, Seed: seed})
		}},
	}
}

// benchDesign is a prepared train/test design matrix.
type benchDesign struct {
	Xtr, Xte *ml.Matrix
	ytr, yte []float64
	features []string
}

func benchLearnersCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench learners", stderr)
	data := fs.String("data", "", "CSV file (or .tgz holding one CSV) to train and test on")
	target := fs.String("target", "", "numeric target column")
	splitPath := fs.String("split", "", "JSON with train_rows and test_rows (0-based); default: seeded 80/20 split")
	seed := fs.Uint64("seed", 42, "seed for the split and the learners")
	only := fs.String("learners", "", "comma-separated subset of learners (default: all)")
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	if *data == "" || *target == "" {
		return usagef("--data and --target are required")
	}
	d, err := loadBenchDesign(*data, *target, *splitPath, *seed)
	if err != nil {
		return err
	}
	learners, err := pickLearners(harnessLearners(*seed), *only)
	if err != nil {
		return err
	}
	var results []learnerResult
	for _, l := range learners {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := runBenchLearner(l, d)
		if err != nil {
			return fmt.Errorf("%s: %w", l.name, err)
		}
		results = append(results, r)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	return printLearnerTable(stdout, results, d)
}

func pickLearners(all []benchLearner, only string) ([]benchLearner, error) {
	if only == "" {
		return all, nil
	}
	var out []benchLearner
	for _, name := range strings.Split(only, ",") {
		found := false
		for _, l := range all {
			if l.name == strings.TrimSpace(name) {
				out = append(out, l)
				found = true
			}
		}
		if !found {
			return nil, usagef("--learners: unknown learner %q", name)
		}
	}
	return out, nil
}

func runBenchLearner(l benchLearner, d *benchDesign) (learnerResult, error) {
	m := l.build()
	start := time.Now()
	if err := m.Fit(d.Xtr, d.ytr); err != nil {
		return learnerResult{}, err
	}
	fit := time.Since(start).Seconds()
	start = time.Now()
	pred, err := m.Predict(d.Xte)
	if err != nil {
		return learnerResult{}, err
	}
	predict := time.Since(start).Seconds()
	rep, err := metrics.Regression(d.yte, pred)
	if err != nil {
		return learnerResult{}, err
	}
	return learnerResult{Learner: l.name, Params: l.params, FitSeconds: fit, PredictSeconds: predict, Metrics: rep.Map()}, nil
}

func printLearnerTable(w io.Writer, results []learnerResult, d *benchDesign) error {
	fmt.Fprintf(w, "%d train rows, %d test rows, %d features\n\n", d.Xtr.Rows, d.Xte.Rows, len(d.features))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "learner\tfit s\tpredict s\tR²\tRMSE\tMAE\twMAPE %\tMAPE %\twithin 10 %\t")
	for _, r := range results {
		m := r.Metrics
		fmt.Fprintf(tw, "%s\t%.3f\t%.4f\t%.4f\t%.0f\t%.0f\t%.2f\t%.2f\t%.1f\t\n", r.Learner, r.FitSeconds,
			r.PredictSeconds, m["r2"], m["rmse"], m["mae"], m["wmape"], m["mape"], m["within_10pct"])
	}
	return tw.Flush()
}

// loadBenchDesign reads the data, splits it and builds the design the
// harness uses for any CSV: every numeric column but the target, filled with
// the training rows' medians, then every categorical column one-hot encoded.
func loadBenchDesign(path, target, splitPath string, seed uint64) (*benchDesign, error) {
	f, err := readFrame(path)
	if err != nil {
		return nil, err
	}
	y, err := f.Numeric(target)
	if err != nil {
		return nil, fmt.Errorf("%s: target: %w", path, err)
	}
	for i, v := range y {
		if v != v {
			return nil, fmt.Errorf("%s: target %q is missing on data row %d", path, target, i+1)
		}
	}
	train, test, err := benchSplit(splitPath, f.NumRows(), seed)
	if err != nil {
		return nil, err
	}
	ct, err := benchPreprocessor(f, target)
	if err != nil {
		return nil, err
	}
	ftr, fte := f.Select(train), f.Select(test)
	Xtr, err := ct.FitTransform(ftr)
	if err != nil {
		return nil, err
	}
	Xte, err := ct.Transform(fte)
	if err != nil {
		return nil, err
	}
	return &benchDesign{Xtr: Xtr, Xte: Xte, ytr: ml.SelectFloats(y, train), yte: ml.SelectFloats(y, test),
		features: ct.FeatureNamesOut()}, nil
}

func readFrame(path string) (*frame.Frame, error) {
	if strings.HasSuffix(path, ".tgz") || strings.HasSuffix(path, ".tar.gz") {
		return frame.ReadCSVArchive(path, frame.CSVOptions{})
	}
	return frame.ReadCSVFile(path, frame.CSVOptions{})
}

func benchPreprocessor(f *frame.Frame, target string) (*preprocess.ColumnTransformer, error) {
	var num, cat []string
	for _, name := range f.Names() {
		if name == target {
			continue
		}
		if k, _ := f.Kind(name); k == frame.Categorical {
			cat = append(cat, name)
		} else {
			num = append(num, name)
		}
	}
	var blocks []preprocess.Block
	if len(num) > 0 {
		blocks = append(blocks, preprocess.Numeric("num", num, impute.NewSimple("median")))
	}
	if len(cat) > 0 {
		blocks = append(blocks, preprocess.Categorical("cat", cat, preprocess.NewOneHotEncoder(true)))
	}
	if len(blocks) == 0 {
		return nil, fmt.Errorf("no feature columns besides the target %q", target)
	}
	return preprocess.NewColumnTransformer(blocks...)
}

// benchSplit reads a split file ({"train_rows": [...], "test_rows": [...]})
// or draws a seeded 80/20 split.
func benchSplit(path string, n int, seed uint64) (train, test []int, err error) {
	if path == "" {
		return selection.TrainTestSplit(n, 0.2, seed, nil)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var s struct {
		Train []int `json:"train_rows"`
		Test  []int `json:"test_rows"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(s.Train) == 0 || len(s.Test) == 0 {
		return nil, nil, fmt.Errorf("%s: want non-empty train_rows and test_rows", path)
	}
	for _, rows := range [][]int{s.Train, s.Test} {
		for _, r := range rows {
			if r < 0 || r >= n {
				return nil, nil, fmt.Errorf("%s: row %d is outside the data's %d rows", path, r, n)
			}
		}
	}
	return s.Train, s.Test, nil
}
