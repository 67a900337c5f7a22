package tune

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
)

// curveTrial reports metric(budget) and records the budgets it was asked for.
type curveTrial struct {
	metric   func(budget int) float64
	max      int
	mu       sync.Mutex
	advances []int
}

func (c *curveTrial) Advance(_ context.Context, budget int) (float64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.advances); n > 0 && budget <= c.advances[n-1] {
		return 0, fmt.Errorf("budget %d after %d", budget, c.advances[n-1])
	}
	c.advances = append(c.advances, budget)
	return c.metric(budget), nil
}

func (c *curveTrial) Final(context.Context) (map[string]float64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return map[string]float64{"trees": float64(c.advances[len(c.advances)-1])}, nil
}

func (c *curveTrial) MaxBudget() int { return c.max }

// flatTrial is non-iterative: the quadratic of its parameters.
type flatTrial struct{ value float64 }

func (f flatTrial) Advance(context.Context, int) (float64, error) { return f.value, nil }
func (f flatTrial) Final(context.Context) (map[string]float64, error) {
	return map[string]float64{"loss": f.value}, nil
}

const hbSweep = `
method: grid
metric: {name: loss, goal: minimize}
parameters:
  quality: {values: [5, 3, 8, 1, 9, 2]}
early_terminate: {type: hyperband, min_iter: 10, eta: 3}
`

// curveObjective: loss = quality + 10/budget, 90 trees; the trial of each
// quality is kept so the test can see what it was asked to do.
func curveObjective(trials *sync.Map) Objective {
	return func(_ context.Context, p map[string]any) (Trial, error) {
		q := float64(p["quality"].(int))
		tr := &curveTrial{max: 90, metric: func(b int) float64 { return q + 10/float64(b) }}
		trials.Store(p["quality"].(int), tr)
		return tr, nil
	}
}

func TestHyperbandStopsTheRightTrials(t *testing.T) {
	cfg := mustParse(t, hbSweep)
	var trials sync.Map
	res, err := Run(context.Background(), cfg, 0, 1, 1, curveObjective(&trials), Callbacks{})
	if err != nil {
		t.Fatal(err)
	}
	// Worked by hand with W&B's rule (threshold = sorted band values at
	// floor(n/3), stop when above): at band 10 quality 8 meets [6, 4, 9] →
	// threshold 6, stopped; quality 9 meets [6, 4, 9, 2, 10] → threshold 4,
	// stopped. Everyone else survives bands 10 and 30 and reaches 90.
	wantStopped := map[int]bool{8: true, 9: true}
	for _, tr := range res.Trials {
		q := tr.Params["quality"].(int)
		v, _ := trials.Load(q)
		adv := v.(*curveTrial).advances
		if wantStopped[q] {
			if !tr.StoppedEarly || tr.Budget != 10 || !slices.Equal(adv, []int{10}) {
				t.Errorf("quality %d: stopped=%v budget=%d advances=%v, want stopped at 10", q, tr.StoppedEarly, tr.Budget, adv)
			}
			if tr.Metrics["trees"] != 10 {
				t.Errorf("quality %d: Final saw %v trees", q, tr.Metrics["trees"])
			}
		} else if tr.StoppedEarly || tr.Budget != 90 || !slices.Equal(adv, []int{10, 30, 90}) {
			t.Errorf("quality %d: stopped=%v budget=%d advances=%v, want 10,30,90", q, tr.StoppedEarly, tr.Budget, adv)
		}
	}
	if res.BudgetSpent != 4*90+2*10 {
		t.Errorf("budget %d, want %d", res.BudgetSpent, 4*90+2*10)
	}
	if res.Trials[res.Best].Params["quality"] != 1 {
		t.Errorf("best %v", res.Trials[res.Best].Params)
	}

	noHB := mustParse(t, strings.Split(hbSweep, "early_terminate")[0])
	full, err := Run(context.Background(), noHB, 0, 1, 1, curveObjective(&sync.Map{}), Callbacks{})
	if err != nil {
		t.Fatal(err)
	}
	if full.BudgetSpent != 6*90 || !(res.BudgetSpent < full.BudgetSpent) {
		t.Errorf("budget without hyperband %d, with %d", full.BudgetSpent, res.BudgetSpent)
	}
	if full.Trials[full.Best].Params["quality"] != 1 {
		t.Errorf("best without hyperband %v", full.Trials[full.Best].Params)
	}
}

