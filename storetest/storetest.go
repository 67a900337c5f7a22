// Package storetest is the conformance suite every mlops.Store must pass:
// the SQLite and PostgreSQL stores run the same tests, so they behave the
// same to the CLI, the pipeline and the MLflow-compatible API.
package storetest

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/housing-mlops/mlops"
)

// Run runs the suite; open returns a fresh, empty, migrated store for each
// subtest and arranges its cleanup.
func Run(t *testing.T, open func(t *testing.T) mlops.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s mlops.Store)
	}{
		{"Experiments", testExperiments},
		{"ExperimentDeleteCascadesToRuns", testExperimentDelete},
		{"Runs", testRuns},
		{"ParamsWriteOnce", testParams},
		{"MetricHistory", testMetrics},
		{"Tags", testTags},
		{"SearchRunsFilter", testSearchFilter},
		{"SearchRunsOrderAndPages", testSearchOrder},
		{"ModelVersionsNumbering", testVersions},
		{"RegisteredModels", testRegisteredModels},
		{"StagesArchiveExisting", testStages},
		{"Aliases", testAliases},
		{"TransitionLog", testTransitionLog},
		{"Rollback", testRollback},
		{"ConcurrentCreateModelVersion", testConcurrentVersions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Each subtest has its own store: run them side by side, which
			// also exercises the store's connection pool.
			t.Parallel()
			defer func() {
				if r := recover(); r != nil {
					f, ok := r.(failure)
					if !ok {
						panic(r)
					}
					t.Fatalf("%s: %v", f.line, f.err)
				}
			}()
			tc.fn(t, open(t))
		})
	}
}

// wantCode fails unless err carries the mlops error code want.
func wantCode(t *testing.T, err error, want, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %s", what, want)
	}
	if got := mlops.ErrorCode(err); got != want {
		t.Fatalf("%s: error code %s (%v), want %s", what, got, err, want)
	}
	if err.Error() == "" {
		t.Fatalf("%s: empty error message", what)
	}
}

// failure carries a must error to the subtest's recover, with the line of
// the call that failed.
type failure struct {
	err  error
	line string
}

