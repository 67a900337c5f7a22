package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/housing-mlops/mlops"
)

// StepContext is what a running step sees: its inputs, a place for its
// outputs, its tracking run and a logger.
type StepContext struct {
	// Log is the step's logger (its name already attached).
	Log *slog.Logger
	// Registry is nil when the runner has no model registry.
	Registry mlops.Registry

	runner  *Runner
	step    Step
	run     *mlops.Run
	parent  *mlops.Run
	inputs  map[string]mlops.ArtifactInfo
	outputs map[string]mlops.ArtifactInfo
	metrics map[string]float64
	summary map[string]string
}

// RunID is the step's tracking run.
func (sc *StepContext) RunID() string { return sc.run.ID }

// ParentRunID is the pipeline run.
func (sc *StepContext) ParentRunID() string { return sc.parent.ID }

// ExperimentID is the experiment of the pipeline run.
func (sc *StepContext) ExperimentID() string { return sc.run.ExperimentID }

// Tracker gives steps that create their own child runs (sweep trials)
// access to the tracker.
func (sc *StepContext) Tracker() mlops.Tracker { return sc.runner.Tracker }

// Read returns the content of a declared input, verified against its SHA-256.
func (sc *StepContext) Read(ctx context.Context, key string) ([]byte, error) {
	info, ok := sc.inputs[key]
	if !ok {
		return nil, fmt.Errorf("step %s read %q, which is not among its declared inputs %v", sc.step.Name(), key, sc.step.Inputs())
	}
	b, err := sc.runner.Artifacts.Get(ctx, info.URI, info.SHA256)
	if err != nil {
		return nil, fmt.Errorf("reading input %s: %w", key, err)
	}
	return b, nil
}

// InputInfo returns where a declared input is stored.
func (sc *StepContext) InputInfo(key string) (mlops.ArtifactInfo, bool) {
	info, ok := sc.inputs[key]
	return info, ok
}

// Write stores a declared output (or, for keys not declared, an extra
// artifact such as a plot) under the step's run and records it.
func (sc *StepContext) Write(ctx context.Context, key string, data []byte) (mlops.ArtifactInfo, error) {
	info, err := sc.runner.Artifacts.Put(ctx, "runs/"+sc.run.ID+"/"+key, bytes.NewReader(data))
	if err != nil {
		return mlops.ArtifactInfo{}, fmt.Errorf("writing artifact %s: %w", key, err)
	}
	if slices.Contains(sc.step.Outputs(), key) {
		sc.outputs[key] = info
	}
	sc.Log.Info("artifact", "key", key, "bytes", info.Size, "sha256", short(info.SHA256))
	return info, nil
}

// Metric logs one number on the step's run (step is the x of a curve, e.g.
// K; use 0 for a single value). Non-finite values are logged in the text log
// only: tracking stores reject them.
func (sc *StepContext) Metric(ctx context.Context, key string, value float64, step int64) error {
	if step == 0 {
		sc.metrics[key] = value
	}
	if math.IsNaN(value) || math.IsInf(value, 0) {
		sc.Log.Warn("non-finite metric not tracked", "key", key, "value", value)
		return nil
	}
	m := mlops.Metric{Key: key, Value: value, Timestamp: time.Now(), Step: step}
	return sc.runner.Tracker.LogBatch(ctx, sc.run.ID, []mlops.Metric{m}, nil, nil)
}

// Metrics logs several single-value metrics in one batch, in key order.
func (sc *StepContext) Metrics(ctx context.Context, values map[string]float64) error {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	now := time.Now()
	batch := make([]mlops.Metric, 0, len(keys))
	for _, k := range keys {
		v := values[k]
		sc.metrics[k] = v
		if math.IsNaN(v) || math.IsInf(v, 0) {
			sc.Log.Warn("non-finite metric not tracked", "key", k, "value", v)
			continue
		}
		batch = append(batch, mlops.Metric{Key: k, Value: v, Timestamp: now})
	}
	return sc.runner.Tracker.LogBatch(ctx, sc.run.ID, batch, nil, nil)
}

// Summary records a headline result ("imputer" = "knn") for the final
// report; it is stored as a tag so a cached step can report it too.
func (sc *StepContext) Summary(ctx context.Context, key, value string) error {
	sc.summary[key] = value
	return sc.runner.Tracker.LogBatch(ctx, sc.run.ID, nil, nil, []mlops.Tag{{Key: tagSummary + key, Value: value}})
}

// Progress starts a progress indicator for a loop of total iterations.
func (sc *StepContext) Progress(total int, what string) *Progress {
	return newProgress(sc.Log, sc.runner.ProgressOut, total, what)
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
