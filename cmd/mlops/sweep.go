package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/housing-mlops/mlops/ml/selection"
	"github.com/housing-mlops/mlops/pipeline"
	"github.com/housing-mlops/mlops/postgres"
	"github.com/housing-mlops/mlops/sweep"
	"github.com/housing-mlops/mlops/tune"
)

// sweepCommand runs distributed sweeps: create one in PostgreSQL, work it
// with any number of agents on any machines, watch it. Local sweeps need
// none of this: pipeline step 06 runs them in process (tune.Run).
func sweepCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("want a subcommand: create, agent or status")
	}
	switch args[0] {
	case "create":
		return sweepCreate(ctx, args[1:], stdout, stderr)
	case "agent":
		return sweepAgent(ctx, args[1:], stdout, stderr)
	case "status":
		return sweepStatus(ctx, args[1:], stdout, stderr)
	default:
		return usagef("unknown subcommand %q: want create, agent or status", args[0])
	}
}

// sweepStoreDSN is --store, else MLOPS_TRACKING_URI; it must be PostgreSQL,
// the one store several machines can share.
func sweepStoreDSN(flagValue string) (string, error) {
	dsn := flagValue
	if dsn == "" {
		dsn = os.Getenv(envTrackingURI)
	}
	if !strings.HasPrefix(dsn, "postgres://") && !strings.HasPrefix(dsn, "postgresql://") {
		return "", usagef("--store (or %s) must be a postgres:// DSN: distributed sweeps live in PostgreSQL; "+
			"for a sweep on one machine use `mlops run` (step 06)", envTrackingURI)
	}
	return dsn, nil
}

func sweepCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sweep create", stderr)
	store := fs.String("store", "", "PostgreSQL DSN (default $"+envTrackingURI+")")
	family := fs.String("family", "random_forest", "model family the agents train: "+strings.Join(tune.Families(), ", "))
	cfgPath := fs.String("config", "", "sweep_config.yaml (default: the family's built-in space)")
	method := fs.String("method", "", "override the search method: bayes (TPE), random or grid")
	trials := fs.Int("trials", 50, "trials to run (grid: 0 = the whole grid)")
	seed := fs.Uint64("seed", 42, "sampler seed")
	experiment := fs.String("experiment", "sweeps", "experiment of the sweep's tracking run")
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected arguments %v", fs.Args())
	}
	dsn, err := sweepStoreDSN(*store)
	if err != nil {
		return err
	}
	cfg, err := loadSweepConfig(*family, *cfgPath, *method)
	if err != nil {
		return err
	}
	s, err := postgres.OpenSweepQueue(ctx, dsn)
	if err != nil {
		return err
	}
	defer s.Close()
	id, err := sweep.Create(ctx, s, cfg, *trials, *seed, *family)
	if err != nil {
		return err
	}
	tracker, err := postgres.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer tracker.Close()
	runID, err := sweep.Track(ctx, s, tracker, id, *experiment)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "created sweep %s (%s, %s on %s, tracking run %s); run agents with:\n  mlops sweep agent %s --store ...\n",
		id, *family, cfg.Method, cfg.Metric.Name, runID, id)
	fmt.Fprintln(stdout, id)
	return nil
}

// loadSweepConfig reads a sweep file or takes the family's default space,
// then applies a method override.
func loadSweepConfig(family, path, method string) (*tune.SweepConfig, error) {
	var cfg *tune.SweepConfig
	var err error
	if path != "" {
		b, rerr := os.ReadFile(path)
		if rerr != nil {
			return nil, rerr
		}
		if cfg, err = tune.ParseSweepConfig(b); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	} else if cfg, err = tune.DefaultSpace(family); err != nil {
		return nil, usagef("--family: %v", err)
	}
	switch method {
	case "":
	case "tpe":
		cfg.Method = tune.MethodBayes
	default:
		cfg.Method = method
	}
	if err := cfg.Validate(); err != nil {
		return nil, usagef("%v", err)
	}
	return cfg, nil
}

// splitIDArg accepts the sweep ID before or after the flags.
func splitIDArg(args []string) (id string, rest []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

func sweepAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	id, args := splitIDArg(args)
	fs := newFlagSet("sweep agent", stderr)
	store := fs.String("store", "", "PostgreSQL DSN (default $"+envTrackingURI+")")
	worker := fs.String("worker", "", "this agent's name (default host-pid)")
	lease := fs.Duration("lease", sweep.DefaultLease, "trial lease; a crashed agent's trial is retried after it")
	count := fs.Int("count", 0, "stop after this many trials (0 = until the sweep is done)")
	data := fs.String("data", "", "CSV or .tgz to train on (default: the housing archive built in)")
	target := fs.String("target", "median_house_value", "target column")
	dataSeed := fs.Uint64("data-seed", 42, "seed of the test hold-out and the fit/validation split")
	rows := fs.Int("rows", 0, "use a seeded sample of this many rows (0 = all)")
	workers := fs.Int("workers", 0, "goroutines per model (0 = all cores)")
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	} else if fs.NArg() > 0 || id == "" {
		return usagef("want exactly one SWEEP_ID")
	}
	if *lease < time.Second {
		return usagef("--lease %v is too short (want at least 1s)", *lease)
	}
	dsn, err := sweepStoreDSN(*store)
	if err != nil {
		return err
	}
	s, err := postgres.OpenSweepQueue(ctx, dsn)
	if err != nil {
		return err
	}
	defer s.Close()
	sw, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	d, _, err := loadSweepData(*data, *target, *dataSeed, *rows)
	if err != nil {
		return err
	}
	obj, err := pipeline.SweepObjective(d, sw.Family, sw.Config.Metric.Name, sw.Seed, *workers)
	if err != nil {
		return err
	}
	tracker, err := postgres.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer tracker.Close()
	a := &sweep.Agent{Queue: s, Worker: *worker, Objective: obj, Lease: *lease, Count: *count, Tracker: tracker,
		Log: slog.New(slog.NewTextHandler(stderr, nil))}
	if err := a.Run(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "agent %s: done with sweep %s\n", a.Worker, id)
	return nil
}

