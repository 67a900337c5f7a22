package sweeptest

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/housing-mlops/mlops/sweep"
)

// sweepHead is the part of a stored sweep that Create and SetTracking set.
type sweepHead struct {
	ID, Name, Family, Status string
	Trials                   int
	Seed                     uint64
	ExperimentID, RunID      string
}

func headOf(sw *sweep.Sweep) sweepHead {
	return sweepHead{sw.ID, sw.Name, sw.Family, sw.Status, sw.Trials, sw.Seed, sw.ExperimentID, sw.RunID}
}

// testCreateAndGet: a sweep reads back as created (the seed bit for bit,
// the config equal), is tracked once and finished once.
func testCreateAndGet(t *testing.T, e Env) {
	q := e.Queue
	cfg := MustParse(t, QuadSweep)
	id, err := sweep.Create(ctx, q, cfg, 3, 1<<63+5, "quad")
	check(t, err)
	sw, err := q.Get(ctx, id)
	check(t, err)
	want := sweepHead{ID: id, Name: "quad", Family: "quad", Status: sweep.SweepRunning, Trials: 3, Seed: 1<<63 + 5}
	if headOf(sw) != want || !reflect.DeepEqual(sw.Config, cfg) || sw.Created.IsZero() || !sw.Finished.IsZero() {
		t.Fatalf("stored sweep = %+v, want %+v with the config, a creation time and no finish time", sw, want)
	}
	if _, err := q.Get(ctx, "nope"); !errors.Is(err, sweep.ErrNotFound) {
		t.Fatalf("Get(nope) = %v, want ErrNotFound", err)
	}
	if _, err := sweep.Create(ctx, q, cfg, 0, 1, ""); err == nil {
		t.Error("zero trials accepted for a bayes sweep")
	}
	check(t, q.SetTracking(ctx, id, "7", "run1"))
	if err := q.SetTracking(ctx, id, "7", "run2"); err == nil {
		t.Error("a sweep was tracked twice")
	}
	first, err := q.MarkFinished(ctx, id)
	check(t, err)
	again, err := q.MarkFinished(ctx, id)
	check(t, err)
	sw, err = q.Get(ctx, id)
	check(t, err)
	want.Status, want.ExperimentID, want.RunID = sweep.SweepDone, "7", "run1"
	if !first || again || headOf(sw) != want || sw.Finished.IsZero() {
		t.Fatalf("after tracking and two MarkFinished (%v, %v): %+v, want %+v with a finish time", first, again, sw, want)
	}
}

// testClaimOrder: trials are created in index order, one per claim, up to
// the sweep's count; finished claims cannot write again.
func testClaimOrder(t *testing.T, e Env) {
	q := e.Queue
	id, _ := create(t, q, QuadSweep, 3, 1)
	var claims []*sweep.Claim
	for i, w := range []string{"a", "b", "a"} {
		c := claim(t, q, id, w, time.Minute)
		if c.Index != i || c.Attempt != 1 || c.Worker != w || c.Sweep.ID != id {
			t.Fatalf("claim %d = index %d attempt %d worker %s sweep %s", i, c.Index, c.Attempt, c.Worker, c.Sweep.ID)
		}
		claims = append(claims, c)
	}
	if _, err := q.Claim(ctx, id, "c", time.Minute); !errors.Is(err, sweep.ErrNoTrial) {
		t.Fatalf("fourth claim: %v, want ErrNoTrial", err)
	}
	for _, c := range claims {
		check(t, q.Complete(ctx, c, sweep.Result{Metric: QuadLoss(c.Params)}))
	}
	if err := q.Complete(ctx, claims[0], sweep.Result{Metric: 1}); !errors.Is(err, sweep.ErrLeaseLost) {
		t.Fatalf("second Complete: %v, want ErrLeaseLost", err)
	}
	if _, err := q.Claim(ctx, id, "c", time.Minute); !errors.Is(err, sweep.ErrSweepDone) {
		t.Fatalf("claim after the last trial: %v, want ErrSweepDone", err)
	}
	checkDoneAsClaimed(t, trials(t, q, id), claims)
	if _, err := q.Claim(ctx, id, "", time.Minute); err == nil {
		t.Error("empty worker accepted")
	}
}

