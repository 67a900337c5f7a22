package sweep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"time"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/tune"
)

// DefaultLease is the lease an Agent takes when none is set: long enough
// that a busy database does not make a live agent lose its trial, short
// enough that a crashed agent's trial is retried soon.
const DefaultLease = 30 * time.Second

// Agent works one sweep: it claims trials, runs them (through Hyperband's
// bands when the sweep has early termination), keeps its lease alive with
// a heartbeat, reports results and repeats until the sweep is done. Run
// several agents, in as many processes and machines as wanted, on one
// sweep.
type Agent struct {
	Queue     Queue          // where the sweep and its trials live
	Worker    string         // unique per agent; "" means DefaultWorker()
	Objective tune.Objective // builds a trial from its parameters
	Lease     time.Duration  // 0 means DefaultLease; heartbeats come every Lease/3
	// Tracker, when set and the sweep is tracked (Track), records
	// every trial attempt as a child run of the sweep's run.
	Tracker mlops.Tracker
	// Poll is the wait before asking again when every remaining trial is
	// held by another agent; 0 means min(1 s, Lease/2).
	Poll time.Duration
	// Count stops the agent after that many trials (wandb agent --count);
	// 0 runs until the sweep is done.
	Count int
	Log   *slog.Logger // nil discards
}

// DefaultWorker names an agent by host and process ID, unique on a machine
// and readable in `mlops sweep status`.
func DefaultWorker() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "host"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

type claimKey struct{}

// ClaimFromContext returns the claim of the trial an objective is building,
// from the context the agent passes it, e.g. to seed per trial or log its
// index; nil outside an agent.
func ClaimFromContext(ctx context.Context) *Claim {
	c, _ := ctx.Value(claimKey{}).(*Claim)
	return c
}

