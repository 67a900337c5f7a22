package sweeptest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/sweep"
	"github.com/housing-mlops/mlops/tune"
)

// testSingleAgent: one agent claims, runs and completes trials one at a
// time, so trial i sees every earlier trial, as tune.Run with parallelism
// 1 does; the TPE proposals must be identical.
func testSingleAgent(t *testing.T, e Env) {
	q := e.Queue
	const n = 14 // past TPE's 10 random startup trials
	id, cfg := create(t, q, QuadSweep, n, 42)
	a := &sweep.Agent{Queue: q, Worker: "solo", Objective: QuadObjective, Lease: 10 * time.Second}
	check(t, a.Run(ctx, id))
	want, err := tune.Run(ctx, cfg, n, 1, 42, QuadObjective, tune.Callbacks{})
	check(t, err)
	got := trials(t, q, id)
	if len(got) != n {
		t.Fatalf("%d trials stored, want %d", len(got), n)
	}
	for i, tr := range got {
		if !reflect.DeepEqual(tr.Params, want.Trials[i].Params) || tr.Metric != want.Trials[i].Metric {
			t.Fatalf("trial %d: agent %v → %v, tune.Run %v → %v", i, tr.Params, tr.Metric, want.Trials[i].Params, want.Trials[i].Metric)
		}
	}
	sw, err := q.Get(ctx, id)
	check(t, err)
	if sw.Status != sweep.SweepDone || sw.Finished.IsZero() {
		t.Fatalf("sweep status %q finished %v after the agent returned", sw.Status, sw.Finished)
	}
	if sum := sweep.Summarize(cfg, got); sum.Best != want.Best || sum.Counts[sweep.StatusDone] != n {
		t.Fatalf("summary %+v, tune.Run best %d", sum, want.Best)
	}
}

// testAgentsShareHyperband runs two agents on a grid sweep with Hyperband:
// stopped trials stop at a band with the band's metric, the others reach
// their full budget, and (with a tracker) every trial is a child run of
// the sweep's run.
func testAgentsShareHyperband(t *testing.T, e Env) {
	id, cfg := create(t, e.Queue, HBSweep, 0, 1)
	var runID string
	if e.Tracker != nil {
		runID = trackOnce(t, e, id)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for k := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := &sweep.Agent{Queue: e.Queue, Worker: fmt.Sprint("w", k), Objective: curveObjective, Lease: 5 * time.Second,
				Poll: 20 * time.Millisecond, Tracker: e.Tracker}
			errs[k] = a.Run(ctx, id)
		}()
	}
	wg.Wait()
	check(t, errors.Join(errs...))
	rows := trials(t, e.Queue, id)
	best := checkHyperbandTrials(t, cfg, rows)
	if e.Tracker != nil {
		checkTrialRuns(t, e.Tracker, id, runID, rows[best])
	}
}

// trackOnce tracks the sweep and checks it cannot be tracked twice.
func trackOnce(t *testing.T, e Env, id string) string {
	t.Helper()
	runID, err := sweep.Track(ctx, e.Queue, e.Tracker, id, "sweeps")
	check(t, err)
	if _, err := sweep.Track(ctx, e.Queue, e.Tracker, id, "sweeps"); err == nil {
		t.Error("a sweep was tracked twice")
	}
	sw, err := e.Queue.Get(ctx, id)
	check(t, err)
	if sw.RunID != runID || sw.ExperimentID == "" {
		t.Fatalf("tracked sweep has run %q experiment %q, want run %q", sw.RunID, sw.ExperimentID, runID)
	}
	return runID
}

// checkHyperbandTrials checks HBSweep's trials after the agents and
// returns the best one's position.
func checkHyperbandTrials(t *testing.T, cfg *tune.SweepConfig, rows []sweep.TrialRow) int {
	t.Helper()
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
	return sum.Best
}

// checkTrialRuns: nine finished child runs of the sweep's run, and the
// best trial's metric logged at each of its bands.
func checkTrialRuns(t *testing.T, tr mlops.Tracker, id, runID string, best sweep.TrialRow) {
	t.Helper()
	children, _, err := tr.SearchRuns(ctx, mlops.RunFilter{ParentID: runID, MaxResults: 100})
	check(t, err)
	if len(children) != 9 {
		t.Fatalf("%d child runs, want 9", len(children))
	}
	for _, c := range children {
		if c.Status != mlops.RunFinished || c.Tags[sweep.TagSweepID] != id {
			t.Errorf("child run %s: status %s tags %v", c.ID, c.Status, c.Tags)
		}
	}
	hist, err := tr.MetricHistory(ctx, best.RunID, "loss")
	check(t, err)
	if len(hist) != 3 || hist[0].Step != 10 || hist[2].Step != 90 {
		t.Errorf("best trial's loss history = %+v, want bands 10, 30 and 90", hist)
	}
}

