package sweep

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/tune"
)

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

// Create stores a new sweep of trials trials and returns its ID. family
// names the model family the agents' objective builds (it travels with the
// sweep so agents need not be told). For grid sweeps trials is capped at
// the grid's size, and 0 means the whole grid.
func (s *Store) Create(ctx context.Context, cfg *tune.SweepConfig, trials int, seed uint64, family string) (string, error) {
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
	text, err := cfg.YAML()
	if err != nil {
		return "", err
	}
	id, err := newID()
	if err != nil {
		return "", err
	}
	// The seed is stored bit for bit in a signed BIGINT.
	_, err = s.db.ExecContext(ctx, `INSERT INTO sweeps (id, name, family, config, trials, seed) VALUES ($1, $2, $3, $4, $5, $6)`,
		id, cfg.Name, family, string(text), trials, int64(seed))
	if err != nil {
		return "", fmt.Errorf("sweep: create: %w", err)
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

// Get reads a sweep; ErrNotFound when there is none with that ID.
func (s *Store) Get(ctx context.Context, id string) (*Sweep, error) {
	return getSweep(ctx, s.db, id, "")
}

// queryer is what reads need from *sql.DB and *sql.Tx.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// getSweep reads a sweep row, with a locking suffix inside transactions.
func getSweep(ctx context.Context, q queryer, id, lock string) (*Sweep, error) {
	var sw Sweep
	var text string
	var seed int64
	var finished sql.NullTime
	err := q.QueryRowContext(ctx, `SELECT id, name, family, config, trials, seed, status, experiment_id, run_id, created, finished
		FROM sweeps WHERE id = $1 `+lock, id).Scan(&sw.ID, &sw.Name, &sw.Family, &text, &sw.Trials, &seed, &sw.Status,
		&sw.ExperimentID, &sw.RunID, &sw.Created, &finished)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
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

// Track creates the sweep's tracking run (in experiment experimentName,
// created if missing) and records it on the sweep, so that agents log each
// trial as its child run. It returns the run's ID.
func (s *Store) Track(ctx context.Context, tr mlops.Tracker, sweepID, experimentName string) (string, error) {
	sw, err := s.Get(ctx, sweepID)
	if err != nil {
		return "", err
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
	res, err := s.db.ExecContext(ctx, `UPDATE sweeps SET experiment_id = $2, run_id = $3 WHERE id = $1 AND run_id = ''`,
		sweepID, exp.ID, run.ID)
	if err != nil {
		return "", fmt.Errorf("sweep %s: record run: %w", sweepID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return "", fmt.Errorf("sweep %s: already tracked", sweepID)
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

// MarkFinished sets a sweep done. first is true for the one caller that
// made the change, so exactly one agent closes the tracking run.
func (s *Store) MarkFinished(ctx context.Context, id string) (first bool, err error) {
	res, err := s.db.ExecContext(ctx, `UPDATE sweeps SET status = $2, finished = now() WHERE id = $1 AND status = $3`,
		id, SweepDone, SweepRunning)
	if err != nil {
		return false, fmt.Errorf("sweep %s: finish: %w", id, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
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

// Trials lists a sweep's trials by index.
func (s *Store) Trials(ctx context.Context, sweepID string) ([]TrialRow, error) {
	sw, err := s.Get(ctx, sweepID)
	if err != nil {
		return nil, err
	}
	return listTrials(ctx, s.db, sw, "")
}

// listTrials reads trials, all of them or those with status.
func listTrials(ctx context.Context, q queryer, sw *Sweep, status string) ([]TrialRow, error) {
	rows, err := q.QueryContext(ctx, `SELECT idx, params, status, worker, attempts, metric, metrics, budget, error, run_id,
		lease_until, started, finished FROM sweep_trials WHERE sweep_id = $1 AND ($2 = '' OR status = $2) ORDER BY idx`,
		sw.ID, status)
	if err != nil {
		return nil, fmt.Errorf("sweep %s: list trials: %w", sw.ID, err)
	}
	defer rows.Close()
	var out []TrialRow
	for rows.Next() {
		var t TrialRow
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

func decodeParams(cfg *tune.SweepConfig, text string) (map[string]any, error) {
	var raw map[string]any
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return nil, fmt.Errorf("params: %w", err)
	}
	return cfg.NormalizeParams(raw)
}

// finished reports whether a trial status is final.
func finished(status string) bool {
	return status == StatusDone || status == StatusStopped || status == StatusFailed
}