func TestHyperbandMaximizeAndLockstepBatches(t *testing.T) {
	// Same curve negated and maximised, two trials per batch. The first
	// batch (5, 3) compares at band 10 among its own values [-6, -4]:
	// threshold (sorted losses [4, 6]) index 0 = 4, so quality 5 stops.
	src := strings.Replace(hbSweep, "goal: minimize", "goal: maximize", 1)
	cfg := mustParse(t, src)
	obj := func(_ context.Context, p map[string]any) (Trial, error) {
		q := float64(p["quality"].(int))
		return &curveTrial{max: 90, metric: func(b int) float64 { return -(q + 10/float64(b)) }}, nil
	}
	var bands []string
	cb := Callbacks{OnBand: func(i, b int, m float64) { bands = append(bands, fmt.Sprintf("%d@%d", i, b)) }}
	res, err := Run(context.Background(), cfg, 0, 2, 1, obj, cb)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Trials[0].StoppedEarly || res.Trials[0].Budget != 10 || res.Trials[1].StoppedEarly {
		t.Errorf("first batch: %+v / %+v", res.Trials[0], res.Trials[1])
	}
	if want := []string{"0@10", "1@10", "1@30", "1@90"}; !slices.Equal(bands[:4], want) {
		t.Errorf("band callbacks %v, want prefix %v", bands, want)
	}
	if res.Trials[res.Best].Params["quality"] != 1 {
		t.Errorf("best %v", res.Trials[res.Best].Params)
	}
}

const quadSweep = `
method: bayes
metric: {name: loss}
parameters:
  x: {distribution: uniform, min: -5.0, max: 5.0}
  y: {distribution: uniform, min: -5.0, max: 5.0}
  z: {distribution: uniform, min: -5.0, max: 5.0}
`

// quadratic is a shifted bowl with its minimum 0 at (1.3, -2.1, 0.7).
func quadratic(_ context.Context, p map[string]any) (Trial, error) {
	x, y, z := p["x"].(float64)-1.3, p["y"].(float64)+2.1, p["z"].(float64)-0.7
	return flatTrial{value: x*x + y*y + z*z}, nil
}

func TestTPEBeatsRandomOnShiftedQuadratic(t *testing.T) {
	bayes := mustParse(t, quadSweep)
	random := mustParse(t, strings.Replace(quadSweep, "bayes", "random", 1))
	const seeds, trials = 40, 30
	// The first 10 TPE trials are random draws from the same streams as
	// the random sampler's, so the comparison is paired on the startup.
	var diffs []float64
	var sumT, sumR float64
	for s := uint64(0); s < seeds; s++ {
		rt, err := Run(context.Background(), bayes, trials, 1, s, quadratic, Callbacks{})
		if err != nil {
			t.Fatal(err)
		}
		rr, err := Run(context.Background(), random, trials, 1, s, quadratic, Callbacks{})
		if err != nil {
			t.Fatal(err)
		}
		bt, br := rt.BestSoFar[trials-1], rr.BestSoFar[trials-1]
		if rt.BestSoFar[9] != rr.BestSoFar[9] {
			t.Fatalf("seed %d: startup trials differ (%v vs %v)", s, rt.BestSoFar[9], rr.BestSoFar[9])
		}
		sumT += bt
		sumR += br
		diffs = append(diffs, br-bt)
	}
	mean, sd := meanSD(diffs)
	se := sd / math.Sqrt(seeds)
	t.Logf("mean best after %d trials: TPE %.3f, random %.3f; paired diff %.3f ± %.3f (se)", trials, sumT/seeds, sumR/seeds, mean, se)
	// One-sided paired t-test at ~99 % (t > 2.5 with 39 df).
	if !(mean > 2.5*se) {
		t.Errorf("TPE not better than random: diff %.3f, se %.3f", mean, se)
	}
}

