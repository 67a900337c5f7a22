package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/config"
	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/model"
	"github.com/housing-mlops/mlops/ml/selection"
)

// Registration is step 07: train the final model with the sweep's best
// parameters on the training split, evaluate it on the test split, save the
// fitted preprocessing and model as one artifact, register it as a new
// version and move it to the configured stage.
type Registration struct {
	Cfg *config.Config
	// CodeVersion is recorded in the artifact's metadata.
	CodeVersion string
}

// modelConfig is model_config.yaml, the original's shape.
type modelConfig struct {
	Model struct {
		Name           string             `yaml:"name"`
		Version        string             `yaml:"version"`
		Stage          string             `yaml:"stage"`
		Family         string             `yaml:"family"`
		Parameters     map[string]any     `yaml:"parameters"`
		Metrics        map[string]float64 `yaml:"metrics"`
		FeatureColumns []string           `yaml:"feature_columns"`
		Target         string             `yaml:"target"`
		SHA256         string             `yaml:"sha256"`
		Source         string             `yaml:"source"`
		RunID          string             `yaml:"run_id"`
		SweepID        string             `yaml:"sweep_id"`
	} `yaml:"model"`
}

// Name implements Step.
func (s *Registration) Name() string { return "07_registration" }

// Inputs implements Step.
func (s *Registration) Inputs() []string {
	return []string{KeyTrain, KeyTest, KeyPreprocessor, KeyBestParams}
}

// Outputs implements Step.
func (s *Registration) Outputs() []string { return []string{KeyModel, KeyModelConfig} }

// Params implements Step.
func (s *Registration) Params() map[string]any {
	return map[string]any{"registration": s.Cfg.Registration, "schema": s.Cfg.Data,
		"random_state": s.Cfg.Sweep.RandomState}
}

// Run implements Step.
func (s *Registration) Run(ctx context.Context, sc *StepContext) error {
	if sc.Registry == nil {
		return errors.New("no model registry is configured")
	}
	bp, err := readBestParams(ctx, sc)
	if err != nil {
		return err
	}
	data, err := loadSplit(ctx, sc, s.Cfg.Data)
	if err != nil {
		return err
	}
	art, test, err := s.train(ctx, sc, bp, data)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := art.Save(&buf); err != nil {
		return err
	}
	info, err := sc.Write(ctx, KeyModel, buf.Bytes())
	if err != nil {
		return err
	}
	mv, err := s.register(ctx, sc, bp, art, test, info)
	if err != nil {
		return err
	}
	return s.writeModelConfig(ctx, sc, bp, art, test, mv)
}

// train fits the final model and wraps it with the preprocessing.
func (s *Registration) train(ctx context.Context, sc *StepContext, bp *bestParams, data *splitData) (*model.Artifact, map[string]float64, error) {
	reg, err := buildModel(bp.Family, bp.Hyperparameters, uint64(s.Cfg.Sweep.RandomState), 0)
	if err != nil {
		return nil, nil, err
	}
	start := time.Now()
	if err := reg.Fit(data.Xtr, data.Ytr); err != nil {
		return nil, nil, fmt.Errorf("training %s %s: %w", bp.Family, selection.FormatParams(bp.Hyperparameters), err)
	}
	fitSeconds := time.Since(start).Seconds()
	rep, err := evaluate(reg, data.Xte, data.Yte)
	if err != nil {
		return nil, nil, err
	}
	test := rep.Map()
	logged := map[string]float64{"fit_seconds": fitSeconds, "n_features": float64(len(data.OutputFeatures))}
	for k, v := range test {
		logged["test_"+k] = v
	}
	if err := sc.Metrics(ctx, logged); err != nil {
		return nil, nil, err
	}
	sc.Log.Info("final model", "family", bp.Family, "test_mae", test["mae"], "test_rmse", test["rmse"], "test_r2", test["r2"],
		"test_mape", test["mape"], "fit_seconds", fitSeconds)
	schema, err := model.SchemaFromFrame(data.TrainFrame, featureColumns(s.Cfg.Data), s.Cfg.Data.Target)
	if err != nil {
		return nil, nil, err
	}
	params := map[string]any{"family": bp.Family}
	for k, v := range bp.Hyperparameters {
		params[k] = v
	}
	train, _ := sc.InputInfo(KeyTrain)
	art, err := model.New(schema, data.Pre, reg, model.Meta{
		Params: params, Metrics: test, LibraryVersion: s.CodeVersion,
		// Pinned so the artifact's SHA-256 identifies its content: the same
		// data, config and code give the same bytes. The registry records
		// when the version was created.
		CreatedAt: time.Unix(0, 0).UTC(),
		Tags:      map[string]string{"family": bp.Family, "train_sha256": train.SHA256},
	})
	if err != nil {
		return nil, nil, err
	}
	if err := calibrate(ctx, sc, art, data); err != nil {
		return nil, nil, err
	}
	return art, test, nil
}

