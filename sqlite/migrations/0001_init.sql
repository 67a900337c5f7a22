-- Tracking: experiments, runs, params, tags, metrics. Times are Unix
-- milliseconds, as MLflow stores them.
CREATE TABLE experiments (
	experiment_id     INTEGER PRIMARY KEY,
	name              TEXT NOT NULL UNIQUE,
	artifact_location TEXT NOT NULL DEFAULT '',
	lifecycle_stage   TEXT NOT NULL DEFAULT 'active',
	created_at        INTEGER NOT NULL,
	updated_at        INTEGER NOT NULL
);

INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, created_at, updated_at)
VALUES (0, 'Default', '', 'active', CAST(unixepoch('subsec') * 1000 AS INTEGER), CAST(unixepoch('subsec') * 1000 AS INTEGER));

CREATE TABLE experiment_tags (
	experiment_id INTEGER NOT NULL REFERENCES experiments (experiment_id) ON DELETE CASCADE,
	key           TEXT NOT NULL,
	value         TEXT NOT NULL,
	PRIMARY KEY (experiment_id, key)
);

CREATE TABLE runs (
	run_id          TEXT PRIMARY KEY,
	experiment_id   INTEGER NOT NULL REFERENCES experiments (experiment_id),
	name            TEXT NOT NULL,
	parent_id       TEXT NOT NULL DEFAULT '',
	status          TEXT NOT NULL,
	start_time      INTEGER NOT NULL,
	end_time        INTEGER NOT NULL DEFAULT 0,
	artifact_uri    TEXT NOT NULL DEFAULT '',
	lifecycle_stage TEXT NOT NULL DEFAULT 'active'
);
CREATE INDEX runs_experiment ON runs (experiment_id, lifecycle_stage);
CREATE INDEX runs_parent ON runs (parent_id);

CREATE TABLE params (
	run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
	key    TEXT NOT NULL,
	value  TEXT NOT NULL,
	PRIMARY KEY (run_id, key)
);

CREATE TABLE run_tags (
	run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
	key    TEXT NOT NULL,
	value  TEXT NOT NULL,
	PRIMARY KEY (run_id, key)
);

-- metrics is append-only history; is_nan because SQLite stores NaN as NULL.
CREATE TABLE metrics (
	id     INTEGER PRIMARY KEY,
	run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
	key    TEXT NOT NULL,
	value  REAL NOT NULL,
	is_nan INTEGER NOT NULL DEFAULT 0,
	ts     INTEGER NOT NULL,
	step   INTEGER NOT NULL
);
CREATE INDEX metrics_run_key ON metrics (run_id, key, step, ts);

CREATE TABLE latest_metrics (
	run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
	key    TEXT NOT NULL,
	value  REAL NOT NULL,
	is_nan INTEGER NOT NULL DEFAULT 0,
	ts     INTEGER NOT NULL,
	step   INTEGER NOT NULL,
	PRIMARY KEY (run_id, key)
);

-- Registry. last_version numbers versions without reusing deleted ones.
CREATE TABLE registered_models (
	name         TEXT PRIMARY KEY,
	description  TEXT NOT NULL DEFAULT '',
	last_version INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL
);

CREATE TABLE registered_model_tags (
	name  TEXT NOT NULL REFERENCES registered_models (name) ON UPDATE CASCADE ON DELETE CASCADE,
	key   TEXT NOT NULL,
	value TEXT NOT NULL,
	PRIMARY KEY (name, key)
);

CREATE TABLE model_versions (
	name        TEXT NOT NULL REFERENCES registered_models (name) ON UPDATE CASCADE ON DELETE CASCADE,
	version     INTEGER NOT NULL,
	source      TEXT NOT NULL,
	sha256      TEXT NOT NULL DEFAULT '',
	run_id      TEXT NOT NULL DEFAULT '',
	stage       TEXT NOT NULL DEFAULT 'None',
	description TEXT NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	PRIMARY KEY (name, version)
);
CREATE INDEX model_versions_stage ON model_versions (name, stage);

CREATE TABLE model_version_tags (
	name    TEXT NOT NULL,
	version INTEGER NOT NULL,
	key     TEXT NOT NULL,
	value   TEXT NOT NULL,
	PRIMARY KEY (name, version, key),
	FOREIGN KEY (name, version) REFERENCES model_versions (name, version) ON UPDATE CASCADE ON DELETE CASCADE
);

-- An alias points at exactly one version: (name, alias) is the key.
CREATE TABLE model_aliases (
	name    TEXT NOT NULL,
	alias   TEXT NOT NULL,
	version INTEGER NOT NULL,
	PRIMARY KEY (name, alias),
	FOREIGN KEY (name, version) REFERENCES model_versions (name, version) ON UPDATE CASCADE ON DELETE CASCADE
);

-- The immutable log of stage changes and alias moves. rollback marks the
-- entries Rollback wrote.
CREATE TABLE model_transitions (
	id         INTEGER PRIMARY KEY,
	name       TEXT NOT NULL REFERENCES registered_models (name) ON UPDATE CASCADE ON DELETE CASCADE,
	version    INTEGER NOT NULL,
	kind       TEXT NOT NULL,
	alias      TEXT NOT NULL DEFAULT '',
	from_value TEXT NOT NULL DEFAULT '',
	to_value   TEXT NOT NULL DEFAULT '',
	at         INTEGER NOT NULL,
	by_actor   TEXT NOT NULL DEFAULT '',
	reason     TEXT NOT NULL DEFAULT '',
	rollback   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX model_transitions_name ON model_transitions (name, id);

-- Immutability enforced by the database, not only by the code.
CREATE TRIGGER model_transitions_no_update BEFORE UPDATE OF id, version, kind, alias, from_value, to_value, at, by_actor, reason, rollback ON model_transitions
BEGIN
	SELECT RAISE(ABORT, 'model_transitions is append-only');
END;
