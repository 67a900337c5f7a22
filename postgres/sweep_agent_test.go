package postgres_test

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/postgres"
	"github.com/housing-mlops/mlops/sweep"
	"github.com/housing-mlops/mlops/sweep/sweeptest"
	"github.com/housing-mlops/mlops/tune"
)

// Environment of the agent helper process.
const (
	envHelper = "MLOPS_SWEEP_TEST_AGENT" // set: TestHelperProcess runs an agent
	envDSN    = "MLOPS_SWEEP_TEST_DSN"
	envSweep  = "MLOPS_SWEEP_TEST_ID"
	envWorker = "MLOPS_SWEEP_TEST_WORKER"
	envGate   = "MLOPS_SWEEP_TEST_GATE"  // file whose existence releases the first trial
	envHang   = "MLOPS_SWEEP_TEST_BLOCK" // "1": the first trial never ends (the test kills the agent)
)

// TestHelperProcess is not a test: it is the agent main that
// TestThreeAgentProcessesSurviveAKill re-executes three times. Each trial
// prints "started INDEX ATTEMPT WORKER" on stdout before it works, so the
// test sees which process ran what.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(envHelper) == "" {
		t.Skip("agent helper process; run by TestThreeAgentProcessesSurviveAKill")
	}
	os.Exit(helperAgent())
}

func helperAgent() int {
	ctx := context.Background()
	dsn, worker := os.Getenv(envDSN), os.Getenv(envWorker)
	queue, err := postgres.OpenSweepQueue(ctx, dsn)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer queue.Close()
	tracker, err := postgres.Open(ctx, dsn)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer tracker.Close()
	var mu sync.Mutex
	first := true
	obj := func(ctx context.Context, p map[string]any) (tune.Trial, error) {
		c := sweep.ClaimFromContext(ctx)
		fmt.Printf("started %d %d %s\n", c.Index, c.Attempt, worker)
		mu.Lock()
		wasFirst := first
		first = false
		mu.Unlock()
		if wasFirst && os.Getenv(envHang) == "1" {
			<-ctx.Done() // until SIGKILL
			return nil, ctx.Err()
		}
		if err := waitForFile(ctx, os.Getenv(envGate)); err != nil {
			return nil, err
		}
		return sweeptest.FlatTrial{V: sweeptest.QuadLoss(p)}, nil
	}
	a := &sweep.Agent{Queue: queue, Worker: worker, Objective: obj, Lease: time.Second,
		Poll: 50 * time.Millisecond, Tracker: tracker}
	if err := a.Run(ctx, os.Getenv(envSweep)); err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		return 1
	}
	return 0
}

func waitForFile(ctx context.Context, path string) error {
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// agentProc is one helper process and the lines it printed.
type agentProc struct {
	name  string
	cmd   *exec.Cmd
	lines chan string
	err   *syncWriter // stderr
	done  chan error
}

func startAgent(t *testing.T, name, dsn, id, gate string, hang bool) *agentProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	env := []string{envHelper + "=1", envDSN + "=" + dsn, envSweep + "=" + id, envWorker + "=" + name, envGate + "=" + gate}
	if hang {
		env = append(env, envHang+"=1")
	}
	cmd.Env = append(os.Environ(), env...)
	p := &agentProc{name: name, cmd: cmd, lines: make(chan string, 100), done: make(chan error, 1), err: &syncWriter{}}
	cmd.Stderr = p.err
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return p
}

// syncWriter lets the exec package's copier and the test share a builder.
type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// started is one "started INDEX ATTEMPT WORKER" line.
type started struct {
	index, attempt int
	worker         string
}

func parseStarted(t *testing.T, line string) started {
	t.Helper()
	f := strings.Fields(line)
	if len(f) != 4 || f[0] != "started" {
		t.Fatalf("unexpected helper output %q", line)
	}
	i, err1 := strconv.Atoi(f[1])
	a, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil {
		t.Fatalf("unexpected helper output %q", line)
	}
	return started{i, a, f[3]}
}

// TestThreeAgentProcessesSurviveAKill runs a 12-trial sweep on three agent
// processes, SIGKILLs one in the middle of its trial, and checks that the
// killed trial is re-queued after its 1 s lease and finished by another
// agent: every index done exactly once, none lost, none run twice apart
// from the killed attempt, and every attempt tracked as a child run.
func TestThreeAgentProcessesSurviveAKill(t *testing.T) {
	ctx := context.Background()
	dsn := sweepSchema(t)
	queue := openSweepQueue(t, dsn)
	tracker := openTracker(t, dsn)
	const trials = 12
	id, err := sweep.Create(ctx, queue, sweeptest.MustParse(t, sweeptest.QuadSweep), trials, 3, "")
	if err != nil {
		t.Fatal(err)
	}
	sweepRun, err := sweep.Track(ctx, queue, tracker, id, "sweeps")
	if err != nil {
		t.Fatal(err)
	}
	gate := filepath.Join(t.TempDir(), "gate")
	procs := []*agentProc{startAgent(t, "a", dsn, id, gate, true), startAgent(t, "b", dsn, id, gate, false),
		startAgent(t, "c", dsn, id, gate, false)}

	// Phase 1: every agent is inside its first trial; kill a there.
	var starts []started
	firstOf := map[string]started{}
	deadline := time.After(60 * time.Second)
	for len(firstOf) < 3 {
		var line string
		var ok bool
		var p *agentProc
		select {
		case line, ok = <-procs[0].lines:
			p = procs[0]
		case line, ok = <-procs[1].lines:
			p = procs[1]
		case line, ok = <-procs[2].lines:
			p = procs[2]
		case <-deadline:
			t.Fatalf("agents did not all start a trial within 60 s; stderr a: %s b: %s c: %s",
				procs[0].err.String(), procs[1].err.String(), procs[2].err.String())
		}
		if !ok {
			t.Fatalf("agent %s exited before the kill: %v; stderr: %s", p.name, <-p.done, p.err.String())
		}
		s := parseStarted(t, line)
		starts = append(starts, s)
		firstOf[p.name] = s
	}
	if err := procs[0].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := firstOf["a"].index
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	// Phase 2: b and c finish the sweep, including a's trial.
	for _, p := range procs {
		for _, line := range collectUntilExit(t, p, 90*time.Second) {
			starts = append(starts, parseStarted(t, line))
		}
	}
	if err := <-procs[0].done; err == nil {
		t.Fatal("agent a exited cleanly; it should have been killed")
	}
	for _, p := range procs[1:] {
		if err := <-p.done; err != nil {
			t.Fatalf("agent %s: %v; stderr: %s", p.name, err, p.err.String())
		}
	}

	checkStarts(t, starts, trials, killed)
	checkStoredTrials(t, queue, id, trials, killed)
	checkTracking(t, tracker, sweepRun, trials, killed)
}

