package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/housing-mlops/mlops/sweep"
)

// owned selects the claimed trial row only while this claim holds it:
// another worker's later claim bumps attempts and so voids this one.
const owned = `sweep_id = $1 AND idx = $2 AND worker = $3 AND attempts = $4 AND status = 'running'`

// claimKey is the arguments $1 to $4 of owned.
func claimKey(c *sweep.Claim) []any { return []any{c.Sweep.ID, c.Index, c.Worker, c.Attempt} }

// Claim gives worker a trial of the sweep, leased for lease, in one
// transaction: first a released trial or a running one whose lease has
// expired (the lowest index not locked by another claimer: FOR UPDATE SKIP
// LOCKED); otherwise, under a row lock on the sweep that serialises
// creation, the next trial index with parameters from sweep.NextParams. It
// returns sweep.ErrNoTrial when every trial exists and is held by a live
// worker and sweep.ErrSweepDone when every trial has finished. A trial
// whose lease expired MaxAttempts times is failed rather than handed out
// again.
func (q *SweepQueue) Claim(ctx context.Context, sweepID, worker string, lease time.Duration) (*sweep.Claim, error) {
	if worker == "" {
		return nil, errors.New("sweep: claim: empty worker name")
	}
	if lease < time.Millisecond {
		return nil, fmt.Errorf("sweep: claim: lease %v is too short", lease)
	}
	var c *sweep.Claim
	// ErrNoTrial and ErrSweepDone commit (trials failed on the way stay
	// failed) and are returned after.
	var outcome error
	err := q.inTx(ctx, func(tx *sql.Tx) error {
		sw, err := getSweep(ctx, tx, sweepID, "")
		if err != nil {
			return err
		}
		if c, err = q.reclaim(ctx, tx, sw, worker, lease); c != nil || err != nil {
			return err
		}
		// Lock order everywhere: trial rows, then the sweep row.
		if sw, err = getSweep(ctx, tx, sweepID, "FOR UPDATE"); err != nil {
			return err
		}
		c, err = createNext(ctx, tx, sw, worker, lease)
		if errors.Is(err, sweep.ErrNoTrial) || errors.Is(err, sweep.ErrSweepDone) {
			outcome, err = err, nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if outcome != nil {
		return nil, outcome
	}
	return c, nil
}

// reclaim takes over the lowest-index released or expired trial, failing
// those that used up their attempts on the way; nil when there is none.
func (q *SweepQueue) reclaim(ctx context.Context, tx *sql.Tx, sw *sweep.Sweep, worker string, lease time.Duration) (*sweep.Claim, error) {
	for {
		var idx, attempts int
		var params, status, prevRun string
		err := tx.QueryRowContext(ctx, `SELECT idx, params, status, attempts, run_id FROM sweep_trials
			WHERE sweep_id = $1 AND (status = 'queued' OR (status = 'running' AND lease_until < now()))
			ORDER BY idx LIMIT 1 FOR UPDATE SKIP LOCKED`, sw.ID).Scan(&idx, &params, &status, &attempts, &prevRun)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("sweep %s: find expired trial: %w", sw.ID, err)
		}
		if status == sweep.StatusRunning && attempts >= q.maxAttempts() {
			msg := fmt.Sprintf("lease expired on each of %d attempts", attempts)
			if _, err := tx.ExecContext(ctx, `UPDATE sweep_trials SET status = 'failed', error = $3, lease_until = NULL,
				finished = now() WHERE sweep_id = $1 AND idx = $2`, sw.ID, idx, msg); err != nil {
				return nil, fmt.Errorf("sweep %s: fail trial %d: %w", sw.ID, idx, err)
			}
			continue
		}
		p, err := decodeParams(sw.Config, params)
		if err != nil {
			return nil, fmt.Errorf("sweep %s: trial %d: %w", sw.ID, idx, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sweep_trials SET status = 'running', worker = $3,
			lease_until = now() + $4::interval, attempts = attempts + 1, started = now(), error = ''
			WHERE sweep_id = $1 AND idx = $2`, sw.ID, idx, worker, leaseInterval(lease)); err != nil {
			return nil, fmt.Errorf("sweep %s: claim trial %d: %w", sw.ID, idx, err)
		}
		c := &sweep.Claim{Sweep: sw, Index: idx, Params: p, Worker: worker, Attempt: attempts + 1, Lease: lease}
		if status == sweep.StatusRunning {
			c.PrevRunID = prevRun // a released trial's agent closed its own run
		}
		return c, nil
	}
}

// createNext creates the next trial, or says why there is none. The caller
// holds the sweep row's lock, so two workers cannot create the same index
// or sample from different histories for it. The errors sweep.ErrNoTrial
// and sweep.ErrSweepDone say why no trial was created.
func createNext(ctx context.Context, tx *sql.Tx, sw *sweep.Sweep, worker string, lease time.Duration) (*sweep.Claim, error) {
	var n, open int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(*) FILTER (WHERE status IN ('queued', 'running'))
		FROM sweep_trials WHERE sweep_id = $1`, sw.ID).Scan(&n, &open)
	if err != nil {
		return nil, fmt.Errorf("sweep %s: count trials: %w", sw.ID, err)
	}
	if n >= sw.Trials {
		if open == 0 {
			return nil, sweep.ErrSweepDone
		}
		return nil, sweep.ErrNoTrial
	}
	trials, err := listTrials(ctx, tx, sw)
	if err != nil {
		return nil, err
	}
	params, err := sweep.NextParams(sw, n, trials)
	if err != nil {
		return nil, err
	}
	text, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("sweep %s: trial %d: params: %w", sw.ID, n, err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO sweep_trials (sweep_id, idx, params, status, worker, lease_until, attempts, started)
		VALUES ($1, $2, $3, 'running', $4, now() + $5::interval, 1, now())`, sw.ID, n, string(text), worker, leaseInterval(lease))
	if err != nil {
		return nil, fmt.Errorf("sweep %s: create trial %d: %w", sw.ID, n, err)
	}
	// Hand out the params as stored, so the first attempt and any retry see
	// identical values.
	p, err := decodeParams(sw.Config, string(text))
	if err != nil {
		return nil, fmt.Errorf("sweep %s: trial %d: %w", sw.ID, n, err)
	}
	return &sweep.Claim{Sweep: sw, Index: n, Params: p, Worker: worker, Attempt: 1, Lease: lease}, nil
}

// Heartbeat extends the claim's lease by its Lease from now (server time).
// sweep.ErrLeaseLost means another worker holds the trial now.
func (q *SweepQueue) Heartbeat(ctx context.Context, c *sweep.Claim) error {
	return q.updateOwned(ctx, c, "heartbeat", `lease_until = now() + $5::interval`, leaseInterval(c.Lease))
}

// SetRunID records the tracking run of this attempt on the trial.
func (q *SweepQueue) SetRunID(ctx context.Context, c *sweep.Claim, runID string) error {
	return q.updateOwned(ctx, c, "record run", `run_id = $5`, runID)
}

// Complete records the result and finishes the trial (status done, or
// stopped when cut by Hyperband). sweep.ErrLeaseLost means the trial was
// taken over: the result is discarded, and the other holder's will count.
func (q *SweepQueue) Complete(ctx context.Context, c *sweep.Claim, r sweep.Result) error {
	metrics, err := json.Marshal(sweep.FiniteMetrics(r.Metrics))
	if err != nil {
		return fmt.Errorf("sweep %s: trial %d: metrics: %w", c.Sweep.ID, c.Index, err)
	}
	return q.updateOwned(ctx, c, "complete",
		`status = $5, metric = $6, metrics = $7, budget = $8, lease_until = NULL, finished = now()`,
		r.Status(), nullable(r.Metric), string(metrics), r.Budget)
}

// Fail finishes the trial as failed with cause's message.
func (q *SweepQueue) Fail(ctx context.Context, c *sweep.Claim, cause error) error {
	msg := "unknown error"
	if cause != nil {
		msg = cause.Error()
	}
	return q.updateOwned(ctx, c, "fail", `status = 'failed', error = $5, lease_until = NULL, finished = now()`, msg)
}

// Release hands the trial back unfinished (e.g. the agent is shutting
// down), so another worker can claim it at once instead of waiting for
// the lease to expire.
func (q *SweepQueue) Release(ctx context.Context, c *sweep.Claim) error {
	return q.updateOwned(ctx, c, "release", `status = 'queued', lease_until = NULL`)
}

// updateOwned applies set to the claimed trial while the claim holds it;
// extra arguments are $5 onwards.
func (q *SweepQueue) updateOwned(ctx context.Context, c *sweep.Claim, what, set string, extra ...any) error {
	res, err := q.db.ExecContext(ctx, `UPDATE sweep_trials SET `+set+` WHERE `+owned, append(claimKey(c), extra...)...)
	if err != nil {
		return fmt.Errorf("sweep %s: trial %d: %s: %w", c.Sweep.ID, c.Index, what, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("sweep %s: trial %d: %s: %w", c.Sweep.ID, c.Index, what, sweep.ErrLeaseLost)
	}
	return nil
}

// nullable stores a non-finite metric as NULL, which reads back as NaN.
func nullable(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return f
}

// ReportBand records the trial's metric at a Hyperband band (budget) and
// says whether the trial should stop there, by W&B's rule applied to every
// value reported at that band by any agent so far, this one included
// (tune.Hyperband.ShouldStop). Reports are serialised by the sweep row's
// lock, so each decision sees every earlier report. Without early
// termination in the config the metric is recorded and stop is false.
func (q *SweepQueue) ReportBand(ctx context.Context, c *sweep.Claim, budget int, metric float64) (stop bool, err error) {
	cfg := c.Sweep.Config
	loss := cfg.Loss(metric)
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return false, fmt.Errorf("sweep %s: trial %d: band %d: metric %v is not finite", c.Sweep.ID, c.Index, budget, metric)
	}
	err = q.inTx(ctx, func(tx *sql.Tx) error {
		// Lock order: the trial row (ownership), then the sweep row.
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM sweep_trials WHERE `+owned+` FOR UPDATE`, claimKey(c)...).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sweep %s: trial %d: band %d: %w", c.Sweep.ID, c.Index, budget, sweep.ErrLeaseLost)
		}
		if err != nil {
			return fmt.Errorf("sweep %s: trial %d: band %d: %w", c.Sweep.ID, c.Index, budget, err)
		}
		if _, err := getSweep(ctx, tx, c.Sweep.ID, "FOR UPDATE"); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sweep_bands (sweep_id, idx, budget, loss) VALUES ($1, $2, $3, $4)
			ON CONFLICT (sweep_id, budget, idx) DO UPDATE SET loss = EXCLUDED.loss`, c.Sweep.ID, c.Index, budget, loss); err != nil {
			return fmt.Errorf("sweep %s: trial %d: band %d: %w", c.Sweep.ID, c.Index, budget, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sweep_trials SET metric = $3, budget = $4 WHERE sweep_id = $1 AND idx = $2`,
			c.Sweep.ID, c.Index, metric, budget); err != nil {
			return fmt.Errorf("sweep %s: trial %d: band %d: %w", c.Sweep.ID, c.Index, budget, err)
		}
		if cfg.EarlyTerminate == nil {
			return nil
		}
		reported, err := bandLosses(ctx, tx, c.Sweep.ID, budget)
		if err != nil {
			return err
		}
		stop = cfg.EarlyTerminate.ShouldStop(loss, reported)
		return nil
	})
	return stop, err
}

// bandLosses lists every loss reported at a band of the sweep.
func bandLosses(ctx context.Context, tx *sql.Tx, sweepID string, budget int) ([]float64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT loss FROM sweep_bands WHERE sweep_id = $1 AND budget = $2`, sweepID, budget)
	if err != nil {
		return nil, fmt.Errorf("sweep %s: band %d: %w", sweepID, budget, err)
	}
	defer rows.Close()
	var out []float64
	for rows.Next() {
		var l float64
		if err := rows.Scan(&l); err != nil {
			return nil, fmt.Errorf("sweep %s: band %d: %w", sweepID, budget, err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}
