package ui

import (
	"cmp"
	"context"
	"html/template"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/chart"
)

// Trials are the child runs of a sweep run tagged mlops.kind=trial (package
// pipeline, sweep.go): params are the trial's hyperparameters, metrics the
// sweep metric and the other validation metrics plus "seconds" and
// "budget", and the tag stopped_early says whether Hyperband stopped it.

type sweepRow struct {
	ID, Name, Experiment string
	Start                time.Time
	Trials               int
	Stopped              int
}

func (h *handler) sweepsPage(w http.ResponseWriter, r *http.Request) {
	if h.deps.Tracker == nil {
		h.notConfigured(w, r, "Sweeps", "sweeps", "The tracking store")
		return
	}
	ctx := r.Context()
	exps, err := h.deps.Tracker.SearchExperiments(ctx, false)
	if err != nil {
		h.failErr(w, r, "listing experiments", err)
		return
	}
	var rows []sweepRow
	for _, e := range exps {
		trials, _, err := h.deps.Tracker.SearchRuns(ctx, mlops.RunFilter{ExperimentIDs: []string{e.ID},
			Tags: map[string]string{tagKind: kindTrial}, MaxResults: 5000})
		if err != nil {
			h.failErr(w, r, "listing trials", err)
			return
		}
		rows = append(rows, h.groupSweeps(ctx, e.Name, trials)...)
	}
	slices.SortFunc(rows, func(a, b sweepRow) int { return b.Start.Compare(a.Start) })
	h.render(w, r, http.StatusOK, "sweeps", page{Title: "Sweeps", Nav: "sweeps", Data: rows})
}

func (h *handler) groupSweeps(ctx context.Context, exp string, trials []*mlops.Run) []sweepRow {
	by := map[string]*sweepRow{}
	var order []string
	for _, t := range trials {
		if t.Tags[tagKind] != kindTrial {
			continue
		}
		p := firstNonEmpty(t.ParentID, t.Tags[tagParentRunID])
		row, ok := by[p]
		if !ok {
			row = &sweepRow{ID: p, Experiment: exp}
			if parent, err := h.deps.Tracker.GetRun(ctx, p); err == nil {
				row.Name, row.Start = firstNonEmpty(parent.Tags[tagStep], parent.Name), parent.StartTime
			}
			by[p] = row
			order = append(order, p)
		}
		row.Trials++
		if t.Tags[tagStopped] == "true" {
			row.Stopped++
		}
	}
	out := make([]sweepRow, 0, len(order))
	for _, p := range order {
		out = append(out, *by[p])
	}
	return out
}

// trial is one trial as the sweep page uses it.
type trial struct {
	ID, Name, Status string
	N                int // 1-based order of start
	Stopped          bool
	Params           map[string]string
	Metrics          map[string]float64
}

type sweepView struct {
	Run        *mlops.Run
	Metric     string
	Goal       string
	Metrics    []string // metric columns
	Params     []string // param columns
	Trials     []trial
	Shown      int
	Stopped    int
	Sort, Dir  string
	Min, Max   string
	SortLinks  map[string]string
	BestCurve  template.HTML
	Parallel   template.HTML
	BestTrial  string
	BestMetric string
}

func (h *handler) sweepPage(w http.ResponseWriter, r *http.Request) {
	if h.deps.Tracker == nil {
		h.notConfigured(w, r, "Sweep", "sweeps", "The tracking store")
		return
	}
	ctx := r.Context()
	run, err := h.deps.Tracker.GetRun(ctx, r.PathValue("id"))
	if err != nil {
		h.failErr(w, r, "reading the sweep run", err)
		return
	}
	children, err := h.children(ctx, run)
	if err != nil {
		h.failErr(w, r, "listing trials", err)
		return
	}
	v := buildSweep(run, children, r.URL.Query())
	h.render(w, r, http.StatusOK, "sweep", page{Title: "Sweep " + firstNonEmpty(run.Tags[tagStep], run.Name), Nav: "sweeps", Data: v})
}

