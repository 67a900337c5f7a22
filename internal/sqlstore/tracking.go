package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/search"
)

// MLflow's system tags, kept in sync with the run's columns so that MLflow
// clients filtering on them find what they expect.
const (
	TagRunName  = "mlflow.runName"
	TagParentID = "mlflow.parentRunId"
)

// DefaultExperimentID is the experiment the first migration creates.
const DefaultExperimentID = "0"

func parseExperimentID(id string) (int64, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n < 0 {
		return 0, mlops.Errorf(mlops.EINVALID, "invalid experiment id %q: want a non-negative integer", id)
	}
	return n, nil
}

// CreateExperiment creates an active experiment; the name must be unused,
// even by a deleted experiment.
func (s *DB) CreateExperiment(ctx context.Context, name, artifactLocation string, tags map[string]string) (*mlops.Experiment, error) {
	if strings.TrimSpace(name) == "" {
		return nil, mlops.Errorf(mlops.EINVALID, "experiment name must not be empty")
	}
	var id int64
	err := s.tx(ctx, func(c conn) error {
		if err := s.experimentNameFree(ctx, c, name); err != nil {
			return err
		}
		now := s.nowMs()
		err := c.queryRow(ctx, `INSERT INTO experiments (name, artifact_location, lifecycle_stage, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?) RETURNING experiment_id`,
			name, artifactLocation, mlops.LifecycleActive, now, now).Scan(&id)
		if err != nil {
			if s.d.IsUniqueViolation(err) {
				return mlops.Errorf(mlops.EEXISTS, "experiment %q already exists", name)
			}
			return s.internal(err, "create experiment %q", name)
		}
		for _, k := range sortedKeys(tags) {
			if err := s.setExperimentTag(ctx, c, id, k, tags[k]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.GetExperiment(ctx, strconv.FormatInt(id, 10))
}

func (s *DB) experimentNameFree(ctx context.Context, c conn, name string) error {
	var n int
	if err := c.queryRow(ctx, `SELECT COUNT(*) FROM experiments WHERE name = ?`, name).Scan(&n); err != nil {
		return s.internal(err, "look up experiment %q", name)
	}
	if n > 0 {
		return mlops.Errorf(mlops.EEXISTS, "experiment %q already exists", name)
	}
	return nil
}

const experimentCols = `experiment_id, name, artifact_location, lifecycle_stage, created_at, updated_at`

func (s *DB) scanExperiments(ctx context.Context, c conn, where string, args ...any) ([]*mlops.Experiment, error) {
	rows, err := c.query(ctx, `SELECT `+experimentCols+` FROM experiments `+where+` ORDER BY experiment_id`, args...)
	if err != nil {
		return nil, s.internal(err, "query experiments")
	}
	var out []*mlops.Experiment
	byID := map[string]*mlops.Experiment{}
	for rows.Next() {
		var e mlops.Experiment
		var id, created, updated int64
		if err := rows.Scan(&id, &e.Name, &e.ArtifactLocation, &e.LifecycleStage, &created, &updated); err != nil {
			_ = rows.Close()
			return nil, s.internal(err, "scan experiment")
		}
		e.ID = strconv.FormatInt(id, 10)
		e.CreatedAt, e.UpdatedAt = fromMs(created), fromMs(updated)
		out = append(out, &e)
		byID[e.ID] = &e
	}
	if err := closeRows(rows); err != nil {
		return nil, s.internal(err, "read experiments")
	}
	if len(out) == 0 {
		return nil, nil
	}
	trows, err := c.query(ctx, `SELECT experiment_id, key, value FROM experiment_tags WHERE experiment_id IN (SELECT experiment_id FROM experiments `+where+`)`, args...)
	if err != nil {
		return nil, s.internal(err, "query experiment tags")
	}
	for trows.Next() {
		var id int64
		var k, v string
		if err := trows.Scan(&id, &k, &v); err != nil {
			_ = trows.Close()
			return nil, s.internal(err, "scan experiment tag")
		}
		if e := byID[strconv.FormatInt(id, 10)]; e != nil {
			if e.Tags == nil {
				e.Tags = map[string]string{}
			}
			e.Tags[k] = v
		}
	}
	return out, s.wrapErr(closeRows(trows), "read experiment tags")
}

func (s *DB) wrapErr(err error, doing string) error {
	if err == nil {
		return nil
	}
	return s.internal(err, "%s", doing)
}

func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}

// GetExperiment returns an experiment, active or deleted.
func (s *DB) GetExperiment(ctx context.Context, id string) (*mlops.Experiment, error) {
	n, err := parseExperimentID(id)
	if err != nil {
		return nil, err
	}
	es, err := s.scanExperiments(ctx, s.read(), `WHERE experiment_id = ?`, n)
	if err != nil {
		return nil, err
	}
	if len(es) == 0 {
		return nil, mlops.Errorf(mlops.ENOTFOUND, "experiment %s not found", id)
	}
	return es[0], nil
}

// GetExperimentByName returns an experiment, active or deleted, by name.
func (s *DB) GetExperimentByName(ctx context.Context, name string) (*mlops.Experiment, error) {
	es, err := s.scanExperiments(ctx, s.read(), `WHERE name = ?`, name)
	if err != nil {
		return nil, err
	}
	if len(es) == 0 {
		return nil, mlops.Errorf(mlops.ENOTFOUND, "experiment %q not found", name)
	}
	return es[0], nil
}

// SearchExperiments lists active experiments, or all with viewDeleted, by id.
func (s *DB) SearchExperiments(ctx context.Context, viewDeleted bool) ([]*mlops.Experiment, error) {
	if viewDeleted {
		return s.scanExperiments(ctx, s.read(), ``)
	}
	return s.scanExperiments(ctx, s.read(), `WHERE lifecycle_stage = ?`, mlops.LifecycleActive)
}

// lockExperiment touches an experiment's row and returns its lifecycle
// stage, or ENOTFOUND.
func (s *DB) lockExperiment(ctx context.Context, c conn, id string) (int64, string, error) {
	n, err := parseExperimentID(id)
	if err != nil {
		return 0, "", err
	}
	var stage string
	err = c.queryRow(ctx, `UPDATE experiments SET updated_at = ? WHERE experiment_id = ? RETURNING lifecycle_stage`, s.nowMs(), n).Scan(&stage)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", mlops.Errorf(mlops.ENOTFOUND, "experiment %s not found", id)
	}
	if err != nil {
		return 0, "", s.internal(err, "lock experiment %s", id)
	}
	return n, stage, nil
}

// RenameExperiment renames an active experiment.
func (s *DB) RenameExperiment(ctx context.Context, id, name string) error {
	if strings.TrimSpace(name) == "" {
		return mlops.Errorf(mlops.EINVALID, "experiment name must not be empty")
	}
	return s.tx(ctx, func(c conn) error {
		n, stage, err := s.lockExperiment(ctx, c, id)
		if err != nil {
			return err
		}
		if stage != mlops.LifecycleActive {
			return mlops.Errorf(mlops.ECONFLICT, "experiment %s is deleted: restore it before renaming", id)
		}
		var cur string
		if err := c.queryRow(ctx, `SELECT name FROM experiments WHERE experiment_id = ?`, n).Scan(&cur); err != nil {
			return s.internal(err, "read experiment %s", id)
		}
		if cur == name {
			return nil
		}
		if err := s.experimentNameFree(ctx, c, name); err != nil {
			return err
		}
		_, err = c.exec(ctx, `UPDATE experiments SET name = ? WHERE experiment_id = ?`, name, n)
		return s.wrapErr(err, "rename experiment")
	})
}

// DeleteExperiment soft-deletes an experiment and its runs. The Default
// experiment cannot be deleted, as in MLflow.
func (s *DB) DeleteExperiment(ctx context.Context, id string) error {
	return s.setExperimentLifecycle(ctx, id, mlops.LifecycleDeleted)
}

// RestoreExperiment undoes DeleteExperiment, restoring its runs.
func (s *DB) RestoreExperiment(ctx context.Context, id string) error {
	return s.setExperimentLifecycle(ctx, id, mlops.LifecycleActive)
}

func (s *DB) setExperimentLifecycle(ctx context.Context, id, stage string) error {
	if stage == mlops.LifecycleDeleted && id == DefaultExperimentID {
		return mlops.Errorf(mlops.EINVALID, "cannot delete the Default experiment %s", id)
	}
	return s.tx(ctx, func(c conn) error {
		n, cur, err := s.lockExperiment(ctx, c, id)
		if err != nil {
			return err
		}
		if cur == stage {
			return mlops.Errorf(mlops.ECONFLICT, "experiment %s is already %s", id, stage)
		}
		if _, err := c.exec(ctx, `UPDATE experiments SET lifecycle_stage = ? WHERE experiment_id = ?`, stage, n); err != nil {
			return s.internal(err, "set experiment %s %s", id, stage)
		}
		_, err = c.exec(ctx, `UPDATE runs SET lifecycle_stage = ? WHERE experiment_id = ?`, stage, n)
		return s.wrapErr(err, "set runs of experiment "+id+" "+stage)
	})
}

// SetExperimentTag sets (overwrites) an experiment tag.
func (s *DB) SetExperimentTag(ctx context.Context, id, key, value string) error {
	if key == "" {
		return mlops.Errorf(mlops.EINVALID, "tag key must not be empty")
	}
	return s.tx(ctx, func(c conn) error {
		n, _, err := s.lockExperiment(ctx, c, id)
		if err != nil {
			return err
		}
		return s.setExperimentTag(ctx, c, n, key, value)
	})
}

func (s *DB) setExperimentTag(ctx context.Context, c conn, id int64, key, value string) error {
	if key == "" {
		return mlops.Errorf(mlops.EINVALID, "tag key must not be empty")
	}
	_, err := c.exec(ctx, `INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?)
		ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value`, id, key, value)
	return s.wrapErr(err, "set experiment tag "+key)
}

// CreateRun starts a RUNNING run in an active experiment. The run name and
// parent are mirrored in MLflow's system tags.
func (s *DB) CreateRun(ctx context.Context, rc mlops.RunCreate) (*mlops.Run, error) {
	id, err := newRunID()
	if err != nil {
		return nil, err
	}
	if rc.ExperimentID == "" {
		rc.ExperimentID = DefaultExperimentID
	}
	start := rc.StartTime
	if start.IsZero() {
		start = s.now()
	}
	name := rc.Name
	if name == "" {
		name = "run-" + id[:8]
	}
	err = s.tx(ctx, func(c conn) error {
		return s.insertRun(ctx, c, rc, id, name, start)
	})
	if err != nil {
		return nil, err
	}
	return s.GetRun(ctx, id)
}

// insertRun is CreateRun's transaction: it checks the experiment is
// active and the parent exists, inserts the run under the experiment's
// artifact location and sets its tags.
func (s *DB) insertRun(ctx context.Context, c conn, rc mlops.RunCreate, id, name string, start time.Time) error {
	exp, stage, err := s.lockExperiment(ctx, c, rc.ExperimentID)
	if err != nil {
		return err
	}
	if stage != mlops.LifecycleActive {
		return mlops.Errorf(mlops.ECONFLICT, "experiment %s is deleted: cannot create runs in it", rc.ExperimentID)
	}
	if rc.ParentID != "" {
		if err := s.runExists(ctx, c, rc.ParentID); err != nil {
			return mlops.Errorf(mlops.ENOTFOUND, "parent run %q not found", rc.ParentID)
		}
	}
	var loc string
	if err := c.queryRow(ctx, `SELECT artifact_location FROM experiments WHERE experiment_id = ?`, exp).Scan(&loc); err != nil {
		return s.internal(err, "read experiment %s", rc.ExperimentID)
	}
	artifactURI := ""
	if loc != "" {
		artifactURI = strings.TrimSuffix(loc, "/") + "/" + id + "/artifacts"
	}
	_, err = c.exec(ctx, `INSERT INTO runs (run_id, experiment_id, name, parent_id, status, start_time, end_time, artifact_uri, lifecycle_stage)
		VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)`,
		id, exp, name, rc.ParentID, string(mlops.RunRunning), ms(start), artifactURI, mlops.LifecycleActive)
	if err != nil {
		return s.internal(err, "create run")
	}
	return s.setCreateTags(ctx, c, rc, id, name)
}

// setCreateTags sets a new run's tags: MLflow's system tags for the name
// and the parent, then rc.Tags (which may override them), in key order.
func (s *DB) setCreateTags(ctx context.Context, c conn, rc mlops.RunCreate, id, name string) error {
	tags := map[string]string{TagRunName: name}
	if rc.ParentID != "" {
		tags[TagParentID] = rc.ParentID
	}
	for k, v := range rc.Tags {
		tags[k] = v
	}
	for _, k := range sortedKeys(tags) {
		if err := s.setRunTag(ctx, c, id, k, tags[k]); err != nil {
			return err
		}
	}
	return nil
}

func (s *DB) runExists(ctx context.Context, c conn, id string) error {
	var n int
	if err := c.queryRow(ctx, `SELECT COUNT(*) FROM runs WHERE run_id = ?`, id).Scan(&n); err != nil {
		return s.internal(err, "look up run %s", id)
	}
	if n == 0 {
		return mlops.Errorf(mlops.ENOTFOUND, "run %q not found", id)
	}
	return nil
}

// runLifecycle returns a run's lifecycle stage, or ENOTFOUND.
func (s *DB) runLifecycle(ctx context.Context, c conn, id string) (string, error) {
	var stage string
	err := c.queryRow(ctx, `SELECT lifecycle_stage FROM runs WHERE run_id = ?`, id).Scan(&stage)
	if errors.Is(err, sql.ErrNoRows) {
		return "", mlops.Errorf(mlops.ENOTFOUND, "run %q not found", id)
	}
	if err != nil {
		return "", s.internal(err, "look up run %s", id)
	}
	return stage, nil
}

func (s *DB) activeRun(ctx context.Context, c conn, id string) error {
	stage, err := s.runLifecycle(ctx, c, id)
	if err != nil {
		return err
	}
	if stage != mlops.LifecycleActive {
		return mlops.Errorf(mlops.ECONFLICT, "run %s is deleted: restore it first", id)
	}
	return nil
}

// GetRun returns a run, active or deleted, with its params, tags and the
// latest value of each metric.
func (s *DB) GetRun(ctx context.Context, id string) (*mlops.Run, error) {
	runs, err := s.loadRuns(ctx, s.read(), `r.run_id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, mlops.Errorf(mlops.ENOTFOUND, "run %q not found", id)
	}
	return runs[0], nil
}

// loadRuns reads the runs matching where (on alias r) with their params,
// tags and latest metrics, in four queries.
func (s *DB) loadRuns(ctx context.Context, c conn, where string, args ...any) ([]*mlops.Run, error) {
	rows, err := c.query(ctx, `SELECT r.run_id, r.experiment_id, r.name, r.parent_id, r.status, r.start_time, r.end_time, r.artifact_uri, r.lifecycle_stage
		FROM runs r WHERE `+where, args...)
	if err != nil {
		return nil, s.internal(err, "query runs")
	}
	var out []*mlops.Run
	byID := map[string]*mlops.Run{}
	for rows.Next() {
		var r mlops.Run
		var exp, start, end int64
		var status string
		if err := rows.Scan(&r.ID, &exp, &r.Name, &r.ParentID, &status, &start, &end, &r.ArtifactURI, &r.LifecycleStage); err != nil {
			_ = rows.Close()
			return nil, s.internal(err, "scan run")
		}
		r.ExperimentID = strconv.FormatInt(exp, 10)
		r.Status = mlops.RunStatus(status)
		r.StartTime, r.EndTime = fromMs(start), fromMs(end)
		out = append(out, &r)
		byID[r.ID] = &r
	}
	if err := closeRows(rows); err != nil {
		return nil, s.internal(err, "read runs")
	}
	if len(out) == 0 {
		return nil, nil
	}
	if err := s.loadKV(ctx, c, "params", where, args, func(r *mlops.Run, k, v string) {
		if r.Params == nil {
			r.Params = map[string]string{}
		}
		r.Params[k] = v
	}, byID); err != nil {
		return nil, err
	}
	if err := s.loadKV(ctx, c, "run_tags", where, args, func(r *mlops.Run, k, v string) {
		if r.Tags == nil {
			r.Tags = map[string]string{}
		}
		r.Tags[k] = v
	}, byID); err != nil {
		return nil, err
	}
	if err := s.loadLatestMetrics(ctx, c, where, args, byID); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *DB) loadKV(ctx context.Context, c conn, table, where string, args []any, set func(*mlops.Run, string, string), byID map[string]*mlops.Run) error {
	rows, err := c.query(ctx, `SELECT t.run_id, t.key, t.value FROM `+table+` t JOIN runs r ON r.run_id = t.run_id WHERE `+where, args...)
	if err != nil {
		return s.internal(err, "query %s", table)
	}
	for rows.Next() {
		var id, k, v string
		if err := rows.Scan(&id, &k, &v); err != nil {
			_ = rows.Close()
			return s.internal(err, "scan %s", table)
		}
		if r := byID[id]; r != nil {
			set(r, k, v)
		}
	}
	return s.wrapErr(closeRows(rows), "read "+table)
}

func (s *DB) loadLatestMetrics(ctx context.Context, c conn, where string, args []any, byID map[string]*mlops.Run) error {
	rows, err := c.query(ctx, `SELECT m.run_id, m.key, m.value, m.is_nan, m.ts, m.step FROM latest_metrics m JOIN runs r ON r.run_id = m.run_id WHERE `+where, args...)
	if err != nil {
		return s.internal(err, "query latest metrics")
	}
	for rows.Next() {
		var id string
		m, err := scanMetric(rows, &id)
		if err != nil {
			_ = rows.Close()
			return s.internal(err, "scan latest metric")
		}
		if r := byID[id]; r != nil {
			r.Metrics = append(r.Metrics, m)
		}
	}
	if err := closeRows(rows); err != nil {
		return s.internal(err, "read latest metrics")
	}
	for _, r := range byID {
		sort.Slice(r.Metrics, func(i, j int) bool { return r.Metrics[i].Key < r.Metrics[j].Key })
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

// scanMetric reads (run_id, key, value, is_nan, ts, step); NaN is stored
// as a flag because SQLite turns NaN into NULL.
func scanMetric(row scanner, runID *string) (mlops.Metric, error) {
	var m mlops.Metric
	var isNaN int
	var ts int64
	if err := row.Scan(runID, &m.Key, &m.Value, &isNaN, &ts, &m.Step); err != nil {
		return m, err
	}
	if isNaN != 0 {
		m.Value = math.NaN()
	}
	m.Timestamp = fromMs(ts)
	return m, nil
}

// UpdateRun changes an active run's status, end time or name.
func (s *DB) UpdateRun(ctx context.Context, id string, u mlops.RunUpdate) (*mlops.Run, error) {
	switch u.Status {
	case "", mlops.RunRunning, mlops.RunScheduled, mlops.RunFinished, mlops.RunFailed, mlops.RunKilled:
	default:
		return nil, mlops.Errorf(mlops.EINVALID, "invalid run status %q: want RUNNING, SCHEDULED, FINISHED, FAILED or KILLED", u.Status)
	}
	err := s.tx(ctx, func(c conn) error {
		if err := s.activeRun(ctx, c, id); err != nil {
			return err
		}
		if u.Status != "" {
			if _, err := c.exec(ctx, `UPDATE runs SET status = ? WHERE run_id = ?`, string(u.Status), id); err != nil {
				return s.internal(err, "update run %s status", id)
			}
		}
		if !u.EndTime.IsZero() {
			if _, err := c.exec(ctx, `UPDATE runs SET end_time = ? WHERE run_id = ?`, ms(u.EndTime), id); err != nil {
				return s.internal(err, "update run %s end time", id)
			}
		}
		if u.Name != "" {
			if _, err := c.exec(ctx, `UPDATE runs SET name = ? WHERE run_id = ?`, u.Name, id); err != nil {
				return s.internal(err, "update run %s name", id)
			}
			return s.setRunTag(ctx, c, id, TagRunName, u.Name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.GetRun(ctx, id)
}

// DeleteRun soft-deletes a run.
func (s *DB) DeleteRun(ctx context.Context, id string) error {
	return s.setRunLifecycle(ctx, id, mlops.LifecycleDeleted)
}

// RestoreRun undoes DeleteRun.
func (s *DB) RestoreRun(ctx context.Context, id string) error {
	return s.setRunLifecycle(ctx, id, mlops.LifecycleActive)
}

func (s *DB) setRunLifecycle(ctx context.Context, id, stage string) error {
	return s.tx(ctx, func(c conn) error {
		cur, err := s.runLifecycle(ctx, c, id)
		if err != nil {
			return err
		}
		if cur == stage {
			return nil
		}
		_, err = c.exec(ctx, `UPDATE runs SET lifecycle_stage = ? WHERE run_id = ?`, stage, id)
		return s.wrapErr(err, "set run "+id+" "+stage)
	})
}

// SearchRuns fetches candidates by experiment, parent and lifecycle in SQL
// and filters, orders and pages them with package search.
func (s *DB) SearchRuns(ctx context.Context, f mlops.RunFilter) ([]*mlops.Run, string, error) {
	q, err := search.Compile(f)
	if err != nil {
		return nil, "", err
	}
	where := []string{"1 = 1"}
	var args []any
	if len(f.ExperimentIDs) > 0 {
		ids := make([]any, 0, len(f.ExperimentIDs))
		for _, id := range f.ExperimentIDs {
			n, err := parseExperimentID(id)
			if err != nil {
				return nil, "", err
			}
			ids = append(ids, n)
		}
		where = append(where, "r.experiment_id IN ("+inList(len(ids))+")")
		args = append(args, ids...)
	}
	if f.ParentID != "" {
		where = append(where, "r.parent_id = ?")
		args = append(args, f.ParentID)
	}
	if !f.ViewDeleted {
		where = append(where, "r.lifecycle_stage = ?")
		args = append(args, mlops.LifecycleActive)
	}
	runs, err := s.loadRuns(ctx, s.read(), strings.Join(where, " AND "), args...)
	if err != nil {
		return nil, "", err
	}
	page, next := q.Apply(runs)
	return page, next, nil
}

// LogBatch writes metrics, params and tags of an active run in one
// transaction. A param already logged with another value is EINVALID and
// nothing of the batch is written.
func (s *DB) LogBatch(ctx context.Context, runID string, metrics []mlops.Metric, params []mlops.Param, tags []mlops.Tag) error {
	if err := validateBatch(metrics, params, tags); err != nil {
		return err
	}
	return s.tx(ctx, func(c conn) error {
		if err := s.activeRun(ctx, c, runID); err != nil {
			return err
		}
		for _, p := range params {
			if err := s.logParam(ctx, c, runID, p); err != nil {
				return err
			}
		}
		for _, t := range tags {
			if err := s.setRunTag(ctx, c, runID, t.Key, t.Value); err != nil {
				return err
			}
		}
		now := s.nowMs()
		for _, m := range metrics {
			if err := s.logMetric(ctx, c, runID, m, now); err != nil {
				return err
			}
		}
		return nil
	})
}

func validateBatch(metrics []mlops.Metric, params []mlops.Param, tags []mlops.Tag) error {
	seen := map[string]string{}
	for _, p := range params {
		if p.Key == "" {
			return mlops.Errorf(mlops.EINVALID, "param key must not be empty")
		}
		if v, ok := seen[p.Key]; ok && v != p.Value {
			return mlops.Errorf(mlops.EINVALID, "param %q logged twice in one batch with different values (%q, %q)", p.Key, v, p.Value)
		}
		seen[p.Key] = p.Value
	}
	for _, t := range tags {
		if t.Key == "" {
			return mlops.Errorf(mlops.EINVALID, "tag key must not be empty")
		}
	}
	for _, m := range metrics {
		if m.Key == "" {
			return mlops.Errorf(mlops.EINVALID, "metric key must not be empty")
		}
	}
	return nil
}

func (s *DB) logParam(ctx context.Context, c conn, runID string, p mlops.Param) error {
	var old string
	err := c.queryRow(ctx, `SELECT value FROM params WHERE run_id = ? AND key = ?`, runID, p.Key).Scan(&old)
	switch {
	case err == nil && old == p.Value:
		return nil
	case err == nil:
		return mlops.Errorf(mlops.EINVALID, "param %q of run %s is already %q: params are write-once, cannot change it to %q", p.Key, runID, old, p.Value)
	case !errors.Is(err, sql.ErrNoRows):
		return s.internal(err, "read param %s", p.Key)
	}
	_, err = c.exec(ctx, `INSERT INTO params (run_id, key, value) VALUES (?, ?, ?)`, runID, p.Key, p.Value)
	if err != nil && s.d.IsUniqueViolation(err) {
		return mlops.Errorf(mlops.ECONFLICT, "param %q of run %s was logged concurrently", p.Key, runID)
	}
	return s.wrapErr(err, "log param "+p.Key)
}

func (s *DB) setRunTag(ctx context.Context, c conn, runID, key, value string) error {
	_, err := c.exec(ctx, `INSERT INTO run_tags (run_id, key, value) VALUES (?, ?, ?)
		ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value`, runID, key, value)
	return s.wrapErr(err, "set tag "+key)
}

// logMetric appends to the history and moves latest_metrics forward when
// the new point has a higher step, or the same step and a timestamp not
// older (MLflow's notion of latest).
func (s *DB) logMetric(ctx context.Context, c conn, runID string, m mlops.Metric, now int64) error {
	ts := ms(m.Timestamp)
	if ts == 0 {
		ts = now
	}
	value, isNaN := m.Value, 0
	if math.IsNaN(value) {
		value, isNaN = 0, 1
	}
	if _, err := c.exec(ctx, `INSERT INTO metrics (run_id, key, value, is_nan, ts, step) VALUES (?, ?, ?, ?, ?, ?)`,
		runID, m.Key, value, isNaN, ts, m.Step); err != nil {
		return s.internal(err, "log metric %s", m.Key)
	}
	_, err := c.exec(ctx, `INSERT INTO latest_metrics (run_id, key, value, is_nan, ts, step) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, is_nan = excluded.is_nan, ts = excluded.ts, step = excluded.step
		WHERE excluded.step > latest_metrics.step OR (excluded.step = latest_metrics.step AND excluded.ts >= latest_metrics.ts)`,
		runID, m.Key, value, isNaN, ts, m.Step)
	return s.wrapErr(err, "update latest metric "+m.Key)
}

// DeleteTag removes a run tag; a missing tag is ENOTFOUND, as in MLflow.
func (s *DB) DeleteTag(ctx context.Context, runID, key string) error {
	return s.tx(ctx, func(c conn) error {
		if err := s.activeRun(ctx, c, runID); err != nil {
			return err
		}
		res, err := c.exec(ctx, `DELETE FROM run_tags WHERE run_id = ? AND key = ?`, runID, key)
		if err != nil {
			return s.internal(err, "delete tag %s", key)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return mlops.Errorf(mlops.ENOTFOUND, "run %s has no tag %q", runID, key)
		}
		return nil
	})
}

// MetricHistory returns every logged value of a metric by step, then
// timestamp, then logging order.
func (s *DB) MetricHistory(ctx context.Context, runID, key string) ([]mlops.Metric, error) {
	c := s.read()
	if err := s.runExists(ctx, c, runID); err != nil {
		return nil, err
	}
	rows, err := c.query(ctx, `SELECT run_id, key, value, is_nan, ts, step FROM metrics WHERE run_id = ? AND key = ? ORDER BY step, ts, id`, runID, key)
	if err != nil {
		return nil, s.internal(err, "query metric history")
	}
	var out []mlops.Metric
	for rows.Next() {
		var id string
		m, err := scanMetric(rows, &id)
		if err != nil {
			_ = rows.Close()
			return nil, s.internal(err, "scan metric")
		}
		out = append(out, m)
	}
	return out, s.wrapErr(closeRows(rows), "read metric history")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
