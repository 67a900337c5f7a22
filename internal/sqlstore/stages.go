package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"regexp"
	"slices"
	"strconv"

	"github.com/housing-mlops/mlops"
)

// logTransition appends to the immutable transition log. rollback marks
// the entries Rollback writes, so that a later Rollback can tell a stage
// given back from a stage given forward.
func (s *DB) logTransition(ctx context.Context, c conn, t mlops.Transition, rollback bool) error {
	rb := 0
	if rollback {
		rb = 1
	}
	_, err := c.exec(ctx, `INSERT INTO model_transitions (name, version, kind, alias, from_value, to_value, at, by_actor, reason, rollback)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.Name, t.Version, t.Kind, t.Alias, t.From, t.To, s.nowMs(), t.By, t.Reason, rb)
	return s.wrapErr(err, "append transition")
}

// setStage moves one version to stage and logs it; no change, no entry.
func (s *DB) setStage(ctx context.Context, c conn, v *mlops.ModelVersion, stage mlops.Stage, a mlops.Actor, rollback bool) error {
	if v.Stage == stage {
		return nil
	}
	if _, err := c.exec(ctx, `UPDATE model_versions SET stage = ?, updated_at = ? WHERE name = ? AND version = ?`,
		string(stage), s.nowMs(), v.Name, v.Version); err != nil {
		return s.internal(err, "set stage of %q version %d", v.Name, v.Version)
	}
	t := mlops.Transition{Name: v.Name, Version: v.Version, Kind: mlops.TransitionStage,
		From: string(v.Stage), To: string(stage), By: a.By, Reason: a.Reason}
	return s.logTransition(ctx, c, t, rollback)
}

// holders returns the versions of a model currently in stage.
func (s *DB) holders(ctx context.Context, c conn, name string, stage mlops.Stage) ([]*mlops.ModelVersion, error) {
	return s.scanVersions(ctx, c, `WHERE name = ? AND stage = ?`, name, string(stage))
}

// TransitionStage moves a version to stage. With archiveExisting and a
// Staging or Production target, the other holders of that stage are
// archived in the same transaction, so at most one version holds it.
func (s *DB) TransitionStage(ctx context.Context, name string, version int, stage mlops.Stage, archiveExisting bool, a mlops.Actor) (*mlops.ModelVersion, error) {
	stage, err := mlops.ParseStage(string(stage))
	if err != nil {
		return nil, err
	}
	err = s.tx(ctx, func(c conn) error {
		if err := s.lockModel(ctx, c, name); err != nil {
			return err
		}
		v, err := s.getVersion(ctx, c, name, version)
		if err != nil {
			return err
		}
		if archiveExisting && (stage == mlops.StageStaging || stage == mlops.StageProduction) {
			others, err := s.holders(ctx, c, name, stage)
			if err != nil {
				return err
			}
			for _, o := range others {
				if o.Version == version {
					continue
				}
				if err := s.setStage(ctx, c, o, mlops.StageArchived, a, false); err != nil {
					return err
				}
			}
		}
		return s.setStage(ctx, c, v, stage, a, false)
	})
	if err != nil {
		return nil, err
	}
	return s.GetModelVersion(ctx, name, version)
}

type logEntry struct {
	version  int
	from, to string
	rollback bool
}

// stageLog reads the stage entries of a model's log that enter or leave
// stage, oldest first.
func (s *DB) stageLog(ctx context.Context, c conn, name string, stage mlops.Stage) ([]logEntry, error) {
	rows, err := c.query(ctx, `SELECT version, from_value, to_value, rollback FROM model_transitions
		WHERE name = ? AND kind = ? AND (to_value = ? OR from_value = ?) ORDER BY id`,
		name, mlops.TransitionStage, string(stage), string(stage))
	if err != nil {
		return nil, s.internal(err, "read transitions of %q", name)
	}
	var out []logEntry
	for rows.Next() {
		var e logEntry
		var rb int
		if err := rows.Scan(&e.version, &e.from, &e.to, &rb); err != nil {
			_ = rows.Close()
			return nil, s.internal(err, "scan transition")
		}
		e.rollback = rb != 0
		out = append(out, e)
	}
	return out, s.wrapErr(closeRows(rows), "read transitions")
}

// holderStack replays the log into the stack of versions that were given
// stage, most recent last: a forward move into stage pushes (moving the
// version to the top if it was there already) and a rollback's move out of
// stage pops that version. So rolling back twice walks two steps back
// instead of flipping between the last two holders.
func holderStack(log []logEntry, stage mlops.Stage) []int {
	var stack []int
	remove := func(v int) {
		stack = slices.DeleteFunc(stack, func(x int) bool { return x == v })
	}
	for _, e := range log {
		switch {
		case e.to == string(stage) && !e.rollback:
			remove(e.version)
			stack = append(stack, e.version)
		case e.from == string(stage) && e.rollback:
			remove(e.version)
		}
	}
	return stack
}

// Rollback gives stage back to the version that held it before the current
// holder: the current holder (and any other holder) is archived and the
// previous one moved back, in one transaction, each change logged with the
// actor's reason. No holder is ENOTFOUND; no earlier holder is ECONFLICT.
func (s *DB) Rollback(ctx context.Context, name string, stage mlops.Stage, a mlops.Actor) (*mlops.ModelVersion, error) {
	stage, err := mlops.ParseStage(string(stage))
	if err != nil {
		return nil, err
	}
	if stage == mlops.StageNone || stage == mlops.StageArchived {
		return nil, mlops.Errorf(mlops.EINVALID, "cannot roll back stage %s: only Staging and Production", stage)
	}
	var target int
	err = s.tx(ctx, func(c conn) error {
		if err := s.lockModel(ctx, c, name); err != nil {
			return err
		}
		holders, err := s.holders(ctx, c, name, stage)
		if err != nil {
			return err
		}
		if len(holders) == 0 {
			return mlops.Errorf(mlops.ENOTFOUND, "nothing to roll back: no version of model %q is in stage %s", name, stage)
		}
		log, err := s.stageLog(ctx, c, name, stage)
		if err != nil {
			return err
		}
		stack := holderStack(log, stage)
		current := currentHolder(holders, stack)
		prev, err := s.previousHolder(ctx, c, name, stack, current)
		if err != nil {
			return err
		}
		if prev == nil {
			return mlops.Errorf(mlops.ECONFLICT, "nothing to roll back to: no version of model %q held stage %s before version %d", name, stage, current)
		}
		for _, h := range holders {
			if err := s.setStage(ctx, c, h, mlops.StageArchived, a, true); err != nil {
				return err
			}
		}
		target = prev.Version
		return s.setStage(ctx, c, prev, stage, a, true)
	})
	if err != nil {
		return nil, err
	}
	return s.GetModelVersion(ctx, name, target)
}

// currentHolder is the holder most recently moved into the stage, or the
// highest-numbered holder when the log does not say.
func currentHolder(holders []*mlops.ModelVersion, stack []int) int {
	held := map[int]bool{}
	best := 0
	for _, h := range holders {
		held[h.Version] = true
		best = max(best, h.Version)
	}
	for i := len(stack) - 1; i >= 0; i-- {
		if held[stack[i]] {
			return stack[i]
		}
	}
	return best
}

// previousHolder walks the stack down from below current, skipping
// deleted versions and current holders.
func (s *DB) previousHolder(ctx context.Context, c conn, name string, stack []int, current int) (*mlops.ModelVersion, error) {
	stack = slices.DeleteFunc(stack, func(x int) bool { return x == current })
	for i := len(stack) - 1; i >= 0; i-- {
		v, err := s.getVersion(ctx, c, name, stack[i])
		if mlops.ErrorCode(err) == mlops.ENOTFOUND {
			continue
		}
		if err != nil {
			return nil, err
		}
		return v, nil
	}
	return nil, nil
}

// reservedAlias matches names MLflow reserves: "latest" and v<number>.
var reservedAlias = regexp.MustCompile(`^(?i)(latest|v\d+)$`)

func validAlias(alias string) error {
	if alias == "" {
		return mlops.Errorf(mlops.EINVALID, "alias must not be empty")
	}
	if reservedAlias.MatchString(alias) {
		return mlops.Errorf(mlops.EINVALID, "alias %q is reserved (latest and v<number> name versions)", alias)
	}
	return nil
}

// SetAlias points alias at version, moving it from any other version in the
// same transaction, and logs the move (From is the previous version).
func (s *DB) SetAlias(ctx context.Context, name, alias string, version int, a mlops.Actor) error {
	if err := validAlias(alias); err != nil {
		return err
	}
	return s.tx(ctx, func(c conn) error {
		if err := s.lockVersion(ctx, c, name, version); err != nil {
			return err
		}
		prev, err := s.aliasTarget(ctx, c, name, alias)
		if err != nil {
			return err
		}
		if prev == version {
			return nil
		}
		_, err = c.exec(ctx, `INSERT INTO model_aliases (name, alias, version) VALUES (?, ?, ?)
			ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version`, name, alias, version)
		if err != nil {
			return s.internal(err, "set alias %q", alias)
		}
		from := ""
		if prev != 0 {
			from = strconv.Itoa(prev)
		}
		t := mlops.Transition{Name: name, Version: version, Kind: mlops.TransitionAlias, Alias: alias,
			From: from, To: strconv.Itoa(version), By: a.By, Reason: a.Reason}
		return s.logTransition(ctx, c, t, false)
	})
}

// aliasTarget returns the version alias points at, 0 when unset.
func (s *DB) aliasTarget(ctx context.Context, c conn, name, alias string) (int, error) {
	var v int
	err := c.queryRow(ctx, `SELECT version FROM model_aliases WHERE name = ? AND alias = ?`, name, alias).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, s.internal(err, "read alias %q", alias)
	}
	return v, nil
}

// DeleteAlias removes an alias and logs it; a missing alias is ENOTFOUND.
func (s *DB) DeleteAlias(ctx context.Context, name, alias string, a mlops.Actor) error {
	return s.tx(ctx, func(c conn) error {
		if err := s.lockModel(ctx, c, name); err != nil {
			return err
		}
		prev, err := s.aliasTarget(ctx, c, name, alias)
		if err != nil {
			return err
		}
		if prev == 0 {
			return mlops.Errorf(mlops.ENOTFOUND, "registered model %q has no alias %q", name, alias)
		}
		if _, err := c.exec(ctx, `DELETE FROM model_aliases WHERE name = ? AND alias = ?`, name, alias); err != nil {
			return s.internal(err, "delete alias %q", alias)
		}
		t := mlops.Transition{Name: name, Version: prev, Kind: mlops.TransitionAlias, Alias: alias,
			From: strconv.Itoa(prev), To: "", By: a.By, Reason: a.Reason}
		return s.logTransition(ctx, c, t, false)
	})
}

// Transitions returns a model's log, oldest first.
func (s *DB) Transitions(ctx context.Context, name string) ([]mlops.Transition, error) {
	if _, err := s.GetRegisteredModel(ctx, name); err != nil {
		return nil, err
	}
	rows, err := s.read().query(ctx, `SELECT id, name, version, kind, alias, from_value, to_value, at, by_actor, reason
		FROM model_transitions WHERE name = ? ORDER BY id`, name)
	if err != nil {
		return nil, s.internal(err, "query transitions of %q", name)
	}
	var out []mlops.Transition
	for rows.Next() {
		var t mlops.Transition
		var at int64
		if err := rows.Scan(&t.ID, &t.Name, &t.Version, &t.Kind, &t.Alias, &t.From, &t.To, &at, &t.By, &t.Reason); err != nil {
			_ = rows.Close()
			return nil, s.internal(err, "scan transition")
		}
		t.At = fromMs(at)
		out = append(out, t)
	}
	return out, s.wrapErr(closeRows(rows), "read transitions")
}