// must returns v or, on error, aborts the subtest (see Run).
func must[T any](v T, err error) T {
	if err != nil {
		_, file, line, _ := runtime.Caller(1)
		panic(failure{err, fmt.Sprintf("%s:%d", filepath.Base(file), line)})
	}
	return v
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var ctx = context.Background()

func testExperiments(t *testing.T, s mlops.Store) {
	e := testExperimentCreate(t, s)
	testExperimentLifecycle(t, s, e)
}

// testExperimentCreate checks the Default experiment, creating one and the
// lookups' errors; it returns the experiment it created.
func testExperimentCreate(t *testing.T, s mlops.Store) *mlops.Experiment {
	def := must(s.GetExperiment(ctx, "0"))
	if def.Name != "Default" || def.LifecycleStage != mlops.LifecycleActive {
		t.Fatalf("experiment 0 = %+v, want active Default", def)
	}
	if e := must(s.GetExperimentByName(ctx, "Default")); e.ID != "0" {
		t.Fatalf("Default has id %q, want 0", e.ID)
	}
	e := must(s.CreateExperiment(ctx, "housing", "file:///tmp/art", map[string]string{"team": "ml"}))
	if _, err := strconv.Atoi(e.ID); err != nil || e.ID == "0" {
		t.Fatalf("new experiment id %q: want a decimal other than 0", e.ID)
	}
	if e.Name != "housing" || e.ArtifactLocation != "file:///tmp/art" || e.Tags["team"] != "ml" || e.CreatedAt.IsZero() {
		t.Fatalf("created experiment = %+v", e)
	}
	_, err := s.CreateExperiment(ctx, "housing", "", nil)
	wantCode(t, err, mlops.EEXISTS, "duplicate experiment")
	_, err = s.CreateExperiment(ctx, " ", "", nil)
	wantCode(t, err, mlops.EINVALID, "blank experiment name")
	_, err = s.GetExperiment(ctx, "987654")
	wantCode(t, err, mlops.ENOTFOUND, "unknown experiment")
	_, err = s.GetExperiment(ctx, "abc")
	wantCode(t, err, mlops.EINVALID, "non-numeric experiment id")
	_, err = s.GetExperimentByName(ctx, "nope")
	wantCode(t, err, mlops.ENOTFOUND, "unknown experiment name")
	return e
}

// testExperimentLifecycle renames, tags, deletes and restores experiments
// next to e (named "housing", tagged team=ml).
func testExperimentLifecycle(t *testing.T, s mlops.Store, e *mlops.Experiment) {
	other := must(s.CreateExperiment(ctx, "other", "", nil))
	wantCode(t, s.RenameExperiment(ctx, e.ID, "other"), mlops.EEXISTS, "rename onto existing name")
	check(t, s.RenameExperiment(ctx, e.ID, "housing-v2"))
	if got := must(s.GetExperiment(ctx, e.ID)); got.Name != "housing-v2" {
		t.Fatalf("renamed experiment name %q", got.Name)
	}
	check(t, s.SetExperimentTag(ctx, e.ID, "team", "data"))
	if got := must(s.GetExperiment(ctx, e.ID)); got.Tags["team"] != "data" {
		t.Fatalf("experiment tag not overwritten: %v", got.Tags)
	}
	wantCode(t, s.SetExperimentTag(ctx, "4242", "k", "v"), mlops.ENOTFOUND, "tag on unknown experiment")

	check(t, s.DeleteExperiment(ctx, other.ID))
	active := must(s.SearchExperiments(ctx, false))
	if ids := experimentIDs(active); !slices.Equal(ids, []string{"0", e.ID}) {
		t.Fatalf("active experiments %v, want [0 %s]", ids, e.ID)
	}
	all := must(s.SearchExperiments(ctx, true))
	if ids := experimentIDs(all); !slices.Equal(ids, []string{"0", e.ID, other.ID}) {
		t.Fatalf("all experiments %v", ids)
	}
	if got := must(s.GetExperiment(ctx, other.ID)); got.LifecycleStage != mlops.LifecycleDeleted {
		t.Fatalf("deleted experiment lifecycle %q", got.LifecycleStage)
	}
	wantCode(t, s.RenameExperiment(ctx, other.ID, "x"), mlops.ECONFLICT, "rename deleted experiment")
	_, err := s.CreateExperiment(ctx, "other", "", nil)
	wantCode(t, err, mlops.EEXISTS, "reuse name of deleted experiment")
	wantCode(t, s.DeleteExperiment(ctx, "0"), mlops.EINVALID, "delete Default")
	check(t, s.RestoreExperiment(ctx, other.ID))
	if got := must(s.GetExperiment(ctx, other.ID)); got.LifecycleStage != mlops.LifecycleActive {
		t.Fatalf("restored experiment lifecycle %q", got.LifecycleStage)
	}
}

func experimentIDs(es []*mlops.Experiment) []string {
	var ids []string
	for _, e := range es {
		ids = append(ids, e.ID)
	}
	return ids
}

func testExperimentDelete(t *testing.T, s mlops.Store) {
	e := must(s.CreateExperiment(ctx, "doomed", "", nil))
	r := must(s.CreateRun(ctx, mlops.RunCreate{ExperimentID: e.ID, Name: "r"}))
	check(t, s.DeleteExperiment(ctx, e.ID))
	if got := must(s.GetRun(ctx, r.ID)); got.LifecycleStage != mlops.LifecycleDeleted {
		t.Fatalf("run of deleted experiment is %q", got.LifecycleStage)
	}
	_, err := s.CreateRun(ctx, mlops.RunCreate{ExperimentID: e.ID})
	wantCode(t, err, mlops.ECONFLICT, "run in deleted experiment")
	check(t, s.RestoreExperiment(ctx, e.ID))
	if got := must(s.GetRun(ctx, r.ID)); got.LifecycleStage != mlops.LifecycleActive {
		t.Fatalf("run of restored experiment is %q", got.LifecycleStage)
	}
}

func testRuns(t *testing.T, s mlops.Store) {
	e := must(s.CreateExperiment(ctx, "exp", "file:///art/exp", nil))
	start := time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	parent := testRunCreateParent(t, s, e, start)
	child := testRunCreateChild(t, s, e, parent)
	testRunCreateErrors(t, s, e)
	testRunUpdate(t, s, parent, start)
	testRunDelete(t, s, child)
}

// testRunCreateParent creates and checks a top-level run of e (whose
// artifact location is file:///art/exp) started at start.
func testRunCreateParent(t *testing.T, s mlops.Store, e *mlops.Experiment, start time.Time) *mlops.Run {
	parent := must(s.CreateRun(ctx, mlops.RunCreate{ExperimentID: e.ID, Name: "pipeline", StartTime: start, Tags: map[string]string{"git": "abc"}}))
	if len(parent.ID) != 32 || strings32Hex(parent.ID) != nil {
		t.Fatalf("run id %q: want 32 hex digits", parent.ID)
	}
	if parent.Status != mlops.RunRunning || !parent.StartTime.Equal(start) || parent.Name != "pipeline" ||
		parent.ExperimentID != e.ID || parent.LifecycleStage != mlops.LifecycleActive || parent.Tags["git"] != "abc" {
		t.Fatalf("created run = %+v", parent)
	}
	if parent.ArtifactURI != "file:///art/exp/"+parent.ID+"/artifacts" {
		t.Fatalf("artifact uri %q", parent.ArtifactURI)
	}
	return parent
}

// testRunCreateChild creates and checks a child run of parent in e.
func testRunCreateChild(t *testing.T, s mlops.Store, e *mlops.Experiment, parent *mlops.Run) *mlops.Run {
	child := must(s.CreateRun(ctx, mlops.RunCreate{ExperimentID: e.ID, Name: "train", ParentID: parent.ID}))
	if child.ParentID != parent.ID || child.Tags["mlflow.parentRunId"] != parent.ID || child.Tags["mlflow.runName"] != "train" {
		t.Fatalf("child run = %+v", child)
	}
	if child.StartTime.IsZero() {
		t.Fatal("default start time is zero")
	}
	return child
}

// testRunCreateErrors checks the refused creations (next to e) and the
// defaults of a run created with no fields.
func testRunCreateErrors(t *testing.T, s mlops.Store, e *mlops.Experiment) {
	_, err := s.CreateRun(ctx, mlops.RunCreate{ExperimentID: e.ID, ParentID: "feedfacefeedfacefeedfacefeedface"})
	wantCode(t, err, mlops.ENOTFOUND, "unknown parent")
	_, err = s.CreateRun(ctx, mlops.RunCreate{ExperimentID: "31337"})
	wantCode(t, err, mlops.ENOTFOUND, "run in unknown experiment")
	_, err = s.GetRun(ctx, "0123456789abcdef0123456789abcdef")
	wantCode(t, err, mlops.ENOTFOUND, "unknown run")
	def := must(s.CreateRun(ctx, mlops.RunCreate{}))
	if def.ExperimentID != "0" || def.Name == "" {
		t.Fatalf("run without experiment = %+v, want experiment 0 and a generated name", def)
	}
}

// testRunUpdate finishes and renames parent (started at start), then
// checks an empty update and the refused ones.
func testRunUpdate(t *testing.T, s mlops.Store, parent *mlops.Run, start time.Time) {
	end := start.Add(90 * time.Second)
	got := must(s.UpdateRun(ctx, parent.ID, mlops.RunUpdate{Status: mlops.RunFinished, EndTime: end, Name: "pipeline-1"}))
	if got.Status != mlops.RunFinished || !got.EndTime.Equal(end) || got.Name != "pipeline-1" || got.Tags["mlflow.runName"] != "pipeline-1" {
		t.Fatalf("updated run = %+v", got)
	}
	got = must(s.UpdateRun(ctx, parent.ID, mlops.RunUpdate{}))
	if got.Status != mlops.RunFinished || got.Name != "pipeline-1" {
		t.Fatalf("empty update changed the run: %+v", got)
	}
	_, err := s.UpdateRun(ctx, parent.ID, mlops.RunUpdate{Status: "DONE"})
	wantCode(t, err, mlops.EINVALID, "bad status")
	_, err = s.UpdateRun(ctx, "0123456789abcdef0123456789abcdef", mlops.RunUpdate{Status: mlops.RunFailed})
	wantCode(t, err, mlops.ENOTFOUND, "update unknown run")
}

// testRunDelete deletes and restores child and checks that a deleted run
// refuses logging.
func testRunDelete(t *testing.T, s mlops.Store, child *mlops.Run) {
	check(t, s.DeleteRun(ctx, child.ID))
	if got := must(s.GetRun(ctx, child.ID)); got.LifecycleStage != mlops.LifecycleDeleted {
		t.Fatalf("deleted run lifecycle %q", got.LifecycleStage)
	}
	wantCode(t, s.LogBatch(ctx, child.ID, nil, []mlops.Param{{Key: "a", Value: "1"}}, nil), mlops.ECONFLICT, "log to deleted run")
	check(t, s.RestoreRun(ctx, child.ID))
	check(t, s.LogBatch(ctx, child.ID, nil, []mlops.Param{{Key: "a", Value: "1"}}, nil))
	wantCode(t, s.DeleteRun(ctx, "0123456789abcdef0123456789abcdef"), mlops.ENOTFOUND, "delete unknown run")
}

func strings32Hex(s string) error {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("not lower-case hex: %q", s)
		}
	}
	return nil
}