// checkDoneAsClaimed: trial i is done with QuadSweep's loss at the
// parameters claims[i] was given.
func checkDoneAsClaimed(t *testing.T, rows []sweep.TrialRow, claims []*sweep.Claim) {
	t.Helper()
	if len(rows) != len(claims) {
		t.Fatalf("%d trials stored, want %d", len(rows), len(claims))
	}
	for i, tr := range rows {
		if tr.Index != i || tr.Status != sweep.StatusDone || tr.Metric != QuadLoss(tr.Params) || !reflect.DeepEqual(tr.Params, claims[i].Params) {
			t.Errorf("trial %d = %+v, want done with the claimed params %v", i, tr, claims[i].Params)
		}
	}
}

// trialHead is the part of a stored trial that claims and results set,
// but the metric: NaN (none) is equal to nothing.
type trialHead struct {
	Status, Worker string
	Attempts       int
	Error          string
}

func trialHeadOf(r sweep.TrialRow) trialHead {
	return trialHead{r.Status, r.Worker, r.Attempts, r.Error}
}

// testExpiredLease: once a lease expires another worker takes the trial
// over with the same parameters, and the first worker is locked out.
func testExpiredLease(t *testing.T, e Env) {
	q := e.Queue
	id, _ := create(t, q, QuadSweep, 1, 7)
	stale := claim(t, q, id, "slow", 300*time.Millisecond)
	if err := q.Heartbeat(ctx, stale); err != nil {
		t.Fatalf("heartbeat inside the lease: %v", err)
	}
	fresh := waitClaim(t, q, id, "fast", time.Minute)
	if fresh.Index != 0 || fresh.Attempt != 2 || !reflect.DeepEqual(fresh.Params, stale.Params) {
		t.Fatalf("takeover claim = %+v, want trial 0 attempt 2 with the same params", fresh)
	}
	for name, op := range map[string]func() error{
		"heartbeat": func() error { return q.Heartbeat(ctx, stale) },
		"run id":    func() error { return q.SetRunID(ctx, stale, "r") },
		"complete":  func() error { return q.Complete(ctx, stale, sweep.Result{Metric: 1}) },
		"fail":      func() error { return q.Fail(ctx, stale, errors.New("x")) },
		"release":   func() error { return q.Release(ctx, stale) },
		"band":      func() error { _, err := q.ReportBand(ctx, stale, 10, 1); return err },
	} {
		if err := op(); !errors.Is(err, sweep.ErrLeaseLost) {
			t.Errorf("stale %s: %v, want ErrLeaseLost", name, err)
		}
	}
	check(t, q.SetRunID(ctx, fresh, "run-fresh"))
	check(t, q.Complete(ctx, fresh, sweep.Result{Metric: 2.5, Metrics: map[string]float64{"r2": 0.5}}))
	got := trials(t, q, id)[0]
	want := trialHead{Status: sweep.StatusDone, Worker: "fast", Attempts: 2}
	if trialHeadOf(got) != want || got.Metric != 2.5 || got.Metrics["r2"] != 0.5 || got.RunID != "run-fresh" {
		t.Fatalf("trial = %+v, want %+v with metric 2.5, r2 0.5 and run run-fresh", got, want)
	}
}

// testSameWorkerReclaims: a worker that takes its own expired trial back
// (an agent restarted under the same name) holds it as a new attempt, and
// the old attempt is locked out: ownership is worker and attempt.
func testSameWorkerReclaims(t *testing.T, e Env) {
	q := e.Queue
	id, _ := create(t, q, QuadSweep, 1, 7)
	old := claim(t, q, id, "w", 300*time.Millisecond)
	renewed := waitClaim(t, q, id, "w", time.Minute)
	if renewed.Index != 0 || renewed.Attempt != 2 {
		t.Fatalf("reclaim = trial %d attempt %d, want trial 0 attempt 2", renewed.Index, renewed.Attempt)
	}
	if err := q.Complete(ctx, old, sweep.Result{Metric: 9}); !errors.Is(err, sweep.ErrLeaseLost) {
		t.Fatalf("old attempt's Complete: %v, want ErrLeaseLost", err)
	}
	check(t, q.Heartbeat(ctx, renewed))
	check(t, q.Complete(ctx, renewed, sweep.Result{Metric: 2}))
	if got := trials(t, q, id)[0]; got.Metric != 2 || got.Attempts != 2 {
		t.Fatalf("trial = %+v, want the second attempt's metric 2", got)
	}
}

