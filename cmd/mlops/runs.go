package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/housing-mlops/mlops"
)

const runsUsage = `usage: mlops runs list [--experiment NAME] [--parent ID] [--filter EXPR] [--order TERM]... [--max N] [--deleted] [--json]
       mlops runs show ID [--json]
       mlops runs compare A B [--json]

Run ids may be abbreviated to any unique prefix (tables show 12 digits).
Filters use MLflow's grammar: "metrics.rmse < 50000 AND params.model = 'forest'".
Every subcommand takes --store URI (default $MLOPS_TRACKING_URI or $MLOPS_HOME/mlops.db).`

// runsCommand lists, shows and compares tracked runs.
func runsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("missing subcommand\n%s", runsUsage)
	}
	switch args[0] {
	case "list", "ls":
		return runsList(ctx, args[1:], stdout, stderr)
	case "show":
		return runsShow(ctx, args[1:], stdout, stderr)
	case "compare", "diff":
		return runsCompare(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, runsUsage)
		return nil
	}
	return usagef("unknown subcommand %q\n%s", args[0], runsUsage)
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ", ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("runs list", stderr)
	sf := addStoreFlags(fs)
	experiment := fs.String("experiment", "", "experiment name or id (default: every experiment)")
	parent := fs.String("parent", "", "only children of this run id")
	filter := fs.String("filter", "", "MLflow search filter, e.g. \"metrics.rmse < 50000\"")
	var order multiFlag
	fs.Var(&order, "order", "order term, e.g. \"metrics.rmse ASC\" (repeatable; default start_time DESC)")
	max := fs.Int("max", 100, "show at most N runs")
	deleted := fs.Bool("deleted", false, "include deleted runs")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("runs list takes no arguments, got %q", pos)
	}
	if *max <= 0 {
		return usagef("--max must be positive, got %d", *max)
	}
	st, err := openStore(ctx, sf.store)
	if err != nil {
		return err
	}
	defer st.Close()
	f := mlops.RunFilter{Filter: *filter, OrderBy: order, MaxResults: *max, ViewDeleted: *deleted}
	if *parent != "" {
		if f.ParentID, err = resolveRunID(ctx, st, *parent); err != nil {
			return err
		}
	}
	if *experiment != "" {
		e, err := findExperiment(ctx, st, *experiment)
		if err != nil {
			return err
		}
		f.ExperimentIDs = []string{e.ID}
	}
	runs, next, err := st.SearchRuns(ctx, f)
	if err != nil {
		return err
	}
	if sf.json {
		out := make([]jsonRun, 0, len(runs))
		for _, r := range runs {
			out = append(out, toJSONRun(r))
		}
		return emitJSON(stdout, out)
	}
	if err := printRunTable(stdout, runs); err != nil {
		return err
	}
	if next != "" {
		fmt.Fprintf(stdout, "(first %d runs shown; raise --max or narrow --filter for more)\n", len(runs))
	}
	return nil
}

// findExperiment resolves an experiment by name, then by id.
func findExperiment(ctx context.Context, st mlops.Store, nameOrID string) (*mlops.Experiment, error) {
	e, err := st.GetExperimentByName(ctx, nameOrID)
	if err == nil {
		return e, nil
	}
	if mlops.ErrorCode(err) != mlops.ENOTFOUND {
		return nil, err
	}
	if e, idErr := st.GetExperiment(ctx, nameOrID); idErr == nil {
		return e, nil
	}
	return nil, err
}

// metricColumns picks up to four metric keys to show as columns: those
// most runs have, ties by name.
func metricColumns(runs []*mlops.Run) []string {
	count := map[string]int{}
	for _, r := range runs {
		for _, m := range r.Metrics {
			count[m.Key]++
		}
	}
	keys := make([]string, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if count[keys[i]] != count[keys[j]] {
			return count[keys[i]] > count[keys[j]]
		}
		return keys[i] < keys[j]
	})
	if len(keys) > 4 {
		keys = keys[:4]
	}
	sort.Strings(keys)
	return keys
}

func metricMap(r *mlops.Run) map[string]float64 {
	m := make(map[string]float64, len(r.Metrics))
	for _, x := range r.Metrics {
		m[x.Key] = x.Value
	}
	return m
}

func printRunTable(w io.Writer, runs []*mlops.Run) error {
	if len(runs) == 0 {
		fmt.Fprintln(w, "no runs")
		return nil
	}
	cols := metricColumns(runs)
	tw := newTable(w)
	head := []string{"RUN ID", "NAME", "EXP", "STATUS", "STARTED", "DURATION", "PARENT"}
	for _, c := range cols {
		head = append(head, strings.ToUpper(c))
	}
	row(tw, head...)
	for _, r := range runs {
		status := string(r.Status)
		if r.LifecycleStage == mlops.LifecycleDeleted {
			status += " (deleted)"
		}
		line := []string{shortID(r.ID), r.Name, r.ExperimentID, status, fmtTime(r.StartTime), fmtDuration(r.StartTime, r.EndTime), orDash(shortID(r.ParentID))}
		ms := metricMap(r)
		for _, c := range cols {
			if v, ok := ms[c]; ok {
				line = append(line, fmtFloat(v))
			} else {
				line = append(line, "-")
			}
		}
		row(tw, line...)
	}
	return tw.Flush()
}

