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

// TestConcurrentOpensOfAFreshSchema opens one brand-new schema from several
// connections at once, as replicas starting together do: every open must
// succeed and each migration must be recorded once.
func TestConcurrentOpensOfAFreshSchema(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	const opens = 8
	errs := make(chan error, opens)
	stores := make(chan *postgres.DB, opens)
	for range opens {
		go func() {
			db, err := postgres.Open(ctx, dsn)
			if err == nil {
				stores <- db
			}
			errs <- err
		}()
	}
	for range opens {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	close(stores)
	var last *postgres.DB
	for db := range stores {
		t.Cleanup(func() { _ = db.Close() })
		last = db
	}
	if last == nil {
		t.Fatal("no open succeeded")
	}
	var n, distinct int
	if err := last.SQL().QueryRow("SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_version").Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n != distinct {
		t.Fatalf("schema_version has %d rows for %d versions: a migration was recorded twice", n, distinct)
	}
}
