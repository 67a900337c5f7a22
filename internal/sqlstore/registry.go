package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/search"
)

// CreateRegisteredModel creates an empty registered model.
func (s *DB) CreateRegisteredModel(ctx context.Context, name, description string, tags map[string]string) (*mlops.RegisteredModel, error) {
	if err := validModelName(name); err != nil {
		return nil, err
	}
	err := s.tx(ctx, func(c conn) error {
		now := s.nowMs()
		_, err := c.exec(ctx, `INSERT INTO registered_models (name, description, last_version, created_at, updated_at) VALUES (?, ?, 0, ?, ?)`,
			name, description, now, now)
		if err != nil {
			if s.d.IsUniqueViolation(err) {
				return mlops.Errorf(mlops.EEXISTS, "registered model %q already exists", name)
			}
			return s.internal(err, "create registered model %q", name)
		}
		for _, k := range sortedKeys(tags) {
			if err := s.setModelTag(ctx, c, name, k, tags[k]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.GetRegisteredModel(ctx, name)
}

func validModelName(name string) error {
	if strings.TrimSpace(name) == "" {
		return mlops.Errorf(mlops.EINVALID, "registered model name must not be empty")
	}
	return nil
}

// lockModel touches the model's row so that registry changes to one model
// are serialised; a missing model is ENOTFOUND.
func (s *DB) lockModel(ctx context.Context, c conn, name string) error {
	res, err := c.exec(ctx, `UPDATE registered_models SET updated_at = ? WHERE name = ?`, s.nowMs(), name)
	if err != nil {
		return s.internal(err, "lock registered model %q", name)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return mlops.Errorf(mlops.ENOTFOUND, "registered model %q not found", name)
	}
	return nil
}

// GetRegisteredModel returns a model with its tags and aliases.
func (s *DB) GetRegisteredModel(ctx context.Context, name string) (*mlops.RegisteredModel, error) {
	ms, err := s.scanModels(ctx, s.read(), `WHERE name = ?`, name)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, mlops.Errorf(mlops.ENOTFOUND, "registered model %q not found", name)
	}
	return ms[0], nil
}

func (s *DB) scanModels(ctx context.Context, c conn, where string, args ...any) ([]*mlops.RegisteredModel, error) {
	rows, err := c.query(ctx, `SELECT name, description, created_at, updated_at FROM registered_models `+where+` ORDER BY name`, args...)
	if err != nil {
		return nil, s.internal(err, "query registered models")
	}
	var out []*mlops.RegisteredModel
	byName := map[string]*mlops.RegisteredModel{}
	for rows.Next() {
		var m mlops.RegisteredModel
		var created, updated int64
		if err := rows.Scan(&m.Name, &m.Description, &created, &updated); err != nil {
			_ = rows.Close()
			return nil, s.internal(err, "scan registered model")
		}
		m.CreatedAt, m.UpdatedAt = fromMs(created), fromMs(updated)
		out = append(out, &m)
		byName[m.Name] = &m
	}
	if err := closeRows(rows); err != nil {
		return nil, s.internal(err, "read registered models")
	}
	if len(out) == 0 {
		return nil, nil
	}
	sub := `(SELECT name FROM registered_models ` + where + `)`
	if err := s.attachModelExtras(ctx, c, sub, args, byName); err != nil {
		return nil, err
	}
	return out, nil
}

// attachModelExtras adds the tags and aliases of the models selected by
// the subquery sub to the models of byName.
func (s *DB) attachModelExtras(ctx context.Context, c conn, sub string, args []any, byName map[string]*mlops.RegisteredModel) error {
	trows, err := c.query(ctx, `SELECT name, key, value FROM registered_model_tags WHERE name IN `+sub, args...)
	if err != nil {
		return s.internal(err, "query registered model tags")
	}
	for trows.Next() {
		var n, k, v string
		if err := trows.Scan(&n, &k, &v); err != nil {
			_ = trows.Close()
			return s.internal(err, "scan registered model tag")
		}
		if m := byName[n]; m != nil {
			if m.Tags == nil {
				m.Tags = map[string]string{}
			}
			m.Tags[k] = v
		}
	}
	if err := closeRows(trows); err != nil {
		return s.internal(err, "read registered model tags")
	}
	arows, err := c.query(ctx, `SELECT name, alias, version FROM model_aliases WHERE name IN `+sub, args...)
	if err != nil {
		return s.internal(err, "query model aliases")
	}
	for arows.Next() {
		var n, a string
		var v int
		if err := arows.Scan(&n, &a, &v); err != nil {
			_ = arows.Close()
			return s.internal(err, "scan model alias")
		}
		if m := byName[n]; m != nil {
			if m.Aliases == nil {
				m.Aliases = map[string]int{}
			}
			m.Aliases[a] = v
		}
	}
	return s.wrapErr(closeRows(arows), "read model aliases")
}

// SearchRegisteredModels lists models whose name matches the SQL LIKE
// pattern nameLike (case-sensitive, % and _ wildcards); "" lists all.
func (s *DB) SearchRegisteredModels(ctx context.Context, nameLike string) ([]*mlops.RegisteredModel, error) {
	all, err := s.scanModels(ctx, s.read(), ``)
	if err != nil || nameLike == "" {
		return all, err
	}
	re := search.Like(nameLike, false)
	var out []*mlops.RegisteredModel
	for _, m := range all {
		if re.MatchString(m.Name) {
			out = append(out, m)
		}
	}
	return out, nil
}

// RenameRegisteredModel renames a model; versions, tags, aliases and the
// transition log follow through ON UPDATE CASCADE.
func (s *DB) RenameRegisteredModel(ctx context.Context, name, newName string) (*mlops.RegisteredModel, error) {
	if err := validModelName(newName); err != nil {
		return nil, err
	}
	err := s.tx(ctx, func(c conn) error {
		if err := s.lockModel(ctx, c, name); err != nil {
			return err
		}
		if name == newName {
			return nil
		}
		_, err := c.exec(ctx, `UPDATE registered_models SET name = ? WHERE name = ?`, newName, name)
		if err != nil && s.d.IsUniqueViolation(err) {
			return mlops.Errorf(mlops.EEXISTS, "registered model %q already exists", newName)
		}
		return s.wrapErr(err, "rename registered model")
	})
	if err != nil {
		return nil, err
	}
	return s.GetRegisteredModel(ctx, newName)
}

// UpdateRegisteredModel sets a model's description.
func (s *DB) UpdateRegisteredModel(ctx context.Context, name, description string) (*mlops.RegisteredModel, error) {
	err := s.tx(ctx, func(c conn) error {
		if err := s.lockModel(ctx, c, name); err != nil {
			return err
		}
		_, err := c.exec(ctx, `UPDATE registered_models SET description = ? WHERE name = ?`, description, name)
		return s.wrapErr(err, "update registered model")
	})
	if err != nil {
		return nil, err
	}
	return s.GetRegisteredModel(ctx, name)
}

// DeleteRegisteredModel deletes a model, its versions, tags, aliases and
// history.
func (s *DB) DeleteRegisteredModel(ctx context.Context, name string) error {
	return s.tx(ctx, func(c conn) error {
		if err := s.lockModel(ctx, c, name); err != nil {
			return err
		}
		_, err := c.exec(ctx, `DELETE FROM registered_models WHERE name = ?`, name)
		return s.wrapErr(err, "delete registered model")
	})
}

// SetRegisteredModelTag sets (overwrites) a model tag.
func (s *DB) SetRegisteredModelTag(ctx context.Context, name, key, value string) error {
	return s.tx(ctx, func(c conn) error {
		if err := s.lockModel(ctx, c, name); err != nil {
			return err
		}
		return s.setModelTag(ctx, c, name, key, value)
	})
}

func (s *DB) setModelTag(ctx context.Context, c conn, name, key, value string) error {
	if key == "" {
		return mlops.Errorf(mlops.EINVALID, "tag key must not be empty")
	}
	_, err := c.exec(ctx, `INSERT INTO registered_model_tags (name, key, value) VALUES (?, ?, ?)
		ON CONFLICT (name, key) DO UPDATE SET value = excluded.value`, name, key, value)
	return s.wrapErr(err, "set registered model tag "+key)
}

// DeleteRegisteredModelTag removes a model tag; a missing key is not an
// error.
func (s *DB) DeleteRegisteredModelTag(ctx context.Context, name, key string) error {
	return s.tx(ctx, func(c conn) error {
		if err := s.lockModel(ctx, c, name); err != nil {
			return err
		}
		_, err := c.exec(ctx, `DELETE FROM registered_model_tags WHERE name = ? AND key = ?`, name, key)
		return s.wrapErr(err, "delete registered model tag "+key)
	})
}

// CreateModelVersion creates the model if needed and takes the next
// version number from the model's counter, under the model's row lock, so
// concurrent registrations get distinct consecutive numbers and deleted
// numbers are never reused.
func (s *DB) CreateModelVersion(ctx context.Context, mc mlops.ModelVersionCreate) (*mlops.ModelVersion, error) {
	if err := validModelName(mc.Name); err != nil {
		return nil, err
	}
	if mc.Source == "" {
		return nil, mlops.Errorf(mlops.EINVALID, "model version source must not be empty")
	}
	var version int
	err := s.tx(ctx, func(c conn) error {
		now := s.nowMs()
		if _, err := c.exec(ctx, `INSERT INTO registered_models (name, description, last_version, created_at, updated_at) VALUES (?, '', 0, ?, ?)
			ON CONFLICT (name) DO NOTHING`, mc.Name, now, now); err != nil {
			return s.internal(err, "create registered model %q", mc.Name)
		}
		err := c.queryRow(ctx, `UPDATE registered_models SET last_version = last_version + 1, updated_at = ? WHERE name = ? RETURNING last_version`,
			now, mc.Name).Scan(&version)
		if err != nil {
			return s.internal(err, "next version of %q", mc.Name)
		}
		_, err = c.exec(ctx, `INSERT INTO model_versions (name, version, source, sha256, run_id, stage, description, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			mc.Name, version, mc.Source, mc.SHA256, mc.RunID, string(mlops.StageNone), mc.Description, now, now)
		if err != nil {
			return s.internal(err, "create version %d of %q", version, mc.Name)
		}
		for _, k := range sortedKeys(mc.Tags) {
			if err := s.setVersionTag(ctx, c, mc.Name, version, k, mc.Tags[k]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.GetModelVersion(ctx, mc.Name, version)
}

const versionCols = `name, version, source, sha256, run_id, stage, description, created_at, updated_at`

// scanVersions reads versions matching where (columns unqualified) with
// their tags and aliases.
func (s *DB) scanVersions(ctx context.Context, c conn, where string, args ...any) ([]*mlops.ModelVersion, error) {
	rows, err := c.query(ctx, `SELECT `+versionCols+` FROM model_versions `+where+` ORDER BY name, version`, args...)
	if err != nil {
		return nil, s.internal(err, "query model versions")
	}
	var out []*mlops.ModelVersion
	byKey := map[versionKey]*mlops.ModelVersion{}
	for rows.Next() {
		var v mlops.ModelVersion
		var stage string
		var created, updated int64
		if err := rows.Scan(&v.Name, &v.Version, &v.Source, &v.SHA256, &v.RunID, &stage, &v.Description, &created, &updated); err != nil {
			_ = rows.Close()
			return nil, s.internal(err, "scan model version")
		}
		v.Stage = mlops.Stage(stage)
		v.CreatedAt, v.UpdatedAt = fromMs(created), fromMs(updated)
		out = append(out, &v)
		byKey[versionKey{v.Name, v.Version}] = &v
	}
	if err := closeRows(rows); err != nil {
		return nil, s.internal(err, "read model versions")
	}
	if len(out) == 0 {
		return nil, nil
	}
	sub := `(SELECT name, version FROM model_versions ` + where + `)`
	if err := s.attachVersionExtras(ctx, c, sub, args, byKey); err != nil {
		return nil, err
	}
	return out, nil
}

// versionKey identifies a model version.
type versionKey struct {
	name    string
	version int
}

// attachVersionExtras adds the tags and aliases (sorted) of the versions
// selected by the subquery sub to the versions of byKey.
func (s *DB) attachVersionExtras(ctx context.Context, c conn, sub string, args []any, byKey map[versionKey]*mlops.ModelVersion) error {
	trows, err := c.query(ctx, `SELECT name, version, key, value FROM model_version_tags WHERE (name, version) IN `+sub, args...)
	if err != nil {
		return s.internal(err, "query model version tags")
	}
	for trows.Next() {
		var k versionKey
		var tk, tv string
		if err := trows.Scan(&k.name, &k.version, &tk, &tv); err != nil {
			_ = trows.Close()
			return s.internal(err, "scan model version tag")
		}
		if v := byKey[k]; v != nil {
			if v.Tags == nil {
				v.Tags = map[string]string{}
			}
			v.Tags[tk] = tv
		}
	}
	if err := closeRows(trows); err != nil {
		return s.internal(err, "read model version tags")
	}
	arows, err := c.query(ctx, `SELECT name, version, alias FROM model_aliases WHERE (name, version) IN `+sub+` ORDER BY alias`, args...)
	if err != nil {
		return s.internal(err, "query model aliases")
	}
	for arows.Next() {
		var k versionKey
		var a string
		if err := arows.Scan(&k.name, &k.version, &a); err != nil {
			_ = arows.Close()
			return s.internal(err, "scan model alias")
		}
		if v := byKey[k]; v != nil {
			v.Aliases = append(v.Aliases, a)
		}
	}
	return s.wrapErr(closeRows(arows), "read model aliases")
}

// GetModelVersion returns one version with its tags and aliases.
func (s *DB) GetModelVersion(ctx context.Context, name string, version int) (*mlops.ModelVersion, error) {
	return s.getVersion(ctx, s.read(), name, version)
}

func (s *DB) getVersion(ctx context.Context, c conn, name string, version int) (*mlops.ModelVersion, error) {
	vs, err := s.scanVersions(ctx, c, `WHERE name = ? AND version = ?`, name, version)
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, mlops.Errorf(mlops.ENOTFOUND, "registered model %q has no version %d", name, version)
	}
	return vs[0], nil
}

// SearchModelVersions lists a model's versions, oldest first; "" lists the
// versions of every model.
func (s *DB) SearchModelVersions(ctx context.Context, name string) ([]*mlops.ModelVersion, error) {
	if name == "" {
		return s.scanVersions(ctx, s.read(), ``)
	}
	return s.scanVersions(ctx, s.read(), `WHERE name = ?`, name)
}

// UpdateModelVersion sets a version's description.
func (s *DB) UpdateModelVersion(ctx context.Context, name string, version int, description string) (*mlops.ModelVersion, error) {
	err := s.tx(ctx, func(c conn) error {
		if err := s.lockVersion(ctx, c, name, version); err != nil {
			return err
		}
		_, err := c.exec(ctx, `UPDATE model_versions SET description = ?, updated_at = ? WHERE name = ? AND version = ?`,
			description, s.nowMs(), name, version)
		return s.wrapErr(err, "update model version")
	})
	if err != nil {
		return nil, err
	}
	return s.GetModelVersion(ctx, name, version)
}

// lockVersion locks the model and checks the version exists.
func (s *DB) lockVersion(ctx context.Context, c conn, name string, version int) error {
	if err := s.lockModel(ctx, c, name); err != nil {
		return err
	}
	var n int
	if err := c.queryRow(ctx, `SELECT COUNT(*) FROM model_versions WHERE name = ? AND version = ?`, name, version).Scan(&n); err != nil {
		return s.internal(err, "look up version %d of %q", version, name)
	}
	if n == 0 {
		return mlops.Errorf(mlops.ENOTFOUND, "registered model %q has no version %d", name, version)
	}
	return nil
}

// DeleteModelVersion deletes a version; its aliases go with it and their
// removal is logged. Its number is not reused.
func (s *DB) DeleteModelVersion(ctx context.Context, name string, version int) error {
	return s.tx(ctx, func(c conn) error {
		if err := s.lockVersion(ctx, c, name, version); err != nil {
			return err
		}
		aliases, err := s.aliasesOf(ctx, c, name, version)
		if err != nil {
			return err
		}
		for _, a := range aliases {
			t := mlops.Transition{Name: name, Version: version, Kind: mlops.TransitionAlias, Alias: a,
				From: strconv.Itoa(version), To: "", Reason: "version deleted"}
			if err := s.logTransition(ctx, c, t, false); err != nil {
				return err
			}
		}
		_, err = c.exec(ctx, `DELETE FROM model_versions WHERE name = ? AND version = ?`, name, version)
		return s.wrapErr(err, "delete model version")
	})
}

func (s *DB) aliasesOf(ctx context.Context, c conn, name string, version int) ([]string, error) {
	rows, err := c.query(ctx, `SELECT alias FROM model_aliases WHERE name = ? AND version = ? ORDER BY alias`, name, version)
	if err != nil {
		return nil, s.internal(err, "query aliases")
	}
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			_ = rows.Close()
			return nil, s.internal(err, "scan alias")
		}
		out = append(out, a)
	}
	return out, s.wrapErr(closeRows(rows), "read aliases")
}

// SetModelVersionTag sets (overwrites) a version tag.
func (s *DB) SetModelVersionTag(ctx context.Context, name string, version int, key, value string) error {
	return s.tx(ctx, func(c conn) error {
		if err := s.lockVersion(ctx, c, name, version); err != nil {
			return err
		}
		return s.setVersionTag(ctx, c, name, version, key, value)
	})
}

func (s *DB) setVersionTag(ctx context.Context, c conn, name string, version int, key, value string) error {
	if key == "" {
		return mlops.Errorf(mlops.EINVALID, "tag key must not be empty")
	}
	_, err := c.exec(ctx, `INSERT INTO model_version_tags (name, version, key, value) VALUES (?, ?, ?, ?)
		ON CONFLICT (name, version, key) DO UPDATE SET value = excluded.value`, name, version, key, value)
	return s.wrapErr(err, "set model version tag "+key)
}

// DeleteModelVersionTag removes a version tag; a missing key is not an
// error.
func (s *DB) DeleteModelVersionTag(ctx context.Context, name string, version int, key string) error {
	return s.tx(ctx, func(c conn) error {
		if err := s.lockVersion(ctx, c, name, version); err != nil {
			return err
		}
		_, err := c.exec(ctx, `DELETE FROM model_version_tags WHERE name = ? AND version = ? AND key = ?`, name, version, key)
		return s.wrapErr(err, "delete model version tag "+key)
	})
}

// GetModelVersionByAlias resolves an alias.
func (s *DB) GetModelVersionByAlias(ctx context.Context, name, alias string) (*mlops.ModelVersion, error) {
	var v int
	err := s.read().queryRow(ctx, `SELECT version FROM model_aliases WHERE name = ? AND alias = ?`, name, alias).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		if _, gerr := s.GetRegisteredModel(ctx, name); gerr != nil {
			return nil, gerr
		}
		return nil, mlops.Errorf(mlops.ENOTFOUND, "registered model %q has no alias %q", name, alias)
	}
	if err != nil {
		return nil, s.internal(err, "resolve alias %q of %q", alias, name)
	}
	return s.GetModelVersion(ctx, name, v)
}

// LatestVersions returns the newest version in each given stage (every
// stage when none), in the order None, Staging, Production, Archived.
func (s *DB) LatestVersions(ctx context.Context, name string, stages ...mlops.Stage) ([]*mlops.ModelVersion, error) {
	if _, err := s.GetRegisteredModel(ctx, name); err != nil {
		return nil, err
	}
	want := map[mlops.Stage]bool{}
	for _, st := range stages {
		p, err := mlops.ParseStage(string(st))
		if err != nil {
			return nil, err
		}
		want[p] = true
	}
	all, err := s.SearchModelVersions(ctx, name)
	if err != nil {
		return nil, err
	}
	latest := map[mlops.Stage]*mlops.ModelVersion{}
	for _, v := range all {
		if len(want) > 0 && !want[v.Stage] {
			continue
		}
		if cur := latest[v.Stage]; cur == nil || v.Version > cur.Version {
			latest[v.Stage] = v
		}
	}
	var out []*mlops.ModelVersion
	for _, st := range []mlops.Stage{mlops.StageNone, mlops.StageStaging, mlops.StageProduction, mlops.StageArchived} {
		if v := latest[st]; v != nil {
			out = append(out, v)
		}
	}
	return out, nil
}
