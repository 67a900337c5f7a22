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
	"github.com/housing-mlops/mlops/tune"
)

// SweepQueue is a sweep.Queue in PostgreSQL, shared by agents on any
// number of machines. Claims take trial rows with SELECT ... FOR UPDATE
// SKIP LOCKED, trial creation and Hyperband reports are serialised by a row
// lock on the sweep, every write on a claimed trial checks its worker and
// attempt, and leases are in server time (now()).
type SweepQueue struct {
	db *sql.DB
	// MaxAttempts is how many claims a trial gets before an expired lease
	// fails it; 0 means sweep.DefaultMaxAttempts.
	MaxAttempts int
}

var _ sweep.Queue = (*SweepQueue)(nil)

// OpenSweepQueue connects to dsn (as Open) and applies pending migrations,
// which create the sweep tables.
func OpenSweepQueue(ctx context.Context, dsn string) (*SweepQueue, error) {
	db, err := connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	return &SweepQueue{db: db}, nil
}

// Close closes the database handle.
func (q *SweepQueue) Close() error { return q.db.Close() }

func (q *SweepQueue) maxAttempts() int {
	if q.MaxAttempts > 0 {
		return q.MaxAttempts
	}
	return sweep.DefaultMaxAttempts
}

// inTx runs fn in a transaction, committing when it returns nil.
func (q *SweepQueue) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sweep: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sweep: commit: %w", err)
	}
	return nil
}

// leaseInterval renders a lease for the server's interval arithmetic, in
// microseconds (PostgreSQL's resolution).
func leaseInterval(d time.Duration) string {
	return fmt.Sprintf("%d microseconds", d.Microseconds())
}

// CreateSweep stores a new sweep; its config is kept as YAML.
func (q *SweepQueue) CreateSweep(ctx context.Context, sw *sweep.Sweep) error {
	text, err := sw.Config.YAML()
	if err != nil {
		return err
	}
	// The seed is stored bit for bit in a signed BIGINT.
	_, err = q.db.ExecContext(ctx, `INSERT INTO sweeps (id, name, family, config, trials, seed, status)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, sw.ID, sw.Name, sw.Family, string(text), sw.Trials, int64(sw.Seed), sw.Status)
	if err != nil {
		return fmt.Errorf("sweep %s: create: %w", sw.ID, err)
	}
	return nil
}

// Get reads a sweep; sweep.ErrNotFound when there is none with that ID.
func (q *SweepQueue) Get(ctx context.Context, id string) (*sweep.Sweep, error) {
	return getSweep(ctx, q.db, id, "")
}

// queryer is what reads need from *sql.DB and *sql.Tx.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// getSweep reads a sweep row, with a locking suffix inside transactions.
func getSweep(ctx context.Context, q queryer, id, lock string) (*sweep.Sweep, error) {
	var sw sweep.Sweep
	var text string
	var seed int64
	var finished sql.NullTime
	err := q.QueryRowContext(ctx, `SELECT id, name, family, config, trials, seed, status, experiment_id, run_id, created, finished
		FROM sweeps WHERE id = $1 `+lock, id).Scan(&sw.ID, &sw.Name, &sw.Family, &text, &sw.Trials, &seed, &sw.Status,
		&sw.ExperimentID, &sw.RunID, &sw.Created, &finished)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %q", sweep.ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("sweep %s: read: %w", id, err)
	}
	sw.Seed, sw.Finished = uint64(seed), finished.Time
	if sw.Config, err = tune.ParseSweepConfig([]byte(text)); err != nil {
		return nil, fmt.Errorf("sweep %s: stored config: %w", id, err)
	}
	return &sw, nil
}

// SetTracking records the sweep's tracking run unless it has one already.
func (q *SweepQueue) SetTracking(ctx context.Context, id, experimentID, runID string) error {
	res, err := q.db.ExecContext(ctx, `UPDATE sweeps SET experiment_id = $2, run_id = $3 WHERE id = $1 AND run_id = ''`,
		id, experimentID, runID)
	if err != nil {
		return fmt.Errorf("sweep %s: record run: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	sw, err := q.Get(ctx, id)
	if err != nil {
		return err
	}
	return fmt.Errorf("sweep %s: already tracked by run %s", id, sw.RunID)
}

// MarkFinished sets a running sweep done; first is true for the one caller
// whose UPDATE changed the row.
func (q *SweepQueue) MarkFinished(ctx context.Context, id string) (first bool, err error) {
	res, err := q.db.ExecContext(ctx, `UPDATE sweeps SET status = $2, finished = now() WHERE id = $1 AND status = $3`,
		id, sweep.SweepDone, sweep.SweepRunning)
	if err != nil {
		return false, fmt.Errorf("sweep %s: finish: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Trials lists a sweep's trials by index.
func (q *SweepQueue) Trials(ctx context.Context, sweepID string) ([]sweep.TrialRow, error) {
	sw, err := q.Get(ctx, sweepID)
	if err != nil {
		return nil, err
	}
	return listTrials(ctx, q.db, sw)
}

// listTrials reads a sweep's trials by index.
func listTrials(ctx context.Context, q queryer, sw *sweep.Sweep) ([]sweep.TrialRow, error) {
	rows, err := q.QueryContext(ctx, `SELECT idx, params, status, worker, attempts, metric, metrics, budget, error, run_id,
		lease_until, started, finished FROM sweep_trials WHERE sweep_id = $1 ORDER BY idx`, sw.ID)
	if err != nil {
		return nil, fmt.Errorf("sweep %s: list trials: %w", sw.ID, err)
	}
	defer rows.Close()
	var out []sweep.TrialRow
	for rows.Next() {
		var t sweep.TrialRow
		var params, metrics string
		var metric sql.NullFloat64
		var lease, started, finished sql.NullTime
		if err := rows.Scan(&t.Index, &params, &t.Status, &t.Worker, &t.Attempts, &metric, &metrics, &t.Budget,
			&t.Error, &t.RunID, &lease, &started, &finished); err != nil {
			return nil, fmt.Errorf("sweep %s: read trial: %w", sw.ID, err)
		}
		t.Metric = math.NaN()
		if metric.Valid {
			t.Metric = metric.Float64
		}
		t.LeaseUntil, t.Started, t.Finished = lease.Time, started.Time, finished.Time
		if t.Params, err = decodeParams(sw.Config, params); err != nil {
			return nil, fmt.Errorf("sweep %s: trial %d: %w", sw.ID, t.Index, err)
		}
		if err := json.Unmarshal([]byte(metrics), &t.Metrics); err != nil {
			return nil, fmt.Errorf("sweep %s: trial %d: metrics: %w", sw.ID, t.Index, err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// decodeParams reads stored JSON parameters back into the types the sweep's
// config gives them (JSON has one number type; the objective wants ints).
func decodeParams(cfg *tune.SweepConfig, text string) (map[string]any, error) {
	var raw map[string]any
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return nil, fmt.Errorf("params: %w", err)
	}
	return cfg.NormalizeParams(raw)
}
