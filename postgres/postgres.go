// Package postgres is the shared store for teams that run on several
// machines against one server, through pgx's database/sql adapter:
// mlops.Store (tracking and registry, DB) and sweep.Queue (distributed
// sweeps, SweepQueue). Both live in one database (or one schema of it) and
// share its numbered migrations.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/internal/sqlstore"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is an mlops.Store backed by a PostgreSQL database (or one schema of
// it, chosen with search_path in the DSN).
type DB struct {
	*sqlstore.DB
}

var _ mlops.Store = (*DB)(nil)

// migrationLockKey is an arbitrary constant naming this store's advisory
// lock, so concurrent processes migrate one at a time.
const migrationLockKey = 7_036_466_272

// Open connects to dsn (postgres://user@host:port/db?sslmode=disable, with
// optional search_path=schema) and applies pending migrations.
func Open(ctx context.Context, dsn string) (*DB, error) {
	db, err := connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	return &DB{DB: sqlstore.New(db, dialect())}, nil
}

// connect opens dsn, checks the server answers and applies pending
// migrations: every store of this package starts from a current schema.
func connect(ctx context.Context, dsn string) (*sql.DB, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	if err := sqlstore.Migrate(ctx, db, dialect(), migrations, "migrations"); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

func dialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:              "postgres",
		Dollar:            true,
		IsUniqueViolation: isUniqueViolation,
		MigrationLock:     fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLockKey),
	}
}

func isUniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505"
}
