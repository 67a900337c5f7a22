package pipeline

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops"
)

// funcStep is a test step whose behaviour is a closure.
type funcStep struct {
	name    string
	in, out []string
	params  map[string]any
	calls   int
	run     func(ctx context.Context, sc *StepContext) error
}

func (s *funcStep) Name() string           { return s.name }
func (s *funcStep) Inputs() []string       { return s.in }
func (s *funcStep) Outputs() []string      { return s.out }
func (s *funcStep) Params() map[string]any { return s.params }
func (s *funcStep) Run(ctx context.Context, sc *StepContext) error {
	s.calls++
	return s.run(ctx, sc)
}

// chain builds A (writes "a" = param text) and B (reads "a", writes "b" =
// upper case of it, logs a metric and a summary).
func chain() (*funcStep, *funcStep) {
	a := &funcStep{name: "01_a", out: []string{"a"}, params: map[string]any{"text": "hello"}}
	a.run = func(ctx context.Context, sc *StepContext) error {
		_, err := sc.Write(ctx, "a", []byte(a.params["text"].(string)))
		return err
	}
	b := &funcStep{name: "02_b", in: []string{"a"}, out: []string{"b"}, params: map[string]any{}}
	b.run = func(ctx context.Context, sc *StepContext) error {
		in, err := sc.Read(ctx, "a")
		if err != nil {
			return err
		}
		if err := sc.Metric(ctx, "len", float64(len(in)), 0); err != nil {
			return err
		}
		if err := sc.Summary(ctx, "upper", strings.ToUpper(string(in))); err != nil {
			return err
		}
		_, err = sc.Write(ctx, "b", bytes.ToUpper(in))
		return err
	}
	return a, b
}

func newRunner(tr *fakeTracker, art *fakeArtifacts) *Runner {
	return &Runner{Tracker: tr, Artifacts: art, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Experiment: "e", CodeVersion: "v1", ConfigHash: "cfg", DataKey: "a"}
}

func TestSecondRunIsCachedAndForceReruns(t *testing.T) {
	tr, art := newFakeTracker(), newFakeArtifacts()
	a, b := chain()
	steps := []Step{a, b}
	r := newRunner(tr, art)
	rep1, err := r.Run(context.Background(), steps, steps)
	if err != nil {
		t.Fatal(err)
	}
	rep2, err := r.Run(context.Background(), steps, steps)
	if err != nil {
		t.Fatal(err)
	}
	if a.calls != 1 || b.calls != 1 {
		t.Fatalf("calls a=%d b=%d, want 1 each (second run cached)", a.calls, b.calls)
	}
	for i, s := range rep2.Steps {
		if s.Status != StatusCached {
			t.Errorf("step %s status %s, want cached", s.Name, s.Status)
		}
		k := steps[i].Outputs()[0]
		if got, want := s.Outputs[k], rep1.Steps[i].Outputs[k]; got.URI != want.URI || got.SHA256 != want.SHA256 {
			t.Errorf("step %s: cached outputs differ from the first run's", s.Name)
		}
	}
	if rep2.Steps[1].Summary["upper"] != "HELLO" || rep2.Steps[1].Metrics["len"] != 5 {
		t.Fatalf("cached summary/metrics not restored: %v %v", rep2.Steps[1].Summary, rep2.Steps[1].Metrics)
	}
	child := tr.childrenOf(rep2.RunID)["02_b"]
	if child.Tags[tagCachedFrom] != rep1.Steps[1].RunID || child.Status != mlops.RunFinished {
		t.Fatalf("cached run tags %v status %s", child.Tags, child.Status)
	}
	r.Force = true
	if _, err := r.Run(context.Background(), steps, steps); err != nil {
		t.Fatal(err)
	}
	if a.calls != 2 || b.calls != 2 {
		t.Fatalf("force: calls a=%d b=%d, want 2 each", a.calls, b.calls)
	}
}

func TestChangedParamRerunsDownstream(t *testing.T) {
	tr, art := newFakeTracker(), newFakeArtifacts()
	a, b := chain()
	steps := []Step{a, b}
	r := newRunner(tr, art)
	if _, err := r.Run(context.Background(), steps, steps); err != nil {
		t.Fatal(err)
	}
	a.params["text"] = "bye"
	rep, err := r.Run(context.Background(), steps, steps)
	if err != nil {
		t.Fatal(err)
	}
	if a.calls != 2 || b.calls != 2 || rep.Steps[1].Summary["upper"] != "BYE" {
		t.Fatalf("calls a=%d b=%d summary %v", a.calls, b.calls, rep.Steps[1].Summary)
	}
	r.CodeVersion = "v2"
	if _, err := r.Run(context.Background(), steps, steps); err != nil {
		t.Fatal(err)
	}
	if a.calls != 3 {
		t.Fatal("a new code version did not invalidate the cache")
	}
}