// Run works sweepID until every trial has finished (nil), Count trials
// were run (nil), ctx is cancelled (ctx's error; the trial in hand is
// released for others) or the queue fails. A failing objective fails its
// trial, not the agent.
func (a *Agent) Run(ctx context.Context, sweepID string) error {
	if a.Queue == nil || a.Objective == nil {
		return errors.New("sweep: agent needs a Queue and an Objective")
	}
	if a.Worker == "" {
		a.Worker = DefaultWorker()
	}
	if a.Lease <= 0 {
		a.Lease = DefaultLease
	}
	if a.Poll <= 0 {
		a.Poll = min(time.Second, a.Lease/2)
	}
	if a.Log == nil {
		a.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for ran := 0; a.Count == 0 || ran < a.Count; ran++ {
		c, err := a.claim(ctx, sweepID)
		if errors.Is(err, ErrSweepDone) {
			return a.finish(ctx, sweepID)
		}
		if err != nil {
			return err
		}
		if err := a.work(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// claim asks for a trial until one is free, the sweep is done or ctx ends.
func (a *Agent) claim(ctx context.Context, sweepID string) (*Claim, error) {
	for {
		c, err := a.Queue.Claim(ctx, sweepID, a.Worker, a.Lease)
		if !errors.Is(err, ErrNoTrial) {
			if err != nil && ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return c, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(a.Poll):
		}
	}
}

// work runs one claimed trial and records its outcome.
func (a *Agent) work(ctx context.Context, c *Claim) error {
	log := a.Log.With("sweep", c.Sweep.ID, "trial", c.Index, "attempt", c.Attempt)
	log.Info("claimed", "params", c.Params)
	tr, err := a.startRun(ctx, c)
	if errors.Is(err, ErrLeaseLost) {
		log.Warn("lease lost before the trial started")
		return nil
	}
	if err != nil {
		return a.abandon(c, err)
	}
	tctx, cancel := context.WithCancelCause(context.WithValue(ctx, claimKey{}, c))
	beat := make(chan struct{})
	go a.heartbeat(tctx, c, cancel, beat)
	res, trialErr, infraErr := a.execute(tctx, c, tr)
	cancel(nil)
	<-beat
	switch {
	case ctx.Err() != nil:
		tr.end(mlops.RunKilled, "agent stopped")
		return a.abandon(c, ctx.Err())
	case errors.Is(context.Cause(tctx), ErrLeaseLost), errors.Is(infraErr, ErrLeaseLost):
		log.Warn("lease lost: another worker has the trial")
		tr.end(mlops.RunKilled, "lease lost to another worker")
		return nil
	case infraErr != nil:
		tr.end(mlops.RunFailed, infraErr.Error())
		return a.abandon(c, infraErr)
	}
	if err := tr.result(res, trialErr); err != nil {
		return a.abandon(c, err)
	}
	if trialErr != nil {
		log.Warn("trial failed", "err", trialErr)
		err = a.Queue.Fail(ctx, c, trialErr)
	} else {
		log.Info("trial done", "metric", res.Metric, "budget", res.Budget, "stopped_early", res.StoppedEarly)
		err = a.Queue.Complete(ctx, c, res)
	}
	if errors.Is(err, ErrLeaseLost) {
		log.Warn("result discarded: the trial was taken over", "err", err)
		tr.end(mlops.RunKilled, "result discarded: lease lost to another worker")
		return nil
	}
	if err != nil {
		return err
	}
	status := mlops.RunFinished
	if trialErr != nil {
		status = mlops.RunFailed
	}
	tr.end(status, "")
	return tr.err
}

// abandon hands the trial back (best effort, on a fresh context since ctx
// may be cancelled) and returns cause.
func (a *Agent) abandon(c *Claim, cause error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Queue.Release(ctx, c); err != nil && !errors.Is(err, ErrLeaseLost) {
		a.Log.Warn("release failed; the trial returns when its lease expires", "trial", c.Index, "err", err)
	}
	return cause
}

// heartbeat extends the lease every Lease/3 until ctx ends; on a lost
// lease it cancels the trial. Other errors are retried at the next beat:
// the lease only runs out if the database stays unreachable for it.
func (a *Agent) heartbeat(ctx context.Context, c *Claim, cancel context.CancelCauseFunc, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(max(a.Lease/3, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := a.Queue.Heartbeat(ctx, c)
		if errors.Is(err, ErrLeaseLost) {
			cancel(ErrLeaseLost)
			return
		}
		if err != nil && ctx.Err() == nil {
			a.Log.Warn("heartbeat failed", "trial", c.Index, "err", err)
		}
	}
}

// execute builds and advances the trial. trialErr is the objective's own
// failure (it fails the trial); infraErr is the queue's or the tracker's
// (lease lost, database error), which leaves the trial to be retried.
func (a *Agent) execute(ctx context.Context, c *Claim, tr *trialRun) (res Result, trialErr, infraErr error) {
	res.Metric = math.NaN()
	trial, err := guard(func() (tune.Trial, error) { return a.Objective(ctx, copyParams(c.Params)) })
	if err == nil && trial == nil {
		err = errors.New("objective returned no trial")
	}
	if err != nil {
		return res, fmt.Errorf("create: %w", err), nil
	}
	cfg := c.Sweep.Config
	milestones := cfg.Milestones(trial)
	for i, budget := range milestones {
		metric, err := guard(func() (float64, error) { return trial.Advance(ctx, budget) })
		if err == nil && (math.IsNaN(metric) || math.IsInf(metric, 0)) {
			err = fmt.Errorf("metric is %v", metric)
		}
		if err != nil {
			return res, fmt.Errorf("advance to %d: %w", budget, err), nil
		}
		res.Metric, res.Budget = metric, budget
		if err := tr.band(ctx, budget, metric); err != nil {
			return res, nil, err
		}
		if i == len(milestones)-1 {
			break
		}
		stop, err := a.Queue.ReportBand(ctx, c, budget, metric)
		if err != nil {
			return res, nil, err
		}
		if stop {
			res.StoppedEarly = true
			break
		}
	}
	res.Metrics, err = guard(func() (map[string]float64, error) { return trial.Final(ctx) })
	if err != nil {
		return res, fmt.Errorf("final: %w", err), nil
	}
	return res, nil, nil
}

// guard turns a panic in the objective into an error, so one bad trial
// fails itself rather than the agent.
func guard[T any](fn func() (T, error)) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return fn()
}

func copyParams(p map[string]any) map[string]any {
	out := make(map[string]any, len(p))
	for k, v := range p {
		out[k] = v
	}
	return out
}

// finish marks the sweep done; the one agent that does so closes the
// sweep's tracking run with its best result.
func (a *Agent) finish(ctx context.Context, sweepID string) error {
	first, err := a.Queue.MarkFinished(ctx, sweepID)
	if err != nil || !first {
		return err
	}
	a.Log.Info("sweep finished", "sweep", sweepID)
	if a.Tracker == nil {
		return nil
	}
	sw, err := a.Queue.Get(ctx, sweepID)
	if err != nil || sw.RunID == "" {
		return err
	}
	trials, err := a.Queue.Trials(ctx, sweepID)
	if err != nil {
		return err
	}
	sum := Summarize(sw.Config, trials)
	ms := []mlops.Metric{{Key: "trials", Value: float64(len(trials))}, {Key: "budget_spent", Value: float64(sum.BudgetSpent)}}
	for st, n := range sum.Counts {
		ms = append(ms, mlops.Metric{Key: "trials_" + st, Value: float64(n)})
	}
	var tags []mlops.Tag
	if sum.Best >= 0 {
		best := trials[sum.Best]
		ms = append(ms, mlops.Metric{Key: "best_" + sw.Config.Metric.Name, Value: best.Metric})
		tags = append(tags, mlops.Tag{Key: "best_trial", Value: fmt.Sprint(best.Index)},
			mlops.Tag{Key: "best_run_id", Value: best.RunID})
	}
	if err := a.Tracker.LogBatch(ctx, sw.RunID, ms, nil, tags); err != nil {
		return fmt.Errorf("sweep %s: log summary: %w", sweepID, err)
	}
	_, err = a.Tracker.UpdateRun(ctx, sw.RunID, mlops.RunUpdate{Status: mlops.RunFinished, EndTime: time.Now()})
	return err
}