// buildSweep assembles the page from the sweep run and its trials.
func buildSweep(run *mlops.Run, children []*mlops.Run, q url.Values) *sweepView {
	v := &sweepView{Run: run}
	metricSet, paramSet := map[string]bool{}, map[string]bool{}
	slices.SortStableFunc(children, func(a, b *mlops.Run) int { return a.StartTime.Compare(b.StartTime) })
	for _, c := range children {
		if c.Tags[tagKind] != kindTrial {
			continue
		}
		t := trial{ID: c.ID, Name: c.Name, Status: string(c.Status), N: len(v.Trials) + 1,
			Stopped: c.Tags[tagStopped] == "true", Params: c.Params, Metrics: map[string]float64{}}
		for _, m := range c.Metrics {
			t.Metrics[m.Key] = m.Value
			if m.Key != "seconds" && m.Key != "budget" {
				metricSet[m.Key] = true
			}
		}
		for k := range c.Params {
			paramSet[k] = true
		}
		if t.Stopped {
			v.Stopped++
		}
		v.Trials = append(v.Trials, t)
	}
	v.Metrics = slices.Sorted(maps.Keys(metricSet))
	v.Params = slices.Sorted(maps.Keys(paramSet))
	v.Metric, v.Goal = sweepMetric(run, v.Metrics)
	if m := q.Get("metric"); metricSet[m] {
		v.Metric = m
		v.Goal = defaultGoal(m)
	}
	all := v.Trials
	v.BestCurve = bestSoFar(all, v.Metric, v.Goal)
	v.Parallel = parallelCoords(all, v.Params, v.Metric, v.Goal)
	if b := bestTrial(all, v.Metric, v.Goal); b != nil {
		v.BestTrial, v.BestMetric = b.Name, chart.Num(b.Metrics[v.Metric])
	}
	v.Min, v.Max = q.Get("min"), q.Get("max")
	v.Trials = filterTrials(all, v.Metric, v.Min, v.Max)
	v.Shown = len(v.Trials)
	v.Sort, v.Dir = q.Get("sort"), q.Get("dir")
	if v.Sort == "" {
		v.Sort, v.Dir = "m:"+v.Metric, map[string]string{"maximize": "desc"}[v.Goal]
	}
	sortTrials(v.Trials, v.Sort, v.Dir == "desc")
	v.SortLinks = sortLinks(q, append(append([]string{"n", "status"}, prefixAll("m:", v.Metrics)...), prefixAll("p:", v.Params)...), v.Sort, v.Dir)
	return v
}

func prefixAll(p string, xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = p + x
	}
	return out
}

// sweepMetric finds the sweep's metric: the sweep step's "sweep.metric"
// param, else the "best_<metric>" metric it logs, else the first one.
func sweepMetric(run *mlops.Run, metrics []string) (string, string) {
	name := ""
	goal := ""
	for k, val := range run.Params {
		switch {
		case strings.HasSuffix(k, "sweep.metric") || k == "metric":
			name = val
		case strings.HasSuffix(k, "sweep.goal") || k == "goal":
			goal = val
		}
	}
	if name == "" {
		for _, m := range run.Metrics {
			if strings.HasPrefix(m.Key, "best_") && !strings.HasPrefix(m.Key, "best_val_") {
				name = strings.TrimPrefix(m.Key, "best_")
			}
		}
	}
	if name == "" && len(metrics) > 0 {
		name = metrics[0]
	}
	goal = strings.ToLower(goal)
	if goal != "maximize" && goal != "minimize" {
		goal = defaultGoal(name)
	}
	return name, goal
}

// defaultGoal: error metrics go down, scores (R², explained variance) up.
func defaultGoal(metric string) string {
	m := strings.ToLower(metric)
	if strings.Contains(m, "r2") || strings.Contains(m, "score") || strings.Contains(m, "within") || strings.Contains(m, "explained") {
		return "maximize"
	}
	return "minimize"
}