func testParams(t *testing.T, s mlops.Store) {
	r := must(s.CreateRun(ctx, mlops.RunCreate{Name: "p"}))
	check(t, s.LogBatch(ctx, r.ID, nil, []mlops.Param{{Key: "alpha", Value: "0.1"}}, nil))
	check(t, s.LogBatch(ctx, r.ID, nil, []mlops.Param{{Key: "alpha", Value: "0.1"}}, nil))
	err := s.LogBatch(ctx, r.ID,
		[]mlops.Metric{{Key: "rmse", Value: 1, Step: 0}},
		[]mlops.Param{{Key: "depth", Value: "8"}, {Key: "alpha", Value: "0.2"}},
		[]mlops.Tag{{Key: "t", Value: "v"}})
	wantCode(t, err, mlops.EINVALID, "changing a param")
	got := must(s.GetRun(ctx, r.ID))
	if got.Params["alpha"] != "0.1" {
		t.Fatalf("alpha = %q after a refused change, want 0.1", got.Params["alpha"])
	}
	if _, ok := got.Params["depth"]; ok || len(got.Metrics) != 0 || got.Tags["t"] != "" {
		t.Fatalf("refused batch wrote part of itself: %+v", got)
	}
	wantCode(t, s.LogBatch(ctx, r.ID, nil, []mlops.Param{{Key: "k", Value: "1"}, {Key: "k", Value: "2"}}, nil), mlops.EINVALID, "conflicting params in one batch")
	wantCode(t, s.LogBatch(ctx, r.ID, nil, []mlops.Param{{Key: "", Value: "1"}}, nil), mlops.EINVALID, "empty param key")
	wantCode(t, s.LogBatch(ctx, "0123456789abcdef0123456789abcdef", nil, []mlops.Param{{Key: "a", Value: "1"}}, nil), mlops.ENOTFOUND, "log to unknown run")
}

func testMetrics(t *testing.T, s mlops.Store) {
	r := must(s.CreateRun(ctx, mlops.RunCreate{Name: "m"}))
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	check(t, s.LogBatch(ctx, r.ID, []mlops.Metric{
		{Key: "loss", Value: 0.5, Step: 2, Timestamp: t0.Add(2 * time.Second)},
		{Key: "loss", Value: 0.9, Step: 0, Timestamp: t0},
		{Key: "r2", Value: math.NaN(), Step: 0, Timestamp: t0},
	}, nil, nil))
	check(t, s.LogBatch(ctx, r.ID, []mlops.Metric{
		{Key: "loss", Value: 0.7, Step: 1, Timestamp: t0.Add(time.Second)},
		{Key: "loss", Value: 0.4, Step: 2, Timestamp: t0.Add(3 * time.Second)},
	}, nil, nil))
	h := must(s.MetricHistory(ctx, r.ID, "loss"))
	var vals []float64
	for _, m := range h {
		vals = append(vals, m.Value)
	}
	if !slices.Equal(vals, []float64{0.9, 0.7, 0.5, 0.4}) {
		t.Fatalf("history values %v, want by step then time [0.9 0.7 0.5 0.4]", vals)
	}
	if h[3].Step != 2 || !h[3].Timestamp.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("last point %+v", h[3])
	}
	got := must(s.GetRun(ctx, r.ID))
	latest := map[string]mlops.Metric{}
	for _, m := range got.Metrics {
		latest[m.Key] = m
	}
	if len(got.Metrics) != 2 || latest["loss"].Value != 0.4 || latest["loss"].Step != 2 {
		t.Fatalf("latest metrics %+v, want loss=0.4 at step 2", got.Metrics)
	}
	if !math.IsNaN(latest["r2"].Value) {
		t.Fatalf("NaN metric came back as %v", latest["r2"].Value)
	}
	// An older step logged later does not become the latest value.
	check(t, s.LogBatch(ctx, r.ID, []mlops.Metric{{Key: "loss", Value: 9, Step: 1}}, nil, nil))
	got = must(s.GetRun(ctx, r.ID))
	for _, m := range got.Metrics {
		if m.Key == "loss" && m.Value != 0.4 {
			t.Fatalf("latest loss %v after logging an older step, want 0.4", m.Value)
		}
	}
	if h := must(s.MetricHistory(ctx, r.ID, "loss")); len(h) != 5 {
		t.Fatalf("history has %d points, want 5 (append-only)", len(h))
	}
	if h := must(s.MetricHistory(ctx, r.ID, "nothing")); len(h) != 0 {
		t.Fatalf("history of unknown key: %v", h)
	}
	_, err := s.MetricHistory(ctx, "0123456789abcdef0123456789abcdef", "loss")
	wantCode(t, err, mlops.ENOTFOUND, "history of unknown run")
}

