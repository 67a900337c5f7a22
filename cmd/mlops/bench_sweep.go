package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/housing-mlops/mlops/pipeline"
	"github.com/housing-mlops/mlops/tune"
)

// `mlops bench sweep`: does TPE beat random search on the housing data, and
// what does Hyperband save? Each seed runs three sequential sweeps (TPE
// sees every earlier trial) of the same family on the same data: random
// search and TPE without early termination, and TPE with the family's
// Hyperband. It reports the best validation metric after each checkpoint
// and the trees grown.

// Searches the harness compares.
const (
	searchRandom = "random"
	searchTPE    = "tpe"
	searchTPEHB  = "tpe+hyperband"
)

// sweepBenchRun is one sweep of the harness.
type sweepBenchRun struct {
	Search  string           `json:"search"`
	Seed    uint64           `json:"seed"`
	BestAt  map[int]float64  `json:"best_at"` // checkpoint (trials) → best metric so far
	Best    float64          `json:"best"`
	Trees   int              `json:"trees"` // budget spent: trees grown over all trials
	Stopped int              `json:"stopped_early"`
	Seconds float64          `json:"seconds"`
	Params  []map[string]any `json:"-"` // per trial, in trial order
}

// sweepBenchSummary is one search's mean and standard deviation over seeds.
type sweepBenchSummary struct {
	Search     string          `json:"search"`
	BestAtMean map[int]float64 `json:"best_at_mean"`
	BestAtSD   map[int]float64 `json:"best_at_sd"`
	TreesMean  float64         `json:"trees_mean"`
	SecsMean   float64         `json:"seconds_mean"`
}

// sweepBenchReport is `mlops bench sweep --json`.
type sweepBenchReport struct {
	Family      string              `json:"family"`
	Metric      string              `json:"metric"`
	Goal        string              `json:"goal"`
	Trials      int                 `json:"trials"`
	Seeds       int                 `json:"seeds"`
	FitRows     int                 `json:"fit_rows"`
	ValRows     int                 `json:"validation_rows"`
	Checkpoints []int               `json:"checkpoints"`
	Runs        []sweepBenchRun     `json:"runs"`
	Summary     []sweepBenchSummary `json:"summary"`
}

// benchSweepCommand runs the harness.
func benchSweepCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench sweep", stderr)
	data := fs.String("data", "", "CSV or .tgz (default: the housing archive built in)")
	target := fs.String("target", "median_house_value", "target column")
	family := fs.String("family", "random_forest", "model family: "+strings.Join(tune.Families(), ", "))
	cfgPath := fs.String("config", "", "sweep_config.yaml (default: the family's built-in space)")
	trials := fs.Int("trials", 50, "trials per sweep")
	seeds := fs.Int("seeds", 5, "sweep seeds (1..N)")
	rows := fs.Int("rows", 0, "use a seeded sample of this many rows (0 = all)")
	checks := fs.String("checkpoints", "10,25,50", "trial counts at which to report the best so far")
	dataSeed := fs.Uint64("data-seed", 42, "seed of the data sample, splits and models (fixed across sweep seeds)")
	workers := fs.Int("workers", 0, "goroutines per model (0 = all cores)")
	splitOut := fs.String("split-out", "", "write the fit, validation and test rows (0-based data rows) to this JSON file, "+
		"to measure another implementation on the same rows (scripts/sklearn_sweep.py)")
	trialsOut := fs.String("trials-out", "", "write the parameters of the first random search's trials to this JSON file, "+
		"to time another implementation on the same trials (scripts/sklearn_sweep.py)")
	searchList := fs.String("searches", strings.Join(allSearches, ","), "searches to run, comma-separated")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the sweeps to this file (go tool pprof)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	if *trials < 1 || *seeds < 1 {
		return usagef("--trials and --seeds must be positive")
	}
	checkpoints, err := parseCheckpoints(*checks, *trials)
	if err != nil {
		return err
	}
	searches, err := parseSearches(*searchList)
	if err != nil {
		return err
	}
	d, rowsUsed, err := loadSweepData(*data, *target, *dataSeed, *rows)
	if err != nil {
		return err
	}
	if err := writeJSONFile(*splitOut, "--split-out", rowsUsed); err != nil {
		return err
	}
	base, err := loadSweepConfig(*family, *cfgPath, "")
	if err != nil {
		return err
	}
	obj, err := pipeline.SweepObjective(d, *family, base.Metric.Name, *dataSeed, *workers)
	if err != nil {
		return err
	}
	rep := sweepBenchReport{Family: *family, Metric: base.Metric.Name, Goal: base.Metric.Goal, Trials: *trials,
		Seeds: *seeds, FitRows: d.Xfit.Rows, ValRows: d.Xval.Rows, Checkpoints: checkpoints}
	stop, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	defer stop()
	if rep.Runs, err = runSweepBench(ctx, base, searches, *seeds, *trials, obj, checkpoints, stderr); err != nil {
		return err
	}
	stop()
	if err := writeTrialParams(*trialsOut, rep.Runs); err != nil {
		return err
	}
	rep.Summary = summarizeSweepBench(rep.Runs, searches, checkpoints)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return printSweepBench(stdout, rep)
}