// resolveRunID accepts a full run id or a unique prefix of one.
func resolveRunID(ctx context.Context, st mlops.Store, idOrPrefix string) (string, error) {
	if _, err := st.GetRun(ctx, idOrPrefix); err == nil {
		return idOrPrefix, nil
	} else if mlops.ErrorCode(err) != mlops.ENOTFOUND {
		return "", err
	}
	if len(idOrPrefix) < 4 {
		return "", mlops.Errorf(mlops.ENOTFOUND, "run %q not found (give at least 4 characters of its id)", idOrPrefix)
	}
	var matches []string
	tok := ""
	for {
		runs, next, err := st.SearchRuns(ctx, mlops.RunFilter{ViewDeleted: true, PageToken: tok})
		if err != nil {
			return "", err
		}
		for _, r := range runs {
			if strings.HasPrefix(r.ID, strings.ToLower(idOrPrefix)) {
				matches = append(matches, r.ID)
			}
		}
		if next == "" {
			break
		}
		tok = next
	}
	switch len(matches) {
	case 0:
		return "", mlops.Errorf(mlops.ENOTFOUND, "run %q not found", idOrPrefix)
	case 1:
		return matches[0], nil
	}
	return "", mlops.Errorf(mlops.EINVALID, "run id prefix %q is ambiguous: %d runs match (%s, ...)", idOrPrefix, len(matches), strings.Join(matches[:2], ", "))
}

func runsShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("runs show", stderr)
	sf := addStoreFlags(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("runs show takes one run id, got %d arguments", len(pos))
	}
	st, err := openStore(ctx, sf.store)
	if err != nil {
		return err
	}
	defer st.Close()
	id, err := resolveRunID(ctx, st, pos[0])
	if err != nil {
		return err
	}
	r, err := st.GetRun(ctx, id)
	if err != nil {
		return err
	}
	children, _, err := st.SearchRuns(ctx, mlops.RunFilter{ParentID: r.ID, OrderBy: []string{"start_time ASC"}})
	if err != nil {
		return err
	}
	if sf.json {
		ids := make([]string, 0, len(children))
		for _, c := range children {
			ids = append(ids, c.ID)
		}
		return emitJSON(stdout, struct {
			jsonRun
			Children []string `json:"children"`
		}{toJSONRun(r), ids})
	}
	return printRun(ctx, stdout, st, r, children)
}

