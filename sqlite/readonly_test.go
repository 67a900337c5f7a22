package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/sqlite"
)

// seed writes a database with one experiment, one run and version 1 of
// model m aliased @champion, then closes it, as the pipeline would.
func seed(t *testing.T, path string) (runID string) {
	t.Helper()
	ctx := context.Background()
	w, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := w.CreateExperiment(ctx, "e", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	run, err := w.CreateRun(ctx, mlops.RunCreate{ExperimentID: exp.ID, Name: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.CreateModelVersion(ctx, mlops.ModelVersionCreate{Name: "m", Source: "s1"}); err != nil {
		t.Fatal(err)
	}
	if err := w.SetAlias(ctx, "m", "champion", 1, mlops.Actor{By: "t"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return run.ID
}

// journalByte returns byte 18 of the database header: 1 for a rollback
// journal, 2 for WAL.
func journalByte(t *testing.T, path string) byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 100 {
		t.Fatalf("read header of %s: %v", path, err)
	}
	return b[18]
}

// siblings lists the files of dir other than the database itself.
func siblings(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.Name() != "mlops.db" {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestCloseLeavesRollbackJournal: a database no one has open is one file in
// rollback mode, which a reader on a read-only volume can open; while two
// writers are open, the first to close leaves WAL mode to the second.
func TestCloseLeavesRollbackJournal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "mlops.db")
	a, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateModelVersion(ctx, mlops.ModelVersionCreate{Name: "m", Source: "s"}); err != nil {
		t.Fatal(err)
	}
	if journalByte(t, path) != 2 {
		t.Fatal("an open writer is not in WAL mode")
	}
	if err := a.Close(); err != nil {
		t.Fatalf("close while another writer is open: %v", err)
	}
	if journalByte(t, path) != 2 {
		t.Fatal("the first writer to close switched the file out of WAL under the second")
	}
	if _, err := b.CreateModelVersion(ctx, mlops.ModelVersionCreate{Name: "m", Source: "s"}); err != nil {
		t.Fatalf("second writer after the first closed: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := journalByte(t, path); got != 1 {
		t.Fatalf("after the last writer closed the header says journal format %d, want 1 (rollback)", got)
	}
	if s := siblings(t, dir); len(s) != 0 {
		t.Fatalf("files left beside the database: %v", s)
	}
}

// TestReadOnlyReadsAndRefusesWrites opens a database the writer left, reads
// everything through the store, checks that every write fails with an
// error saying the store is read-only and naming the file, and that
// nothing was created beside the database.
func TestReadOnlyReadsAndRefusesWrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "mlops.db")
	runID := seed(t, path)
	r, err := sqlite.OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.ReadOnly() {
		t.Fatal("ReadOnly() is false")
	}
	mv, err := r.GetModelVersionByAlias(ctx, "m", "champion")
	if err != nil || mv.Version != 1 || mv.Source != "s1" {
		t.Fatalf("read alias: %+v %v", mv, err)
	}
	if _, err := r.GetRun(ctx, runID); err != nil {
		t.Fatalf("read run: %v", err)
	}
	if _, err := r.LatestVersions(ctx, "m"); err != nil {
		t.Fatalf("latest versions: %v", err)
	}
	a := mlops.Actor{By: "t"}
	writes := map[string]func() error{
		"CreateExperiment": func() error { _, err := r.CreateExperiment(ctx, "x", "", nil); return err },
		"SetExperimentTag": func() error { return r.SetExperimentTag(ctx, "1", "k", "v") },
		"CreateRun":        func() error { _, err := r.CreateRun(ctx, mlops.RunCreate{ExperimentID: "1"}); return err },
		"UpdateRun":        func() error { _, err := r.UpdateRun(ctx, runID, mlops.RunUpdate{Name: "n"}); return err },
		"DeleteRun":        func() error { return r.DeleteRun(ctx, runID) },
		"LogBatch":         func() error { return r.LogBatch(ctx, runID, []mlops.Metric{{Key: "k", Value: 1}}, nil, nil) },
		"CreateModelVersion": func() error {
			_, err := r.CreateModelVersion(ctx, mlops.ModelVersionCreate{Name: "m", Source: "s"})
			return err
		},
		"UpdateModelVersion":  func() error { _, err := r.UpdateModelVersion(ctx, "m", 1, "d"); return err },
		"SetModelVersionTag":  func() error { return r.SetModelVersionTag(ctx, "m", 1, "k", "v") },
		"SetRegisteredTag":    func() error { return r.SetRegisteredModelTag(ctx, "m", "k", "v") },
		"TransitionStage":     func() error { _, err := r.TransitionStage(ctx, "m", 1, mlops.StageProduction, true, a); return err },
		"SetAlias":            func() error { return r.SetAlias(ctx, "m", "canary", 1, a) },
		"DeleteAlias":         func() error { return r.DeleteAlias(ctx, "m", "champion", a) },
		"DeleteModelVersion":  func() error { return r.DeleteModelVersion(ctx, "m", 1) },
		"RenameRegisteredMod": func() error { _, err := r.RenameRegisteredModel(ctx, "m", "n"); return err },
	}
	for name, write := range writes {
		err := write()
		if err == nil {
			t.Errorf("%s succeeded on a read-only store", name)
			continue
		}
		if mlops.ErrorCode(err) != mlops.ECONFLICT || !strings.Contains(err.Error(), "read-only") || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q (code %s), want an ECONFLICT saying %s is read-only", name, err, mlops.ErrorCode(err), path)
		}
	}
	if mv, err := r.GetModelVersionByAlias(ctx, "m", "champion"); err != nil || mv.Version != 1 {
		t.Fatalf("after refused writes: %+v %v", mv, err)
	}
	if s := siblings(t, dir); len(s) != 0 {
		t.Fatalf("a read-only store created %v beside the database", s)
	}
	if got := journalByte(t, path); got != 1 {
		t.Fatalf("journal format %d after read-only use, want 1", got)
	}
}

// TestReadOnlySeesLaterWrites: versions and aliases a writer commits after
// the read-only open are visible, both while the writer has the file in
// WAL mode and after it closed; a reader opened while the writer is open
// works too.
func TestReadOnlySeesLaterWrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "mlops.db")
	seed(t, path)
	r, err := sqlite.OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	champion := func(r *sqlite.DB) int {
		t.Helper()
		mv, err := r.GetModelVersionByAlias(ctx, "m", "champion")
		if err != nil {
			t.Fatalf("read @champion: %v", err)
		}
		return mv.Version
	}
	if v := champion(r); v != 1 {
		t.Fatalf("@champion = %d, want 1", v)
	}
	w, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("writer opening while a read-only reader is open: %v", err)
	}
	for want := 2; want <= 3; want++ {
		if _, err := w.CreateModelVersion(ctx, mlops.ModelVersionCreate{Name: "m", Source: "s"}); err != nil {
			t.Fatal(err)
		}
		if err := w.SetAlias(ctx, "m", "champion", want, mlops.Actor{By: "t"}); err != nil {
			t.Fatal(err)
		}
		if v := champion(r); v != want {
			t.Fatalf("reader sees @champion = %d while the writer is open, want %d", v, want)
		}
	}
	late, err := sqlite.OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatalf("read-only open while a writer has the file in WAL mode: %v", err)
	}
	defer late.Close()
	if v := champion(late); v != 3 {
		t.Fatalf("late reader sees @champion = %d, want 3", v)
	}
	if err := w.DeleteAlias(ctx, "m", "champion", mlops.Actor{By: "t"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, rd := range []*sqlite.DB{r, late} {
		if _, err := rd.GetModelVersionByAlias(ctx, "m", "champion"); mlops.ErrorCode(err) != mlops.ENOTFOUND {
			t.Fatalf("deleted alias: err %v, want ENOTFOUND", err)
		}
		if vs, err := rd.SearchModelVersions(ctx, "m"); err != nil || len(vs) != 3 {
			t.Fatalf("versions after the writer closed: %d %v", len(vs), err)
		}
	}
}

func TestOpenReadOnlyErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.db")
	if _, err := sqlite.OpenReadOnly(ctx, missing); mlops.ErrorCode(err) != mlops.ENOTFOUND || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("OpenReadOnly created the missing database")
	}
	for _, p := range []string{"", ":memory:"} {
		if _, err := sqlite.OpenReadOnly(ctx, p); mlops.ErrorCode(err) != mlops.EINVALID {
			t.Errorf("path %q: %v, want EINVALID", p, err)
		}
	}

	path := filepath.Join(dir, "mlops.db")
	seed(t, path)
	setVersion := func(v int) {
		t.Helper()
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(`DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES (?)`, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		version int
		want    string
	}{{0, "older"}, {999, "newer"}} {
		setVersion(tc.version)
		_, err := sqlite.OpenReadOnly(ctx, path)
		if mlops.ErrorCode(err) != mlops.ECONFLICT || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("schema version %d: %v, want an ECONFLICT naming the file and saying %q", tc.version, err, tc.want)
		}
	}

	other := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE t (x)`); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	if _, err := sqlite.OpenReadOnly(ctx, other); err == nil || !strings.Contains(err.Error(), "not an mlops database") {
		t.Errorf("foreign database: %v", err)
	}
}

// TestReadOnlyLegacyWALFile: a WAL-mode file whose -shm is gone (left by
// another tool) cannot be read without writing beside it; the error says
// so and how to repair it, and a read-write open repairs it.
func TestReadOnlyLegacyWALFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "mlops.db")
	seed(t, path)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode = WAL`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("switch to WAL: %q %v", mode, err)
	}
	_ = db.Close()
	if _, err := sqlite.OpenReadOnly(ctx, path); err == nil || !strings.Contains(err.Error(), "WAL mode") || !strings.Contains(err.Error(), path) {
		t.Fatalf("legacy WAL file: %v, want an error explaining the WAL state", err)
	}
	w, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := sqlite.OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatalf("after a read-write open: %v", err)
	}
	_ = r.Close()
}

