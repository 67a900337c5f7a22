package tune

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"time"

	"github.com/housing-mlops/mlops/ml"
)

// Trial is one hyperparameter configuration being trained. The runner calls
// Advance with increasing budgets (Hyperband bands, then the trial's own
// maximum) and Final once at the end, always from one goroutine at a time.
//
// For iterative learners the budget is the number of trees: Advance grows the
// model to budget (warm start, e.g. ensemble.RandomForest.Grow) and returns
// the validation metric, so a trial stopped at a band has really cost less.
// Non-iterative trials ignore the budget and are advanced once with 0.
type Trial interface {
	Advance(ctx context.Context, budget int) (metric float64, err error)
	Final(ctx context.Context) (metrics map[string]float64, err error)
}

// Budgeted is implemented by iterative trials: MaxBudget is the budget the
// trial trains to when not stopped (e.g. its n_estimators). Trials without it,
// or returning 0, are non-iterative.
type Budgeted interface {
	MaxBudget() int
}

// Objective builds the trial for one parameter set. An error fails the trial
// (recorded, not fatal to the sweep).
type Objective func(ctx context.Context, params map[string]any) (Trial, error)

// Callbacks let the caller log trials as they happen (e.g. as child runs).
// They are called from Run's goroutine only, never concurrently, in trial
// index order within a batch; any may be nil. OnBand follows every
// successful Advance: each Hyperband band and the trial's final budget (0
// for non-iterative trials).
type Callbacks struct {
	OnTrialStart func(index int, params map[string]any)
	OnBand       func(index int, budget int, metric float64)
	OnTrialEnd   func(TrialResult)
}

// TrialResult is the outcome of one trial.
type TrialResult struct {
	Index        int
	Params       map[string]any
	Metric       float64            // last metric Advance returned; NaN when the trial failed
	Metrics      map[string]float64 // from Final
	Budget       int                // budget reached (trees grown); 0 for non-iterative trials
	StoppedEarly bool               // cut by Hyperband at Budget
	Seconds      float64            // time spent in this trial's own calls
	Err          error              // nil on success
}

// Result is a finished (or cancelled) sweep.
type Result struct {
	Config      *SweepConfig
	Seed        uint64
	Parallelism int
	Trials      []TrialResult
	// Best is the index of the best trial that ran to completion (or, if
	// none did, the best early-stopped one); -1 when every trial failed.
	Best int
	// BestSoFar[i] is the best metric among completed trials 0..i (NaN
	// before the first).
	BestSoFar []float64
	// BudgetSpent is the total budget consumed (trees grown) by all trials.
	BudgetSpent int
}

// Run executes a sweep of `trials` trials (for grid, 0 = the whole grid;
// a smaller count takes the grid's first points) on `parallelism` workers
// (0 = GOMAXPROCS), seeded by seed.
//
// Trials are sampled and run in batches of `parallelism`: trial i's parameters
// depend only on (seed, i) and the trials of earlier batches, and inside a
// batch trials advance band by band in lockstep, so Hyperband compares each
// band against a fixed set of values. Results are therefore identical for the
// same seed and parallelism whatever the scheduling or GOMAXPROCS. The price
// is that a batch waits for its slowest trial at each band.
//
// A failing trial is recorded in its TrialResult and the sweep goes on; Run
// returns an error only for an invalid config, cancellation (with the partial
// Result) or when every trial failed (with the Result).
func Run(ctx context.Context, cfg *SweepConfig, trials int, parallelism int, seed uint64, obj Objective, cb Callbacks) (*Result, error) {
	if cfg == nil {
		return nil, errors.New("tune: nil sweep config")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, errors.New("tune: nil objective")
	}
	r, err := newRunner(cfg, trials, parallelism, seed, obj, cb)
	if err != nil {
		return nil, err
	}
	for start := 0; start < r.total; start += r.parallelism {
		if err := ctx.Err(); err != nil {
			return r.result(), err
		}
		r.runBatch(ctx, start, min(r.parallelism, r.total-start))
	}
	res := r.result()
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if res.Best < 0 {
		return res, fmt.Errorf("tune: all %d trials failed; first: %w", len(res.Trials), res.Trials[0].Err)
	}
	return res, nil
}

type runner struct {
	cfg         *SweepConfig
	total       int
	parallelism int
	seed        uint64
	obj         Objective
	cb          Callbacks
	sampler     sampler
	history     []observation
	results     []TrialResult
	bandLosses  map[int][]float64 // losses reported at each band by all trials so far
}