func printRun(ctx context.Context, w io.Writer, st mlops.Store, r *mlops.Run, children []*mlops.Run) error {
	expName := r.ExperimentID
	if e, err := st.GetExperiment(ctx, r.ExperimentID); err == nil {
		expName = fmt.Sprintf("%s (%s)", e.Name, e.ID)
	}
	tw := newTable(w)
	for _, kv := range [][2]string{
		{"Run ID", r.ID}, {"Name", r.Name}, {"Experiment", expName}, {"Status", string(r.Status)},
		{"Lifecycle", r.LifecycleStage}, {"Started", fmtTime(r.StartTime)}, {"Ended", fmtTime(r.EndTime)},
		{"Duration", fmtDuration(r.StartTime, r.EndTime)}, {"Parent", orDash(r.ParentID)}, {"Artifacts", orDash(r.ArtifactURI)},
	} {
		row(tw, kv[0]+":", kv[1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Params) > 0 {
		fmt.Fprintln(w, "\nParams:")
		tw = newTable(w)
		row(tw, "  KEY", "VALUE")
		for _, k := range sortedMapKeys(r.Params) {
			row(tw, "  "+k, r.Params[k])
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(r.Metrics) > 0 {
		fmt.Fprintln(w, "\nMetrics (latest):")
		tw = newTable(w)
		row(tw, "  KEY", "VALUE", "STEP", "LOGGED")
		for _, m := range r.Metrics {
			row(tw, "  "+m.Key, fmtFloat(m.Value), fmt.Sprint(m.Step), fmtTime(m.Timestamp))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(r.Tags) > 0 {
		fmt.Fprintln(w, "\nTags:")
		tw = newTable(w)
		row(tw, "  KEY", "VALUE")
		for _, k := range sortedMapKeys(r.Tags) {
			row(tw, "  "+k, r.Tags[k])
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(children) > 0 {
		fmt.Fprintln(w, "\nChild runs:")
		return printRunTable(w, children)
	}
	return nil
}

func sortedMapKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// paramDiff and metricDiff are the rows of runs compare.
type paramDiff struct {
	Key     string  `json:"key"`
	A       *string `json:"a"`
	B       *string `json:"b"`
	Differs bool    `json:"differs"`
}

type metricDiff struct {
	Key     string     `json:"key"`
	A       *jsonFloat `json:"a"`
	B       *jsonFloat `json:"b"`
	Delta   *jsonFloat `json:"delta"` // B - A when both exist
	Differs bool       `json:"differs"`
}

func runsCompare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("runs compare", stderr)
	sf := addStoreFlags(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("runs compare takes two run ids, got %d arguments", len(pos))
	}
	st, err := openStore(ctx, sf.store)
	if err != nil {
		return err
	}
	defer st.Close()
	var runs [2]*mlops.Run
	for i, p := range pos {
		id, err := resolveRunID(ctx, st, p)
		if err != nil {
			return err
		}
		if runs[i], err = st.GetRun(ctx, id); err != nil {
			return err
		}
	}
	params, metrics := diffRuns(runs[0], runs[1])
	if sf.json {
		return emitJSON(stdout, struct {
			A       string       `json:"a"`
			B       string       `json:"b"`
			Params  []paramDiff  `json:"params"`
			Metrics []metricDiff `json:"metrics"`
		}{runs[0].ID, runs[1].ID, params, metrics})
	}
	return printCompare(stdout, runs[0], runs[1], params, metrics)
}

// diffRuns lines up the params and latest metrics of two runs by key.
func diffRuns(a, b *mlops.Run) ([]paramDiff, []metricDiff) {
	return diffParams(a.Params, b.Params), diffMetrics(metricMap(a), metricMap(b))
}

// unionKeys returns the keys of a and b, sorted, each once.
func unionKeys[V any](a, b map[string]V) []string {
	set := make(map[string]bool, len(a)+len(b))
	for k := range a {
		set[k] = true
	}
	for k := range b {
		set[k] = true
	}
	return sortedSet(set)
}

// diffParams pairs the params of two runs; a param set on one side only
// differs.
func diffParams(a, b map[string]string) []paramDiff {
	var params []paramDiff
	for _, k := range unionKeys(a, b) {
		d := paramDiff{Key: k}
		if v, ok := a[k]; ok {
			d.A = &v
		}
		if v, ok := b[k]; ok {
			d.B = &v
		}
		d.Differs = d.A == nil || d.B == nil || *d.A != *d.B
		params = append(params, d)
	}
	return params
}

// diffMetrics pairs the latest metric values of two runs, with B-A where
// both have the metric; two NaNs count as equal.
func diffMetrics(am, bm map[string]float64) []metricDiff {
	var metrics []metricDiff
	for _, k := range unionKeys(am, bm) {
		d := metricDiff{Key: k}
		va, okA := am[k]
		vb, okB := bm[k]
		if okA {
			x := jsonFloat(va)
			d.A = &x
		}
		if okB {
			x := jsonFloat(vb)
			d.B = &x
		}
		if okA && okB {
			x := jsonFloat(vb - va)
			d.Delta = &x
		}
		d.Differs = !okA || !okB || !(va == vb || (math.IsNaN(va) && math.IsNaN(vb)))
		metrics = append(metrics, d)
	}
	return metrics
}

func sortedSet(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func printCompare(w io.Writer, a, b *mlops.Run, params []paramDiff, metrics []metricDiff) error {
	mark := func(d bool) string {
		if d {
			return "*"
		}
		return ""
	}
	str := func(p *string) string {
		if p == nil {
			return "-"
		}
		return *p
	}
	num := func(p *jsonFloat) string {
		if p == nil {
			return "-"
		}
		return fmtFloat(float64(*p))
	}
	tw := newTable(w)
	row(tw, "", "KEY", "A: "+a.Name+" ("+shortID(a.ID)+")", "B: "+b.Name+" ("+shortID(b.ID)+")", "B-A")
	row(tw, "", "status", string(a.Status), string(b.Status), "")
	if len(params) > 0 {
		row(tw, "", "params:", "", "", "")
	}
	for _, d := range params {
		row(tw, mark(d.Differs), "  "+d.Key, str(d.A), str(d.B), "")
	}
	if len(metrics) > 0 {
		row(tw, "", "metrics:", "", "", "")
	}
	for _, d := range metrics {
		row(tw, mark(d.Differs), "  "+d.Key, num(d.A), num(d.B), num(d.Delta))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	n := 0
	for _, d := range params {
		if d.Differs {
			n++
		}
	}
	for _, d := range metrics {
		if d.Differs {
			n++
		}
	}
	fmt.Fprintf(w, "\n%d of %d keys differ (marked *)\n", n, len(params)+len(metrics))
	return nil
}
