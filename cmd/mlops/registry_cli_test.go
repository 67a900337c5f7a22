package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/housing-mlops/mlops/internal/pgtest"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/sqlite"
)

// cliResult is what one mlops invocation produced.
type cliResult struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	code := execute(context.Background(), args, &out, &errb)
	return cliResult{code, out.String(), errb.String()}
}

// seeded holds the ids of the runs a seeded home contains.
type seeded struct {
	linear, forest, fold string
}

// seedHome points MLOPS_HOME at a temp dir and fills its default store
// through the sqlite package: two runs with params and metrics, a child
// run, and a model with three versions, v2 in Production after v1.
func seedHome(t *testing.T) seeded {
	t.Helper()
	home := t.TempDir()
	t.Setenv(envHome, home)
	t.Setenv(envTrackingURI, "")
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(home, "mlops.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustDo := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	exp, err := db.CreateExperiment(ctx, "housing", "", nil)
	mustDo(err)
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	mk := func(name, parent string, start time.Time, rmse float64, model string) string {
		r, err := db.CreateRun(ctx, mlops.RunCreate{ExperimentID: exp.ID, Name: name, ParentID: parent, StartTime: start})
		mustDo(err)
		mustDo(db.LogBatch(ctx, r.ID, []mlops.Metric{{Key: "rmse", Value: rmse}, {Key: "r2", Value: 0.8}},
			[]mlops.Param{{Key: "model", Value: model}, {Key: "seed", Value: "42"}}, nil))
		_, err = db.UpdateRun(ctx, r.ID, mlops.RunUpdate{Status: mlops.RunFinished, EndTime: start.Add(75 * time.Second)})
		mustDo(err)
		return r.ID
	}
	s := seeded{}
	s.linear = mk("linear", "", t0, 68000, "linear")
	s.forest = mk("forest", "", t0.Add(time.Minute), 49000, "forest")
	s.fold = mk("fold-1", s.forest, t0.Add(2*time.Minute), 50000, "forest")
	for i := 1; i <= 3; i++ {
		_, err := db.CreateModelVersion(ctx, mlops.ModelVersionCreate{Name: "housing", Source: "file:///m/" + string(rune('0'+i)), RunID: s.forest, SHA256: strings.Repeat("ab", 32)})
		mustDo(err)
	}
	_, err = db.TransitionStage(ctx, "housing", 1, mlops.StageProduction, true, mlops.Actor{By: "seed", Reason: "first"})
	mustDo(err)
	_, err = db.TransitionStage(ctx, "housing", 2, mlops.StageProduction, true, mlops.Actor{By: "seed", Reason: "better"})
	mustDo(err)
	return s
}

func TestRunsListTableAndJSON(t *testing.T) {
	s := seedHome(t)
	r := runCLI(t, "runs", "list")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "RUN ID") || !strings.Contains(lines[0], "RMSE") {
		t.Fatalf("table:\n%s", r.stdout)
	}
	// Newest first, aligned: every row's NAME column starts where the header's does.
	col := strings.Index(lines[0], "NAME")
	for i, name := range []string{"fold-1", "forest", "linear"} {
		if !strings.HasPrefix(lines[i+1][col:], name) {
			t.Fatalf("row %d = %q, want %s in the NAME column", i+1, lines[i+1], name)
		}
	}
	if !strings.Contains(lines[1], shortID(s.forest)) || !strings.Contains(lines[2], "1m15s") {
		t.Fatalf("parent or duration missing:\n%s", r.stdout)
	}

	r = runCLI(t, "runs", "list", "--json", "--filter", "metrics.rmse < 60000", "--order", "metrics.rmse ASC")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var runs []struct {
		ID      string `json:"run_id"`
		Name    string `json:"run_name"`
		Metrics []struct {
			Key   string  `json:"key"`
			Value float64 `json:"value"`
		} `json:"metrics"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &runs); err != nil {
		t.Fatalf("json: %v\n%s", err, r.stdout)
	}
	if len(runs) != 2 || runs[0].ID != s.forest || runs[1].Name != "fold-1" {
		t.Fatalf("filtered runs %+v", runs)
	}

	r = runCLI(t, "runs", "list", "--parent", s.forest[:8], "--json")
	if r.code != 0 || !strings.Contains(r.stdout, s.fold) || strings.Contains(r.stdout, s.linear) {
		t.Fatalf("--parent: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "runs", "list", "--max", "2")
	if r.code != 0 || !strings.Contains(r.stdout, "first 2 runs shown") || strings.Contains(r.stdout, "linear") {
		t.Fatalf("--max 2: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "runs", "list", "--experiment", "Default")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "no runs" {
		t.Fatalf("Default experiment: exit %d %q", r.code, r.stdout)
	}
}

func TestRunsListErrors(t *testing.T) {
	seedHome(t)
	r := runCLI(t, "runs", "list", "--filter", "metrics.rmse ~ 3")
	if r.code != 1 || !strings.Contains(r.stderr, "invalid filter") {
		t.Fatalf("bad filter: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCLI(t, "runs", "list", "--experiment", "nope")
	if r.code != 1 || !strings.Contains(r.stderr, `experiment "nope" not found`) {
		t.Fatalf("unknown experiment: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCLI(t, "runs", "list", "--bogus")
	if r.code != 2 || !strings.Contains(r.stderr, "flag provided but not defined") {
		t.Fatalf("bad flag: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCLI(t, "runs", "frobnicate")
	if r.code != 2 || !strings.Contains(r.stderr, `unknown subcommand "frobnicate"`) {
		t.Fatalf("bad subcommand: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCLI(t, "runs", "show", "0123456789abcdef")
	if r.code != 1 || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("unknown run: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestRunsShow(t *testing.T) {
	s := seedHome(t)
	r := runCLI(t, "runs", "show", s.forest[:10])
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"Run ID:", s.forest, "housing (1)", "FINISHED", "Params:", "model", "forest", "Metrics (latest):", "49000", "Child runs:", "fold-1"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("show output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runCLI(t, "runs", "show", "--json", s.forest)
	var got struct {
		ID       string            `json:"run_id"`
		Params   map[string]string `json:"params"`
		Children []string          `json:"children"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("json: %v\n%s", err, r.stdout)
	}
	if got.ID != s.forest || got.Params["model"] != "forest" || len(got.Children) != 1 || got.Children[0] != s.fold {
		t.Fatalf("show json %+v", got)
	}
	r = runCLI(t, "runs", "show")
	if r.code != 2 {
		t.Fatalf("show without id: exit %d", r.code)
	}
}

