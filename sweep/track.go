package sweep

import (
	"context"
	"fmt"
	"time"

	"github.com/housing-mlops/mlops"
)

// trialRun is the tracking run of one trial attempt; with no tracker (or
// an untracked sweep) every method does nothing.
type trialRun struct {
	tr     mlops.Tracker
	id     string
	metric string
	err    error // first error of end, which runs on cleanup paths
}

// tagError carries why an attempt's run did not finish.
const tagError = "mlops.error"

// startRun creates the attempt's child run under the sweep's run, after
// closing the run of an earlier attempt that lost its lease.
func (a *Agent) startRun(ctx context.Context, c *Claim) (*trialRun, error) {
	r := &trialRun{metric: c.Sweep.Config.Metric.Name}
	if a.Tracker == nil || c.Sweep.RunID == "" {
		return r, nil
	}
	r.tr = a.Tracker
	if c.PrevRunID != "" {
		prev := &trialRun{tr: a.Tracker, id: c.PrevRunID}
		prev.end(mlops.RunFailed, fmt.Sprintf("lease expired; attempt %d retried by %s", c.Attempt-1, c.Worker))
		if prev.err != nil {
			return nil, prev.err
		}
	}
	run, err := a.Tracker.CreateRun(ctx, mlops.RunCreate{ExperimentID: c.Sweep.ExperimentID, ParentID: c.Sweep.RunID,
		Name: fmt.Sprintf("trial-%03d", c.Index+1), Tags: map[string]string{TagKind: "trial", TagSweepID: c.Sweep.ID,
			TagTrial: fmt.Sprint(c.Index), TagWorker: c.Worker, "mlops.attempt": fmt.Sprint(c.Attempt)}})
	if err != nil {
		return nil, fmt.Errorf("sweep %s: trial %d: create run: %w", c.Sweep.ID, c.Index, err)
	}
	r.id = run.ID
	params := make([]mlops.Param, 0, len(c.Params))
	for k, v := range c.Params {
		params = append(params, mlops.Param{Key: k, Value: fmt.Sprint(v)})
	}
	if err := a.Tracker.LogBatch(ctx, run.ID, nil, params, nil); err != nil {
		return nil, fmt.Errorf("sweep %s: trial %d: log params: %w", c.Sweep.ID, c.Index, err)
	}
	if err := a.Queue.SetRunID(ctx, c, run.ID); err != nil {
		r.end(mlops.RunKilled, "lease lost before the trial started")
		return nil, err
	}
	return r, nil
}

// band logs the sweep metric at a budget, with the budget as the step.
func (r *trialRun) band(ctx context.Context, budget int, metric float64) error {
	if r.tr == nil {
		return nil
	}
	return r.tr.LogBatch(ctx, r.id, []mlops.Metric{{Key: r.metric, Value: metric, Step: int64(budget)}}, nil, nil)
}

// result logs the final metrics, the budget reached and how it ended.
func (r *trialRun) result(res Result, trialErr error) error {
	if r.tr == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ms := []mlops.Metric{{Key: "budget", Value: float64(res.Budget)}}
	for k, v := range FiniteMetrics(res.Metrics) {
		ms = append(ms, mlops.Metric{Key: k, Value: v, Step: int64(res.Budget)})
	}
	tags := []mlops.Tag{{Key: "stopped_early", Value: fmt.Sprint(res.StoppedEarly)}}
	if trialErr != nil {
		tags = append(tags, mlops.Tag{Key: tagError, Value: truncate(trialErr.Error(), 4000)})
	}
	return r.tr.LogBatch(ctx, r.id, ms, nil, tags)
}

// end closes the run; reason, when given, is tagged. It runs on cleanup
// paths, possibly after ctx was cancelled, so it uses its own context and
// keeps its error in r.err.
func (r *trialRun) end(status mlops.RunStatus, reason string) {
	if r.tr == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if reason != "" {
		if err := r.tr.LogBatch(ctx, r.id, nil, nil, []mlops.Tag{{Key: tagError, Value: truncate(reason, 4000)}}); err != nil && r.err == nil {
			r.err = err
		}
	}
	if _, err := r.tr.UpdateRun(ctx, r.id, mlops.RunUpdate{Status: status, EndTime: time.Now()}); err != nil && r.err == nil {
		r.err = fmt.Errorf("close run %s: %w", r.id, err)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
