package sweep_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/postgres"
	"github.com/housing-mlops/mlops/sweep"
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
	store, err := sweep.Open(ctx, dsn)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer store.Close()
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
		return flatTrial{quadLoss(p)}, nil
	}
	a := &sweep.Agent{Store: store, Worker: worker, Objective: obj, Lease: time.Second,
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
	dsn := freshSchema(t)
	store := openStore(t, dsn)
	tracker, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer tracker.Close()
	cfg := mustParse(t, quadSweep)
	const trials = 12
	id, err := store.Create(ctx, cfg, trials, 3, "")
	if err != nil {
		t.Fatal(err)
	}
	sweepRun, err := store.Track(ctx, tracker, id, "sweeps")
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
	checkStoredTrials(t, store, id, trials, killed)
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

func checkStoredTrials(t *testing.T, store *sweep.Store, id string, trials, killed int) {
	t.Helper()
	rows, err := store.Trials(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != trials {
		t.Fatalf("%d trials stored, want %d", len(rows), trials)
	}
	doneBy := map[string]int{}
	for i, r := range rows {
		if r.Index != i || r.Status != sweep.StatusDone || r.Metric != quadLoss(r.Params) || r.Metrics["loss"] != r.Metric {
			t.Errorf("trial %d = %+v; want done with metric %v", i, r, quadLoss(r.Params))
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
	sw, err := store.Get(context.Background(), id)
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

// TestAgentsShareHyperbandAndTracking runs two in-process agents on a grid
// sweep with Hyperband: stopped trials stop at a band with the band's
// metric, the others reach their full budget, and every trial is a child
// run of the sweep's run.
func TestAgentsShareHyperbandAndTracking(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	store := openStore(t, dsn)
	tracker, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer tracker.Close()
	cfg := mustParse(t, hbSweep)
	id, err := store.Create(ctx, cfg, 0, 1, "curve")
	if err != nil {
		t.Fatal(err)
	}
	runID, err := store.Track(ctx, tracker, id, "sweeps")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Track(ctx, tracker, id, "sweeps"); err == nil {
		t.Error("a sweep was tracked twice")
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for k := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := &sweep.Agent{Store: store, Worker: fmt.Sprint("w", k), Objective: curveObjective, Lease: 5 * time.Second,
				Poll: 20 * time.Millisecond, Tracker: tracker}
			errs[k] = a.Run(ctx, id)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	rows, err := store.Trials(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	stopped := 0
	for _, r := range rows {
		q := float64(r.Params["quality"].(int))
		switch r.Status {
		case sweep.StatusStopped:
			stopped++
			if (r.Budget != 10 && r.Budget != 30) || r.Metric != q+10/float64(r.Budget) {
				t.Errorf("stopped trial %d: budget %d metric %v", r.Index, r.Budget, r.Metric)
			}
		case sweep.StatusDone:
			if r.Budget != 90 || r.Metric != q+10.0/90 || r.Metrics["quality"] != q {
				t.Errorf("done trial %d: budget %d metric %v metrics %v", r.Index, r.Budget, r.Metric, r.Metrics)
			}
		default:
			t.Errorf("trial %d is %s", r.Index, r.Status)
		}
	}
	if stopped == 0 || stopped == len(rows) || len(rows) != 9 {
		t.Fatalf("%d of %d trials stopped; want some but not all of 9", stopped, len(rows))
	}
	// The best quality (1) is never cut: it is the best at every band.
	sum := sweep.Summarize(cfg, rows)
	if best := rows[sum.Best]; best.Params["quality"] != 1 || best.Status != sweep.StatusDone {
		t.Errorf("best trial = %+v, want quality 1 run to the end", best)
	}
	children, _, err := tracker.SearchRuns(ctx, mlops.RunFilter{ParentID: runID, MaxResults: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(children) != 9 {
		t.Fatalf("%d child runs, want 9", len(children))
	}
	for _, c := range children {
		if c.Status != mlops.RunFinished || c.Tags[sweep.TagSweepID] != id {
			t.Errorf("child run %s: status %s tags %v", c.ID, c.Status, c.Tags)
		}
	}
	hist, err := tracker.MetricHistory(ctx, rows[sum.Best].RunID, "loss")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 3 || hist[0].Step != 10 || hist[2].Step != 90 {
		t.Errorf("best trial's loss history = %+v, want bands 10, 30 and 90", hist)
	}
}

// TestAgentSurvivesBadTrials: an objective error and a panic fail their
// trials, not the agent, which goes on to finish the sweep.
func TestAgentSurvivesBadTrials(t *testing.T) {
	ctx := context.Background()
	store := openStore(t, freshSchema(t))
	id, err := store.Create(ctx, mustParse(t, quadSweep), 3, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	obj := func(ctx context.Context, p map[string]any) (tune.Trial, error) {
		switch sweep.ClaimFromContext(ctx).Index {
		case 0:
			return nil, errors.New("boom")
		case 1:
			panic("kaput")
		}
		return flatTrial{quadLoss(p)}, nil
	}
	if err := (&sweep.Agent{Store: store, Objective: obj, Lease: 5 * time.Second}).Run(ctx, id); err != nil {
		t.Fatal(err)
	}
	rows, err := store.Trials(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if rows[0].Status != sweep.StatusFailed || !strings.Contains(rows[0].Error, "boom") ||
		rows[1].Status != sweep.StatusFailed || !strings.Contains(rows[1].Error, "panic: kaput") ||
		rows[2].Status != sweep.StatusDone || rows[2].Worker != sweep.DefaultWorker() {
		t.Fatalf("trials = %+v", rows)
	}
}

// TestAgentCancelledReleasesItsTrial: cancelling the agent hands its trial
// back at once (queued), instead of leaving it to the lease.
func TestAgentCancelledReleasesItsTrial(t *testing.T) {
	store := openStore(t, freshSchema(t))
	id, err := store.Create(context.Background(), mustParse(t, quadSweep), 1, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	obj := func(ctx context.Context, _ map[string]any) (tune.Trial, error) {
		cancel()
		<-ctx.Done()
		return nil, ctx.Err()
	}
	err = (&sweep.Agent{Store: store, Worker: "w", Objective: obj, Lease: time.Minute}).Run(ctx, id)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	rows, err := store.Trials(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if rows[0].Status != sweep.StatusQueued || !rows[0].LeaseUntil.IsZero() {
		t.Fatalf("trial after cancel = %+v, want queued without a lease", rows[0])
	}
}

// TestAgentThatLosesItsLeaseGivesUp: when another worker takes over an
// expired trial, the first agent's heartbeat fails, its trial is
// cancelled, its result would be refused, and it waits for the sweep to end.
func TestAgentThatLosesItsLeaseGivesUp(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	store := openStore(t, dsn)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	id, err := store.Create(ctx, mustParse(t, quadSweep), 1, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{}, 1)
	var calls atomic.Int32
	obj := func(ctx context.Context, _ map[string]any) (tune.Trial, error) {
		calls.Add(1)
		started <- struct{}{}
		<-ctx.Done() // until the heartbeat finds the lease lost
		return nil, ctx.Err()
	}
	done := make(chan error, 1)
	go func() {
		done <- (&sweep.Agent{Store: store, Worker: "slow", Objective: obj, Lease: 300 * time.Millisecond,
			Poll: 20 * time.Millisecond}).Run(ctx, id)
	}()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("agent did not start its trial")
	}
	// Expire the lease by hand (the heartbeat may renew it in between:
	// retry) and take the trial over.
	var thief *sweep.Claim
	deadline := time.Now().Add(10 * time.Second)
	for thief == nil {
		if _, err := db.ExecContext(ctx, `UPDATE sweep_trials SET lease_until = now() - interval '1 second'`); err != nil {
			t.Fatal(err)
		}
		thief, err = store.Claim(ctx, id, "thief", time.Minute)
		if (err != nil && !errors.Is(err, sweep.ErrNoTrial)) || time.Now().After(deadline) {
			t.Fatalf("takeover: %v", err)
		}
	}
	if err := store.Complete(ctx, thief, sweep.Result{Metric: 1}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("agent: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("agent still running after the sweep finished")
	}
	rows, err := store.Trials(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 || rows[0].Worker != "thief" || rows[0].Attempts != 2 || rows[0].Metric != 1 {
		t.Fatalf("objective calls %d, trial %+v", calls.Load(), rows[0])
	}
}
