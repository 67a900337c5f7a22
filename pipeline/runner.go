package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/housing-mlops/mlops"
)

// Tag keys the runner writes on step runs.
const (
	tagStep        = "mlops.step"
	tagCacheKey    = "mlops.cache_key"
	tagConfigHash  = "mlops.config_hash"
	tagCodeVersion = "mlops.code_version"
	tagDataHash    = "mlops.data_sha256"
	tagInputsHash  = "mlops.inputs_sha256"
	tagCachedFrom  = "mlops.cached_from"
	tagKind        = "mlops.kind"
	tagOutURI      = "mlops.out.uri."
	tagOutSHA      = "mlops.out.sha256."
	tagSummary     = "mlops.summary."
	tagParentRunID = "mlflow.parentRunId"
)

// Runner executes steps in order, tracking each as a child of one pipeline run.
type Runner struct {
	Tracker   mlops.Tracker
	Registry  mlops.Registry // optional; handed to steps (registration)
	Artifacts mlops.ArtifactStore
	Log       *slog.Logger

	Experiment  string // experiment name, created if missing
	RunName     string // name of the pipeline run ("pipeline" if empty)
	CodeVersion string // enters every cache key
	ConfigHash  string // tagged on every run
	// DataKey is the artifact whose SHA-256 is tagged as the data hash.
	DataKey string
	// Force re-runs steps even when a cached run matches.
	Force bool
	// ProgressOut receives progress bars; nil means log lines instead.
	ProgressOut io.Writer
}

// Status of a step in a Report.
const (
	StatusRan    = "ran"
	StatusCached = "cached"
	StatusFailed = "failed"
)

// StepResult is what one step did.
type StepResult struct {
	Name     string
	Status   string
	Duration time.Duration
	CPU      time.Duration // process CPU time spent during the step
	RunID    string
	CacheKey string
	Outputs  map[string]mlops.ArtifactInfo
	Metrics  map[string]float64
	Summary  map[string]string
}

// Report is the outcome of a pipeline run.
type Report struct {
	ExperimentID string
	RunID        string
	Steps        []StepResult
	Duration     time.Duration
}

// Run executes the selected steps of all in order. Inputs not produced in
// this run come from the latest finished run of the step that declares them.
// A failing step stops the pipeline; earlier outputs stay stored.
func (r *Runner) Run(ctx context.Context, all []Step, selected []Step) (*Report, error) {
	start := time.Now()
	exp, err := r.experiment(ctx)
	if err != nil {
		return nil, err
	}
	parent, err := r.Tracker.CreateRun(ctx, mlops.RunCreate{
		ExperimentID: exp.ID, Name: r.runName(),
		Tags: map[string]string{tagKind: "pipeline", tagConfigHash: r.ConfigHash, tagCodeVersion: r.CodeVersion},
	})
	if err != nil {
		return nil, fmt.Errorf("creating pipeline run: %w", err)
	}
	rep := &Report{ExperimentID: exp.ID, RunID: parent.ID}
	r.Log.Info("pipeline start", "run_id", parent.ID, "experiment", r.Experiment,
		"steps", stepNames(selected), "config_hash", short(r.ConfigHash), "code_version", r.CodeVersion, "force", r.Force)
	state := map[string]mlops.ArtifactInfo{}
	var runErr error
	for _, st := range selected {
		res, err := r.runStep(ctx, all, st, parent, state)
		rep.Steps = append(rep.Steps, res)
		if err != nil {
			runErr = fmt.Errorf("step %s: %w", st.Name(), err)
			break
		}
	}
	rep.Duration = time.Since(start)
	status := mlops.RunFinished
	if runErr != nil {
		status = mlops.RunFailed
		if errors.Is(runErr, context.Canceled) {
			status = mlops.RunKilled
		}
	}
	if _, err := r.Tracker.UpdateRun(context.WithoutCancel(ctx), parent.ID, mlops.RunUpdate{Status: status, EndTime: time.Now()}); err != nil && runErr == nil {
		runErr = fmt.Errorf("closing pipeline run: %w", err)
	}
	r.Log.Info("pipeline end", "run_id", parent.ID, "status", string(status), "seconds", rep.Duration.Seconds())
	return rep, runErr
}

func (r *Runner) runName() string {
	if r.RunName != "" {
		return r.RunName
	}
	return "pipeline"
}

func (r *Runner) experiment(ctx context.Context) (*mlops.Experiment, error) {
	exp, err := r.Tracker.GetExperimentByName(ctx, r.Experiment)
	if err == nil {
		return exp, nil
	}
	if mlops.ErrorCode(err) != mlops.ENOTFOUND {
		return nil, fmt.Errorf("looking up experiment %q: %w", r.Experiment, err)
	}
	exp, err = r.Tracker.CreateExperiment(ctx, r.Experiment, "", nil)
	if err != nil {
		return nil, fmt.Errorf("creating experiment %q: %w", r.Experiment, err)
	}
	return exp, nil
}
