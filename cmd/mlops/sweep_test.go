package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops/internal/pgtest"
)

// tinyForestSweep keeps forests small so CLI tests run in a second.
const tinyForestSweep = `
method: bayes
metric: {name: wmape, goal: minimize}
parameters:
  n_estimators: {min: 6, max: 20}
  max_depth: {min: 2, max: 8}
  max_features: {values: [sqrt, log2]}
early_terminate: {type: hyperband, min_iter: 3, eta: 3}
`

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBenchSweepJSON runs the harness reduced to a few trials. Up to ten
// trials TPE draws its random startup from the same streams as random
// search, so the two must agree exactly; Hyperband must not grow more
// trees than its unstopped trials would have.
func TestBenchSweepJSON(t *testing.T) {
	cfg := writeFile(t, "sweep.yaml", tinyForestSweep)
	splitOut := filepath.Join(t.TempDir(), "rows.json")
	rep := benchSweepJSON(t, "--config", cfg, "--rows", "500", "--trials", "4", "--seeds", "2",
		"--checkpoints", "2,9", "--split-out", splitOut)
	checkSweepRows(t, splitOut, 500)
	if len(rep.Runs) != 6 || len(rep.Summary) != 3 || fmt.Sprint(rep.Checkpoints) != "[2 4]" {
		t.Fatalf("runs %d, summary %d, checkpoints %v", len(rep.Runs), len(rep.Summary), rep.Checkpoints)
	}
	for i := 0; i < len(rep.Runs); i += 3 {
		rnd, tpe, hb := rep.Runs[i], rep.Runs[i+1], rep.Runs[i+2]
		if rnd.Search != searchRandom || tpe.Search != searchTPE || hb.Search != searchTPEHB {
			t.Fatalf("run order %s %s %s", rnd.Search, tpe.Search, hb.Search)
		}
		if rnd.BestAt[4] != tpe.BestAt[4] || rnd.Trees != tpe.Trees {
			t.Errorf("seed %d: random %v/%d and TPE %v/%d differ inside the startup trials", rnd.Seed, rnd.BestAt, rnd.Trees, tpe.BestAt, tpe.Trees)
		}
		if hb.Trees > tpe.Trees || (hb.Stopped > 0) != (hb.Trees < tpe.Trees) {
			t.Errorf("seed %d: Hyperband grew %d trees with %d stops, TPE alone %d", hb.Seed, hb.Trees, hb.Stopped, tpe.Trees)
		}
		if !(rnd.BestAt[2] >= rnd.BestAt[4]) || rnd.Best != rnd.BestAt[4] {
			t.Errorf("seed %d: best so far %v, best %v", rnd.Seed, rnd.BestAt, rnd.Best)
		}
	}
	var out strings.Builder
	if err := printSweepBench(&out, rep); err != nil || !strings.Contains(out.String(), "tpe+hyperband") {
		t.Fatalf("table: %v\n%s", err, out.String())
	}
}

