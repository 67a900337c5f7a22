// Package sqlstore implements mlops.Store over database/sql for the SQL
// dialects housing-mlops supports (SQLite and PostgreSQL). It holds the
// queries both stores share; packages sqlite and postgres own the driver,
// the connection settings and the migrations, and wrap a *DB.
//
// Every multi-row change runs in one transaction. Registry changes first
// touch the model's row (UPDATE ... SET updated_at), which locks it in
// PostgreSQL and takes the write lock in SQLite, so that version numbers,
// stages and aliases change one writer at a time.
package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/housing-mlops/mlops"
)

// Dialect describes what differs between SQL databases.
type Dialect struct {
	// Name prefixes error messages ("sqlite", "postgres").
	Name string
	// Dollar placeholders ($1, $2) instead of ?.
	Dollar bool
	// IsUniqueViolation reports a unique or primary key constraint error.
	IsUniqueViolation func(error) bool
	// MigrationLock, when set, runs first in the migration transaction to
	// keep concurrent processes from migrating at the same time.
	MigrationLock string
	// ReadOnly, when set, recognises the driver's error for a write to a
	// database opened read-only and returns the error to report instead
	// (nil for any other error).
	ReadOnly func(error) error
}

// DB is an mlops.Store over a *sql.DB.
type DB struct {
	db *sql.DB
	d  Dialect
	// now is the clock, replaceable in tests of this package.
	now func() time.Time
}

var _ mlops.Store = (*DB)(nil)

// New wraps db; the caller has migrated it already.
func New(db *sql.DB, d Dialect) *DB {
	if d.IsUniqueViolation == nil {
		d.IsUniqueViolation = func(error) bool { return false }
	}
	return &DB{db: db, d: d, now: time.Now}
}

// SQL returns the underlying database handle.
func (s *DB) SQL() *sql.DB { return s.db }

// Close closes the database.
func (s *DB) Close() error { return s.db.Close() }

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn runs queries written with ? placeholders in the store's dialect.
type conn struct {
	q querier
	d *Dialect
}

func (c conn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.q.ExecContext(ctx, rebind(query, c.d.Dollar), args...)
}

func (c conn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.q.QueryContext(ctx, rebind(query, c.d.Dollar), args...)
}

func (c conn) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return c.q.QueryRowContext(ctx, rebind(query, c.d.Dollar), args...)
}

// rebind turns ? into $1, $2, ... for PostgreSQL. Our queries never hold a
// literal question mark.
func rebind(q string, dollar bool) string {
	if !dollar || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

func (s *DB) read() conn { return conn{q: s.db, d: &s.d} }

// tx runs fn in a transaction, committing when fn returns nil.
func (s *DB) tx(ctx context.Context, fn func(c conn) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.internal(err, "begin transaction")
	}
	if err := fn(conn{q: tx, d: &s.d}); err != nil {
		_ = tx.Rollback() // the error from fn is the one that matters
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.internal(err, "commit")
	}
	return nil
}

// internal wraps a database error with what was being done; it keeps any
// *mlops.Error's code.
func (s *DB) internal(err error, doing string, args ...any) error {
	var me *mlops.Error
	if errors.As(err, &me) {
		return err
	}
	if s.d.ReadOnly != nil {
		if ro := s.d.ReadOnly(err); ro != nil {
			err = ro
		}
	}
	return fmt.Errorf("%s: %s: %w", s.d.Name, fmt.Sprintf(doing, args...), err)
}

// ms converts a time to Unix milliseconds, the unit MLflow stores.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMs converts Unix milliseconds back; 0 is the zero time.
func fromMs(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func (s *DB) nowMs() int64 { return s.now().UnixMilli() }

// newRunID returns 32 random hex digits, like MLflow's run UUIDs.
func newRunID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("run id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Migrate applies, in name order, the .sql files of dir in fsys that are
// newer than the database's schema_version, each in its own transaction.
// File names start with their version number: 0001_init.sql.
func Migrate(ctx context.Context, db *sql.DB, d Dialect, fsys fs.FS, dir string) error {
	if err := createVersionTable(ctx, db, d); err != nil {
		return fmt.Errorf("%s: create schema_version: %w", d.Name, err)
	}
	migs, err := migrations(d, fsys, dir)
	if err != nil {
		return err
	}
	for _, m := range migs {
		body, err := fs.ReadFile(fsys, dir+"/"+m.name)
		if err != nil {
			return fmt.Errorf("%s: read migration %s: %w", d.Name, m.name, err)
		}
		if err := applyMigration(ctx, db, d, m.version, m.name, string(body)); err != nil {
			return err
		}
	}
	return nil
}

// createVersionTable creates schema_version unless it exists, under the
// migration lock: PostgreSQL's CREATE TABLE IF NOT EXISTS is not safe
// against itself, and two processes opening a new database together would
// otherwise both try to create the table's type, and one fail.
func createVersionTable(ctx context.Context, db *sql.DB, d Dialect) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // no-op after Commit
	if d.MigrationLock != "" {
		if _, err := tx.ExecContext(ctx, d.MigrationLock); err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return err
	}
	return tx.Commit()
}

// LatestMigration returns the highest version among the migrations of dir
// in fsys: the schema version a fully migrated database records.
func LatestMigration(d Dialect, fsys fs.FS, dir string) (int, error) {
	migs, err := migrations(d, fsys, dir)
	if err != nil {
		return 0, err
	}
	if len(migs) == 0 {
		return 0, fmt.Errorf("%s: no migrations in %s", d.Name, dir)
	}
	return migs[len(migs)-1].version, nil
}

// migration is one .sql file of a migrations directory.
type migration struct {
	version int
	name    string
}

// migrations lists the .sql files of dir in fsys in version order.
func migrations(d Dialect, fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("%s: read migrations: %w", d.Name, err)
	}
	var migs []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("%s: migration %s: name must start with a version number", d.Name, e.Name())
		}
		migs = append(migs, migration{v, e.Name()})
	}
	sort.Slice(migs, func(i, j int) bool { return migs[i].version < migs[j].version })
	return migs, nil
}

// applyMigration runs one migration unless it was applied already; the
// check is inside the transaction so that two processes opening the same
// fresh database do not both apply it.
func applyMigration(ctx context.Context, db *sql.DB, d Dialect, version int, name, body string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: migration %s: %w", d.Name, name, err)
	}
	defer func() { _ = tx.Rollback() }() // no-op after Commit
	if d.MigrationLock != "" {
		if _, err := tx.ExecContext(ctx, d.MigrationLock); err != nil {
			return fmt.Errorf("%s: migration lock: %w", d.Name, err)
		}
	}
	var current sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_version`).Scan(&current); err != nil {
		return fmt.Errorf("%s: read schema_version: %w", d.Name, err)
	}
	if current.Valid && int(current.Int64) >= version {
		return nil
	}
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return fmt.Errorf("%s: migration %s: %w", d.Name, name, err)
	}
	if _, err := tx.ExecContext(ctx, rebind(`INSERT INTO schema_version (version) VALUES (?)`, d.Dollar), version); err != nil {
		return fmt.Errorf("%s: migration %s: record version: %w", d.Name, name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: migration %s: commit: %w", d.Name, name, err)
	}
	return nil
}

// inList returns "?, ?, ?" for n values.
func inList(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