// collectUntilExit drains a process's lines until it exits, failing the
// test past the deadline.
func collectUntilExit(t *testing.T, p *agentProc, limit time.Duration) []string {
	t.Helper()
	var out []string
	deadline := time.After(limit)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				return out
			}
			out = append(out, line)
		case <-deadline:
			t.Fatalf("agent %s still running after %v; stderr: %s", p.name, limit, p.err.String())
		}
	}
}

// checkStarts: every index started once, except the killed one: by a
// (attempt 1), then by b or c (attempt 2).
func checkStarts(t *testing.T, starts []started, trials, killed int) {
	t.Helper()
	byIndex := map[int][]started{}
	workers := map[string]bool{}
	for _, s := range starts {
		byIndex[s.index] = append(byIndex[s.index], s)
		workers[s.worker] = true
	}
	for i := range trials {
		got := byIndex[i]
		if i == killed {
			if len(got) != 2 || got[0].worker != "a" || got[0].attempt != 1 || got[1].worker == "a" || got[1].attempt != 2 {
				t.Errorf("killed trial %d started as %+v; want a (attempt 1) then b or c (attempt 2)", i, got)
			}
			continue
		}
		if len(got) != 1 || got[0].attempt != 1 {
			t.Errorf("trial %d started %d times (%+v); want once", i, len(got), got)
		}
	}
	if len(byIndex) != trials {
		t.Errorf("trials started: %d distinct indexes, want %d", len(byIndex), trials)
	}
	if !workers["a"] || !workers["b"] || !workers["c"] {
		t.Errorf("workers that started trials: %v; want a, b and c", workers)
	}
}

func checkStoredTrials(t *testing.T, queue sweep.Queue, id string, trials, killed int) {
	t.Helper()
	rows, err := queue.Trials(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != trials {
		t.Fatalf("%d trials stored, want %d", len(rows), trials)
	}
	doneBy := map[string]int{}
	for i, r := range rows {
		if r.Index != i || r.Status != sweep.StatusDone || r.Metric != sweeptest.QuadLoss(r.Params) || r.Metrics["loss"] != r.Metric {
			t.Errorf("trial %d = %+v; want done with metric %v", i, r, sweeptest.QuadLoss(r.Params))
		}
		wantAttempts := 1
		if i == killed {
			wantAttempts = 2
		}
		if r.Attempts != wantAttempts {
			t.Errorf("trial %d: %d attempts, want %d", i, r.Attempts, wantAttempts)
		}
		doneBy[r.Worker]++
	}
	if doneBy["a"] != 0 || doneBy["b"] == 0 || doneBy["c"] == 0 {
		t.Errorf("trials finished per worker: %v; want b and c, not the killed a", doneBy)
	}
	sw, err := queue.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if sw.Status != sweep.SweepDone {
		t.Errorf("sweep status %q, want done", sw.Status)
	}
}

// checkTracking: one child run per attempt under the sweep's run, the
// killed attempt's marked failed, the sweep run finished with its best.
func checkTracking(t *testing.T, tracker mlops.Tracker, sweepRun string, trials, killed int) {
	t.Helper()
	ctx := context.Background()
	runs, _, err := tracker.SearchRuns(ctx, mlops.RunFilter{ParentID: sweepRun, MaxResults: 100})
	if err != nil {
		t.Fatal(err)
	}
	finished := map[string]int{}
	failed := map[string]int{}
	for _, r := range runs {
		switch r.Status {
		case mlops.RunFinished:
			finished[r.Tags[sweep.TagTrial]]++
		case mlops.RunFailed:
			failed[r.Tags[sweep.TagTrial]]++
		default:
			t.Errorf("child run %s (trial %s) is %s", r.ID, r.Tags[sweep.TagTrial], r.Status)
		}
	}
	for i := range trials {
		if finished[strconv.Itoa(i)] != 1 {
			t.Errorf("trial %d has %d finished runs, want 1", i, finished[strconv.Itoa(i)])
		}
	}
	if len(failed) != 1 || failed[strconv.Itoa(killed)] != 1 {
		t.Errorf("failed runs by trial: %v; want one, for the killed trial %d", failed, killed)
	}
	parent, err := tracker.GetRun(ctx, sweepRun)
	if err != nil {
		t.Fatal(err)
	}
	if parent.Status != mlops.RunFinished {
		t.Errorf("sweep run is %s, want FINISHED", parent.Status)
	}
	best := math.NaN()
	for _, m := range parent.Metrics {
		if m.Key == "best_loss" {
			best = m.Value
		}
	}
	if math.IsNaN(best) {
		t.Error("sweep run has no best_loss metric")
	}
}
