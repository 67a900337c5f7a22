package sweep_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/housing-mlops/mlops/sweep"
	"github.com/housing-mlops/mlops/tune"
)

func TestCreateGetAndClaimOrder(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, freshSchema(t))
	cfg := mustParse(t, quadSweep)
	id, err := s.Create(ctx, cfg, 3, 1<<63+5, "quad")
	if err != nil {
		t.Fatal(err)
	}
	sw, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if sw.Seed != 1<<63+5 || sw.Trials != 3 || sw.Family != "quad" || sw.Status != sweep.SweepRunning || !reflect.DeepEqual(sw.Config, cfg) {
		t.Fatalf("stored sweep = %+v", sw)
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, sweep.ErrNotFound) {
		t.Fatalf("Get(nope) = %v, want ErrNotFound", err)
	}
	var claims []*sweep.Claim
	for i, w := range []string{"a", "b", "a"} {
		c, err := s.Claim(ctx, id, w, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if c.Index != i || c.Attempt != 1 || c.Worker != w {
			t.Fatalf("claim %d = index %d attempt %d worker %s", i, c.Index, c.Attempt, c.Worker)
		}
		claims = append(claims, c)
	}
	if _, err := s.Claim(ctx, id, "c", time.Minute); !errors.Is(err, sweep.ErrNoTrial) {
		t.Fatalf("fourth claim: %v, want ErrNoTrial", err)
	}
	for _, c := range claims {
		if err := s.Complete(ctx, c, sweep.Result{Metric: quadLoss(c.Params)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Complete(ctx, claims[0], sweep.Result{Metric: 1}); !errors.Is(err, sweep.ErrLeaseLost) {
		t.Fatalf("second Complete: %v, want ErrLeaseLost", err)
	}
	if _, err := s.Claim(ctx, id, "c", time.Minute); !errors.Is(err, sweep.ErrSweepDone) {
		t.Fatalf("claim after the last trial: %v, want ErrSweepDone", err)
	}
	trials, err := s.Trials(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	for i, tr := range trials {
		if tr.Status != sweep.StatusDone || tr.Metric != quadLoss(tr.Params) || !reflect.DeepEqual(tr.Params, claims[i].Params) {
			t.Errorf("trial %d = %+v", i, tr)
		}
	}
	if _, err := s.Claim(ctx, id, "", time.Minute); err == nil {
		t.Error("empty worker accepted")
	}
	if _, err := s.Create(ctx, cfg, 0, 1, ""); err == nil {
		t.Error("zero trials accepted for a bayes sweep")
	}
}

// waitClaim polls Claim until it hands out a trial or the deadline passes.
func waitClaim(t *testing.T, s *sweep.Store, id, worker string, lease time.Duration) *sweep.Claim {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := s.Claim(context.Background(), id, worker, lease)
		if err == nil {
			return c
		}
		if !errors.Is(err, sweep.ErrNoTrial) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s got no trial within 10 s", worker)
	return nil
}

func TestExpiredLeaseIsTakenOverAndTheStaleWorkerLocksOut(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, freshSchema(t))
	id, err := s.Create(ctx, mustParse(t, quadSweep), 1, 7, "")
	if err != nil {
		t.Fatal(err)
	}
	stale, err := s.Claim(ctx, id, "slow", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Heartbeat(ctx, stale); err != nil {
		t.Fatalf("heartbeat inside the lease: %v", err)
	}
	fresh := waitClaim(t, s, id, "fast", time.Minute)
	if fresh.Index != 0 || fresh.Attempt != 2 || !reflect.DeepEqual(fresh.Params, stale.Params) {
		t.Fatalf("takeover claim = %+v, want trial 0 attempt 2 with the same params", fresh)
	}
	for name, op := range map[string]func() error{
		"heartbeat": func() error { return s.Heartbeat(ctx, stale) },
		"complete":  func() error { return s.Complete(ctx, stale, sweep.Result{Metric: 1}) },
		"fail":      func() error { return s.Fail(ctx, stale, errors.New("x")) },
		"band":      func() error { _, err := s.ReportBand(ctx, stale, 10, 1); return err },
	} {
		if err := op(); !errors.Is(err, sweep.ErrLeaseLost) {
			t.Errorf("stale %s: %v, want ErrLeaseLost", name, err)
		}
	}
	if err := s.Complete(ctx, fresh, sweep.Result{Metric: 2.5, Metrics: map[string]float64{"r2": 0.5}}); err != nil {
		t.Fatal(err)
	}
	trials, err := s.Trials(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got := trials[0]; got.Status != sweep.StatusDone || got.Worker != "fast" || got.Attempts != 2 || got.Metric != 2.5 || got.Metrics["r2"] != 0.5 {
		t.Fatalf("trial = %+v", got)
	}
}

func TestLeaseExpiringTooOftenFailsTheTrial(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, freshSchema(t))
	s.MaxAttempts = 1
	id, err := s.Create(ctx, mustParse(t, quadSweep), 1, 7, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, id, "crashy", 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.Claim(ctx, id, "other", time.Minute)
		if errors.Is(err, sweep.ErrSweepDone) {
			break
		}
		if !errors.Is(err, sweep.ErrNoTrial) || time.Now().After(deadline) {
			t.Fatalf("claim = %v; want ErrNoTrial until the lease expires, then ErrSweepDone", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	trials, err := s.Trials(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if trials[0].Status != sweep.StatusFailed || trials[0].Error == "" {
		t.Fatalf("trial = %+v, want failed with a reason", trials[0])
	}
}

func TestReleaseAndFail(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, freshSchema(t))
	id, err := s.Create(ctx, mustParse(t, quadSweep), 2, 7, "")
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Claim(ctx, id, "a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, a); err != nil {
		t.Fatal(err)
	}
	b, err := s.Claim(ctx, id, "b", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if b.Index != 0 || b.Attempt != 2 {
		t.Fatalf("after release, claim = trial %d attempt %d; want the released trial 0, attempt 2", b.Index, b.Attempt)
	}
	if err := s.Fail(ctx, b, errors.New("objective exploded")); err != nil {
		t.Fatal(err)
	}
	trials, err := s.Trials(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if trials[0].Status != sweep.StatusFailed || trials[0].Error != "objective exploded" {
		t.Fatalf("trial = %+v", trials[0])
	}
}

// TestReportBandAppliesHyperbandAcrossWorkers reports band values from
// several claims and checks every decision against tune's rule on the
// values reported so far.
func TestReportBandAppliesHyperbandAcrossWorkers(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, freshSchema(t))
	cfg := mustParse(t, hbSweep)
	id, err := s.Create(ctx, cfg, 0, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	var reported []float64
	stops := 0
	for i := range 9 {
		c, err := s.Claim(ctx, id, fmt.Sprintf("w%d", i%3), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		loss := float64(c.Params["quality"].(int)) + 1
		reported = append(reported, loss)
		want := cfg.EarlyTerminate.ShouldStop(loss, reported)
		got, err := s.ReportBand(ctx, c, 10, loss)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("trial %d (loss %v): stop = %v, want %v", i, loss, got, want)
		}
		if got {
			stops++
		}
		if err := s.Complete(ctx, c, sweep.Result{Metric: loss, Budget: 10, StoppedEarly: got}); err != nil {
			t.Fatal(err)
		}
	}
	if stops == 0 || stops == 9 {
		t.Fatalf("%d of 9 trials stopped: the rule was not exercised", stops)
	}
	if _, err := s.Claim(ctx, id, "w", time.Minute); !errors.Is(err, sweep.ErrSweepDone) {
		t.Fatalf("grid of 9 should be done: %v", err)
	}
}

// TestSingleAgentReproducesSequentialRun: one agent claims, runs and
// completes trials one at a time, so trial i sees every earlier trial, as
// tune.Run with parallelism 1 does; the TPE proposals must be identical.
func TestSingleAgentReproducesSequentialRun(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, freshSchema(t))
	cfg := mustParse(t, quadSweep)
	const trials = 14 // past TPE's 10 random startup trials
	id, err := s.Create(ctx, cfg, trials, 42, "")
	if err != nil {
		t.Fatal(err)
	}
	a := &sweep.Agent{Store: s, Worker: "solo", Objective: quadObjective, Lease: 10 * time.Second}
	if err := a.Run(ctx, id); err != nil {
		t.Fatal(err)
	}
	want, err := tune.Run(ctx, cfg, trials, 1, 42, quadObjective, tune.Callbacks{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Trials(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != trials {
		t.Fatalf("%d trials stored, want %d", len(got), trials)
	}
	for i, tr := range got {
		if !reflect.DeepEqual(tr.Params, want.Trials[i].Params) || tr.Metric != want.Trials[i].Metric {
			t.Fatalf("trial %d: agent %v → %v, tune.Run %v → %v", i, tr.Params, tr.Metric, want.Trials[i].Params, want.Trials[i].Metric)
		}
	}
	sw, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if sw.Status != sweep.SweepDone || sw.Finished.IsZero() {
		t.Fatalf("sweep status %q finished %v after the agent returned", sw.Status, sw.Finished)
	}
	if sum := sweep.Summarize(cfg, got); sum.Best != want.Best || sum.Counts[sweep.StatusDone] != trials {
		t.Fatalf("summary %+v, tune.Run best %d", sum, want.Best)
	}
}
