// Package sweeptest is the conformance suite every sweep.Queue must pass:
// it drives the queue directly (claims, leases, bands, results) and through
// sweep.Agent, so that agents behave the same whatever holds the sweep.
// Package postgres runs it against PostgreSQL, package sweep against an
// in-memory queue. It also holds the sweeps and objectives that the suite
// and other sweep tests share. Only tests import it.
package sweeptest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/sweep"
	"github.com/housing-mlops/mlops/tune"
)

// Env is what one subtest runs against.
type Env struct {
	Queue sweep.Queue
	// Tracker, when set, is a tracking store for the agents' trial runs,
	// and the suite checks those runs; nil skips the tracking checks.
	Tracker mlops.Tracker
}

// Opener returns a fresh, empty queue for one subtest and arranges its
// cleanup. maxAttempts bounds the claims of a trial whose lease keeps
// expiring; 0 means sweep.DefaultMaxAttempts.
type Opener func(t *testing.T, maxAttempts int) Env

// Run runs the suite. Subtests run one after the other: several wait for
// sub-second leases to expire, which a loaded machine running them side by
// side would make slow to reach.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name        string
		maxAttempts int
		fn          func(t *testing.T, e Env)
	}{
		{"CreateAndGet", 0, testCreateAndGet},
		{"ClaimOrder", 0, testClaimOrder},
		{"ExpiredLeaseIsTakenOver", 0, testExpiredLease},
		{"SameWorkerReclaimsAsANewAttempt", 0, testSameWorkerReclaims},
		{"LeaseExpiringTooOftenFailsTheTrial", 1, testLeaseExpiringTooOften},
		{"ReleaseAndFail", 0, testReleaseAndFail},
		{"ReportBandAppliesHyperband", 0, testReportBand},
		{"SingleAgentReproducesSequentialRun", 0, testSingleAgent},
		{"AgentsShareHyperbandAndTracking", 0, testAgentsShareHyperband},
		{"AgentSurvivesBadTrials", 0, testAgentSurvivesBadTrials},
		{"AgentCancelledReleasesItsTrial", 0, testAgentCancelled},
		{"AgentThatLosesItsLeaseGivesUp", 0, testAgentLosesLease},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t, tc.maxAttempts)) })
	}
}

var ctx = context.Background()

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// MustParse parses a sweep config or fails the test.
func MustParse(t testing.TB, text string) *tune.SweepConfig {
	t.Helper()
	cfg, err := tune.ParseSweepConfig([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// create stores a sweep of text's config in q.
func create(t *testing.T, q sweep.Queue, text string, trials int, seed uint64) (string, *tune.SweepConfig) {
	t.Helper()
	cfg := MustParse(t, text)
	id, err := sweep.Create(ctx, q, cfg, trials, seed, "")
	check(t, err)
	return id, cfg
}

// claim claims a trial that must be available now.
func claim(t *testing.T, q sweep.Queue, id, worker string, lease time.Duration) *sweep.Claim {
	t.Helper()
	c, err := q.Claim(ctx, id, worker, lease)
	check(t, err)
	return c
}

// waitClaim polls Claim until it hands out a trial (a lease expired) or
// the deadline passes.
func waitClaim(t *testing.T, q sweep.Queue, id, worker string, lease time.Duration) *sweep.Claim {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := q.Claim(ctx, id, worker, lease)
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

// trials lists the sweep's trials.
func trials(t *testing.T, q sweep.Queue, id string) []sweep.TrialRow {
	t.Helper()
	rows, err := q.Trials(ctx, id)
	check(t, err)
	return rows
}

// QuadSweep is a TPE sweep over a bowl with its minimum at x = 0.3, y = -1.
const QuadSweep = `
name: quad
method: bayes
metric: {name: loss, goal: minimize}
parameters:
  x: {distribution: uniform, min: 0.0, max: 1.0}
  y: {distribution: uniform, min: -3.0, max: 3.0}
  k: {values: [1, 2, 3]}
`

// QuadLoss is QuadSweep's loss at parameters p.
func QuadLoss(p map[string]any) float64 {
	x, y := p["x"].(float64)-0.3, p["y"].(float64)+1
	return x*x + y*y + float64(p["k"].(int))
}

// FlatTrial is a non-iterative trial whose metric "loss" is V.
type FlatTrial struct{ V float64 }

// Advance returns the fixed metric whatever the budget.
func (f FlatTrial) Advance(context.Context, int) (float64, error) { return f.V, nil }

// Final returns the metric as "loss".
func (f FlatTrial) Final(context.Context) (map[string]float64, error) {
	return map[string]float64{"loss": f.V}, nil
}

// QuadObjective builds QuadSweep's trials.
func QuadObjective(_ context.Context, p map[string]any) (tune.Trial, error) {
	return FlatTrial{QuadLoss(p)}, nil
}

// HBSweep is a grid of nine qualities with Hyperband bands at 10, 30 and 90.
const HBSweep = `
name: hb
method: grid
metric: {name: loss}
parameters:
  quality: {values: [5, 3, 8, 1, 9, 2, 7, 4, 6]}
early_terminate: {type: hyperband, min_iter: 10, eta: 3}
`

// curveTrial improves with budget: loss = quality + 10/budget.
type curveTrial struct {
	q   float64
	max int
}

func (c *curveTrial) Advance(_ context.Context, b int) (float64, error) {
	return c.q + 10/float64(b), nil
}

func (c *curveTrial) Final(context.Context) (map[string]float64, error) {
	return map[string]float64{"quality": c.q}, nil
}

func (c *curveTrial) MaxBudget() int { return c.max }

// curveObjective builds HBSweep's trials, whose budget goes up to 90.
func curveObjective(_ context.Context, p map[string]any) (tune.Trial, error) {
	return &curveTrial{q: float64(p["quality"].(int)), max: 90}, nil
}