func testTags(t *testing.T, s mlops.Store) {
	r := must(s.CreateRun(ctx, mlops.RunCreate{Name: "t", Tags: map[string]string{"stage": "dev"}}))
	check(t, s.LogBatch(ctx, r.ID, nil, nil, []mlops.Tag{{Key: "stage", Value: "prod"}, {Key: "owner", Value: "ana"}}))
	got := must(s.GetRun(ctx, r.ID))
	if got.Tags["stage"] != "prod" || got.Tags["owner"] != "ana" {
		t.Fatalf("tags %v, want stage overwritten to prod and owner=ana", got.Tags)
	}
	check(t, s.DeleteTag(ctx, r.ID, "owner"))
	got = must(s.GetRun(ctx, r.ID))
	if _, ok := got.Tags["owner"]; ok {
		t.Fatalf("deleted tag still there: %v", got.Tags)
	}
	wantCode(t, s.DeleteTag(ctx, r.ID, "owner"), mlops.ENOTFOUND, "delete missing tag")
}

// seedSearch creates runs with known metrics, params, tags and start
// times, and returns their ids by name.
func seedSearch(t *testing.T, s mlops.Store) (string, map[string]string) {
	e := must(s.CreateExperiment(ctx, "search", "", nil))
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	ids := map[string]string{}
	type seed struct {
		name   string
		model  string
		rmse   float64
		status mlops.RunStatus
		tag    string
	}
	seeds := []seed{
		{"linear", "linear", 68000, mlops.RunFinished, "baseline"},
		{"tree", "tree", 59000, mlops.RunFinished, "candidate-a"},
		{"forest", "forest", 49000, mlops.RunFinished, "candidate-b"},
		{"boost", "boost", 47000, mlops.RunFailed, "candidate-c"},
	}
	for i, sd := range seeds {
		r := must(s.CreateRun(ctx, mlops.RunCreate{ExperimentID: e.ID, Name: sd.name, StartTime: t0.Add(time.Duration(i) * time.Minute)}))
		ids[sd.name] = r.ID
		check(t, s.LogBatch(ctx, r.ID,
			[]mlops.Metric{{Key: "rmse", Value: sd.rmse}, {Key: "val.rmse", Value: sd.rmse + 1}},
			[]mlops.Param{{Key: "model", Value: sd.model}},
			[]mlops.Tag{{Key: "kind", Value: sd.tag}}))
		must(s.UpdateRun(ctx, r.ID, mlops.RunUpdate{Status: sd.status}))
	}
	// A run without metrics, and a child of forest.
	r := must(s.CreateRun(ctx, mlops.RunCreate{ExperimentID: e.ID, Name: "empty", StartTime: t0.Add(10 * time.Minute)}))
	ids["empty"] = r.ID
	c := must(s.CreateRun(ctx, mlops.RunCreate{ExperimentID: e.ID, Name: "fold-1", ParentID: ids["forest"], StartTime: t0.Add(11 * time.Minute)}))
	ids["fold-1"] = c.ID
	// A run in another experiment that no search here may return.
	must(s.CreateRun(ctx, mlops.RunCreate{Name: "elsewhere"}))
	return e.ID, ids
}

func runNames(runs []*mlops.Run) []string {
	var out []string
	for _, r := range runs {
		out = append(out, r.Name)
	}
	return out
}

func sortedNames(runs []*mlops.Run) []string {
	n := runNames(runs)
	sort.Strings(n)
	return n
}

func testSearchFilter(t *testing.T, s mlops.Store) {
	exp, ids := seedSearch(t, s)
	search := func(f mlops.RunFilter) []string {
		t.Helper()
		f.ExperimentIDs = []string{exp}
		runs, _, err := s.SearchRuns(ctx, f)
		if err != nil {
			t.Fatalf("filter %q: %v", f.Filter, err)
		}
		return sortedNames(runs)
	}
	cases := []struct {
		filter string
		want   []string
	}{
		{"", []string{"boost", "empty", "fold-1", "forest", "linear", "tree"}},
		{"metrics.rmse < 50000", []string{"boost", "forest"}},
		{"metrics.rmse >= 59000", []string{"linear", "tree"}},
		{"metrics.rmse = 49000", []string{"forest"}},
		{"metrics.rmse != 49000", []string{"boost", "linear", "tree"}},
		{"metrics.`val.rmse` <= 49001", []string{"boost", "forest"}},
		{`metrics."val.rmse" > 60000`, []string{"linear"}},
		{"params.model = 'tree'", []string{"tree"}},
		{"params.model != 'tree'", []string{"boost", "forest", "linear"}},
		{"tags.kind LIKE 'candidate-%'", []string{"boost", "forest", "tree"}},
		{"tags.kind ILIKE 'CANDIDATE-_'", []string{"boost", "forest", "tree"}},
		{"tags.kind LIKE 'CANDIDATE%'", nil},
		{"tags.kind != 'baseline'", []string{"boost", "forest", "tree"}},
		{"attributes.status = 'FINISHED'", []string{"forest", "linear", "tree"}},
		{"attributes.status = 'FINISHED' and metrics.rmse < 60000", []string{"forest", "tree"}},
		{"status = 'FAILED' AND params.model = 'boost'", []string{"boost"}},
		{"attributes.run_name = 'linear'", []string{"linear"}},
		{"run_name LIKE 'fo%'", []string{"fold-1", "forest"}},
		{"run_id = '" + ids["tree"] + "'", []string{"tree"}},
		{"run_id IN ('" + ids["tree"] + "', '" + ids["boost"] + "')", []string{"boost", "tree"}},
		{"tags.mlflow.parentRunId = '" + ids["forest"] + "'", []string{"fold-1"}},
		{"tags.`mlflow.runName` = 'empty'", []string{"empty"}},
	}
	for _, c := range cases {
		if got := search(mlops.RunFilter{Filter: c.filter}); !slices.Equal(got, c.want) {
			t.Errorf("filter %q: got %v, want %v", c.filter, got, c.want)
		}
	}
	if got := search(mlops.RunFilter{ParentID: ids["forest"]}); !slices.Equal(got, []string{"fold-1"}) {
		t.Errorf("parent filter: got %v", got)
	}
	if got := search(mlops.RunFilter{Tags: map[string]string{"kind": "baseline"}}); !slices.Equal(got, []string{"linear"}) {
		t.Errorf("tags filter: got %v", got)
	}
	for _, bad := range []string{"metrics.rmse < 'x'", "params.model = 3", "metrics.rmse < 1 OR metrics.rmse > 2", "foo.bar = 'x'", "metrics.rmse LIKE '%'", "params.model = 'unterminated"} {
		_, _, err := s.SearchRuns(ctx, mlops.RunFilter{ExperimentIDs: []string{exp}, Filter: bad})
		wantCode(t, err, mlops.EINVALID, "filter "+bad)
	}
	check(t, s.DeleteRun(ctx, ids["linear"]))
	if got := search(mlops.RunFilter{Filter: "params.model = 'linear'"}); len(got) != 0 {
		t.Errorf("deleted run found: %v", got)
	}
	if got := search(mlops.RunFilter{Filter: "params.model = 'linear'", ViewDeleted: true}); !slices.Equal(got, []string{"linear"}) {
		t.Errorf("ViewDeleted: got %v", got)
	}
}