// runSweepBench runs each search for each seed, reporting each run on
// stderr.
func runSweepBench(ctx context.Context, base *tune.SweepConfig, searches []string, seeds, trials int,
	obj tune.Objective, checkpoints []int, stderr io.Writer) ([]sweepBenchRun, error) {
	var runs []sweepBenchRun
	for s := uint64(1); s <= uint64(seeds); s++ {
		for _, search := range searches {
			run, err := benchOneSweep(ctx, base, search, trials, s, obj, checkpoints)
			if err != nil {
				return nil, fmt.Errorf("%s, seed %d: %w", search, s, err)
			}
			fmt.Fprintf(stderr, "seed %d %-14s best %s %.4f, %d trees, %.1fs\n", s, search, base.Metric.Name, run.Best, run.Trees, run.Seconds)
			runs = append(runs, run)
		}
	}
	return runs, nil
}

// writeTrialParams writes the trial parameters of the first random search
// among runs to path ("" = nothing to write).
func writeTrialParams(path string, runs []sweepBenchRun) error {
	if path == "" {
		return nil
	}
	for _, r := range runs {
		if r.Search == searchRandom {
			return writeJSONFile(path, "--trials-out", r.Params)
		}
	}
	return usagef("--trials-out needs the random search among --searches")
}

// writeJSONFile writes v as JSON to path ("" = nothing to write); errors
// name the flag that gave the path.
func writeJSONFile(path, flag string, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	return nil
}

// allSearches are the searches the harness knows, in the order it runs them.
var allSearches = []string{searchRandom, searchTPE, searchTPEHB}

// parseSearches reads --searches, keeping the harness's order.
func parseSearches(s string) ([]string, error) {
	want := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(allSearches, f) {
			return nil, usagef("--searches: unknown search %q, want some of %s", f, strings.Join(allSearches, ", "))
		}
		want[f] = true
	}
	var out []string
	for _, search := range allSearches {
		if want[search] {
			out = append(out, search)
		}
	}
	return out, nil
}

// startCPUProfile starts profiling into path ("" = no profile) and returns
// the function that stops it, safe to call more than once.
func startCPUProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}, nil
}

func parseCheckpoints(s string, trials int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || k < 1 {
			return nil, usagef("--checkpoints: %q is not a positive trial count", f)
		}
		if k <= trials {
			out = append(out, k)
		}
	}
	if len(out) == 0 || out[len(out)-1] != trials {
		out = append(out, trials) // always report the end of the sweep
	}
	return out, nil
}

