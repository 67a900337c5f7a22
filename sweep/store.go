// Package sweep runs one hyperparameter sweep on several processes and
// machines at once, like `wandb agent`: the sweep and its trials live in
// PostgreSQL, agents claim trials under row locks and time-limited leases,
// report Hyperband bands and results, and a crashed agent's trial goes back
// to the others when its lease expires.
//
// Local sweeps do not need this package: tune.Run runs a sweep inside one
// process (it is what pipeline step 06 uses). There is no SQLite variant on
// purpose: SQLite cannot be shared by several machines, which is the point.
//
// Guarantees, given the database: a trial index is created once (creation
// is serialised by a row lock on the sweep), a trial is held by one worker
// at a time (claims use SELECT ... FOR UPDATE SKIP LOCKED), and a worker
// whose lease was taken over can no longer heartbeat, report or complete
// that trial (every write checks worker and attempt), so no trial result is
// written twice and none is lost while some agent keeps running.
package sweep

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// Trial statuses.
const (
	StatusQueued  = "queued"  // released by a worker; claimable
	StatusRunning = "running" // held by a worker until lease_until
	StatusDone    = "done"    // ran to completion
	StatusStopped = "stopped" // cut by Hyperband; has a result at its band
	StatusFailed  = "failed"  // the objective failed, or too many leases expired
)

// Sweep statuses.
const (
	SweepRunning = "running"
	SweepDone    = "done"
)

// Errors the agent loop acts on.
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

// Store keeps sweeps in PostgreSQL.
type Store struct {
	db *sql.DB
	// MaxAttempts is how many claims a trial gets before an expired lease
	// fails it; 0 means DefaultMaxAttempts.
	MaxAttempts int
}

// Open connects to a PostgreSQL DSN (postgres://..., optionally with
// search_path=schema) and creates the sweep tables if missing.
func Open(ctx context.Context, dsn string) (*Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("sweep: open: %w", err)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sweep: connect: %w", err)
	}
	s, err := New(ctx, db)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// New wraps an open PostgreSQL handle (pgx driver) and creates the tables
// if missing. Close closes db.
func New(ctx context.Context, db *sql.DB) (*Store, error) {
	if err := ensureSchema(ctx, db); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// Close closes the database handle.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) maxAttempts() int {
	if s.MaxAttempts > 0 {
		return s.MaxAttempts
	}
	return DefaultMaxAttempts
}

// inTx runs fn in a transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
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