// sweepStatusJSON is `mlops sweep status --json`.
type sweepStatusJSON struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Family      string         `json:"family"`
	Method      string         `json:"method"`
	Metric      string         `json:"metric"`
	Goal        string         `json:"goal"`
	Status      string         `json:"status"`
	Target      int            `json:"trials_target"`
	Seed        uint64         `json:"seed"`
	RunID       string         `json:"run_id,omitempty"`
	Counts      map[string]int `json:"counts"`
	BudgetSpent int            `json:"budget_spent"`
	Best        *trialJSON     `json:"best,omitempty"`
	Trials      []trialJSON    `json:"trials"`
}

type trialJSON struct {
	Index    int                `json:"index"`
	Status   string             `json:"status"`
	Worker   string             `json:"worker"`
	Attempts int                `json:"attempts"`
	Metric   *float64           `json:"metric,omitempty"`
	Budget   int                `json:"budget"`
	Params   map[string]any     `json:"params"`
	Metrics  map[string]float64 `json:"metrics,omitempty"`
	Error    string             `json:"error,omitempty"`
	RunID    string             `json:"run_id,omitempty"`
}

func sweepStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	id, args := splitIDArg(args)
	fs := newFlagSet("sweep status", stderr)
	store := fs.String("store", "", "PostgreSQL DSN (default $"+envTrackingURI+")")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	} else if fs.NArg() > 0 || id == "" {
		return usagef("want exactly one SWEEP_ID")
	}
	dsn, err := sweepStoreDSN(*store)
	if err != nil {
		return err
	}
	s, err := postgres.OpenSweepQueue(ctx, dsn)
	if err != nil {
		return err
	}
	defer s.Close()
	sw, err := s.Get(ctx, id)
	if errors.Is(err, sweep.ErrNotFound) {
		return fmt.Errorf("no sweep %q in this store", id)
	}
	if err != nil {
		return err
	}
	trials, err := s.Trials(ctx, id)
	if err != nil {
		return err
	}
	st := buildStatus(sw, trials)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	return printSweepStatus(stdout, st)
}

func buildStatus(sw *sweep.Sweep, trials []sweep.TrialRow) sweepStatusJSON {
	sum := sweep.Summarize(sw.Config, trials)
	st := sweepStatusJSON{ID: sw.ID, Name: sw.Name, Family: sw.Family, Method: sw.Config.Method, Metric: sw.Config.Metric.Name,
		Goal: sw.Config.Metric.Goal, Status: sw.Status, Target: sw.Trials, Seed: sw.Seed, RunID: sw.RunID,
		Counts: sum.Counts, BudgetSpent: sum.BudgetSpent, Trials: []trialJSON{}}
	for _, t := range trials {
		tj := trialJSON{Index: t.Index, Status: t.Status, Worker: t.Worker, Attempts: t.Attempts, Budget: t.Budget,
			Params: t.Params, Metrics: t.Metrics, Error: t.Error, RunID: t.RunID}
		if !math.IsNaN(t.Metric) {
			m := t.Metric
			tj.Metric = &m
		}
		st.Trials = append(st.Trials, tj)
	}
	if sum.Best >= 0 {
		best := st.Trials[sum.Best]
		st.Best = &best
	}
	return st
}

func printSweepStatus(w io.Writer, st sweepStatusJSON) error {
	var counts []string
	for k, n := range st.Counts {
		counts = append(counts, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(counts)
	fmt.Fprintf(w, "sweep %s (%s): %s, %s %s %s, %d/%d trials [%s], %d trees grown\n", st.ID, st.Family, st.Status,
		st.Method, st.Goal, st.Metric, len(st.Trials), st.Target, strings.Join(counts, ", "), st.BudgetSpent)
	if st.Best != nil {
		fmt.Fprintf(w, "best: trial %d, %s %.4f, %s\n", st.Best.Index, st.Metric, *st.Best.Metric,
			selection.FormatParams(st.Best.Params))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "trial\tstatus\tworker\tattempts\t%s\tbudget\tparams\n", st.Metric)
	for _, t := range st.Trials {
		metric := "-"
		if t.Metric != nil {
			metric = fmt.Sprintf("%.4f", *t.Metric)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%d\t%s\n", t.Index, t.Status, t.Worker, t.Attempts, metric, t.Budget,
			selection.FormatParams(t.Params))
	}
	return tw.Flush()
}
