package sweep_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/housing-mlops/mlops/sweep"
	"github.com/housing-mlops/mlops/sweep/sweeptest"
)

// TestSweepConformanceInMemory runs the Queue suite, agents included,
// against memQueue: the agent loop is tested without a database, and the
// Queue contract is shown to be implementable as documented. Package
// postgres runs the same suite against PostgreSQL.
func TestSweepConformanceInMemory(t *testing.T) {
	sweeptest.Run(t, func(_ *testing.T, maxAttempts int) sweeptest.Env {
		return sweeptest.Env{Queue: newMemQueue(maxAttempts)}
	})
}

// memQueue is a sweep.Queue in memory, for one process: one mutex plays
// the database's row locks, and the process's clock the server's.
type memQueue struct {
	mu          sync.Mutex
	maxAttempts int
	sweeps      map[string]*memSweep
}

type memSweep struct {
	sw     sweep.Sweep
	trials []*sweep.TrialRow       // by index
	bands  map[int]map[int]float64 // budget → trial index → loss
}

var _ sweep.Queue = (*memQueue)(nil)

func newMemQueue(maxAttempts int) *memQueue {
	if maxAttempts <= 0 {
		maxAttempts = sweep.DefaultMaxAttempts
	}
	return &memQueue{maxAttempts: maxAttempts, sweeps: map[string]*memSweep{}}
}

func (q *memQueue) CreateSweep(_ context.Context, sw *sweep.Sweep) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.sweeps[sw.ID]; ok {
		return fmt.Errorf("sweep %s: exists", sw.ID)
	}
	s := &memSweep{sw: *sw, bands: map[int]map[int]float64{}}
	s.sw.Created = time.Now()
	q.sweeps[sw.ID] = s
	return nil
}

// get finds a sweep; the caller holds mu.
func (q *memQueue) get(id string) (*memSweep, error) {
	s, ok := q.sweeps[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", sweep.ErrNotFound, id)
	}
	return s, nil
}

func (q *memQueue) Get(_ context.Context, id string) (*sweep.Sweep, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	s, err := q.get(id)
	if err != nil {
		return nil, err
	}
	sw := s.sw
	return &sw, nil
}

func (q *memQueue) SetTracking(_ context.Context, id, experimentID, runID string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	s, err := q.get(id)
	if err != nil {
		return err
	}
	if s.sw.RunID != "" {
		return fmt.Errorf("sweep %s: already tracked by run %s", id, s.sw.RunID)
	}
	s.sw.ExperimentID, s.sw.RunID = experimentID, runID
	return nil
}

func (q *memQueue) MarkFinished(_ context.Context, id string) (bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	s, err := q.get(id)
	if err != nil || s.sw.Status != sweep.SweepRunning {
		return false, err
	}
	s.sw.Status, s.sw.Finished = sweep.SweepDone, time.Now()
	return true, nil
}

func (q *memQueue) Trials(_ context.Context, sweepID string) ([]sweep.TrialRow, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	s, err := q.get(sweepID)
	if err != nil {
		return nil, err
	}
	return s.rows(), nil
}

// rows copies the trials, so callers never share maps with the queue.
func (s *memSweep) rows() []sweep.TrialRow {
	out := make([]sweep.TrialRow, len(s.trials))
	for i, t := range s.trials {
		out[i] = *t
		out[i].Params, out[i].Metrics = maps.Clone(t.Params), maps.Clone(t.Metrics)
	}
	return out
}

