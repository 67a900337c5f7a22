// Package sweep runs one hyperparameter sweep on several processes and
// machines at once, like `wandb agent`: the sweep and its trials live in a
// shared Queue, agents claim trials under time-limited leases, report
// Hyperband bands and results, and a crashed agent's trial goes back to the
// others when its lease expires.
//
// This package holds the domain (sweeps, trials, claims, the Queue
// contract) and the agent loop; package postgres implements Queue. Local
// sweeps do not need this package: tune.Run runs a sweep inside one process
// (it is what pipeline step 06 uses). There is no SQLite Queue on purpose:
// SQLite cannot be shared by several machines, which is the point.
package sweep

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/housing-mlops/mlops/tune"
)

// Trial statuses.
const (
	StatusQueued  = "queued"  // released by a worker; claimable
	StatusRunning = "running" // held by a worker until its lease ends
	StatusDone    = "done"    // ran to completion
	StatusStopped = "stopped" // cut by Hyperband; has a result at its band
	StatusFailed  = "failed"  // the objective failed, or too many leases expired
)

// Sweep statuses.
const (
	SweepRunning = "running"
	SweepDone    = "done"
)

// Errors the agent loop acts on; every Queue returns them (wrapped or not)
// with these meanings.
var (
	// ErrSweepDone: every trial of the sweep has finished.
	ErrSweepDone = errors.New("sweep: all trials finished")
	// ErrNoTrial: every trial exists and is held by a live worker; ask
	// again later (a crashed worker's trial comes back when its lease
	// expires).
	ErrNoTrial = errors.New("sweep: no trial available now")
	// ErrLeaseLost: the trial is no longer this worker's (its lease
	// expired and another worker claimed it, or it was finished).
	ErrLeaseLost = errors.New("sweep: lease lost")
	// ErrNotFound: no sweep with that ID.
	ErrNotFound = errors.New("sweep: not found")
)

// DefaultMaxAttempts bounds how many times a trial is claimed: a trial
// whose lease expired that often (it crashes its worker, say by running out
// of memory) is marked failed instead of taking every agent down in turn.
const DefaultMaxAttempts = 3

// Queue keeps sweeps and hands their trials to workers. Package postgres
// implements it. Every method taking a Claim returns ErrLeaseLost when the
// claim no longer holds its trial: the agent then drops the trial, since
// the other holder's result is the one that will count.
//
// Guarantees an implementation gives: a trial index is created once (with
// parameters from NextParams given every trial finished at that moment), a
// trial is held by one worker at a time, a running trial whose lease
// expired is handed out again (re-queued) by the next Claim, and a worker
// whose lease was taken over can no longer heartbeat, report or complete
// that trial (every write checks worker and attempt), so no trial result is
// written twice and none is lost while some agent keeps running. Lease
// times should come from one clock shared by every worker (the database's),
// so that leases mean the same on every machine whatever their clock skew.
type Queue interface {
	// CreateSweep stores a new sweep made by Create; the queue sets Created.
	CreateSweep(ctx context.Context, sw *Sweep) error
	// Get reads a sweep; ErrNotFound when there is none with that ID.
	Get(ctx context.Context, id string) (*Sweep, error)
	// SetTracking records the sweep's tracking run once; a second call fails.
	SetTracking(ctx context.Context, id, experimentID, runID string) error
	// MarkFinished sets a running sweep done. first is true for the one
	// caller that made the change.
	MarkFinished(ctx context.Context, id string) (first bool, err error)
	// Trials lists a sweep's trials by index.
	Trials(ctx context.Context, sweepID string) ([]TrialRow, error)

	// Claim gives worker a trial leased for lease: first the lowest-index
	// released trial or running one whose lease expired (failing, on the
	// way, those whose lease expired on each of their maximum attempts,
	// DefaultMaxAttempts unless configured), else the next trial index. It
	// returns ErrNoTrial when every trial exists and is held by a live
	// worker, and ErrSweepDone when every trial has finished.
	Claim(ctx context.Context, sweepID, worker string, lease time.Duration) (*Claim, error)
	// Heartbeat extends the claim's lease by its Lease from now.
	Heartbeat(ctx context.Context, c *Claim) error
	// SetRunID records the tracking run of this attempt on the trial.
	SetRunID(ctx context.Context, c *Claim, runID string) error
	// ReportBand records the trial's metric at a Hyperband band (budget)
	// and says whether the trial should stop there: tune.Hyperband's
	// ShouldStop applied to every loss reported at that band by any worker
	// so far, this one included. Reports of a sweep are serialised, so each
	// decision sees every earlier one. Without early termination the metric
	// is recorded and stop is false.
	ReportBand(ctx context.Context, c *Claim, budget int, metric float64) (stop bool, err error)
	// Complete records the result and finishes the trial with r.Status().
	Complete(ctx context.Context, c *Claim, r Result) error
	// Fail finishes the trial as failed with cause's message.
	Fail(ctx context.Context, c *Claim, cause error) error
	// Release hands the trial back unfinished (queued, no lease), so that
	// another worker can claim it at once instead of waiting for the lease.
	Release(ctx context.Context, c *Claim) error
}

// Sweep is a stored sweep definition and its progress.
type Sweep struct {
	ID     string
	Name   string
	Family string // model family the agents' objective builds; "" when it needs none
	Config *tune.SweepConfig
	Trials int    // target trial count
	Seed   uint64 // sampler seed
	Status string // SweepRunning or SweepDone
	// ExperimentID and RunID locate the sweep's tracking run, the parent
	// of every trial's run; empty when the sweep is not tracked.
	ExperimentID, RunID string
	Created             time.Time
	Finished            time.Time // zero while running
}

// Claim is a trial held by one worker until its lease expires.
type Claim struct {
	Sweep   *Sweep
	Index   int
	Params  map[string]any
	Worker  string
	Attempt int           // 1 for the first claim of this trial
	Lease   time.Duration // how long each Heartbeat extends the lease
	// PrevRunID is the tracking run of an earlier attempt whose lease
	// expired, so the new holder can mark it failed; "" otherwise.
	PrevRunID string
}

// Result is a trial's outcome as an agent reports it.
type Result struct {
	Metric       float64            // the sweep metric at Budget
	Metrics      map[string]float64 // the trial's final metrics; non-finite values are dropped
	Budget       int                // budget reached (trees); 0 for non-iterative trials
	StoppedEarly bool               // cut by Hyperband at Budget
}

// Status is the trial status the result finishes it with.
func (r Result) Status() string {
	if r.StoppedEarly {
		return StatusStopped
	}
	return StatusDone
}

// FiniteMetrics returns the finite values of m: NaN and ±Inf are neither
// stored nor logged, as neither JSON nor the trackers accept them.
func FiniteMetrics(m map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(m))
	for k, v := range m {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out[k] = v
		}
	}
	return out
}

// TrialRow is one stored trial.
type TrialRow struct {
	Index      int
	Params     map[string]any
	Status     string
	Worker     string // last worker to claim it
	Attempts   int    // claims so far; 1 unless a lease expired or it was released
	Metric     float64
	Metrics    map[string]float64
	Budget     int
	Error      string
	RunID      string // tracking run of the last attempt
	LeaseUntil time.Time
	Started    time.Time
	Finished   time.Time
}

// finished reports whether a trial status is final.
func finished(status string) bool {
	return status == StatusDone || status == StatusStopped || status == StatusFailed
}
