package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/config"
	"github.com/housing-mlops/mlops/ml/selection"
	"github.com/housing-mlops/mlops/tune"
)

// Sweep is step 06: a hyperparameter sweep (TPE or random search with
// Hyperband early stopping, package tune) of the family step 05 chose, each
// trial a child run, writing best_params.yaml in the original's shape.
//
// Trials are scored on a validation part of the training split, never on the
// test split: the original scored its sweep on the test set, which leaks the
// test set into the choice of hyperparameters.
type Sweep struct{ Cfg *config.Config }

// bestParams is best_params.yaml.
type bestParams struct {
	SweepID         string             `yaml:"sweep_id" json:"sweep_id"`
	BestRunID       string             `yaml:"best_run_id" json:"best_run_id"`
	BestRunName     string             `yaml:"best_run_name" json:"best_run_name"`
	Family          string             `yaml:"family" json:"family"`
	Hyperparameters map[string]any     `yaml:"hyperparameters" json:"hyperparameters"`
	Metrics         map[string]float64 `yaml:"metrics" json:"metrics"`
	MetricsOn       string             `yaml:"metrics_on" json:"metrics_on"`
}

// Name implements Step.
func (s *Sweep) Name() string { return "06_sweep" }

// Inputs implements Step.
func (s *Sweep) Inputs() []string { return []string{KeyTrain, KeyTest, KeyPreprocessor, KeySelection} }

// Outputs implements Step.
func (s *Sweep) Outputs() []string { return []string{KeyBestParams} }

// Params implements Step. The sweep file's content enters the cache key.
func (s *Sweep) Params() map[string]any {
	p := map[string]any{"sweep": s.Cfg.Sweep, "target": s.Cfg.Data.Target}
	if s.Cfg.Sweep.Config != "" {
		if b, err := os.ReadFile(s.Cfg.Sweep.Config); err == nil {
			p["sweep_config_sha256"] = sha256Hex(b)
		}
	}
	return p
}

// Run implements Step.
func (s *Sweep) Run(ctx context.Context, sc *StepContext) error {
	sel, err := readSelection(ctx, sc)
	if err != nil {
		return err
	}
	space, err := s.space(sel.Best)
	if err != nil {
		return err
	}
	data, err := loadSplit(ctx, sc, s.Cfg.Data)
	if err != nil {
		return err
	}
	val, err := newSweepData(data, uint64(s.Cfg.Sweep.RandomState))
	if err != nil {
		return err
	}
	sc.Log.Info("sweep", "family", sel.Best, "method", space.Method, "metric", space.Metric.Name,
		"trials", s.Cfg.Sweep.Trials, "parallelism", s.Cfg.Sweep.Parallelism, "hyperband", space.EarlyTerminate != nil)
	res, names, err := s.run(ctx, sc, space, sel.Best, val)
	if err != nil {
		return err
	}
	return s.finish(ctx, sc, sel.Best, space, res, names)
}

// space is the sweep file when configured, else the family's default space
// with the configured method, metric and goal.
func (s *Sweep) space(family string) (*tune.SweepConfig, error) {
	c := s.Cfg.Sweep
	if c.Config != "" {
		b, err := os.ReadFile(c.Config)
		if err != nil {
			return nil, fmt.Errorf("sweep.config: %w", err)
		}
		sp, err := tune.ParseSweepConfig(b)
		if err != nil {
			return nil, fmt.Errorf("sweep.config %s: %w", c.Config, err)
		}
		return sp, nil
	}
	sp, err := tune.DefaultSpace(family)
	if err != nil {
		return nil, err
	}
	switch c.Method {
	case "tpe", "bayes":
		sp.Method = tune.MethodBayes
	case "random", "grid":
		sp.Method = c.Method
	default:
		return nil, fmt.Errorf("sweep.method: want tpe, random or grid, got %q", c.Method)
	}
	sp.Metric = tune.Metric{Name: c.Metric, Goal: c.Goal}
	return sp, sp.Validate()
}

// run executes the sweep, recording each trial as a child run of the step.
func (s *Sweep) run(ctx context.Context, sc *StepContext, space *tune.SweepConfig, family string, val *SweepData) (*tune.Result, map[int]trialRun, error) {
	c := s.Cfg.Sweep
	workers := 1
	if c.Parallelism == 1 {
		workers = 0 // one trial at a time: let the model use every core
	}
	obj, err := SweepObjective(val, family, space.Metric.Name, uint64(c.RandomState), workers)
	if err != nil {
		return nil, nil, err
	}
	runs := map[int]trialRun{}
	prog := sc.Progress(c.Trials, "sweep trials")
	var cbErr error
	cb := tune.Callbacks{OnTrialEnd: func(tr tune.TrialResult) {
		prog.Add(1)
		r, err := recordTrial(ctx, sc, tr, space.Metric.Name)
		if err != nil && cbErr == nil {
			cbErr = err
		}
		runs[tr.Index] = r
	}}
	res, err := tune.Run(ctx, space, c.Trials, c.Parallelism, uint64(c.RandomState), obj, cb)
	prog.Done()
	if err != nil {
		return nil, nil, err
	}
	return res, runs, cbErr
}