func TestFailureStopsAndKeepsEarlierOutputs(t *testing.T) {
	tr, art := newFakeTracker(), newFakeArtifacts()
	a, b := chain()
	boom := errors.New("boom")
	b.run = func(context.Context, *StepContext) error { return boom }
	c := &funcStep{name: "03_c", run: func(context.Context, *StepContext) error { return nil }}
	steps := []Step{a, b, c}
	rep, err := newRunner(tr, art).Run(context.Background(), steps, steps)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "02_b") {
		t.Fatalf("err = %v", err)
	}
	if c.calls != 0 || len(rep.Steps) != 2 || rep.Steps[1].Status != StatusFailed {
		t.Fatalf("c ran %d times; report %+v", c.calls, rep.Steps)
	}
	if _, err := art.Get(context.Background(), rep.Steps[0].Outputs["a"].URI, rep.Steps[0].Outputs["a"].SHA256); err != nil {
		t.Fatalf("earlier output lost: %v", err)
	}
	kids := tr.childrenOf(rep.RunID)
	if kids["02_b"].Status != mlops.RunFailed || !strings.Contains(kids["02_b"].Tags["mlops.error"], "boom") {
		t.Fatalf("failed step run: %s %v", kids["02_b"].Status, kids["02_b"].Tags)
	}
	parent, _ := tr.GetRun(context.Background(), rep.RunID)
	if parent.Status != mlops.RunFailed {
		t.Fatalf("parent status %s", parent.Status)
	}
}

func TestSelectedStepReadsEarlierRunAndMissingOutputFails(t *testing.T) {
	tr, art := newFakeTracker(), newFakeArtifacts()
	a, b := chain()
	steps := []Step{a, b}
	r := newRunner(tr, art)
	if _, err := r.Run(context.Background(), steps, []Step{b}); err == nil || !strings.Contains(err.Error(), "run that step first") {
		t.Fatalf("b without a: %v", err)
	}
	if _, err := r.Run(context.Background(), steps, []Step{a}); err != nil {
		t.Fatal(err)
	}
	rep, err := r.Run(context.Background(), steps, []Step{b})
	if err != nil || rep.Steps[0].Summary["upper"] != "HELLO" {
		t.Fatalf("b alone: %v %+v", err, rep)
	}
	lazy := &funcStep{name: "09_lazy", out: []string{"z"}, run: func(context.Context, *StepContext) error { return nil }}
	if _, err := r.Run(context.Background(), []Step{lazy}, []Step{lazy}); err == nil || !strings.Contains(err.Error(), `declared output "z"`) {
		t.Fatalf("missing output: %v", err)
	}
}

func TestRunTagsAndParams(t *testing.T) {
	tr, art := newFakeTracker(), newFakeArtifacts()
	a, b := chain()
	steps := []Step{a, b}
	rep, err := newRunner(tr, art).Run(context.Background(), steps, steps)
	if err != nil {
		t.Fatal(err)
	}
	run := tr.childrenOf(rep.RunID)["01_a"]
	want := map[string]string{tagStep: "01_a", tagConfigHash: "cfg", tagCodeVersion: "v1", tagCacheKey: rep.Steps[0].CacheKey,
		tagParentRunID: rep.RunID}
	for k, v := range want {
		if run.Tags[k] != v {
			t.Errorf("tag %s = %q, want %q", k, run.Tags[k], v)
		}
	}
	if run.Params["text"] != "hello" {
		t.Errorf("params %v", run.Params)
	}
	if tr.childrenOf(rep.RunID)["02_b"].Tags[tagDataHash] != rep.Steps[0].Outputs["a"].SHA256 {
		t.Error("data hash tag is not the SHA-256 of the data artifact")
	}
}

func TestSelect(t *testing.T) {
	a, b := chain()
	steps := []Step{a, b}
	for _, sel := range [][]string{{"2"}, {"02"}, {"02_b"}, {"b"}} {
		got, err := Select(steps, sel)
		if err != nil || len(got) != 1 || got[0] != b {
			t.Errorf("Select(%v) = %v, %v", sel, got, err)
		}
	}
	got, _ := Select(steps, []string{"02", "01"})
	if len(got) != 2 || got[0] != a {
		t.Errorf("order not kept: %v", got)
	}
	if _, err := Select(steps, []string{"7"}); err == nil || !strings.Contains(err.Error(), "01_a, 02_b") {
		t.Errorf("unknown step error: %v", err)
	}
}
