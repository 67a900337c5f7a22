// Package sqlite is the embedded tracking and registry store: mlops.Store
// over SQLite (modernc.org/sqlite, pure Go), in WAL mode so that readers
// (the CLI, a server) do not block the pipeline writing runs.
package sqlite

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"database/sql"

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
	db, err := sql.Open("sqlite", dsn(path))
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
	if err := sqlstore.Migrate(ctx, db, dialect(), migrations, "migrations"); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &DB{DB: sqlstore.New(db, dialect()), Path: path}, nil
}

// dsn builds the driver's file: URI with the per-connection settings.
func dsn(path string) string {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	p := filepath.ToSlash(path)
	if !filepath.IsAbs(path) && path != ":memory:" {
		// A relative path must not be read as a URI authority.
		p = "./" + p
	}
	u := url.URL{Scheme: "file", Opaque: p, RawQuery: q.Encode()}
	return u.String()
}

func dialect() sqlstore.Dialect {
	return sqlstore.Dialect{Name: "sqlite", IsUniqueViolation: isUniqueViolation}
}

func isUniqueViolation(err error) bool {
	var e *sqlite3.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3lib.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3lib.SQLITE_CONSTRAINT_PRIMARYKEY
}