// intervalLevel is the nominal coverage of the served prediction intervals.
const intervalLevel = 0.9

// calibrate fits the artifact's interval calibration (split conformal) on
// the even-numbered test rows and measures its coverage on the odd ones,
// which it never saw. Point metrics are unaffected: they use every test row.
func calibrate(ctx context.Context, sc *StepContext, art *model.Artifact, data *splitData) error {
	var calRows, holdRows []int
	for i := 0; i < data.TestFrame.NumRows(); i++ {
		if i%2 == 0 {
			calRows = append(calRows, i)
		} else {
			holdRows = append(holdRows, i)
		}
	}
	if len(calRows) < 10 || len(holdRows) == 0 {
		sc.Log.Warn("too few test rows to calibrate prediction intervals; serving uncalibrated intervals", "rows", len(calRows)+len(holdRows))
		return nil
	}
	before, after, err := art.CalibrateIntervals(data.TestFrame.Select(calRows), ml.SelectFloats(data.Yte, calRows), intervalLevel)
	if err != nil {
		return fmt.Errorf("calibrating prediction intervals: %w", err)
	}
	lo, hi, err := art.PredictInterval(data.TestFrame.Select(holdRows), intervalLevel)
	if err != nil {
		return fmt.Errorf("prediction intervals on held-out rows: %w", err)
	}
	covered := 0
	for k, i := range holdRows {
		if y := data.Yte[i]; y >= lo[k] && y <= hi[k] {
			covered++
		}
	}
	holdout := float64(covered) / float64(len(holdRows))
	sc.Log.Info("prediction intervals calibrated", "level", intervalLevel, "raw_coverage", before,
		"calibrated_coverage", after, "holdout_coverage", holdout, "calibration_rows", len(calRows), "holdout_rows", len(holdRows))
	return sc.Metrics(ctx, map[string]float64{"interval_raw_coverage": before, "interval_calibration_coverage": after,
		"interval_holdout_coverage": holdout})
}

// register creates the model version with a markdown description and
// searchable tags, then moves it to the configured stage.
func (s *Registration) register(ctx context.Context, sc *StepContext, bp *bestParams, art *model.Artifact, test map[string]float64, info mlops.ArtifactInfo) (*mlops.ModelVersion, error) {
	r := s.Cfg.Registration
	stage, err := mlops.ParseStage(r.ModelStage)
	if err != nil {
		return nil, err
	}
	mv, err := sc.Registry.CreateModelVersion(ctx, mlops.ModelVersionCreate{
		Name: r.RegisteredModelName, Source: info.URI, SHA256: info.SHA256, RunID: sc.RunID(),
		Description: s.description(bp, art, test, sc), Tags: s.tags(bp, art, test),
	})
	if err != nil {
		return nil, fmt.Errorf("registering %s: %w", r.RegisteredModelName, err)
	}
	if stage != mv.Stage {
		moved, err := sc.Registry.TransitionStage(ctx, r.RegisteredModelName, mv.Version, stage, r.ArchiveExisting,
			mlops.Actor{By: "pipeline", Reason: "registered by pipeline run " + sc.ParentRunID()})
		if err != nil {
			return nil, fmt.Errorf("moving %s v%d to %s: %w", r.RegisteredModelName, mv.Version, stage, err)
		}
		mv = moved
	}
	sc.Log.Info("registered", "name", mv.Name, "version", mv.Version, "stage", string(mv.Stage), "sha256", info.SHA256)
	for k, v := range map[string]string{"registered_model": mv.Name, "model_version": strconv.Itoa(mv.Version),
		"model_stage": string(mv.Stage), "model_sha256": info.SHA256} {
		if err := sc.Summary(ctx, k, v); err != nil {
			return nil, err
		}
	}
	return mv, nil
}

