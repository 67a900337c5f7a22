package tune

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"
)

// TestSamplerReproducesSequentialRun checks the one-at-a-time sampler
// against Run with parallelism 1, where trial i sees every earlier trial:
// feeding Sample the same history (in a shuffled finish order) must give
// the same parameters.
func TestSamplerReproducesSequentialRun(t *testing.T) {
	cfg := mustParse(t, quadSweep+"  c: {values: [a, b, c]}\n  n: {min: 1, max: 9}\n")
	const trials = 16 // past TPE's 10 startup trials
	res, err := Run(context.Background(), cfg, trials, 1, 11, quadratic, Callbacks{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSampler(cfg, 11)
	if err != nil {
		t.Fatal(err)
	}
	for i := range trials {
		history := slices.Clone(res.Trials[:i])
		slices.Reverse(history) // finish order must not matter
		p, err := s.Sample(i, history)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(p, res.Trials[i].Params) {
			t.Fatalf("trial %d: Sample %v, Run %v", i, p, res.Trials[i].Params)
		}
	}
	// A failed trial is not history: adding one changes nothing.
	failed := TrialResult{Index: 99, Params: res.Trials[0].Params, Metric: math.NaN(), Err: fmt.Errorf("boom")}
	p, err := s.Sample(trials-1, append(slices.Clone(res.Trials[:trials-1]), failed))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, res.Trials[trials-1].Params) {
		t.Fatal("a failed trial changed the proposal")
	}
}

func TestSamplerGridBoundsAndErrors(t *testing.T) {
	s, err := NewSampler(mustParse(t, hbSweep), 1)
	if err != nil {
		t.Fatal(err)
	}
	if s.GridSize() != 6 {
		t.Fatalf("GridSize = %d, want 6", s.GridSize())
	}
	p, err := s.Sample(3, nil)
	if err != nil || p["quality"] != 1 {
		t.Fatalf("grid point 3 = %v, %v; want quality 1", p, err)
	}
	if _, err := s.Sample(6, nil); err == nil {
		t.Error("index past the grid accepted")
	}
	if _, err := s.Sample(-1, nil); err == nil {
		t.Error("negative index accepted")
	}
	if _, err := NewSampler(nil, 1); err == nil {
		t.Error("nil config accepted")
	}
}

// TestShouldStopMatchesRun replays the band values of a Run with Hyperband
// trial by trial (parallelism 1, so each cut sees the earlier trials and
// the trial itself) and checks ShouldStop agrees with every decision Run
// took.
func TestShouldStopMatchesRun(t *testing.T) {
	cfg := mustParse(t, hbSweep)
	var bands = map[int][]float64{}
	var decided int
	cb := Callbacks{OnBand: func(i, budget int, metric float64) { bands[budget] = append(bands[budget], metric) }}
	res, err := Run(context.Background(), cfg, 0, 1, 1, curveObjectiveLocal(), cb)
	if err != nil {
		t.Fatal(err)
	}
	// Replay: walk the trials in order, reporting at bands 10 and 30.
	reported := map[int][]float64{}
	for _, tr := range res.Trials {
		q := float64(tr.Params["quality"].(int))
		stopped := false
		for _, b := range cfg.EarlyTerminate.Bands(90) {
			loss := q + 10/float64(b)
			reported[b] = append(reported[b], loss)
			decided++
			if cfg.EarlyTerminate.ShouldStop(cfg.Loss(loss), reported[b]) {
				stopped = true
				if tr.Budget != b {
					t.Errorf("trial %d stopped at %d by ShouldStop, Run reached %d", tr.Index, b, tr.Budget)
				}
				break
			}
		}
		if stopped != tr.StoppedEarly {
			t.Errorf("trial %d (quality %v): ShouldStop says stopped=%v, Run %v", tr.Index, q, stopped, tr.StoppedEarly)
		}
	}
	if decided == 0 || len(bands) == 0 {
		t.Fatal("no band decisions replayed")
	}
}

func curveObjectiveLocal() Objective {
	return func(_ context.Context, p map[string]any) (Trial, error) {
		q := float64(p["quality"].(int))
		return &curveTrial{max: 90, metric: func(b int) float64 { return q + 10/float64(b) }}, nil
	}
}

func TestShouldStopRule(t *testing.T) {
	h := &Hyperband{MinIter: 1, Eta: 3}
	// Six reports: threshold is the third best (index floor(6/3) = 2).
	reported := []float64{6, 1, 5, 2, 4, 3}
	for _, c := range []struct {
		loss float64
		stop bool
	}{{1, false}, {3, false}, {3.5, true}, {6, true}, {math.NaN(), true}} {
		if got := h.ShouldStop(c.loss, reported); got != c.stop {
			t.Errorf("ShouldStop(%v) = %v, want %v", c.loss, got, c.stop)
		}
	}
	if h.ShouldStop(7, []float64{7}) {
		t.Error("the first report at a band was stopped")
	}
	max := mustParse(t, "method: random\nmetric: {name: r2, goal: maximize}\nparameters:\n  x: {min: 0.0, max: 1.0}\n")
	if max.Loss(0.9) != -0.9 {
		t.Errorf("maximize loss of 0.9 = %v", max.Loss(0.9))
	}
}

func TestMilestones(t *testing.T) {
	cfg := mustParse(t, hbSweep)
	if got := cfg.Milestones(&curveTrial{max: 90}); !slices.Equal(got, []int{10, 30, 90}) {
		t.Errorf("milestones = %v, want [10 30 90]", got)
	}
	if got := cfg.Milestones(flatTrial{}); !slices.Equal(got, []int{0}) {
		t.Errorf("non-iterative milestones = %v, want [0]", got)
	}
}

// TestNormalizeParamsRoundTripsJSON sends sampled parameters through JSON
// and back: the types must be exactly those the sampler produced.
func TestNormalizeParamsRoundTripsJSON(t *testing.T) {
	cfg := mustParse(t, mixedSpace+"  cat: {values: [1, 2.5, 3]}\n")
	s, err := NewSampler(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		p, err := s.Sample(i, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back map[string]any
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		got, err := cfg.NormalizeParams(back)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Fatalf("round trip %d: %#v, want %#v", i, got, p)
		}
	}
	bad := []map[string]any{
		{"n": 40.0},        // below min (and the rest missing)
		{"unknown": 1.0},   // not in the sweep
		{"c": "cube root"}, // not a listed value
	}
	for _, p := range bad {
		full, _ := s.Sample(0, nil)
		for k, v := range p {
			full[k] = v
		}
		if _, err := cfg.NormalizeParams(full); err == nil {
			t.Errorf("NormalizeParams accepted %v", p)
		}
	}
	full, _ := s.Sample(0, nil)
	delete(full, "n")
	if _, err := cfg.NormalizeParams(full); err == nil {
		t.Error("a missing parameter was accepted")
	}
	full, _ = s.Sample(0, nil)
	full["n"] = 60.5
	if _, err := cfg.NormalizeParams(full); err == nil {
		t.Error("a fractional integer parameter was accepted")
	}
}

// TestYAMLRoundTrips writes every default space and a mixed one, parses
// the text back and requires an equal config.
func TestYAMLRoundTrips(t *testing.T) {
	cfgs := []*SweepConfig{mustParse(t, mixedSpace+"  cat: {values: [1, 2.5, 3, true]}\n  fq: {distribution: q_uniform, min: 0.5, max: 4.0, q: 0.5}\n  wq: {distribution: q_uniform, min: 1.0, max: 9.0, q: 2.0}\n"),
		mustParse(t, hbSweep)}
	for _, f := range Families() {
		c, err := DefaultSpace(f)
		if err != nil {
			t.Fatal(err)
		}
		cfgs = append(cfgs, c)
	}
	for _, c := range cfgs {
		b, err := c.YAML()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseSweepConfig(b)
		if err != nil {
			t.Fatalf("%s: %v\n%s", c.Name, err, b)
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("round trip changed the config:\n%#v\n%#v\n%s", c, back, b)
		}
	}
}
