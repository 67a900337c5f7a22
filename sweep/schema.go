package sweep

import (
	"context"
	"database/sql"
	"fmt"
)

// schemaLockKey names the advisory lock under which Open creates the tables,
// so agents starting together do not race on CREATE TABLE. It differs from
// package postgres's migration lock: the two may share a database.
const schemaLockKey = 7_036_466_273

// schema is idempotent DDL. The sweep tables live beside the tracking
// store's but are not part of its numbered migrations, which package
// postgres owns; IF NOT EXISTS keeps Open safe to repeat.
//
// Times are the server's (now()), never a worker's clock, so leases mean
// the same on every machine whatever their clock skew.
const schema = `
CREATE TABLE IF NOT EXISTS sweeps (
	id            TEXT PRIMARY KEY,
	name          TEXT NOT NULL,
	family        TEXT NOT NULL DEFAULT '',
	config        TEXT NOT NULL,
	trials        INTEGER NOT NULL CHECK (trials > 0),
	seed          BIGINT NOT NULL,
	status        TEXT NOT NULL DEFAULT 'running',
	experiment_id TEXT NOT NULL DEFAULT '',
	run_id        TEXT NOT NULL DEFAULT '',
	created       TIMESTAMPTZ NOT NULL DEFAULT now(),
	finished      TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS sweep_trials (
	sweep_id      TEXT NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
	idx           INTEGER NOT NULL CHECK (idx >= 0),
	params        TEXT NOT NULL,
	status        TEXT NOT NULL,
	worker        TEXT NOT NULL DEFAULT '',
	lease_until   TIMESTAMPTZ,
	attempts      INTEGER NOT NULL DEFAULT 0,
	metric        DOUBLE PRECISION,
	metrics       TEXT NOT NULL DEFAULT '{}',
	budget        INTEGER NOT NULL DEFAULT 0,
	error         TEXT NOT NULL DEFAULT '',
	run_id        TEXT NOT NULL DEFAULT '',
	started       TIMESTAMPTZ,
	finished      TIMESTAMPTZ,
	PRIMARY KEY (sweep_id, idx)
);
CREATE INDEX IF NOT EXISTS sweep_trials_claimable ON sweep_trials (sweep_id, status, lease_until);
CREATE TABLE IF NOT EXISTS sweep_bands (
	sweep_id TEXT NOT NULL,
	idx      INTEGER NOT NULL,
	budget   INTEGER NOT NULL,
	loss     DOUBLE PRECISION NOT NULL,
	PRIMARY KEY (sweep_id, budget, idx),
	FOREIGN KEY (sweep_id, idx) REFERENCES sweep_trials(sweep_id, idx) ON DELETE CASCADE
);
`

// ensureSchema creates the tables once per database (or search_path
// schema), serialised by a transaction-scoped advisory lock.
func ensureSchema(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sweep: schema: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", schemaLockKey)); err != nil {
		return fmt.Errorf("sweep: schema lock: %w", err)
	}
	if _, err := tx.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("sweep: create tables: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sweep: schema: %w", err)
	}
	return nil
}
