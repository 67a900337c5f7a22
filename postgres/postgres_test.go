package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/internal/pgtest"
	"github.com/housing-mlops/mlops/postgres"
	"github.com/housing-mlops/mlops/storetest"
)

// open opens a store in a fresh schema.
func open(t *testing.T) mlops.Store {
	t.Helper()
	db, err := postgres.Open(context.Background(), freshSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// freshSchema returns a DSN selecting a schema of this test's own.
func freshSchema(t *testing.T) string { return pgtest.FreshSchema(t, "the PostgreSQL store") }

func TestConformance(t *testing.T) {
	storetest.Run(t, open)
}

func TestReopenKeepsDataAndMigratesOnce(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	first, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.CreateExperiment(ctx, "kept", "", nil); err != nil {
		t.Fatal(err)
	}
	_ = first.Close()
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.GetExperimentByName(ctx, "kept"); err != nil {
		t.Fatal(err)
	}
	// One row per migration: versions 1 to n, each applied once.
	var n, distinct, latest int
	if err := s.SQL().QueryRow("SELECT COUNT(*), COUNT(DISTINCT version), MAX(version) FROM schema_version").Scan(&n, &distinct, &latest); err != nil {
		t.Fatal(err)
	}
	if n != distinct || n != latest || n < 2 {
		t.Fatalf("schema_version has %d rows of %d versions up to %d; want each of versions 1 to n (tracking, sweeps, ...) once",
			n, distinct, latest)
	}
}

func TestBadDSN(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err == nil || !strings.Contains(err.Error(), "postgres: connect") {
		t.Fatalf("err = %v, want a connect error", err)
	}
}