// envUnwritableChild makes the test binary act as the reader of
// TestReadOnlyUnwritableDirectory, under another user.
const envUnwritableChild = "MLOPS_SQLITE_TEST_UNWRITABLE_DB"

// TestReadOnlyUnwritableDirectory opens the store from a directory and a
// file the process cannot write. Permission bits do not stop root, so as
// root the reader runs in a child process under the nobody user.
func TestReadOnlyUnwritableDirectory(t *testing.T) {
	if p := os.Getenv(envUnwritableChild); p != "" {
		readUnwritable(t, p)
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "mlops.db")
	seed(t, path)
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o755) })
	if os.Geteuid() != 0 {
		readUnwritable(t, path)
		return
	}
	// The test's temporary directories are private to root: let the
	// child through to the database.
	for d := filepath.Dir(dir); strings.HasPrefix(d, os.TempDir()) && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// go test keeps its binary in a private directory: run a copy.
	bin := filepath.Join(t.TempDir(), "sqlite.test")
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestReadOnlyUnwritableDirectory$", "-test.v")
	cmd.Env = append(os.Environ(), envUnwritableChild+"="+path, "HOME=/")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "permission denied") && !strings.Contains(string(out), "--- FAIL") {
			t.Skipf("cannot run the test binary as nobody: %v: %s", err, out)
		}
		t.Fatalf("reader as nobody: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestReadOnlyUnwritableDirectory") {
		t.Fatalf("the child did not run the reader:\n%s", out)
	}
	if s := siblings(t, dir); len(s) != 0 {
		t.Fatalf("files created beside the database: %v", s)
	}
}

// readUnwritable is the reader side of TestReadOnlyUnwritableDirectory.
func readUnwritable(t *testing.T, path string) {
	ctx := context.Background()
	if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
		_ = f.Close()
		t.Fatalf("%s is writable by uid %d: the test proves nothing", path, os.Geteuid())
	}
	if _, err := sqlite.Open(ctx, path); err == nil {
		t.Fatal("a read-write open of an unwritable database succeeded")
	}
	r, err := sqlite.OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if mv, err := r.GetModelVersionByAlias(ctx, "m", "champion"); err != nil || mv.Version != 1 {
		t.Fatalf("read: %+v %v", mv, err)
	}
	if err := r.SetAlias(ctx, "m", "x", 1, mlops.Actor{By: "t"}); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("write: %v", err)
	}
	if vs, err := r.SearchModelVersions(ctx, "m"); err != nil || !slices.ContainsFunc(vs, func(v *mlops.ModelVersion) bool { return v.Version == 1 }) {
		t.Fatalf("search: %v %v", vs, err)
	}
}