// testAgentSurvivesBadTrials: an objective error and a panic fail their
// trials, not the agent, which goes on to finish the sweep.
func testAgentSurvivesBadTrials(t *testing.T, e Env) {
	id, _ := create(t, e.Queue, QuadSweep, 3, 1)
	obj := func(ctx context.Context, p map[string]any) (tune.Trial, error) {
		switch sweep.ClaimFromContext(ctx).Index {
		case 0:
			return nil, errors.New("boom")
		case 1:
			panic("kaput")
		}
		return FlatTrial{QuadLoss(p)}, nil
	}
	check(t, (&sweep.Agent{Queue: e.Queue, Objective: obj, Lease: 5 * time.Second}).Run(ctx, id))
	rows := trials(t, e.Queue, id)
	want := []struct{ status, err string }{{sweep.StatusFailed, "boom"}, {sweep.StatusFailed, "panic: kaput"}, {sweep.StatusDone, ""}}
	if len(rows) != len(want) {
		t.Fatalf("%d trials, want %d", len(rows), len(want))
	}
	for i, r := range rows {
		if r.Status != want[i].status || !strings.Contains(r.Error, want[i].err) || r.Worker != sweep.DefaultWorker() {
			t.Errorf("trial %d = %+v, want %s with error %q by %s", i, r, want[i].status, want[i].err, sweep.DefaultWorker())
		}
	}
}

// testAgentCancelled: cancelling the agent hands its trial back at once
// (queued), instead of leaving it to the lease.
func testAgentCancelled(t *testing.T, e Env) {
	id, _ := create(t, e.Queue, QuadSweep, 1, 1)
	cctx, cancel := context.WithCancel(ctx)
	obj := func(ctx context.Context, _ map[string]any) (tune.Trial, error) {
		cancel()
		<-ctx.Done()
		return nil, ctx.Err()
	}
	err := (&sweep.Agent{Queue: e.Queue, Worker: "w", Objective: obj, Lease: time.Minute}).Run(cctx, id)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if got := trials(t, e.Queue, id)[0]; got.Status != sweep.StatusQueued || !got.LeaseUntil.IsZero() {
		t.Fatalf("trial after cancel = %+v, want queued without a lease", got)
	}
}

// mutedHeartbeats passes every call to its Queue but drops heartbeats
// while muted, so that a live agent's lease runs out.
type mutedHeartbeats struct {
	sweep.Queue
	muted atomic.Bool
}

// Heartbeat does nothing while muted.
func (m *mutedHeartbeats) Heartbeat(ctx context.Context, c *sweep.Claim) error {
	if m.muted.Load() {
		return nil
	}
	return m.Queue.Heartbeat(ctx, c)
}

// testAgentLosesLease: when another worker takes over an expired trial,
// the first agent's next heartbeat fails, its trial is cancelled, its
// result would be refused, and it waits for the sweep to end.
func testAgentLosesLease(t *testing.T, e Env) {
	id, _ := create(t, e.Queue, QuadSweep, 1, 1)
	q := &mutedHeartbeats{Queue: e.Queue}
	q.muted.Store(true)
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
		done <- (&sweep.Agent{Queue: q, Worker: "slow", Objective: obj, Lease: 300 * time.Millisecond,
			Poll: 20 * time.Millisecond}).Run(ctx, id)
	}()
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("agent did not start its trial")
	}
	thief := waitClaim(t, e.Queue, id, "thief", time.Minute)
	q.muted.Store(false)
	check(t, e.Queue.Complete(ctx, thief, sweep.Result{Metric: 1}))
	select {
	case err := <-done:
		check(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("agent still running after the sweep finished")
	}
	want := trialHead{Status: sweep.StatusDone, Worker: "thief", Attempts: 2}
	if got := trials(t, e.Queue, id)[0]; calls.Load() != 1 || trialHeadOf(got) != want || got.Metric != 1 {
		t.Fatalf("objective calls %d, trial %+v; want 1 call and %+v with metric 1", calls.Load(), got, want)
	}
}
