package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/sqlite"
	"github.com/housing-mlops/mlops/storetest"
)

func open(t *testing.T) mlops.Store {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "mlops.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, open)
}

func TestReopenKeepsDataAndSettings(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "dir", "mlops.db")
	first, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.CreateExperiment(ctx, "kept", "", nil); err != nil {
		t.Fatal(err)
	}
	_ = first.Close()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.GetExperimentByName(ctx, "kept"); err != nil {
		t.Fatal(err)
	}
	var versions, fk, busy int
	var journal string
	for q, dst := range map[string]any{
		"SELECT COUNT(*) FROM schema_version": &versions,
		"PRAGMA foreign_keys":                 &fk,
		"PRAGMA busy_timeout":                 &busy,
		"PRAGMA journal_mode":                 &journal,
	} {
		if err := db.SQL().QueryRowContext(ctx, q).Scan(dst); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if versions != 1 || fk != 1 || busy < 1000 || journal != "wal" {
		t.Fatalf("schema_version rows %d, foreign_keys %d, busy_timeout %d, journal_mode %q; want 1, 1, >=1000, wal", versions, fk, busy, journal)
	}
}

// TestTransitionsAreAppendOnly checks the database itself refuses to edit
// the log, whatever code runs against it.
func TestTransitionsAreAppendOnly(t *testing.T) {
	ctx := context.Background()
	db := open(t).(*sqlite.DB)
	if _, err := db.CreateModelVersion(ctx, mlops.ModelVersionCreate{Name: "m", Source: "s"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.TransitionStage(ctx, "m", 1, mlops.StageStaging, true, mlops.Actor{By: "a", Reason: "r"}); err != nil {
		t.Fatal(err)
	}
	_, err := db.SQL().ExecContext(ctx, "UPDATE model_transitions SET reason = 'rewritten'")
	if err == nil {
		t.Fatal("updating the transition log succeeded")
	}
}

func TestOpenEmptyPath(t *testing.T) {
	_, err := sqlite.Open(context.Background(), "")
	if mlops.ErrorCode(err) != mlops.EINVALID {
		t.Fatalf("err = %v, want EINVALID", err)
	}
}

func TestOpenRelativePathAndMemory(t *testing.T) {
	ctx := context.Background()
	t.Chdir(t.TempDir())
	db, err := sqlite.Open(ctx, filepath.Join("rel", "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	if _, err := os.Stat(filepath.Join("rel", "x.db")); err != nil {
		t.Fatalf("relative database not created where asked: %v", err)
	}
	mem, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	if _, err := mem.CreateModelVersion(ctx, mlops.ModelVersionCreate{Name: "m", Source: "s"}); err != nil {
		t.Fatal(err)
	}
}
