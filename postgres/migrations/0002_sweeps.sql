-- Distributed sweeps (package sweep's Queue; postgres/sweep.go). Times are
-- the server's (now()), never a worker's clock, so leases mean the same on
-- every machine whatever their clock skew. IF NOT EXISTS: databases used by
-- earlier versions, which created these tables outside the numbered
-- migrations, have them already.
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

-- One loss per trial and Hyperband band, which ReportBand's decisions read.
CREATE TABLE IF NOT EXISTS sweep_bands (
	sweep_id TEXT NOT NULL,
	idx      INTEGER NOT NULL,
	budget   INTEGER NOT NULL,
	loss     DOUBLE PRECISION NOT NULL,
	PRIMARY KEY (sweep_id, budget, idx),
	FOREIGN KEY (sweep_id, idx) REFERENCES sweep_trials(sweep_id, idx) ON DELETE CASCADE
);