func meanSD(v []float64) (float64, float64) {
	m := 0.0
	for _, x := range v {
		m += x
	}
	m /= float64(len(v))
	s := 0.0
	for _, x := range v {
		s += (x - m) * (x - m)
	}
	return m, math.Sqrt(s / float64(len(v)-1))
}

func TestRunDeterministicForSeedAndParallelism(t *testing.T) {
	cfg := mustParse(t, quadSweep+"  c: {values: [a, b, c]}\n  n: {min: 1, max: 9}\n")
	run := func(procs, par int, seed uint64) *Result {
		old := runtime.GOMAXPROCS(procs)
		defer runtime.GOMAXPROCS(old)
		res, err := Run(context.Background(), cfg, 24, par, seed, quadratic, Callbacks{})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b := run(1, 3, 5), run(2, 3, 5)
	for i := range a.Trials {
		if fmt.Sprint(a.Trials[i].Params) != fmt.Sprint(b.Trials[i].Params) || a.Trials[i].Metric != b.Trials[i].Metric {
			t.Fatalf("trial %d differs across GOMAXPROCS: %v vs %v", i, a.Trials[i].Params, b.Trials[i].Params)
		}
	}
	if a.Best != b.Best || !slices.Equal(a.BestSoFar, b.BestSoFar) {
		t.Fatal("summary differs across GOMAXPROCS")
	}
	c := run(2, 3, 6)
	if fmt.Sprint(a.Trials[0].Params) == fmt.Sprint(c.Trials[0].Params) {
		t.Error("different seeds gave the same first trial")
	}
	// With a different batch size, later trials see different histories.
	d := run(2, 1, 5)
	if fmt.Sprint(a.Trials[0].Params) != fmt.Sprint(d.Trials[0].Params) {
		t.Error("startup trial depends on parallelism")
	}
	same := true
	for i := 12; i < 24; i++ {
		same = same && fmt.Sprint(a.Trials[i].Params) == fmt.Sprint(d.Trials[i].Params)
	}
	if same {
		t.Error("TPE trials identical for batch sizes 3 and 1; history should differ")
	}
}

func TestRunRecordsFailuresAndCallbacks(t *testing.T) {
	cfg := mustParse(t, strings.Replace(quadSweep, "bayes", "random", 1))
	obj := func(ctx context.Context, p map[string]any) (Trial, error) {
		switch x := p["x"].(float64); {
		case x > 3:
			return nil, errors.New("refused")
		case x < -3:
			panic("boom")
		}
		return quadratic(ctx, p)
	}
	var starts, ends []int
	res, err := Run(context.Background(), cfg, 20, 2, 9, obj, Callbacks{
		OnTrialStart: func(i int, _ map[string]any) { starts = append(starts, i) },
		OnTrialEnd:   func(r TrialResult) { ends = append(ends, r.Index) },
	})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]int, 20)
	for i := range want {
		want[i] = i
	}
	if !slices.Equal(starts, want) || !slices.Equal(ends, want) {
		t.Errorf("callbacks starts %v ends %v", starts, ends)
	}
	var refused, panicked int
	for _, tr := range res.Trials {
		x := tr.Params["x"].(float64)
		switch {
		case x > 3:
			refused++
			if tr.Err == nil || !strings.Contains(tr.Err.Error(), "refused") || !math.IsNaN(tr.Metric) {
				t.Errorf("trial %d: %+v", tr.Index, tr)
			}
		case x < -3:
			panicked++
			if tr.Err == nil || !strings.Contains(tr.Err.Error(), "panic: boom") {
				t.Errorf("trial %d: %+v", tr.Index, tr)
			}
		default:
			if tr.Err != nil || math.IsNaN(tr.Metric) {
				t.Errorf("trial %d failed: %v", tr.Index, tr.Err)
			}
		}
	}
	if refused == 0 || panicked == 0 {
		t.Fatalf("test needs both failure kinds; got %d refused, %d panicked", refused, panicked)
	}
	if x := res.Trials[res.Best].Params["x"].(float64); x > 3 || x < -3 {
		t.Errorf("best is a failed trial")
	}

	fail := func(context.Context, map[string]any) (Trial, error) { return nil, errors.New("nope") }
	res, err = Run(context.Background(), cfg, 4, 2, 9, fail, Callbacks{})
	if err == nil || !strings.Contains(err.Error(), "all 4 trials failed") || res == nil || res.Best != -1 {
		t.Errorf("all failing: %v", err)
	}
}