func TestRunsCompareMarksDifferences(t *testing.T) {
	s := seedHome(t)
	r := runCLI(t, "runs", "compare", s.linear, s.forest)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	lineOf := func(key string) string {
		for _, l := range strings.Split(r.stdout, "\n") {
			if f := strings.Fields(l); len(f) > 1 && (f[0] == key || f[1] == key) {
				return l
			}
		}
		t.Fatalf("no line for %s:\n%s", key, r.stdout)
		return ""
	}
	if l := lineOf("model"); !strings.HasPrefix(l, "*") || !strings.Contains(l, "linear") || !strings.Contains(l, "forest") {
		t.Fatalf("model line %q: want marked, both values", l)
	}
	if l := lineOf("seed"); strings.HasPrefix(l, "*") {
		t.Fatalf("seed line %q is marked but equal", l)
	}
	if l := lineOf("rmse"); !strings.HasPrefix(l, "*") || !strings.Contains(l, "-19000") {
		t.Fatalf("rmse line %q: want marked with delta -19000", l)
	}
	if !strings.Contains(r.stdout, "2 of 4 keys differ") {
		t.Fatalf("summary missing:\n%s", r.stdout)
	}
	r = runCLI(t, "runs", "compare", "--json", s.linear, s.forest)
	var got struct {
		Metrics []struct {
			Key     string   `json:"key"`
			Delta   *float64 `json:"delta"`
			Differs bool     `json:"differs"`
		} `json:"metrics"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("json: %v\n%s", err, r.stdout)
	}
	if len(got.Metrics) != 2 || got.Metrics[1].Key != "rmse" || *got.Metrics[1].Delta != -19000 || got.Metrics[0].Differs {
		t.Fatalf("compare json %+v", got.Metrics)
	}
	if r := runCLI(t, "runs", "compare", s.linear); r.code != 2 {
		t.Fatalf("compare with one run: exit %d", r.code)
	}
}

func TestModelsListAndShow(t *testing.T) {
	seedHome(t)
	r := runCLI(t, "models", "list")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("list:\n%s", r.stdout)
	}
	if f := strings.Fields(lines[1]); f[0] != "housing" || f[1] != "v3" || f[2] != "v2" || f[3] != "-" {
		t.Fatalf("row %q: want housing v3 (latest) v2 (Production) - (Staging)", lines[1])
	}
	r = runCLI(t, "models", "show", "housing")
	if r.code != 0 || !strings.Contains(r.stdout, "Versions:") || !strings.Contains(r.stdout, "Production") || !strings.Contains(r.stdout, "Archived") {
		t.Fatalf("show: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "models", "show", "housing", "2", "--json")
	var v mlops.ModelVersion
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Version != 2 || v.Stage != mlops.StageProduction {
		t.Fatalf("show version json: %v %+v\n%s", err, v, r.stdout)
	}
	r = runCLI(t, "models", "show", "nope")
	if r.code != 1 || !strings.Contains(r.stderr, `registered model "nope" not found`) {
		t.Fatalf("unknown model: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCLI(t, "models", "show", "housing", "9")
	if r.code != 1 || !strings.Contains(r.stderr, "has no version 9") {
		t.Fatalf("unknown version: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCLI(t, "models", "show", "housing", "two")
	if r.code != 2 || !strings.Contains(r.stderr, "invalid version") {
		t.Fatalf("bad version: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestModelsPromoteRollbackHistory(t *testing.T) {
	seedHome(t)
	r := runCLI(t, "models", "promote", "housing", "3", "--stage", "production", "--reason", "canary ok", "--by", "ana")
	if r.code != 0 || !strings.Contains(r.stdout, "housing v3 is now in Production") || !strings.Contains(r.stdout, "archived: v2") {
		t.Fatalf("promote: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "models", "promote", "housing", "3", "--alias", "champion", "--by", "ana")
	if r.code != 0 || !strings.Contains(r.stdout, "housing@champion now points at v3") {
		t.Fatalf("alias: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "models", "rollback", "housing", "--reason", "p99 latency", "--by", "oncall")
	if r.code != 0 || !strings.Contains(r.stdout, "housing Production rolled back: v3 -> v2") {
		t.Fatalf("rollback: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "models", "history", "housing")
	if r.code != 0 {
		t.Fatalf("history: exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	// seed: v1 None->Prod; v1 Prod->Arch, v2 None->Prod; promote: v2 Prod->Arch,
	// v3 None->Prod; alias; rollback: v3 Prod->Arch, v2 Arch->Prod.
	if len(lines) != 9 || !strings.HasPrefix(lines[0], "AT") {
		t.Fatalf("history has %d lines:\n%s", len(lines), r.stdout)
	}
	if l := lines[8]; !strings.Contains(l, "v2") || !strings.Contains(l, "Archived") || !strings.Contains(l, "Production") || !strings.Contains(l, "oncall") || !strings.Contains(l, "p99 latency") {
		t.Fatalf("last history line %q", l)
	}
	if l := lines[6]; !strings.Contains(l, "alias") || !strings.Contains(l, "champion") || !strings.Contains(l, "v3") {
		t.Fatalf("alias history line %q", l)
	}
	r = runCLI(t, "models", "history", "housing", "--json")
	var log []mlops.Transition
	if err := json.Unmarshal([]byte(r.stdout), &log); err != nil || len(log) != 8 || log[7].Reason != "p99 latency" {
		t.Fatalf("history json: %v %+v", err, log)
	}
	r = runCLI(t, "models", "rollback", "housing")
	if r.code != 0 || !strings.Contains(r.stdout, "v2 -> v1") {
		t.Fatalf("second rollback: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "models", "rollback", "housing")
	if r.code != 1 || !strings.Contains(r.stderr, "nothing to roll back to") {
		t.Fatalf("third rollback: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCLI(t, "models", "rollback", "housing", "--stage", "Staging")
	if r.code != 1 || !strings.Contains(r.stderr, "no version of model \"housing\" is in stage Staging") {
		t.Fatalf("rollback of empty stage: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestModelsUsageErrors(t *testing.T) {
	seedHome(t)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"models", "promote", "housing", "1"}, 2, "exactly one of --stage or --alias"},
		{[]string{"models", "promote", "housing", "1", "--stage", "Production", "--alias", "x"}, 2, "exactly one of --stage or --alias"},
		{[]string{"models", "promote", "housing", "1", "--stage", "Live"}, 2, "invalid stage"},
		{[]string{"models", "promote", "housing", "--stage", "Production"}, 2, "NAME VERSION"},
		{[]string{"models", "promote", "nope", "1", "--stage", "Production"}, 1, `registered model "nope" not found`},
		{[]string{"models", "promote", "housing", "1", "--alias", "latest"}, 1, "reserved"},
		{[]string{"models", "history", "nope"}, 1, `registered model "nope" not found`},
		{[]string{"models", "list", "--nope"}, 2, "flag provided but not defined"},
		{[]string{"models"}, 2, "missing subcommand"},
	} {
		r := runCLI(t, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, r.code, r.stderr, c.code, c.want)
		}
	}
}

func TestOpenStoreURIs(t *testing.T) {
	home := t.TempDir()
	t.Setenv(envHome, home)
	t.Setenv(envTrackingURI, "")
	ctx := context.Background()
	for _, uri := range []string{"", "sqlite://" + filepath.Join(home, "a.db"), filepath.Join(home, "b.db")} {
		st, err := openStore(ctx, uri)
		if err != nil {
			t.Fatalf("%q: %v", uri, err)
		}
		if _, err := st.GetExperiment(ctx, "0"); err != nil {
			t.Fatalf("%q: %v", uri, err)
		}
		_ = st.Close()
	}
	for _, f := range []string{"mlops.db", "a.db", "b.db"} {
		if _, err := os.Stat(filepath.Join(home, f)); err != nil {
			t.Fatalf("%s not created: %v", f, err)
		}
	}
	if _, err := openStore(ctx, "mysql://x"); mlops.ErrorCode(err) != mlops.EINVALID {
		t.Fatalf("mysql: %v, want EINVALID", err)
	}
	a, err := openArtifacts(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	info, err := a.Put(ctx, "x/y.txt", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "file://" + filepath.ToSlash(filepath.Join(home, "artifacts", "x", "y.txt")); info.URI != want {
		t.Fatalf("artifact URI %q, want %q", info.URI, want)
	}
	_ = a.Close()
	if homeDir() != home {
		t.Fatalf("homeDir %q, want %q", homeDir(), home)
	}
}

// TestPostgresStoreFlag drives the CLI against PostgreSQL through --store
// when a test server is configured (CI always has one).
func TestPostgresStoreFlag(t *testing.T) {
	ctx := context.Background()
	uri := pgtest.FreshSchema(t, "the PostgreSQL CLI path")
	st, err := openStore(ctx, uri)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := st.CreateModelVersion(ctx, mlops.ModelVersionCreate{Name: "pg-model", Source: "s"}); err != nil {
			t.Fatal(err)
		}
	}
	_ = st.Close()
	r := runCLI(t, "models", "promote", "pg-model", "2", "--stage", "Staging", "--store", uri)
	if r.code != 0 || !strings.Contains(r.stdout, "pg-model v2 is now in Staging") {
		t.Fatalf("promote on postgres: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "models", "list", "--store", uri)
	if f := strings.Fields(strings.Split(r.stdout, "\n")[1]); r.code != 0 || f[0] != "pg-model" || f[3] != "v2" {
		t.Fatalf("list on postgres: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