func testSearchOrder(t *testing.T, s mlops.Store) {
	exp, _ := seedSearch(t, s)
	list := func(f mlops.RunFilter) ([]string, string) {
		t.Helper()
		f.ExperimentIDs = []string{exp}
		runs, next, err := s.SearchRuns(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return runNames(runs), next
	}
	all, next := list(mlops.RunFilter{})
	if want := []string{"fold-1", "empty", "boost", "forest", "tree", "linear"}; !slices.Equal(all, want) || next != "" {
		t.Fatalf("default order %v (next %q), want newest first %v", all, next, want)
	}
	asc, _ := list(mlops.RunFilter{OrderBy: []string{"metrics.rmse ASC"}})
	if want := []string{"boost", "forest", "tree", "linear", "fold-1", "empty"}; !slices.Equal(asc, want) {
		t.Fatalf("metrics.rmse ASC: %v, want %v (missing last)", asc, want)
	}
	desc, _ := list(mlops.RunFilter{OrderBy: []string{"metrics.rmse DESC"}})
	if want := []string{"linear", "tree", "forest", "boost", "fold-1", "empty"}; !slices.Equal(desc, want) {
		t.Fatalf("metrics.rmse DESC: %v, want %v (missing last)", desc, want)
	}
	byParam, _ := list(mlops.RunFilter{OrderBy: []string{"params.model"}, Filter: "params.model LIKE '%'"})
	if want := []string{"boost", "forest", "linear", "tree"}; !slices.Equal(byParam, want) {
		t.Fatalf("params.model: %v", byParam)
	}
	byStart, _ := list(mlops.RunFilter{OrderBy: []string{"attributes.start_time ASC"}})
	if want := []string{"linear", "tree", "forest", "boost", "empty", "fold-1"}; !slices.Equal(byStart, want) {
		t.Fatalf("start_time ASC: %v", byStart)
	}
	var paged []string
	tok := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		page, n := list(mlops.RunFilter{MaxResults: 4, PageToken: tok})
		if len(page) > 4 {
			t.Fatalf("page of %d runs, max 4", len(page))
		}
		paged = append(paged, page...)
		if n == "" {
			break
		}
		tok = n
	}
	if !slices.Equal(paged, all) {
		t.Fatalf("pages %v, want %v", paged, all)
	}
	_, _, err := s.SearchRuns(ctx, mlops.RunFilter{PageToken: "!!not-a-token"})
	wantCode(t, err, mlops.EINVALID, "bad page token")
	_, _, err = s.SearchRuns(ctx, mlops.RunFilter{OrderBy: []string{"metrics.rmse SIDEWAYS"}})
	wantCode(t, err, mlops.EINVALID, "bad order")
	_, _, err = s.SearchRuns(ctx, mlops.RunFilter{MaxResults: -1})
	wantCode(t, err, mlops.EINVALID, "negative max results")
}