func TestRunCancelled(t *testing.T) {
	cfg := mustParse(t, strings.Replace(quadSweep, "bayes", "random", 1))
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	obj := func(ctx context.Context, p map[string]any) (Trial, error) {
		calls++
		if calls == 3 {
			cancel()
		}
		return quadratic(ctx, p)
	}
	res, err := Run(ctx, cfg, 10, 1, 1, obj, Callbacks{})
	if !errors.Is(err, context.Canceled) || res == nil || len(res.Trials) != 3 {
		t.Fatalf("err %v, %d trials", err, len(res.Trials))
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	cfg := mustParse(t, quadSweep)
	if _, err := Run(context.Background(), cfg, 0, 1, 1, quadratic, Callbacks{}); err == nil || !strings.Contains(err.Error(), "trials must be positive") {
		t.Errorf("zero trials: %v", err)
	}
	if _, err := Run(context.Background(), cfg, 3, 1, 1, nil, Callbacks{}); err == nil {
		t.Error("nil objective accepted")
	}
	if _, err := Run(context.Background(), &SweepConfig{Method: "bayes"}, 3, 1, 1, quadratic, Callbacks{}); err == nil || !strings.Contains(err.Error(), "metric.name") {
		t.Errorf("invalid config: %v", err)
	}
}

func TestNonIterativeTrialsIgnoreHyperband(t *testing.T) {
	cfg := mustParse(t, quadSweep+"early_terminate: {type: hyperband, min_iter: 1, eta: 2}\n")
	var budgets []int
	res, err := Run(context.Background(), cfg, 12, 2, 3, quadratic, Callbacks{
		OnBand: func(_ int, b int, _ float64) { budgets = append(budgets, b) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(budgets) != 12 || slices.Max(budgets) != 0 {
		t.Errorf("advances %v, want one at budget 0 per trial", budgets)
	}
	for _, tr := range res.Trials {
		if tr.StoppedEarly || tr.Budget != 0 || tr.Metrics["loss"] != tr.Metric {
			t.Errorf("trial %d: %+v", tr.Index, tr)
		}
	}
	if res.BudgetSpent != 0 {
		t.Errorf("budget %d", res.BudgetSpent)
	}
}

func TestBestParamsYAMLRoundTrips(t *testing.T) {
	cfg := mustParse(t, hbSweep)
	res, err := Run(context.Background(), cfg, 0, 1, 1, curveObjective(&sync.Map{}), Callbacks{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := res.BestParamsYAML()
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Metric string         `yaml:"metric"`
		Value  float64        `yaml:"value"`
		Trial  int            `yaml:"trial"`
		Params map[string]any `yaml:"params"`
	}
	if err := yaml.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	best := res.Trials[res.Best]
	if back.Metric != "loss" || back.Value != best.Metric || back.Trial != best.Index || back.Params["quality"] != best.Params["quality"] {
		t.Errorf("round trip %+v from\n%s", back, out)
	}
	if _, err := (&Result{Best: -1}).BestParamsYAML(); err == nil {
		t.Error("empty result rendered")
	}
}
