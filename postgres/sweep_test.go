package postgres_test

import (
	"context"
	"testing"

	"github.com/housing-mlops/mlops/internal/pgtest"
	"github.com/housing-mlops/mlops/postgres"
	"github.com/housing-mlops/mlops/sweep"
	"github.com/housing-mlops/mlops/sweep/sweeptest"
)

// sweepSchema returns a DSN selecting a schema of this test's own.
func sweepSchema(t *testing.T) string { return pgtest.FreshSchema(t, "the PostgreSQL sweep queue") }

func openSweepQueue(t *testing.T, dsn string) *postgres.SweepQueue {
	t.Helper()
	q, err := postgres.OpenSweepQueue(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	return q
}

// openTracker opens the tracking store beside a sweep queue, where agents
// log trial runs.
func openTracker(t *testing.T, dsn string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestSweepConformance runs the sweep.Queue suite (claims, leases,
// Hyperband bands, agents, tracking) against PostgreSQL.
func TestSweepConformance(t *testing.T) {
	sweeptest.Run(t, func(t *testing.T, maxAttempts int) sweeptest.Env {
		dsn := sweepSchema(t)
		q := openSweepQueue(t, dsn)
		q.MaxAttempts = maxAttempts
		return sweeptest.Env{Queue: q, Tracker: openTracker(t, dsn)}
	})
}

// TestSweepTablesOfEarlierVersionsMigrate: earlier versions created the
// sweep tables outside the numbered migrations, so a database may have
// them at schema version 1; migration 2 must then keep them and their rows.
func TestSweepTablesOfEarlierVersionsMigrate(t *testing.T) {
	ctx := context.Background()
	dsn := sweepSchema(t)
	q := openSweepQueue(t, dsn)
	id, err := sweep.Create(ctx, q, sweeptest.MustParse(t, sweeptest.QuadSweep), 2, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	db := openTracker(t, dsn)
	if _, err := db.SQL().ExecContext(ctx, `DELETE FROM schema_version WHERE version >= 2`); err != nil {
		t.Fatal(err)
	}
	again := openSweepQueue(t, dsn)
	if _, err := again.Get(ctx, id); err != nil {
		t.Fatalf("sweep after re-applying migration 2: %v", err)
	}
	var versions int
	if err := db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_version WHERE version = 2`).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	if versions != 1 {
		t.Fatalf("schema_version records version 2 %d times, want once", versions)
	}
}