func newRunner(cfg *SweepConfig, trials, parallelism int, seed uint64, obj Objective, cb Callbacks) (*runner, error) {
	r := &runner{cfg: cfg, total: trials, seed: seed, obj: obj, cb: cb, bandLosses: map[int][]float64{}}
	ds := dims(cfg)
	switch cfg.Method {
	case MethodGrid:
		points, err := cfg.GridPoints()
		if err != nil {
			return nil, err
		}
		if trials <= 0 || trials > len(points) {
			r.total = len(points)
		}
		r.sampler = gridSampler{points: points}
	case MethodRandom:
		r.sampler = randomSampler{dims: ds}
	default:
		r.sampler = newTPE(ds)
	}
	if r.total <= 0 {
		return nil, fmt.Errorf("tune: trials must be positive for %s search, got %d", cfg.Method, trials)
	}
	if parallelism <= 0 {
		parallelism = runtime.GOMAXPROCS(0)
	}
	r.parallelism = min(parallelism, r.total)
	return r, nil
}

// loss turns a metric into "lower is better".
func (r *runner) loss(metric float64) float64 {
	if r.cfg.Metric.Goal == GoalMaximize {
		return -metric
	}
	return metric
}

// trialState is a trial in flight inside a batch.
type trialState struct {
	res        TrialResult
	trial      Trial
	milestones []int // budgets to advance to; all but the last are bands
	step       int   // milestones reached
	alive      bool
}

// runBatch runs trials start..start+size-1 together: create them, advance
// them band by band (cutting the worst at each band), take their final
// metrics, then record the results in index order.
func (r *runner) runBatch(ctx context.Context, start, size int) {
	states := r.startTrials(ctx, start, size)
	r.runBands(ctx, states)
	r.finishTrials(ctx, states)
	r.record(states)
}

// startTrials samples the parameters of each trial of the batch and
// creates the trials in parallel; a trial that fails to start carries its
// error and is not alive.
func (r *runner) startTrials(ctx context.Context, start, size int) []*trialState {
	states := make([]*trialState, size)
	for k := range states {
		i := start + k
		params := r.sampler.sample(i, r.history, ml.NewRand(r.seed, uint64(i)))
		states[k] = &trialState{res: TrialResult{Index: i, Params: params, Metric: math.NaN()}}
		if r.cb.OnTrialStart != nil {
			r.cb.OnTrialStart(i, copyParams(params))
		}
	}
	r.parallel(states, func(s *trialState) {
		t0 := time.Now()
		err := guard(func() (err error) {
			s.trial, err = r.obj(ctx, copyParams(s.res.Params))
			if err == nil && s.trial == nil {
				err = errors.New("objective returned no trial")
			}
			return err
		})
		s.res.Seconds += time.Since(t0).Seconds()
		if err != nil {
			s.res.Err = fmt.Errorf("tune: trial %d: create: %w", s.res.Index, err)
			return
		}
		s.alive = true
		s.milestones = r.milestones(s.trial)
	})
	return states
}

// runBands advances the live trials one milestone per round, reports each
// band reached and applies the Hyperband cut, until no trial moves.
func (r *runner) runBands(ctx context.Context, states []*trialState) {
	for round := 0; ; round++ {
		moved := false
		r.parallel(states, func(s *trialState) {
			if s.alive && round < len(s.milestones) {
				r.advance(ctx, s)
			}
		})
		for _, s := range states {
			if s.res.Err == nil && s.step == round+1 {
				moved = true
				if r.cb.OnBand != nil {
					r.cb.OnBand(s.res.Index, s.res.Budget, s.res.Metric)
				}
			}
		}
		if !moved {
			break
		}
		r.cutBand(states, round)
	}
}

// finishTrials takes the final metrics of the trials without an error, in
// parallel.
func (r *runner) finishTrials(ctx context.Context, states []*trialState) {
	r.parallel(states, func(s *trialState) {
		if s.res.Err != nil {
			return
		}
		t0 := time.Now()
		err := guard(func() (err error) {
			s.res.Metrics, err = s.trial.Final(ctx)
			return err
		})
		s.res.Seconds += time.Since(t0).Seconds()
		if err != nil {
			s.res.Err = fmt.Errorf("tune: trial %d: final: %w", s.res.Index, err)
		}
	})
}