// benchOneSweep runs one search of the base space, sequentially.
func benchOneSweep(ctx context.Context, base *tune.SweepConfig, search string, trials int, seed uint64,
	obj tune.Objective, checkpoints []int) (sweepBenchRun, error) {
	cfg := *base
	cfg.Method, cfg.EarlyTerminate = tune.MethodBayes, nil
	switch search {
	case searchRandom:
		cfg.Method = tune.MethodRandom
	case searchTPEHB:
		cfg.EarlyTerminate = base.EarlyTerminate
		if cfg.EarlyTerminate == nil {
			cfg.EarlyTerminate = &tune.Hyperband{MinIter: 10, Eta: 3}
		}
	}
	start := time.Now()
	res, err := tune.Run(ctx, &cfg, trials, 1, seed, obj, tune.Callbacks{})
	if err != nil {
		return sweepBenchRun{}, err
	}
	run := sweepBenchRun{Search: search, Seed: seed, BestAt: map[int]float64{}, Trees: res.BudgetSpent,
		Seconds: time.Since(start).Seconds(), Best: math.NaN()}
	for _, k := range checkpoints {
		run.BestAt[k] = res.BestSoFar[k-1]
	}
	if res.Best >= 0 {
		run.Best = res.Trials[res.Best].Metric
	}
	for _, t := range res.Trials {
		run.Params = append(run.Params, t.Params)
		if t.StoppedEarly {
			run.Stopped++
		}
	}
	return run, nil
}

func summarizeSweepBench(runs []sweepBenchRun, searches []string, checkpoints []int) []sweepBenchSummary {
	var out []sweepBenchSummary
	for _, search := range searches {
		s := sweepBenchSummary{Search: search, BestAtMean: map[int]float64{}, BestAtSD: map[int]float64{}}
		var trees, secs []float64
		for _, k := range checkpoints {
			var v []float64
			for _, r := range runs {
				if r.Search == search {
					v = append(v, r.BestAt[k])
				}
			}
			s.BestAtMean[k], s.BestAtSD[k] = meanSD(v)
		}
		for _, r := range runs {
			if r.Search == search {
				trees = append(trees, float64(r.Trees))
				secs = append(secs, r.Seconds)
			}
		}
		s.TreesMean, _ = meanSD(trees)
		s.SecsMean, _ = meanSD(secs)
		out = append(out, s)
	}
	return out
}

// meanSD is the mean and sample standard deviation (0 for one value).
func meanSD(v []float64) (mean, sd float64) {
	if len(v) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	if len(v) < 2 {
		return mean, 0
	}
	for _, x := range v {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(len(v)-1))
}

func printSweepBench(w io.Writer, rep sweepBenchReport) error {
	fmt.Fprintf(w, "%s on %d fit / %d validation rows; %d trials per sweep, %d seeds; best %s (%s), mean ± sd over seeds\n\n",
		rep.Family, rep.FitRows, rep.ValRows, rep.Trials, rep.Seeds, rep.Metric, rep.Goal)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "search\t"
	for _, k := range rep.Checkpoints {
		head += fmt.Sprintf("after %d\t", k)
	}
	fmt.Fprintln(tw, head+"trees grown\tseconds\t")
	for _, s := range rep.Summary {
		line := s.Search + "\t"
		for _, k := range rep.Checkpoints {
			line += fmt.Sprintf("%.3f ± %.3f\t", s.BestAtMean[k], s.BestAtSD[k])
		}
		fmt.Fprintln(tw, line+fmt.Sprintf("%.0f\t%.1f\t", s.TreesMean, s.SecsMean))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rep.Summary) == 3 && rep.Summary[1].TreesMean > 0 { // all three searches ran
		fmt.Fprintf(w, "\nHyperband grew %.0f %% of the trees TPE alone grew.\n", 100*rep.Summary[2].TreesMean/rep.Summary[1].TreesMean)
	}
	return nil
}
