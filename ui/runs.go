package ui

import (
	"context"
	"maps"
	"math"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/chart"
)

// Tags the pipeline writes (package pipeline, runner.go and sweep.go); the
// UI reads them to tell pipelines, steps and sweep trials apart.
const (
	tagKind        = "mlops.kind"
	tagStep        = "mlops.step"
	tagCachedFrom  = "mlops.cached_from"
	tagError       = "mlops.error"
	tagSummary     = "mlops.summary."
	tagParentRunID = "mlflow.parentRunId"
	tagStopped     = "stopped_early"
	kindTrial      = "trial"
	metricStepSecs = "step_seconds"
)

// maxListedRuns bounds the runs listed on one page.
const maxListedRuns = 200

type runRow struct {
	ID, Name, Status, Experiment, Kind string
	Start                              time.Time
	Seconds                            float64
}

type runsView struct {
	Runs []runRow
}

// topLevelRuns returns the runs that have no parent (pipelines and
// stand-alone runs), newest first, across every active experiment.
func (h *handler) topLevelRuns(ctx context.Context) ([]*mlops.Run, map[string]string, error) {
	exps, err := h.deps.Tracker.SearchExperiments(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	names := map[string]string{}
	var ids []string
	for _, e := range exps {
		names[e.ID] = e.Name
		ids = append(ids, e.ID)
	}
	if len(ids) == 0 {
		return nil, names, nil
	}
	// Pipeline runs first: a plain listing could be crowded out by the
	// many step and trial runs. Runs made by other tools have no such tag,
	// so an empty answer falls back to every run.
	f := mlops.RunFilter{ExperimentIDs: ids, OrderBy: []string{"start_time DESC"}, MaxResults: maxListedRuns,
		Tags: map[string]string{tagKind: "pipeline"}}
	runs, _, err := h.deps.Tracker.SearchRuns(ctx, f)
	if err == nil && len(runs) == 0 {
		f.Tags, f.MaxResults = nil, 1000
		runs, _, err = h.deps.Tracker.SearchRuns(ctx, f)
	}
	if err != nil {
		return nil, nil, err
	}
	var out []*mlops.Run
	for _, r := range runs {
		if r.ParentID == "" && r.Tags[tagParentRunID] == "" && len(out) < maxListedRuns {
			out = append(out, r)
		}
	}
	return out, names, nil
}

func (h *handler) runsPage(w http.ResponseWriter, r *http.Request) {
	if h.deps.Tracker == nil {
		h.notConfigured(w, r, "Runs", "runs", "The tracking store")
		return
	}
	runs, names, err := h.topLevelRuns(r.Context())
	if err != nil {
		h.failErr(w, r, "listing runs", err)
		return
	}
	now := time.Now()
	var v runsView
	for _, run := range runs {
		v.Runs = append(v.Runs, runRow{ID: run.ID, Name: run.Name, Status: string(run.Status), Experiment: names[run.ExperimentID],
			Kind: run.Tags[tagKind], Start: run.StartTime, Seconds: runSeconds(run.StartTime, run.EndTime, now)})
	}
	h.render(w, r, http.StatusOK, "runs", page{Title: "Runs", Nav: "runs", Data: v})
}

// stepRow is one step of a pipeline run.
type stepRow struct {
	ID, Name, Status, CachedFrom, Error string
	Seconds                             float64
	Trials                              bool
	Metrics                             []kv
	Plots                               []plotLink
}

type kv struct{ Key, Value string }

type plotLink struct{ Name, URL string }

type runView struct {
	Run     *mlops.Run
	Seconds float64
	Params  []kv
	Metrics []kv
	Summary []kv
	Steps   []stepRow
	Plots   []plotLink
	Max     float64 // the longest step, for the duration bars
}

func (h *handler) runPage(w http.ResponseWriter, r *http.Request) {
	if h.deps.Tracker == nil {
		h.notConfigured(w, r, "Runs", "runs", "The tracking store")
		return
	}
	ctx := r.Context()
	run, err := h.deps.Tracker.GetRun(ctx, r.PathValue("id"))
	if err != nil {
		h.failErr(w, r, "reading run", err)
		return
	}
	children, err := h.children(ctx, run)
	if err != nil {
		h.failErr(w, r, "listing the run's steps", err)
		return
	}
	now := time.Now()
	v := runView{Run: run, Seconds: runSeconds(run.StartTime, run.EndTime, now), Params: sortedKV(run.Params),
		Metrics: metricKV(run.Metrics), Plots: h.plots(ctx, run.ID)}
	for k, val := range run.Tags {
		if strings.HasPrefix(k, tagSummary) {
			v.Summary = append(v.Summary, kv{strings.TrimPrefix(k, tagSummary), val})
		}
	}
	slices.SortFunc(v.Summary, func(a, b kv) int { return strings.Compare(a.Key, b.Key) })
	for _, c := range children {
		st := stepRow{ID: c.ID, Name: firstNonEmpty(c.Tags[tagStep], c.Name), Status: string(c.Status),
			CachedFrom: c.Tags[tagCachedFrom], Error: c.Tags[tagError], Seconds: metricValue(c.Metrics, metricStepSecs)}
		if math.IsNaN(st.Seconds) {
			st.Seconds = runSeconds(c.StartTime, c.EndTime, now)
		}
		for _, m := range metricKV(c.Metrics) {
			if m.Key != metricStepSecs && m.Key != "step_cpu_seconds" {
				st.Metrics = append(st.Metrics, m)
			}
		}
		st.Plots = h.plots(ctx, c.ID)
		st.Trials = h.hasTrials(ctx, c)
		v.Max = math.Max(v.Max, st.Seconds)
		v.Steps = append(v.Steps, st)
	}
	h.render(w, r, http.StatusOK, "run", page{Title: "Run " + firstNonEmpty(run.Name, shortID(run.ID)), Nav: "runs", Data: v})
}

// children lists a run's child runs in start order.
func (h *handler) children(ctx context.Context, run *mlops.Run) ([]*mlops.Run, error) {
	runs, _, err := h.deps.Tracker.SearchRuns(ctx, mlops.RunFilter{ExperimentIDs: []string{run.ExperimentID},
		ParentID: run.ID, OrderBy: []string{"start_time ASC"}, MaxResults: 1000})
	if err != nil {
		return nil, err
	}
	// A store may ignore ParentID; re-check so steps never mix.
	out := runs[:0:0]
	for _, c := range runs {
		if c.ParentID == run.ID || c.Tags[tagParentRunID] == run.ID {
			out = append(out, c)
		}
	}
	return out, nil
}

func (h *handler) hasTrials(ctx context.Context, run *mlops.Run) bool {
	runs, _, err := h.deps.Tracker.SearchRuns(ctx, mlops.RunFilter{ExperimentIDs: []string{run.ExperimentID},
		ParentID: run.ID, Tags: map[string]string{tagKind: kindTrial}, MaxResults: 1})
	return err == nil && len(runs) > 0 && (runs[0].ParentID == run.ID || runs[0].Tags[tagParentRunID] == run.ID)
}

// plots lists a run's plot artifacts: SVG, drawn by package chart, and
// PNG from runs recorded before the pipeline drew SVG (the pipeline
// stores them under runs/<run id>/plots/).
func (h *handler) plots(ctx context.Context, runID string) []plotLink {
	if h.deps.Artifacts == nil {
		return nil
	}
	prefix := "runs/" + runID + "/"
	infos, err := h.deps.Artifacts.List(ctx, prefix)
	if err != nil {
		h.deps.Logger.Warn("ui: listing artifacts", "run", runID, "err", err)
		return nil
	}
	var out []plotLink
	for _, a := range infos {
		rel := strings.TrimPrefix(a.Path, prefix)
		if plotType(rel) != "" && rel != a.Path {
			base := path.Base(rel)
			out = append(out, plotLink{Name: strings.TrimSuffix(base, path.Ext(base)), URL: "/ui/runs/" + runID + "/artifacts/" + rel})
		}
	}
	slices.SortFunc(out, func(a, b plotLink) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// plotType is the content type of a plot artifact by its name, "" for
// any other artifact.
func plotType(rel string) string {
	switch strings.ToLower(path.Ext(rel)) {
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	}
	return ""
}

// artifact serves one plot artifact of a run. Only plots are served, with
// their own content type; an SVG is also sandboxed without scripts, so an
// artifact can never run as a page of this origin, even opened directly.
func (h *handler) artifact(w http.ResponseWriter, r *http.Request) {
	id, rel := r.PathValue("id"), r.PathValue("path")
	ct := plotType(rel)
	if h.deps.Artifacts == nil || id == "" || strings.Contains(id, "..") || strings.Contains(rel, "..") || ct == "" {
		h.fail(w, r, http.StatusNotFound, "no such artifact")
		return
	}
	b, err := h.deps.Artifacts.Get(r.Context(), "runs/"+id+"/"+rel, "")
	if err != nil {
		h.fail(w, r, http.StatusNotFound, "no such artifact: "+rel)
		return
	}
	w.Header().Set("Content-Type", ct)
	if ct == "image/svg+xml" {
		// The chart's embedded stylesheet is all it may use.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	}
	w.Header().Set("Cache-Control", "private, max-age=3600")
	_, _ = w.Write(b)
}

// compareView puts two runs side by side.
type compareView struct {
	A, B    *mlops.Run
	Params  []cmpRow
	Metrics []cmpRow
}

type cmpRow struct {
	Key, A, B, Delta string
	Differs          bool
}

func (h *handler) comparePage(w http.ResponseWriter, r *http.Request) {
	if h.deps.Tracker == nil {
		h.notConfigured(w, r, "Compare runs", "runs", "The tracking store")
		return
	}
	ids := r.URL.Query()["run"]
	if len(ids) != 2 {
		h.render(w, r, http.StatusBadRequest, "error", page{Title: "Compare runs", Nav: "runs",
			Error: "Choose exactly two runs to compare (ticked: " + strconv.Itoa(len(ids)) + ")."})
		return
	}
	ctx := r.Context()
	var runs [2]*mlops.Run
	var params, metrics [2]map[string]string
	var values [2]map[string]float64
	for i, id := range ids {
		run, err := h.deps.Tracker.GetRun(ctx, id)
		if err != nil {
			h.failErr(w, r, "reading run "+id, err)
			return
		}
		runs[i] = run
		if params[i], metrics[i], values[i], err = h.flatten(ctx, run); err != nil {
			h.failErr(w, r, "reading the steps of run "+id, err)
			return
		}
	}
	v := compareView{A: runs[0], B: runs[1], Params: cmpRows(params, [2]map[string]float64{}), Metrics: cmpRows(metrics, values)}
	h.render(w, r, http.StatusOK, "compare", page{Title: "Compare runs", Nav: "runs", Data: v})
}

// flatten gathers a run's own params and metrics and those of its steps,
// the latter prefixed with the step's name.
func (h *handler) flatten(ctx context.Context, run *mlops.Run) (map[string]string, map[string]string, map[string]float64, error) {
	params, metrics, values := map[string]string{}, map[string]string{}, map[string]float64{}
	add := func(prefix string, r *mlops.Run) {
		for k, v := range r.Params {
			params[prefix+k] = v
		}
		for _, m := range r.Metrics {
			metrics[prefix+m.Key] = chart.Num(m.Value)
			values[prefix+m.Key] = m.Value
		}
	}
	add("", run)
	children, err := h.children(ctx, run)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, c := range children {
		add(firstNonEmpty(c.Tags[tagStep], c.Name)+" / ", c)
	}
	return params, metrics, values, nil
}

func cmpRows(m [2]map[string]string, vals [2]map[string]float64) []cmpRow {
	keys := map[string]bool{}
	for _, x := range m {
		for k := range x {
			keys[k] = true
		}
	}
	var out []cmpRow
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		a, okA := m[0][k]
		b, okB := m[1][k]
		row := cmpRow{Key: k, A: orDash(a, okA), B: orDash(b, okB), Differs: a != b || okA != okB}
		if vals[0] != nil && okA && okB {
			if d := vals[1][k] - vals[0][k]; d != 0 {
				row.Delta = signed(d)
			}
		}
		out = append(out, row)
	}
	return out
}

func signed(d float64) string {
	if d > 0 {
		return "+" + chart.Num(d)
	}
	return chart.Num(d)
}

func orDash(s string, ok bool) string {
	if !ok {
		return "—"
	}
	return s
}

func sortedKV(m map[string]string) []kv {
	out := make([]kv, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, kv{k, m[k]})
	}
	return out
}

func metricKV(ms []mlops.Metric) []kv {
	out := make([]kv, 0, len(ms))
	for _, m := range ms {
		out = append(out, kv{m.Key, chart.Num(m.Value)})
	}
	slices.SortFunc(out, func(a, b kv) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func metricValue(ms []mlops.Metric, key string) float64 {
	for _, m := range ms {
		if m.Key == key {
			return m.Value
		}
	}
	return math.NaN()
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
