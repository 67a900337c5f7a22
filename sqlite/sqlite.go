// Package sqlite is the embedded tracking and registry store: mlops.Store
// over SQLite (modernc.org/sqlite, pure Go).
//
// # Journal modes, and readers that cannot write
//
// A read-write store (Open) runs in WAL mode, so that readers (the CLI, a
// server) do not block the pipeline writing runs. When it closes, it
// switches the file back to rollback-journal mode (journal_mode=DELETE), so
// that a database no process has open is a single file, with no -wal or
// -shm beside it.
//
// That is what lets OpenReadOnly serve from a directory it cannot write (a
// volume mounted read-only in a container): SQLite can read a WAL-mode
// database only through its -shm index, which it must create when it is
// missing, whereas a rollback-mode database needs nothing beyond the file.
// The alternatives were worse: opening with immutable=1 needs no -shm but
// promises SQLite the file never changes, so the server would not see the
// versions and aliases the pipeline registers later (hot reload polls for
// them) and could read torn pages while it writes; running every writer in
// rollback mode all the time would let readers block writers.
//
// While a writer is open the file is in WAL mode and its -wal and -shm
// exist; a read-only connection then opens the -shm read-only and rebuilds
// the WAL index in its own memory for each read transaction (SQLite ≥
// 3.22), so it still sees every commit. The switch back on close only
// succeeds when no other connection of any process has the file open in
// WAL mode (each holds a lock that forbids it); otherwise the file stays in
// WAL mode with its -wal and -shm, still readable read-only, and the last
// writer to close switches it. A writer that crashes leaves the same
// readable state. So a read-only open fails only on a WAL-mode file whose
// -shm is gone: one last closed by another tool or an older mlops; opening
// it read-write once, with any writing mlops command, repairs it.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/internal/sqlstore"
	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is an mlops.Store backed by one SQLite file.
type DB struct {
	*sqlstore.DB
	// Path is the database file.
	Path string
	// readOnly is set by OpenReadOnly.
	readOnly bool
}

var _ mlops.Store = (*DB)(nil)

// Open opens (creating if needed, with its directory) the database at path
// and applies pending migrations. Each connection uses WAL, a 10 s busy
// timeout and foreign keys; transactions begin IMMEDIATE so that a
// read-then-write transaction never fails to upgrade its lock.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, mlops.Errorf(mlops.EINVALID, "sqlite: empty database path")
	}
	if path != ":memory:" {
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("sqlite: create directory for %s: %w", path, err)
			}
		}
	}
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if path == ":memory:" {
		// Every connection to :memory: is a new database: keep one.
		db.SetMaxOpenConns(1)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := sqlstore.Migrate(ctx, db, dialect(path, false), migrations, "migrations"); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &DB{DB: sqlstore.New(db, dialect(path, false)), Path: path}, nil
}

// readOnlyIdle is how long a read-only store keeps an idle connection. An
// idle connection to a WAL-mode file holds a lock that stops the writer
// from switching it back to rollback mode on close (see the package doc),
// so it is let go soon; reopening one costs about a millisecond.
const readOnlyIdle = time.Second

// OpenReadOnly opens the existing database at path for reading only: it
// never creates, migrates or writes anything, in the file or beside it, so
// the directory and the file may be read-only (a volume mounted :ro). The
// schema version must be the one this build migrates to; a file that is
// missing, or whose schema is older or newer, is an error naming it. Every
// write fails with an ECONFLICT error saying the store is read-only.
//
// Reads see what writers commit after the open (the package doc says how),
// so a server polling the registry follows new versions and aliases.
func OpenReadOnly(ctx context.Context, path string) (*DB, error) {
	if path == "" || path == ":memory:" {
		return nil, mlops.Errorf(mlops.EINVALID, "sqlite: read-only store needs a database file, not %q", path)
	}
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, mlops.Errorf(mlops.ENOTFOUND, "sqlite: open %s read-only: no database file there (a read-only store never creates one; run the pipeline, or any command that writes to this store, first)", path)
		}
		return nil, fmt.Errorf("sqlite: open %s read-only: %w", path, err)
	}
	db, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s read-only: %w", path, err)
	}
	db.SetConnMaxIdleTime(readOnlyIdle)
	if err := checkSchema(ctx, db, path); err != nil {
		_ = db.Close()
		return nil, err
	}
	return &DB{DB: sqlstore.New(db, dialect(path, true)), Path: path, readOnly: true}, nil
}

// ReadOnly reports whether the store was opened with OpenReadOnly.
func (d *DB) ReadOnly() bool { return d.readOnly }