func testVersions(t *testing.T, s mlops.Store) {
	for want := 1; want <= 3; want++ {
		v := must(s.CreateModelVersion(ctx, mlops.ModelVersionCreate{Name: "housing", Source: fmt.Sprintf("file:///m/%d", want), SHA256: "ab", RunID: "r", Tags: map[string]string{"n": strconv.Itoa(want)}}))
		if v.Version != want || v.Stage != mlops.StageNone || v.Source != fmt.Sprintf("file:///m/%d", want) || v.Tags["n"] != strconv.Itoa(want) || v.SHA256 != "ab" {
			t.Fatalf("version = %+v, want number %d in stage None", v, want)
		}
	}
	must(s.GetRegisteredModel(ctx, "housing"))
	check(t, s.DeleteModelVersion(ctx, "housing", 3))
	v := must(s.CreateModelVersion(ctx, mlops.ModelVersionCreate{Name: "housing", Source: "file:///m/4"}))
	if v.Version != 4 {
		t.Fatalf("after deleting version 3, next version is %d, want 4 (numbers are not reused)", v.Version)
	}
	vs := must(s.SearchModelVersions(ctx, "housing"))
	var nums []int
	for _, v := range vs {
		nums = append(nums, v.Version)
	}
	if !slices.Equal(nums, []int{1, 2, 4}) {
		t.Fatalf("versions %v, want [1 2 4]", nums)
	}
	_, err := s.GetModelVersion(ctx, "housing", 3)
	wantCode(t, err, mlops.ENOTFOUND, "deleted version")
	_, err = s.GetModelVersion(ctx, "nope", 1)
	wantCode(t, err, mlops.ENOTFOUND, "version of unknown model")
	_, err = s.CreateModelVersion(ctx, mlops.ModelVersionCreate{Name: "housing"})
	wantCode(t, err, mlops.EINVALID, "version without source")
	got := must(s.UpdateModelVersion(ctx, "housing", 1, "first"))
	if got.Description != "first" {
		t.Fatalf("description %q", got.Description)
	}
	check(t, s.SetModelVersionTag(ctx, "housing", 1, "n", "one"))
	check(t, s.DeleteModelVersionTag(ctx, "housing", 2, "n"))
	if got := must(s.GetModelVersion(ctx, "housing", 1)); got.Tags["n"] != "one" {
		t.Fatalf("version tag %v", got.Tags)
	}
	if got := must(s.GetModelVersion(ctx, "housing", 2)); len(got.Tags) != 0 {
		t.Fatalf("deleted version tag still there: %v", got.Tags)
	}
	wantCode(t, s.SetModelVersionTag(ctx, "housing", 99, "k", "v"), mlops.ENOTFOUND, "tag on unknown version")
}

func testRegisteredModels(t *testing.T, s mlops.Store) {
	m := must(s.CreateRegisteredModel(ctx, "housing", "price model", map[string]string{"owner": "ml"}))
	if m.Name != "housing" || m.Description != "price model" || m.Tags["owner"] != "ml" {
		t.Fatalf("model = %+v", m)
	}
	_, err := s.CreateRegisteredModel(ctx, "housing", "", nil)
	wantCode(t, err, mlops.EEXISTS, "duplicate model")
	_, err = s.CreateRegisteredModel(ctx, "", "", nil)
	wantCode(t, err, mlops.EINVALID, "empty model name")
	_, err = s.GetRegisteredModel(ctx, "nope")
	wantCode(t, err, mlops.ENOTFOUND, "unknown model")
	must(s.CreateRegisteredModel(ctx, "Housing-big", "", nil))
	must(s.CreateRegisteredModel(ctx, "other", "", nil))
	names := func(pattern string) []string {
		ms := must(s.SearchRegisteredModels(ctx, pattern))
		var out []string
		for _, m := range ms {
			out = append(out, m.Name)
		}
		return out
	}
	if got := names(""); !slices.Equal(got, []string{"Housing-big", "housing", "other"}) {
		t.Fatalf("all models %v", got)
	}
	if got := names("hous%"); !slices.Equal(got, []string{"housing"}) {
		t.Fatalf("hous%% (case-sensitive) = %v", got)
	}
	must(s.CreateModelVersion(ctx, mlops.ModelVersionCreate{Name: "housing", Source: "s"}))
	check(t, s.SetAlias(ctx, "housing", "champion", 1, mlops.Actor{By: "ana"}))
	must(s.TransitionStage(ctx, "housing", 1, mlops.StageStaging, true, mlops.Actor{By: "ana"}))
	_, err = s.RenameRegisteredModel(ctx, "housing", "other")
	wantCode(t, err, mlops.EEXISTS, "rename onto existing model")
	r := must(s.RenameRegisteredModel(ctx, "housing", "housing-v2"))
	if r.Name != "housing-v2" || r.Aliases["champion"] != 1 {
		t.Fatalf("renamed model %+v", r)
	}
	if v := must(s.GetModelVersion(ctx, "housing-v2", 1)); v.Stage != mlops.StageStaging {
		t.Fatalf("version after rename %+v", v)
	}
	if tr := must(s.Transitions(ctx, "housing-v2")); len(tr) != 2 {
		t.Fatalf("transitions after rename: %+v", tr)
	}
	got := must(s.UpdateRegisteredModel(ctx, "housing-v2", "new"))
	if got.Description != "new" {
		t.Fatalf("description %q", got.Description)
	}
	check(t, s.SetRegisteredModelTag(ctx, "housing-v2", "owner", "ops"))
	check(t, s.DeleteRegisteredModelTag(ctx, "housing-v2", "missing"))
	if got := must(s.GetRegisteredModel(ctx, "housing-v2")); got.Tags["owner"] != "ops" {
		t.Fatalf("model tags %v", got.Tags)
	}
	check(t, s.DeleteRegisteredModel(ctx, "housing-v2"))
	_, err = s.GetModelVersion(ctx, "housing-v2", 1)
	wantCode(t, err, mlops.ENOTFOUND, "version of deleted model")
	wantCode(t, s.DeleteRegisteredModel(ctx, "housing-v2"), mlops.ENOTFOUND, "delete deleted model")
}

func newVersions(t *testing.T, s mlops.Store, name string, n int) {
	for i := 0; i < n; i++ {
		must(s.CreateModelVersion(ctx, mlops.ModelVersionCreate{Name: name, Source: fmt.Sprintf("mem://%s/%d", name, i+1)}))
	}
}

func stages(t *testing.T, s mlops.Store, name string) map[int]mlops.Stage {
	out := map[int]mlops.Stage{}
	for _, v := range must(s.SearchModelVersions(ctx, name)) {
		out[v.Version] = v.Stage
	}
	return out
}

func holdersOf(st map[int]mlops.Stage, stage mlops.Stage) []int {
	var out []int
	for v, s := range st {
		if s == stage {
			out = append(out, v)
		}
	}
	sort.Ints(out)
	return out
}

