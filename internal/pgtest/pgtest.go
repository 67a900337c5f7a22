// Package pgtest gives tests a private PostgreSQL schema on the server named
// by MLOPS_TEST_POSTGRES_DSN. Only tests import it.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// EnvDSN names the variable holding the test server's DSN; .ci/run sets it.
const EnvDSN = "MLOPS_TEST_POSTGRES_DSN"

// DSN returns the test server's DSN. Without one the test skips locally,
// saying what it did not test, but fails in CI, where a silent skip would
// hide a broken PostgreSQL path.
func DSN(t testing.TB, what string) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not set in CI: %s must be tested against PostgreSQL there", EnvDSN, what)
		}
		t.Skipf("%s not set: set it (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to test %s", EnvDSN, what)
	}
	return dsn
}

// FreshSchema creates a schema t_<random> for one test, so parallel test
// packages and subtests never share tables, drops it when the test ends,
// and returns a DSN whose search_path selects it.
func FreshSchema(t testing.TB, what string) string {
	t.Helper()
	dsn := DSN(t, what)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "t_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
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