func better(a, b float64, goal string) bool {
	if goal == "maximize" {
		return a > b
	}
	return a < b
}

func bestTrial(ts []trial, metric, goal string) *trial {
	var best *trial
	for i := range ts {
		x, ok := ts[i].Metrics[metric]
		if !ok || math.IsNaN(x) {
			continue
		}
		if best == nil || better(x, best.Metrics[metric], goal) {
			best = &ts[i]
		}
	}
	return best
}

func filterTrials(ts []trial, metric, lo, hi string) []trial {
	l, errL := strconv.ParseFloat(lo, 64)
	u, errU := strconv.ParseFloat(hi, 64)
	if errL != nil && errU != nil {
		return slices.Clone(ts)
	}
	var out []trial
	for _, t := range ts {
		x, ok := t.Metrics[metric]
		if !ok || (errL == nil && x < l) || (errU == nil && x > u) {
			continue
		}
		out = append(out, t)
	}
	return out
}

// sortTrials orders by a column key: "n", "status", "m:<metric>" or
// "p:<param>" (numerically when both values are numbers). Missing values
// go last either way.
func sortTrials(ts []trial, key string, desc bool) {
	val := func(t trial) (float64, string, bool) {
		switch {
		case key == "n":
			return float64(t.N), "", true
		case key == "status":
			return math.NaN(), t.Status, true
		case strings.HasPrefix(key, "m:"):
			x, ok := t.Metrics[key[2:]]
			return x, "", ok
		case strings.HasPrefix(key, "p:"):
			s, ok := t.Params[key[2:]]
			x, err := strconv.ParseFloat(s, 64)
			if err != nil {
				x = math.NaN()
			}
			return x, s, ok
		}
		return float64(t.N), "", true
	}
	slices.SortStableFunc(ts, func(a, b trial) int {
		xa, sa, oka := val(a)
		xb, sb, okb := val(b)
		if oka != okb {
			if oka {
				return -1
			}
			return 1
		}
		c := 0
		if !math.IsNaN(xa) && !math.IsNaN(xb) {
			c = cmp.Compare(xa, xb)
		} else {
			c = strings.Compare(sa, sb)
		}
		if desc {
			c = -c
		}
		return c
	})
}

// sortLinks gives each column header a link that sorts by it, flipping the
// direction of the current column.
func sortLinks(q url.Values, keys []string, cur, dir string) map[string]string {
	out := map[string]string{}
	for _, k := range keys {
		nq := url.Values{}
		for kk, vv := range q {
			nq[kk] = vv
		}
		nq.Set("sort", k)
		d := "asc"
		if k == cur && dir != "desc" {
			d = "desc"
		}
		nq.Set("dir", d)
		out[k] = "?" + nq.Encode()
	}
	return out
}

// bestSoFar draws each trial's metric and the best value reached so far.
func bestSoFar(ts []trial, metric, goal string) template.HTML {
	var xs, ys, best []float64
	cur := math.NaN()
	for _, t := range ts {
		x, ok := t.Metrics[metric]
		xs = append(xs, float64(t.N))
		if !ok {
			ys = append(ys, math.NaN())
			best = append(best, cur)
			continue
		}
		ys = append(ys, x)
		if math.IsNaN(cur) || better(x, cur, goal) {
			cur = x
		}
		best = append(best, cur)
	}
	o := chart.Options{Title: "Best " + metric + " so far by trial", XLabel: "trial", YLabel: metric, Width: 640, Height: 280}
	svg, err := chart.LineChart{Options: o, IntegerX: true, Series: []chart.Series{
		{Name: "trial " + metric, X: xs, Y: ys, Class: "s2", Draw: chart.Dots},
		{Name: "best so far", X: xs, Y: best, Class: "s1", Draw: chart.Steps},
	}}.SVG()
	return inline(svg, err, o, "line", "no trial has reported "+metric+" yet")
}