func testStages(t *testing.T, s mlops.Store) {
	newVersions(t, s, "m", 4)
	a := mlops.Actor{By: "ci", Reason: "test"}
	v := must(s.TransitionStage(ctx, "m", 1, mlops.StageProduction, true, a))
	if v.Stage != mlops.StageProduction {
		t.Fatalf("stage %q", v.Stage)
	}
	must(s.TransitionStage(ctx, "m", 2, mlops.StageProduction, true, a))
	st := stages(t, s, "m")
	if got := holdersOf(st, mlops.StageProduction); !slices.Equal(got, []int{2}) || st[1] != mlops.StageArchived {
		t.Fatalf("after promoting 2 with archive: %v", st)
	}
	must(s.TransitionStage(ctx, "m", 3, mlops.StageProduction, false, a))
	if got := holdersOf(stages(t, s, "m"), mlops.StageProduction); !slices.Equal(got, []int{2, 3}) {
		t.Fatalf("without archive, Production holders %v, want [2 3]", got)
	}
	must(s.TransitionStage(ctx, "m", 4, "staging", true, a))
	must(s.TransitionStage(ctx, "m", 4, mlops.StageProduction, true, a))
	st = stages(t, s, "m")
	if got := holdersOf(st, mlops.StageProduction); !slices.Equal(got, []int{4}) {
		t.Fatalf("Production holders %v, want [4]", got)
	}
	if got := holdersOf(st, mlops.StageArchived); !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("Archived %v, want [1 2 3]", got)
	}
	// Archive-existing only applies to Staging and Production.
	must(s.TransitionStage(ctx, "m", 1, mlops.StageNone, true, a))
	must(s.TransitionStage(ctx, "m", 2, mlops.StageNone, true, a))
	if got := holdersOf(stages(t, s, "m"), mlops.StageNone); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("None holders %v, want [1 2]", got)
	}
	latest := must(s.LatestVersions(ctx, "m"))
	if len(latest) != 3 || latest[0].Version != 2 || latest[1].Stage != mlops.StageProduction || latest[2].Version != 3 {
		t.Fatalf("latest versions %+v", latest)
	}
	prod := must(s.LatestVersions(ctx, "m", mlops.StageProduction))
	if len(prod) != 1 || prod[0].Version != 4 {
		t.Fatalf("latest Production %+v", prod)
	}
	_, err := s.TransitionStage(ctx, "m", 1, "Live", true, a)
	wantCode(t, err, mlops.EINVALID, "unknown stage")
	_, err = s.TransitionStage(ctx, "m", 9, mlops.StageStaging, true, a)
	wantCode(t, err, mlops.ENOTFOUND, "unknown version")
	_, err = s.TransitionStage(ctx, "zz", 1, mlops.StageStaging, true, a)
	wantCode(t, err, mlops.ENOTFOUND, "unknown model")
	_, err = s.LatestVersions(ctx, "zz")
	wantCode(t, err, mlops.ENOTFOUND, "latest of unknown model")
}

func testAliases(t *testing.T, s mlops.Store) {
	newVersions(t, s, "m", 2)
	a := mlops.Actor{By: "ana", Reason: "better rmse"}
	check(t, s.SetAlias(ctx, "m", "champion", 1, a))
	check(t, s.SetAlias(ctx, "m", "champion", 2, a))
	v := must(s.GetModelVersionByAlias(ctx, "m", "champion"))
	if v.Version != 2 || !slices.Equal(v.Aliases, []string{"champion"}) {
		t.Fatalf("champion -> %+v, want version 2", v)
	}
	if v1 := must(s.GetModelVersion(ctx, "m", 1)); len(v1.Aliases) != 0 {
		t.Fatalf("alias left on version 1: %v", v1.Aliases)
	}
	check(t, s.SetAlias(ctx, "m", "challenger", 1, a))
	m := must(s.GetRegisteredModel(ctx, "m"))
	if m.Aliases["champion"] != 2 || m.Aliases["challenger"] != 1 || len(m.Aliases) != 2 {
		t.Fatalf("model aliases %v", m.Aliases)
	}
	wantCode(t, s.SetAlias(ctx, "m", "latest", 1, a), mlops.EINVALID, "reserved alias latest")
	wantCode(t, s.SetAlias(ctx, "m", "v3", 1, a), mlops.EINVALID, "reserved alias v3")
	wantCode(t, s.SetAlias(ctx, "m", "x", 7, a), mlops.ENOTFOUND, "alias to unknown version")
	check(t, s.DeleteAlias(ctx, "m", "challenger", a))
	_, err := s.GetModelVersionByAlias(ctx, "m", "challenger")
	wantCode(t, err, mlops.ENOTFOUND, "deleted alias")
	wantCode(t, s.DeleteAlias(ctx, "m", "challenger", a), mlops.ENOTFOUND, "delete missing alias")
	_, err = s.GetModelVersionByAlias(ctx, "zz", "champion")
	wantCode(t, err, mlops.ENOTFOUND, "alias of unknown model")
	check(t, s.DeleteModelVersion(ctx, "m", 2))
	_, err = s.GetModelVersionByAlias(ctx, "m", "champion")
	wantCode(t, err, mlops.ENOTFOUND, "alias of deleted version")
}