// testLeaseExpiringTooOften (one attempt allowed): the expired trial is
// failed with a reason, and the sweep is done.
func testLeaseExpiringTooOften(t *testing.T, e Env) {
	q := e.Queue
	id, _ := create(t, q, QuadSweep, 1, 7)
	claim(t, q, id, "crashy", 100*time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := q.Claim(ctx, id, "other", time.Minute)
		if errors.Is(err, sweep.ErrSweepDone) {
			break
		}
		if !errors.Is(err, sweep.ErrNoTrial) || time.Now().After(deadline) {
			t.Fatalf("claim = %v; want ErrNoTrial until the lease expires, then ErrSweepDone", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := trials(t, q, id)[0]; got.Status != sweep.StatusFailed || got.Error == "" || got.Attempts != 1 {
		t.Fatalf("trial = %+v, want failed after 1 attempt with a reason", got)
	}
}

// testReleaseAndFail: a released trial is claimed next, as a new attempt;
// Fail keeps the cause.
func testReleaseAndFail(t *testing.T, e Env) {
	q := e.Queue
	id, _ := create(t, q, QuadSweep, 2, 7)
	a := claim(t, q, id, "a", time.Minute)
	check(t, q.Release(ctx, a))
	if got := trials(t, q, id)[0]; got.Status != sweep.StatusQueued || !got.LeaseUntil.IsZero() {
		t.Fatalf("released trial = %+v, want queued without a lease", got)
	}
	b := claim(t, q, id, "b", time.Minute)
	if b.Index != 0 || b.Attempt != 2 || b.PrevRunID != "" {
		t.Fatalf("after release, claim = trial %d attempt %d prev run %q; want the released trial 0, attempt 2, no run to close",
			b.Index, b.Attempt, b.PrevRunID)
	}
	check(t, q.Fail(ctx, b, errors.New("objective exploded")))
	want := trialHead{Status: sweep.StatusFailed, Worker: "b", Attempts: 2, Error: "objective exploded"}
	if got := trials(t, q, id)[0]; trialHeadOf(got) != want || !math.IsNaN(got.Metric) {
		t.Fatalf("trial = %+v, want %+v without a metric", got, want)
	}
}

// testReportBand reports band values from several claims and checks every
// decision against tune's rule on the values reported so far.
func testReportBand(t *testing.T, e Env) {
	q := e.Queue
	id, cfg := create(t, q, HBSweep, 0, 1)
	var reported []float64
	stops := 0
	for i := range 9 {
		c := claim(t, q, id, fmt.Sprintf("w%d", i%3), time.Minute)
		loss := float64(c.Params["quality"].(int)) + 1
		reported = append(reported, loss)
		want := cfg.EarlyTerminate.ShouldStop(loss, reported)
		got, err := q.ReportBand(ctx, c, 10, loss)
		check(t, err)
		if got != want {
			t.Fatalf("trial %d (loss %v): stop = %v, want %v", i, loss, got, want)
		}
		if got {
			stops++
		}
		check(t, q.Complete(ctx, c, sweep.Result{Metric: loss, Budget: 10, StoppedEarly: got}))
	}
	if stops == 0 || stops == 9 {
		t.Fatalf("%d of 9 trials stopped: the rule was not exercised", stops)
	}
	if _, err := q.Claim(ctx, id, "w", time.Minute); !errors.Is(err, sweep.ErrSweepDone) {
		t.Fatalf("grid of 9 should be done: %v", err)
	}
	for _, r := range trials(t, q, id) {
		if r.Budget != 10 || (r.Status != sweep.StatusDone && r.Status != sweep.StatusStopped) {
			t.Errorf("trial %d: %s at budget %d, want done or stopped at 10", r.Index, r.Status, r.Budget)
		}
	}
}