// trialRun names the child run of one trial.
type trialRun struct{ ID, Name string }

func recordTrial(ctx context.Context, sc *StepContext, tr tune.TrialResult, metric string) (trialRun, error) {
	name := fmt.Sprintf("trial-%03d", tr.Index+1)
	run, err := sc.Tracker().CreateRun(ctx, mlops.RunCreate{ExperimentID: sc.ExperimentID(), Name: name, ParentID: sc.RunID(),
		Tags: map[string]string{tagKind: "trial", tagParentRunID: sc.RunID()}})
	if err != nil {
		return trialRun{}, err
	}
	ms := []mlops.Metric{}
	add := func(k string, v float64) {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			ms = append(ms, mlops.Metric{Key: k, Value: v})
		}
	}
	add(metric, tr.Metric)
	for k, v := range tr.Metrics {
		add(k, v)
	}
	add("seconds", tr.Seconds)
	add("budget", float64(tr.Budget))
	tags := []mlops.Tag{{Key: "stopped_early", Value: fmt.Sprint(tr.StoppedEarly)}}
	status := mlops.RunFinished
	if tr.Err != nil {
		status = mlops.RunFailed
		tags = append(tags, mlops.Tag{Key: "mlops.error", Value: truncate(tr.Err.Error(), 4000)})
	}
	if err := sc.Tracker().LogBatch(ctx, run.ID, ms, flattenParams(tr.Params), tags); err != nil {
		return trialRun{}, err
	}
	if _, err := sc.Tracker().UpdateRun(ctx, run.ID, mlops.RunUpdate{Status: status}); err != nil {
		return trialRun{}, err
	}
	return trialRun{ID: run.ID, Name: name}, nil
}

// finish logs the best trial and writes best_params.yaml and the plots.
func (s *Sweep) finish(ctx context.Context, sc *StepContext, family string, space *tune.SweepConfig, res *tune.Result, runs map[int]trialRun) error {
	if res.Best < 0 {
		return fmt.Errorf("every sweep trial failed; first error: %v", res.Trials[0].Err)
	}
	best := res.Trials[res.Best]
	bp := bestParams{SweepID: sc.RunID(), BestRunID: runs[best.Index].ID, BestRunName: runs[best.Index].Name,
		Family: family, Hyperparameters: best.Params, Metrics: best.Metrics, MetricsOn: "validation part of the training split"}
	m := map[string]float64{"best_" + space.Metric.Name: best.Metric, "trials": float64(len(res.Trials)), "budget_spent": float64(res.BudgetSpent)}
	stopped := 0
	for _, t := range res.Trials {
		if t.StoppedEarly {
			stopped++
		}
	}
	m["stopped_early"] = float64(stopped)
	for k, v := range best.Metrics {
		m["best_val_"+k] = v
	}
	if err := sc.Metrics(ctx, m); err != nil {
		return err
	}
	sc.Log.Info("sweep best", "trial", bp.BestRunName, space.Metric.Name, best.Metric, "params", selection.FormatParams(best.Params))
	if err := sc.Summary(ctx, "sweep_best_"+space.Metric.Name, fmt.Sprintf("%.4f", best.Metric)); err != nil {
		return err
	}
	if err := s.plots(ctx, sc, res); err != nil {
		return err
	}
	b, err := yaml.Marshal(bp)
	if err != nil {
		return err
	}
	_, err = sc.Write(ctx, KeyBestParams, b)
	return err
}

func (s *Sweep) plots(ctx context.Context, sc *StepContext, res *tune.Result) error {
	for _, p := range []struct {
		key  string
		draw func(*tune.Result) ([]byte, error)
	}{{"sweep_best_so_far.svg", tune.BestSoFarSVG}, {"sweep_parallel_coordinates.svg", tune.ParallelCoordinatesSVG}} {
		svg, err := p.draw(res)
		if err := savePlot(ctx, sc, p.key, svg, err); err != nil {
			return err
		}
	}
	return nil
}

func readSelection(ctx context.Context, sc *StepContext) (*selectionResult, error) {
	b, err := sc.Read(ctx, KeySelection)
	if err != nil {
		return nil, err
	}
	var sel selectionResult
	if err := json.Unmarshal(b, &sel); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", KeySelection, err)
	}
	return &sel, nil
}