// TestBenchSweepSearchesAndProfile runs one search of the harness with a
// CPU profile, writes the random search's trials, and rejects an unknown
// search by name.
func TestBenchSweepSearchesAndProfile(t *testing.T) {
	cfg := writeFile(t, "sweep.yaml", tinyForestSweep)
	prof := filepath.Join(t.TempDir(), "cpu.prof")
	rep := benchSweepJSON(t, "--config", cfg, "--rows", "300", "--trials", "2", "--seeds", "1",
		"--searches", "tpe+hyperband", "--cpuprofile", prof)
	if len(rep.Runs) != 1 || rep.Runs[0].Search != searchTPEHB || len(rep.Summary) != 1 {
		t.Fatalf("runs %+v, summary %+v", rep.Runs, rep.Summary)
	}
	checkProfile(t, prof)
	trials := filepath.Join(t.TempDir(), "trials.json")
	r := runCLI(t, "bench", "sweep", "--config", cfg, "--rows", "300", "--trials", "3", "--seeds", "1",
		"--searches", "random", "--trials-out", trials)
	var params []map[string]any
	if b, err := os.ReadFile(trials); r.code != 0 || err != nil || json.Unmarshal(b, &params) != nil || len(params) != 3 {
		t.Fatalf("--trials-out: exit %d, %v, %v\n%s", r.code, err, params, r.stderr)
	}
	if _, ok := params[0]["n_estimators"]; !ok {
		t.Errorf("trial parameters %v lack n_estimators", params[0])
	}
	r = runCLI(t, "bench", "sweep", "--config", cfg, "--searches", "random,grid")
	if r.code != 2 || !strings.Contains(r.stderr, `unknown search "grid"`) {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
}

// benchSweepJSON runs `mlops bench sweep ARGS --json`, which must succeed,
// and returns its report.
func benchSweepJSON(t *testing.T, args ...string) sweepBenchReport {
	t.Helper()
	r := runCLI(t, append(append([]string{"bench", "sweep"}, args...), "--json")...)
	if r.code != 0 {
		t.Fatalf("bench sweep: exit %d\n%s", r.code, r.stderr)
	}
	var rep sweepBenchReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	return rep
}

// checkSweepRows checks the --split-out file: disjoint fit, validation and
// test parts of the sampled data rows, 64/16/20 %.
func checkSweepRows(t *testing.T, path string, rows int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sr sweepRows
	if err := json.Unmarshal(b, &sr); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(sr.Fit) != 320 || len(sr.Validation) != 80 || len(sr.Test) != 100 {
		t.Fatalf("parts of %d, %d and %d rows, want 320, 80 and 100", len(sr.Fit), len(sr.Validation), len(sr.Test))
	}
	seen := map[int]bool{}
	for _, part := range [][]int{sr.Fit, sr.Validation, sr.Test} {
		for _, i := range part {
			if seen[i] || i < 0 || i >= 20640 {
				t.Fatalf("row %d is repeated or not a data row", i)
			}
			seen[i] = true
		}
	}
	if len(seen) != rows {
		t.Fatalf("%d rows in all, want %d", len(seen), rows)
	}
}

func TestSweepUsageErrors(t *testing.T) {
	t.Setenv(envTrackingURI, "")
	for _, args := range [][]string{
		{"sweep"},
		{"sweep", "nope"},
		{"sweep", "create", "--store", "sqlite:///tmp/x.db"},
		{"sweep", "agent", "--store", "postgres://x"},
		{"sweep", "agent", "a", "b", "--store", "postgres://x"},
		{"sweep", "agent", "a", "--lease", "10ms", "--store", "postgres://x"},
		{"sweep", "status"},
		{"sweep", "create", "--store", "postgres://x", "--family", "svm"},
	} {
		if r := runCLI(t, args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", args, r.code, r.stderr)
		}
	}
}

// TestSweepCLIAgainstPostgres creates a sweep, works it with two agents
// and reads its status, through the CLI.
func TestSweepCLIAgainstPostgres(t *testing.T) {
	uri := pgtest.FreshSchema(t, "the distributed sweep CLI")
	cfg := writeFile(t, "sweep.yaml", tinyForestSweep)
	r := runCLI(t, "sweep", "create", "--store", uri, "--config", cfg, "--trials", "5", "--seed", "3")
	id := strings.TrimSpace(r.stdout)
	if r.code != 0 || len(id) != 12 {
		t.Fatalf("create: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	// Agent one stops after two trials; agent two finishes the sweep.
	r = runCLI(t, "sweep", "agent", id, "--store", uri, "--worker", "one", "--count", "2", "--rows", "400", "--workers", "1")
	if r.code != 0 {
		t.Fatalf("agent one: exit %d\n%s", r.code, r.stderr)
	}
	r = runCLI(t, "sweep", "agent", "--store", uri, "--worker", "two", "--rows", "400", "--workers", "1", id)
	if r.code != 0 || !strings.Contains(r.stdout, "done with sweep "+id) {
		t.Fatalf("agent two: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "sweep", "status", id, "--store", uri, "--json")
	var st sweepStatusJSON
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || r.code != 0 {
		t.Fatalf("status: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	byWorker := map[string]int{}
	for _, tr := range st.Trials {
		byWorker[tr.Worker]++
		if (tr.Status != "done" && tr.Status != "stopped") || tr.Metric == nil || tr.RunID == "" {
			t.Errorf("trial %+v not finished with a metric and a run", tr)
		}
	}
	if st.Status != "done" || len(st.Trials) != 5 || byWorker["one"] != 2 || byWorker["two"] != 3 || st.Best == nil || st.RunID == "" {
		t.Fatalf("status = %+v (by worker %v)", st, byWorker)
	}
	r = runCLI(t, "sweep", "status", id, "--store", uri)
	if r.code != 0 || !strings.Contains(r.stdout, "best: trial") {
		t.Fatalf("status table: exit %d\n%s", r.code, r.stdout)
	}
	r = runCLI(t, "runs", "list", "--parent", st.RunID, "--store", uri)
	if r.code != 0 || strings.Count(r.stdout, "trial-0") != 5 {
		t.Fatalf("child runs: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