func testTransitionLog(t *testing.T, s mlops.Store) {
	newVersions(t, s, "m", 2)
	before := time.Now().Add(-time.Second)
	must(s.TransitionStage(ctx, "m", 1, mlops.StageProduction, true, mlops.Actor{By: "ana", Reason: "first"}))
	must(s.TransitionStage(ctx, "m", 2, mlops.StageProduction, true, mlops.Actor{By: "bo", Reason: "second"}))
	must(s.TransitionStage(ctx, "m", 2, mlops.StageProduction, true, mlops.Actor{By: "bo", Reason: "no-op"}))
	check(t, s.SetAlias(ctx, "m", "champion", 1, mlops.Actor{By: "ana", Reason: "a1"}))
	check(t, s.SetAlias(ctx, "m", "champion", 2, mlops.Actor{By: "ana", Reason: "a2"}))
	check(t, s.DeleteAlias(ctx, "m", "champion", mlops.Actor{By: "cy", Reason: "gone"}))
	log := must(s.Transitions(ctx, "m"))
	type row struct {
		version     int
		kind, alias string
		from, to    string
		by, reason  string
	}
	want := []row{
		{1, mlops.TransitionStage, "", "None", "Production", "ana", "first"},
		{1, mlops.TransitionStage, "", "Production", "Archived", "bo", "second"},
		{2, mlops.TransitionStage, "", "None", "Production", "bo", "second"},
		{1, mlops.TransitionAlias, "champion", "", "1", "ana", "a1"},
		{2, mlops.TransitionAlias, "champion", "1", "2", "ana", "a2"},
		{2, mlops.TransitionAlias, "champion", "2", "", "cy", "gone"},
	}
	if len(log) != len(want) {
		t.Fatalf("log has %d entries, want %d: %+v", len(log), len(want), log)
	}
	for i, w := range want {
		g := log[i]
		got := row{g.Version, g.Kind, g.Alias, g.From, g.To, g.By, g.Reason}
		if got != w {
			t.Errorf("entry %d = %+v, want %+v", i, got, w)
		}
		if g.Name != "m" || g.At.Before(before) || g.At.After(time.Now().Add(time.Second)) {
			t.Errorf("entry %d name %q at %v", i, g.Name, g.At)
		}
		if i > 0 && g.ID <= log[i-1].ID {
			t.Errorf("entry ids not increasing: %d after %d", g.ID, log[i-1].ID)
		}
	}
	_, err := s.Transitions(ctx, "zz")
	wantCode(t, err, mlops.ENOTFOUND, "transitions of unknown model")
}

func testRollback(t *testing.T, s mlops.Store) {
	newVersions(t, s, "m", 3)
	a := mlops.Actor{By: "ana", Reason: "promote"}
	_, err := s.Rollback(ctx, "m", mlops.StageProduction, a)
	wantCode(t, err, mlops.ENOTFOUND, "rollback with no Production version")
	must(s.TransitionStage(ctx, "m", 1, mlops.StageProduction, true, a))
	_, err = s.Rollback(ctx, "m", mlops.StageProduction, a)
	wantCode(t, err, mlops.ECONFLICT, "rollback with a single Production history")
	must(s.TransitionStage(ctx, "m", 2, mlops.StageProduction, true, a))
	must(s.TransitionStage(ctx, "m", 3, mlops.StageProduction, true, a))

	rb := mlops.Actor{By: "oncall", Reason: "latency regression"}
	testRollbackFirst(t, s, rb)
	testRollbackWalk(t, s, a, rb)
}

// testRollbackFirst rolls Production of m back from v3 to v2 (v1, v2, v3
// were promoted in turn) and checks the stages and the two log entries.
func testRollbackFirst(t *testing.T, s mlops.Store, rb mlops.Actor) {
	v := must(s.Rollback(ctx, "m", mlops.StageProduction, rb))
	st := stages(t, s, "m")
	if v.Version != 2 || st[2] != mlops.StageProduction || st[3] != mlops.StageArchived || st[1] != mlops.StageArchived {
		t.Fatalf("after first rollback got version %d, stages %v; want 2 in Production, 3 archived", v.Version, st)
	}
	log := must(s.Transitions(ctx, "m"))
	last2 := log[len(log)-2:]
	if last2[0].Version != 3 || last2[0].From != "Production" || last2[0].To != "Archived" || last2[0].Reason != rb.Reason || last2[0].By != "oncall" {
		t.Fatalf("rollback archive entry %+v", last2[0])
	}
	if last2[1].Version != 2 || last2[1].From != "Archived" || last2[1].To != "Production" || last2[1].Reason != rb.Reason {
		t.Fatalf("rollback restore entry %+v", last2[1])
	}
}

// testRollbackWalk rolls m back once more (after testRollbackFirst), past
// the first holder, after a re-promotion (by a), and on bad arguments.
func testRollbackWalk(t *testing.T, s mlops.Store, a, rb mlops.Actor) {
	v := must(s.Rollback(ctx, "m", mlops.StageProduction, rb))
	st := stages(t, s, "m")
	if v.Version != 1 || !slices.Equal(holdersOf(st, mlops.StageProduction), []int{1}) {
		t.Fatalf("second rollback got version %d, stages %v; want 1 (walk back, not flip to 3)", v.Version, st)
	}
	_, err := s.Rollback(ctx, "m", mlops.StageProduction, rb)
	wantCode(t, err, mlops.ECONFLICT, "rollback past the first holder")
	if got := holdersOf(stages(t, s, "m"), mlops.StageProduction); !slices.Equal(got, []int{1}) {
		t.Fatalf("failed rollback changed stages: Production %v", got)
	}
	// A new promotion after rollbacks is the new top; rolling back returns
	// to the version it replaced.
	must(s.TransitionStage(ctx, "m", 3, mlops.StageProduction, true, a))
	v = must(s.Rollback(ctx, "m", mlops.StageProduction, rb))
	if v.Version != 1 {
		t.Fatalf("rollback after re-promotion gave %d, want 1", v.Version)
	}
	_, err = s.Rollback(ctx, "m", mlops.StageArchived, rb)
	wantCode(t, err, mlops.EINVALID, "rollback of Archived")
	_, err = s.Rollback(ctx, "zz", mlops.StageProduction, rb)
	wantCode(t, err, mlops.ENOTFOUND, "rollback of unknown model")
}

func testConcurrentVersions(t *testing.T, s mlops.Store) {
	const workers, each = 6, 4
	var wg sync.WaitGroup
	var mu sync.Mutex
	var got []int
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				v, err := s.CreateModelVersion(ctx, mlops.ModelVersionCreate{Name: "race", Source: "s"})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				got = append(got, v.Version)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	sort.Ints(got)
	for i, v := range got {
		if v != i+1 {
			t.Fatalf("versions %v: want 1..%d each once", got, workers*each)
		}
	}
	if len(got) != workers*each {
		t.Fatalf("%d versions, want %d", len(got), workers*each)
	}
}
