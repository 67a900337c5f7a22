package sweep

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/tune"
)

// Create stores a new sweep of trials trials in q and returns its ID.
// family names the model family the agents' objective builds (it travels
// with the sweep so agents need not be told). For grid sweeps trials is
// capped at the grid's size, and 0 means the whole grid.
func Create(ctx context.Context, q Queue, cfg *tune.SweepConfig, trials int, seed uint64, family string) (string, error) {
	sampler, err := tune.NewSampler(cfg, seed)
	if err != nil {
		return "", err
	}
	if g := sampler.GridSize(); g > 0 && (trials <= 0 || trials > g) {
		trials = g
	}
	if trials <= 0 {
		return "", fmt.Errorf("sweep: trials must be positive, got %d", trials)
	}
	id, err := newID()
	if err != nil {
		return "", err
	}
	sw := &Sweep{ID: id, Name: cfg.Name, Family: family, Config: cfg, Trials: trials, Seed: seed, Status: SweepRunning}
	if err := q.CreateSweep(ctx, sw); err != nil {
		return "", err
	}
	return id, nil
}

// newID is 12 random hex digits: short enough to type, like W&B's sweep IDs.
func newID() (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("sweep: id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// NextParams proposes trial index's parameters from the sweep's sampler
// given its trials so far, of which the finished ones (done and stopped;
// failed ones are not history, as in tune.Run) inform the proposal. A Queue
// calls it while it holds the sweep's creation lock, so that two workers
// cannot create the same index or sample it from different histories.
func NextParams(sw *Sweep, index int, trials []TrialRow) (map[string]any, error) {
	sampler, err := tune.NewSampler(sw.Config, sw.Seed)
	if err != nil {
		return nil, err
	}
	var history []tune.TrialResult
	for _, t := range trials {
		if t.Status == StatusDone || t.Status == StatusStopped {
			history = append(history, tune.TrialResult{Index: t.Index, Params: t.Params, Metric: t.Metric,
				Metrics: t.Metrics, Budget: t.Budget, StoppedEarly: t.Status == StatusStopped})
		}
	}
	return sampler.Sample(index, history)
}

// Track creates the sweep's tracking run (in experiment experimentName,
// created if missing) and records it on the sweep in q, so that agents log
// each trial as its child run. It returns the run's ID.
func Track(ctx context.Context, q Queue, tr mlops.Tracker, sweepID, experimentName string) (string, error) {
	sw, err := q.Get(ctx, sweepID)
	if err != nil {
		return "", err
	}
	if sw.RunID != "" {
		return "", fmt.Errorf("sweep %s: already tracked by run %s", sweepID, sw.RunID)
	}
	exp, err := tr.GetExperimentByName(ctx, experimentName)
	if mlops.ErrorCode(err) == mlops.ENOTFOUND {
		exp, err = tr.CreateExperiment(ctx, experimentName, "", nil)
		if mlops.ErrorCode(err) == mlops.EEXISTS { // another process won the race
			exp, err = tr.GetExperimentByName(ctx, experimentName)
		}
	}
	if err != nil {
		return "", fmt.Errorf("sweep %s: experiment %q: %w", sweepID, experimentName, err)
	}
	run, err := tr.CreateRun(ctx, mlops.RunCreate{ExperimentID: exp.ID, Name: "sweep-" + sweepID,
		Tags: map[string]string{TagKind: "sweep", TagSweepID: sweepID}})
	if err != nil {
		return "", fmt.Errorf("sweep %s: create run: %w", sweepID, err)
	}
	params := []mlops.Param{{Key: "method", Value: sw.Config.Method}, {Key: "metric", Value: sw.Config.Metric.Name},
		{Key: "goal", Value: sw.Config.Metric.Goal}, {Key: "trials", Value: fmt.Sprint(sw.Trials)},
		{Key: "seed", Value: fmt.Sprint(sw.Seed)}, {Key: "hyperband", Value: fmt.Sprint(sw.Config.EarlyTerminate != nil)}}
	if sw.Family != "" {
		params = append(params, mlops.Param{Key: "family", Value: sw.Family})
	}
	if err := tr.LogBatch(ctx, run.ID, nil, params, nil); err != nil {
		return "", fmt.Errorf("sweep %s: log params: %w", sweepID, err)
	}
	// A concurrent Track may have won since Get: SetTracking refuses the
	// second, so the sweep keeps one run.
	if err := q.SetTracking(ctx, sweepID, exp.ID, run.ID); err != nil {
		return "", err
	}
	return run.ID, nil
}

// Tags on sweep and trial runs.
const (
	TagKind    = "mlops.kind"     // "sweep" or "trial", as the pipeline's runs
	TagSweepID = "mlops.sweep_id" // the sweep a run belongs to
	TagTrial   = "mlops.trial"    // a trial run's 0-based index
	TagWorker  = "mlops.worker"   // the agent that ran a trial attempt
)