// record appends the batch's results (and the successful ones to the
// history the samplers learn from), in index order.
func (r *runner) record(states []*trialState) {
	for _, s := range states {
		if s.res.Err != nil {
			s.res.Metric = math.NaN()
		} else {
			r.history = append(r.history, observation{index: s.res.Index, params: s.res.Params,
				loss: r.loss(s.res.Metric), stopped: s.res.StoppedEarly, budget: s.res.Budget})
		}
		r.results = append(r.results, s.res)
		if r.cb.OnTrialEnd != nil {
			r.cb.OnTrialEnd(s.res)
		}
	}
}

// milestones lists the budgets a trial advances to: the Hyperband bands below
// its maximum, then the maximum; non-iterative trials advance once to 0.
func (r *runner) milestones(t Trial) []int {
	b, ok := t.(Budgeted)
	if !ok || b.MaxBudget() <= 0 {
		return []int{0}
	}
	max := b.MaxBudget()
	var out []int
	if r.cfg.EarlyTerminate != nil {
		out = r.cfg.EarlyTerminate.Bands(max)
	}
	return append(out, max)
}

func (r *runner) advance(ctx context.Context, s *trialState) {
	budget := s.milestones[s.step]
	t0 := time.Now()
	var metric float64
	err := guard(func() (err error) {
		metric, err = s.trial.Advance(ctx, budget)
		return err
	})
	s.res.Seconds += time.Since(t0).Seconds()
	if err == nil && math.IsNaN(metric) {
		err = errors.New("metric is NaN")
	}
	if err != nil {
		s.res.Err = fmt.Errorf("tune: trial %d: advance to %d: %w", s.res.Index, budget, err)
		s.alive = false
		return
	}
	s.res.Metric, s.res.Budget = metric, budget
	s.step++
	if s.step == len(s.milestones) {
		s.alive = false
	}
}

// cutBand applies W&B's Hyperband rule to the trials that just reached a
// band: among every loss ever reported at that band (earlier batches and this
// one), the threshold is the value at position floor(n/eta) of the sorted
// list, and a trial whose loss is above it is stopped.
func (r *runner) cutBand(states []*trialState, round int) {
	var at []*trialState
	for _, s := range states {
		if s.res.Err == nil && s.step == round+1 && s.alive {
			at = append(at, s) // reached a band (not its final budget)
		}
	}
	if len(at) == 0 {
		return
	}
	band := at[0].res.Budget
	for _, s := range at {
		r.bandLosses[band] = append(r.bandLosses[band], r.loss(s.res.Metric))
	}
	sorted := slices.Clone(r.bandLosses[band])
	sort.Float64s(sorted)
	threshold := sorted[int(float64(len(sorted))/r.cfg.EarlyTerminate.Eta)]
	for _, s := range at {
		if r.loss(s.res.Metric) > threshold {
			s.alive = false
			s.res.StoppedEarly = true
		}
	}
}

// parallel runs fn on every state on up to r.parallelism goroutines. fn
// touches only its own state, so scheduling cannot change results.
func (r *runner) parallel(states []*trialState, fn func(*trialState)) {
	_ = ml.ParallelFor(len(states), r.parallelism, func(k int) error {
		fn(states[k])
		return nil
	})
}

// guard turns a panic in caller code into an error so one bad trial cannot
// take the sweep (and the process) down.
func guard(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return fn()
}

func copyParams(p map[string]any) map[string]any {
	out := make(map[string]any, len(p))
	for k, v := range p {
		out[k] = v
	}
	return out
}

func (r *runner) result() *Result {
	res := &Result{Config: r.cfg, Seed: r.seed, Parallelism: r.parallelism,
		Trials: slices.Clone(r.results), Best: -1, BestSoFar: make([]float64, len(r.results))}
	bestLoss := math.Inf(1)
	bestStopped, bestStoppedLoss := -1, math.Inf(1)
	for i, t := range res.Trials {
		res.BudgetSpent += t.Budget
		if t.Err == nil {
			l := r.loss(t.Metric)
			if !t.StoppedEarly && (res.Best < 0 || l < bestLoss) {
				res.Best, bestLoss = i, l
			}
			if t.StoppedEarly && (bestStopped < 0 || l < bestStoppedLoss) {
				bestStopped, bestStoppedLoss = i, l
			}
		}
		res.BestSoFar[i] = math.NaN()
		if res.Best >= 0 {
			res.BestSoFar[i] = res.Trials[res.Best].Metric
		}
	}
	if res.Best < 0 {
		res.Best = bestStopped
	}
	return res
}