func (s *Registration) description(bp *bestParams, art *model.Artifact, test map[string]float64, sc *StepContext) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n**Algorithm:** %s\n\n## Hyperparameters\n", s.Cfg.Main.ProjectName, bp.Family)
	for _, k := range sortedKeys(bp.Hyperparameters) {
		fmt.Fprintf(&b, "- %s: %v\n", k, bp.Hyperparameters[k])
	}
	b.WriteString("\n## Performance metrics (test split)\n")
	fmt.Fprintf(&b, "- MAE: %.2f\n- RMSE: %.2f\n- R²: %.4f\n- MAPE: %.2f%%\n- SMAPE: %.2f%%\n- wMAPE: %.2f%%\n- Median APE: %.2f%%\n",
		test["mae"], test["rmse"], test["r2"], test["mape"], test["smape"], test["wmape"], test["median_ape"])
	fmt.Fprintf(&b, "- Within 5%%: %.1f%%\n- Within 10%%: %.1f%%\n- Within 15%%: %.1f%%\n",
		test["within_5pct"], test["within_10pct"], test["within_15pct"])
	fmt.Fprintf(&b, "\n## Features\n- Input columns: %d (%s)\n- Model features after preprocessing: %d\n- Target: %s\n",
		len(art.Schema.Features), strings.Join(art.Schema.Names(), ", "), len(art.OutputFeatures), s.Cfg.Data.Target)
	train, _ := sc.InputInfo(KeyTrain)
	testInfo, _ := sc.InputInfo(KeyTest)
	fmt.Fprintf(&b, "\n## Data sources\n- Download: %s\n- Training: %s (sha256 %s)\n- Testing: %s (sha256 %s)\n- Sweep: %s (best run %s)\n",
		s.Cfg.Download.FileURL, train.URI, train.SHA256, testInfo.URI, testInfo.SHA256, bp.SweepID, bp.BestRunName)
	return b.String()
}

func (s *Registration) tags(bp *bestParams, art *model.Artifact, test map[string]float64) map[string]string {
	return map[string]string{
		"algorithm": bp.Family, "framework": "housing-mlops", "target": s.Cfg.Data.Target,
		"mape": fmt.Sprintf("%.2f", test["mape"]), "wmape": fmt.Sprintf("%.2f", test["wmape"]),
		"within_10pct": fmt.Sprintf("%.1f", test["within_10pct"]), "rmse": fmt.Sprintf("%.2f", test["rmse"]),
		"mae": fmt.Sprintf("%.2f", test["mae"]), "r2": fmt.Sprintf("%.4f", test["r2"]),
		"n_features": strconv.Itoa(len(art.OutputFeatures)), "sweep_id": bp.SweepID,
	}
}

func (s *Registration) writeModelConfig(ctx context.Context, sc *StepContext, bp *bestParams, art *model.Artifact, test map[string]float64, mv *mlops.ModelVersion) error {
	var mc modelConfig
	m := &mc.Model
	m.Name, m.Version, m.Stage = mv.Name, strconv.Itoa(mv.Version), string(mv.Stage)
	m.Family, m.Parameters, m.Metrics = bp.Family, bp.Hyperparameters, test
	m.FeatureColumns, m.Target = art.Schema.Names(), s.Cfg.Data.Target
	m.SHA256, m.Source, m.RunID, m.SweepID = mv.SHA256, mv.Source, sc.RunID(), bp.SweepID
	b, err := yaml.Marshal(mc)
	if err != nil {
		return err
	}
	_, err = sc.Write(ctx, KeyModelConfig, b)
	return err
}

func readBestParams(ctx context.Context, sc *StepContext) (*bestParams, error) {
	b, err := sc.Read(ctx, KeyBestParams)
	if err != nil {
		return nil, err
	}
	var bp bestParams
	if err := yaml.Unmarshal(b, &bp); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", KeyBestParams, err)
	}
	if bp.Family == "" {
		return nil, fmt.Errorf("%s names no model family", KeyBestParams)
	}
	return &bp, nil
}

// featureColumns are the raw input columns, each once, in config order.
func featureColumns(d config.Data) []string {
	var out []string
	for _, c := range append(append(append([]string{}, d.Numeric...), d.Categorical...), d.Geo...) {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