// checkSchema fails unless the database records the schema version this
// build's migrations end at.
func checkSchema(ctx context.Context, db *sql.DB, path string) error {
	want, err := sqlstore.LatestMigration(dialect(path, true), migrations, "migrations")
	if err != nil {
		return err
	}
	var tables int
	err = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_version'`).Scan(&tables)
	if err != nil {
		return fmt.Errorf("sqlite: open %s read-only: %w%s", path, err, walHint(path))
	}
	if tables == 0 {
		return mlops.Errorf(mlops.ECONFLICT, "sqlite: open %s read-only: no schema_version table: not an mlops database, or one never opened read-write", path)
	}
	var got sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_version`).Scan(&got); err != nil {
		return fmt.Errorf("sqlite: open %s read-only: read schema_version: %w", path, err)
	}
	switch v := int(got.Int64); {
	case v < want:
		return mlops.Errorf(mlops.ECONFLICT, "sqlite: open %s read-only: schema version %d is older than this build's %d, and a read-only store does not migrate: run any command that writes to this store (mlops run, mlops models ...) with this build first", path, v, want)
	case v > want:
		return mlops.Errorf(mlops.ECONFLICT, "sqlite: open %s read-only: schema version %d is newer than this build understands (%d): upgrade mlops", path, v, want)
	}
	return nil
}

// walHint explains a failed read-only open of a WAL-mode file whose -shm
// is missing, the one state OpenReadOnly cannot read (see the package doc).
func walHint(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var h [20]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return ""
	}
	// Bytes 18 and 19 of the header are the read and write format
	// versions: 2 means WAL.
	if h[18] != 2 {
		return ""
	}
	if _, err := os.Stat(path + "-shm"); err == nil {
		return ""
	}
	return " (the file is in WAL mode and its -shm is missing, so it cannot be read without writing beside it: " +
		"open it read-write once with this build, e.g. any mlops command that writes to this store, which leaves it in rollback-journal mode)"
}

// Close closes the database. A read-write store first tries to switch the
// file back to rollback-journal mode (see the package doc); that fails,
// harmlessly, while another connection has the file open, and the last
// writer to close does it.
func (d *DB) Close() error {
	if d.readOnly || d.Path == ":memory:" {
		return d.DB.Close()
	}
	err := d.leaveWAL()
	return errors.Join(err, d.DB.Close())
}

// leaveWAL switches the file to journal_mode=DELETE on one connection,
// after closing the pool's idle ones: each holds the shared lock that
// WAL mode keeps while a connection is open, which would refuse the
// switch. A refusal because another process has the file open is not an
// error.
func (d *DB) leaveWAL() error {
	db := d.SQL()
	db.SetMaxIdleConns(0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var mode string
	err := db.QueryRowContext(ctx, `PRAGMA journal_mode = DELETE`).Scan(&mode)
	if err != nil && !isBusy(err) {
		return fmt.Errorf("sqlite: %s: leave WAL mode on close: %w", d.Path, err)
	}
	return nil
}

// dsn builds the driver's file: URI with the per-connection settings. A
// read-only one opens the file with mode=ro and the -shm, when there is
// one, with readonly_shm=1 (an os_unix URI parameter of SQLite since 3.22),
// so that it behaves the same whether or not the directory is writable: it
// never creates a -shm, and reads a WAL-mode file the way a reader on a
// read-only volume must.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	pragmas := []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)"}
	if readOnly {
		// journal_mode is stored in the file: a reader must not set it.
		pragmas = []string{"busy_timeout(10000)", "foreign_keys(1)"}
		q.Set("mode", "ro")
		q.Set("readonly_shm", "1")
	} else {
		q.Set("_txlock", "immediate")
	}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	p := filepath.ToSlash(path)
	if !filepath.IsAbs(path) && path != ":memory:" {
		// A relative path must not be read as a URI authority.
		p = "./" + p
	}
	u := url.URL{Scheme: "file", Opaque: p, RawQuery: q.Encode()}
	return u.String()
}

// dialect is the SQLite dialect; for a read-only store it turns SQLite's
// "attempt to write a readonly database" into an error naming the file.
func dialect(path string, readOnly bool) sqlstore.Dialect {
	d := sqlstore.Dialect{Name: "sqlite", IsUniqueViolation: isUniqueViolation}
	if readOnly {
		d.ReadOnly = func(err error) error {
			if !isReadOnly(err) {
				return nil
			}
			return mlops.Errorf(mlops.ECONFLICT, "%s is open read-only: make registry and tracking changes through a read-write store (the pipeline, or the mlops CLI with write access to the file)", path)
		}
	}
	return d
}

func isUniqueViolation(err error) bool {
	var e *sqlite3.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3lib.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3lib.SQLITE_CONSTRAINT_PRIMARYKEY
}

// isReadOnly reports SQLITE_READONLY and its extended codes.
func isReadOnly(err error) bool {
	var e *sqlite3.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3lib.SQLITE_READONLY
}

// isBusy reports SQLITE_BUSY or SQLITE_LOCKED and their extended codes.
func isBusy(err error) bool {
	var e *sqlite3.Error
	if !errors.As(err, &e) {
		return false
	}
	c := e.Code() & 0xff
	return c == sqlite3lib.SQLITE_BUSY || c == sqlite3lib.SQLITE_LOCKED
}
