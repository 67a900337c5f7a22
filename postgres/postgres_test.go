package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/postgres"
	"github.com/housing-mlops/mlops/storetest"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// testDSN returns the server to test against. Without one the tests skip
// locally but fail in CI, where a silent skip would hide a broken store.
func testDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("MLOPS_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("MLOPS_TEST_POSTGRES_DSN not set in CI: the PostgreSQL store must be tested there")
		}
		t.Skip("MLOPS_TEST_POSTGRES_DSN not set: set it (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to test the PostgreSQL store")
	}
	return dsn
}

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

// freshSchema creates a schema t_<random> for one test, so parallel test
// packages and subtests never share tables, drops it afterwards, and
// returns a DSN whose search_path selects it.
func freshSchema(t *testing.T) string {
	t.Helper()
	dsn := testDSN(t)
	ctx := context.Background()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "t_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		_ = admin.Close()
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		_ = admin.Close()
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}

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
	var n int
	if err := s.SQL().QueryRow("SELECT COUNT(*) FROM schema_version").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("schema_version has %d rows, want 1", n)
	}
}

func TestBadDSN(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err == nil || !strings.Contains(err.Error(), "postgres: connect") {
		t.Fatalf("err = %v, want a connect error", err)
	}
}