// parallelCoords draws one vertical axis per parameter and one for the
// metric, and each trial as a line across them coloured by its metric
// (yellow is best); stopped trials are dashed.
func parallelCoords(ts []trial, params []string, metric, goal string) template.HTML {
	o := chart.Options{Title: "Parallel coordinates of the trials, coloured by " + metric, Width: 900, Height: 320}
	names := append(slices.Clone(params), metric)
	if len(ts) == 0 || len(names) < 2 {
		return template.HTML(chart.Message(o, "parallel", "not enough trials or parameters to draw"))
	}
	axes := make([]chart.Axis, len(names))
	pos := make([]func(trial) float64, len(names))
	for i, name := range names {
		axes[i], pos[i] = trialAxis(ts, name, i == len(names)-1)
	}
	ms := make([]float64, 0, len(ts))
	for _, t := range ts {
		if x, ok := t.Metrics[metric]; ok {
			ms = append(ms, x)
		}
	}
	lo, hi := chart.Extent(ms)
	lines := make([]chart.Polyline, 0, len(ts))
	for _, t := range ts {
		x, ok := t.Metrics[metric]
		if !ok {
			x = math.NaN()
		}
		l := chart.Polyline{Name: t.Name + ": " + metric + " " + chart.Num(x), Colour: math.NaN(), Dashed: t.Stopped}
		for i := range names {
			l.Pos = append(l.Pos, pos[i](t))
		}
		if hi > lo { // NaN metrics stay grey
			l.Colour = (x - lo) / (hi - lo)
			if goal != "maximize" {
				l.Colour = 1 - l.Colour
			}
		}
		lines = append(lines, l)
	}
	svg, err := chart.ParallelChart{Options: o, Axes: axes, Lines: lines}.SVG()
	return inline(svg, err, o, "parallel", "not enough trials or parameters to draw")
}

// trialAxis is the axis of one parameter (or the metric) and where a
// trial falls on it in [0, 1], NaN for a trial without a value. Numeric
// values are scaled linearly between the least and greatest; other
// values are spread as categories in sorted order.
func trialAxis(ts []trial, name string, isMetric bool) (chart.Axis, func(trial) float64) {
	get := func(t trial) (string, float64, bool) {
		if isMetric {
			v, ok := t.Metrics[name]
			return "", v, ok && !math.IsNaN(v)
		}
		str, ok := t.Params[name]
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			v = math.NaN()
		}
		return str, v, ok
	}
	numeric := true
	cats := map[string]bool{}
	var vals []float64
	for _, t := range ts {
		if str, v, ok := get(t); ok {
			numeric = numeric && !math.IsNaN(v)
			cats[str] = true
			vals = append(vals, v)
		}
	}
	a := chart.Axis{Name: shortName(name)}
	var at func(string, float64) float64
	if lo, hi := chart.Extent(vals); numeric {
		lin := chart.Linear(lo, hi, 0, 1)
		at = func(_ string, v float64) float64 { return lin(v) }
		a.Ticks = []chart.Tick{{Pos: lin(lo), Label: chart.Num(lo)}}
		if hi > lo {
			a.Ticks = append(a.Ticks, chart.Tick{Pos: 1, Label: chart.Num(hi)})
		}
	} else {
		order := slices.Sorted(maps.Keys(cats))
		idx := make(map[string]float64, len(order))
		spread := chart.Linear(0, float64(max(len(order)-1, 1)), 0, 1)
		for i, c := range order {
			idx[c] = spread(float64(i))
			a.Ticks = append(a.Ticks, chart.Tick{Pos: idx[c], Label: c})
		}
		at = func(s string, _ float64) float64 { return idx[s] }
	}
	return a, func(t trial) float64 {
		if str, v, ok := get(t); ok {
			return at(str, v)
		}
		return math.NaN()
	}
}

// shortName drops the dotted prefix of flattened params (model.max_depth).
func shortName(s string) string {
	if i := strings.LastIndex(s, "."); i >= 0 && i < len(s)-1 {
		return s[i+1:]
	}
	return s
}