func (q *memQueue) Claim(_ context.Context, sweepID, worker string, lease time.Duration) (*sweep.Claim, error) {
	if worker == "" {
		return nil, errors.New("sweep: claim: empty worker name")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	s, err := q.get(sweepID)
	if err != nil {
		return nil, err
	}
	if c := q.reclaim(s, worker, lease); c != nil {
		return c, nil
	}
	n, open := len(s.trials), 0
	for _, t := range s.trials {
		if t.Status == sweep.StatusQueued || t.Status == sweep.StatusRunning {
			open++
		}
	}
	switch {
	case n >= s.sw.Trials && open == 0:
		return nil, sweep.ErrSweepDone
	case n >= s.sw.Trials:
		return nil, sweep.ErrNoTrial
	}
	params, err := sweep.NextParams(&s.sw, n, s.rows())
	if err != nil {
		return nil, err
	}
	now := time.Now()
	s.trials = append(s.trials, &sweep.TrialRow{Index: n, Params: params, Status: sweep.StatusRunning, Worker: worker,
		Attempts: 1, Metric: math.NaN(), Metrics: map[string]float64{}, LeaseUntil: now.Add(lease), Started: now})
	return s.claim(n, worker, lease, ""), nil
}

// reclaim takes over the lowest-index released or expired trial, failing
// those that used up their attempts; nil when there is none.
func (q *memQueue) reclaim(s *memSweep, worker string, lease time.Duration) *sweep.Claim {
	now := time.Now()
	for _, t := range s.trials {
		expired := t.Status == sweep.StatusRunning && t.LeaseUntil.Before(now)
		if t.Status != sweep.StatusQueued && !expired {
			continue
		}
		if expired && t.Attempts >= q.maxAttempts {
			t.Status, t.Error, t.LeaseUntil, t.Finished = sweep.StatusFailed,
				fmt.Sprintf("lease expired on each of %d attempts", t.Attempts), time.Time{}, now
			continue
		}
		prevRun := ""
		if expired {
			prevRun = t.RunID
		}
		t.Status, t.Worker, t.LeaseUntil, t.Started, t.Error = sweep.StatusRunning, worker, now.Add(lease), now, ""
		t.Attempts++
		return s.claim(t.Index, worker, lease, prevRun)
	}
	return nil
}

// claim hands out trial index as it is now.
func (s *memSweep) claim(index int, worker string, lease time.Duration, prevRun string) *sweep.Claim {
	sw := s.sw
	t := s.trials[index]
	return &sweep.Claim{Sweep: &sw, Index: index, Params: maps.Clone(t.Params), Worker: worker, Attempt: t.Attempts,
		Lease: lease, PrevRunID: prevRun}
}

// owned runs fn on the claimed trial, under the lock, while the claim holds it.
func (q *memQueue) owned(c *sweep.Claim, fn func(s *memSweep, t *sweep.TrialRow)) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	s, err := q.get(c.Sweep.ID)
	if err != nil {
		return err
	}
	if c.Index >= len(s.trials) {
		return fmt.Errorf("sweep %s: trial %d: %w", c.Sweep.ID, c.Index, sweep.ErrLeaseLost)
	}
	t := s.trials[c.Index]
	if t.Status != sweep.StatusRunning || t.Worker != c.Worker || t.Attempts != c.Attempt {
		return fmt.Errorf("sweep %s: trial %d: %w", c.Sweep.ID, c.Index, sweep.ErrLeaseLost)
	}
	fn(s, t)
	return nil
}

func (q *memQueue) Heartbeat(_ context.Context, c *sweep.Claim) error {
	return q.owned(c, func(_ *memSweep, t *sweep.TrialRow) { t.LeaseUntil = time.Now().Add(c.Lease) })
}

func (q *memQueue) SetRunID(_ context.Context, c *sweep.Claim, runID string) error {
	return q.owned(c, func(_ *memSweep, t *sweep.TrialRow) { t.RunID = runID })
}

func (q *memQueue) ReportBand(_ context.Context, c *sweep.Claim, budget int, metric float64) (bool, error) {
	cfg := c.Sweep.Config
	loss := cfg.Loss(metric)
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return false, fmt.Errorf("sweep %s: trial %d: band %d: metric %v is not finite", c.Sweep.ID, c.Index, budget, metric)
	}
	stop := false
	err := q.owned(c, func(s *memSweep, t *sweep.TrialRow) {
		if s.bands[budget] == nil {
			s.bands[budget] = map[int]float64{}
		}
		s.bands[budget][c.Index] = loss
		t.Metric, t.Budget = metric, budget
		if cfg.EarlyTerminate != nil {
			stop = cfg.EarlyTerminate.ShouldStop(loss, slices.Collect(maps.Values(s.bands[budget])))
		}
	})
	return stop, err
}

func (q *memQueue) Complete(_ context.Context, c *sweep.Claim, r sweep.Result) error {
	return q.owned(c, func(_ *memSweep, t *sweep.TrialRow) {
		t.Status, t.Metric, t.Metrics, t.Budget = r.Status(), r.Metric, sweep.FiniteMetrics(r.Metrics), r.Budget
		t.LeaseUntil, t.Finished = time.Time{}, time.Now()
	})
}

func (q *memQueue) Fail(_ context.Context, c *sweep.Claim, cause error) error {
	msg := "unknown error"
	if cause != nil {
		msg = cause.Error()
	}
	return q.owned(c, func(_ *memSweep, t *sweep.TrialRow) {
		t.Status, t.Error, t.LeaseUntil, t.Finished = sweep.StatusFailed, msg, time.Time{}, time.Now()
	})
}

func (q *memQueue) Release(_ context.Context, c *sweep.Claim) error {
	return q.owned(c, func(_ *memSweep, t *sweep.TrialRow) { t.Status, t.LeaseUntil = sweep.StatusQueued, time.Time{} })
}
