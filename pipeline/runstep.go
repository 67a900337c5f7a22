package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/housing-mlops/mlops"
)

// runStep resolves a step's inputs, skips it when cached, otherwise runs it
// in a child run and records its outputs in state.
func (r *Runner) runStep(ctx context.Context, all []Step, st Step, parent *mlops.Run, state map[string]mlops.ArtifactInfo) (StepResult, error) {
	start, cpuStart := time.Now(), cpuTime()
	res := StepResult{Name: st.Name(), Status: StatusFailed}
	log := r.Log.With("step", st.Name())
	log.Info("──── step start ────", "inputs", st.Inputs(), "outputs", st.Outputs())
	inputs, err := r.resolveInputs(ctx, all, st, parent.ExperimentID, state)
	if err != nil {
		return res, err
	}
	key, err := cacheKey(st, inputs, r.CodeVersion)
	if err != nil {
		return res, err
	}
	res.CacheKey = key
	var prev *mlops.Run
	if !r.Force {
		if prev, err = r.findCached(ctx, parent.ExperimentID, st, key); err != nil {
			return res, err
		}
	}
	run, err := r.Tracker.CreateRun(ctx, mlops.RunCreate{
		ExperimentID: parent.ExperimentID, Name: st.Name(), ParentID: parent.ID,
		Tags: r.stepTags(st, key, inputs, parent.ID, state),
	})
	if err != nil {
		return res, fmt.Errorf("creating run: %w", err)
	}
	res.RunID = run.ID
	sc := &StepContext{Log: log, Registry: r.Registry, runner: r, step: st, run: run, parent: parent,
		inputs: inputs, outputs: map[string]mlops.ArtifactInfo{}, metrics: map[string]float64{}, summary: map[string]string{}}
	if prev != nil {
		err = r.reuse(ctx, sc, prev)
		res.Status = StatusCached
	} else {
		err = r.execute(ctx, sc)
		res.Status = StatusRan
	}
	res.Duration, res.CPU = time.Since(start), cpuTime()-cpuStart
	res.Outputs, res.Metrics, res.Summary = sc.outputs, sc.metrics, sc.summary
	if err != nil {
		res.Status = StatusFailed
	}
	if ferr := r.finish(ctx, sc, res, err); ferr != nil && err == nil {
		err, res.Status = ferr, StatusFailed
	}
	if err != nil {
		log.Error("step failed", "error", err.Error(), "seconds", res.Duration.Seconds())
		return res, err
	}
	for k, v := range sc.outputs {
		state[k] = v
	}
	log.Info("──── step end ────", "status", res.Status, "seconds", res.Duration.Seconds(), "cpu_seconds", res.CPU.Seconds(),
		"outputs", outputList(sc.outputs))
	return res, nil
}

// execute runs the step and checks it wrote every declared output.
func (r *Runner) execute(ctx context.Context, sc *StepContext) error {
	if err := r.logParams(ctx, sc); err != nil {
		return err
	}
	if err := sc.step.Run(ctx, sc); err != nil {
		return err
	}
	for _, k := range sc.step.Outputs() {
		if _, ok := sc.outputs[k]; !ok {
			return fmt.Errorf("finished without writing its declared output %q", k)
		}
	}
	return nil
}

// reuse copies a cached run's outputs, metrics and summary into this run.
func (r *Runner) reuse(ctx context.Context, sc *StepContext, prev *mlops.Run) error {
	sc.Log.Info("cached", "from_run", prev.ID, "cache_key", short(sc.run.Tags[tagCacheKey]))
	for _, k := range sc.step.Outputs() {
		sc.outputs[k] = mlops.ArtifactInfo{URI: prev.Tags[tagOutURI+k], SHA256: prev.Tags[tagOutSHA+k]}
	}
	tags := []mlops.Tag{{Key: tagCachedFrom, Value: prev.ID}}
	for k, v := range prev.Tags {
		if s, ok := strings.CutPrefix(k, tagSummary); ok {
			sc.summary[s] = v
			tags = append(tags, mlops.Tag{Key: k, Value: v})
		}
	}
	var ms []mlops.Metric
	for _, m := range prev.Metrics {
		sc.metrics[m.Key] = m.Value
		ms = append(ms, mlops.Metric{Key: m.Key, Value: m.Value, Timestamp: time.Now()})
	}
	if err := r.logParams(ctx, sc); err != nil {
		return err
	}
	return r.Tracker.LogBatch(ctx, sc.run.ID, ms, nil, sortTags(tags))
}

// finish records outputs and closes the step's run.
func (r *Runner) finish(ctx context.Context, sc *StepContext, res StepResult, stepErr error) error {
	ctx = context.WithoutCancel(ctx) // record the failure even when cancelled
	now := time.Now()
	timing := []mlops.Metric{{Key: "step_seconds", Value: res.Duration.Seconds(), Timestamp: now},
		{Key: "step_cpu_seconds", Value: res.CPU.Seconds(), Timestamp: now}}
	var tags []mlops.Tag
	for k, v := range sc.outputs {
		tags = append(tags, mlops.Tag{Key: tagOutURI + k, Value: v.URI}, mlops.Tag{Key: tagOutSHA + k, Value: v.SHA256})
	}
	if stepErr != nil {
		tags = append(tags, mlops.Tag{Key: "mlops.error", Value: truncate(stepErr.Error(), 4000)})
	}
	if err := r.Tracker.LogBatch(ctx, sc.run.ID, timing, nil, sortTags(tags)); err != nil {
		return fmt.Errorf("recording outputs: %w", err)
	}
	status := mlops.RunFinished
	if stepErr != nil {
		status = mlops.RunFailed
	}
	if _, err := r.Tracker.UpdateRun(ctx, sc.run.ID, mlops.RunUpdate{Status: status, EndTime: time.Now()}); err != nil {
		return fmt.Errorf("closing run: %w", err)
	}
	return nil
}

func (r *Runner) logParams(ctx context.Context, sc *StepContext) error {
	params := flattenParams(sc.step.Params())
	for _, p := range params {
		sc.Log.Info("param", "key", p.Key, "value", truncate(p.Value, 200))
	}
	if len(params) == 0 {
		return nil
	}
	return r.Tracker.LogBatch(ctx, sc.run.ID, nil, params, nil)
}

func (r *Runner) stepTags(st Step, key string, inputs map[string]mlops.ArtifactInfo, parentID string, state map[string]mlops.ArtifactInfo) map[string]string {
	tags := map[string]string{
		tagKind: "step", tagStep: st.Name(), tagCacheKey: key, tagConfigHash: r.ConfigHash,
		tagCodeVersion: r.CodeVersion, tagParentRunID: parentID, tagInputsHash: inputsHash(inputs),
	}
	if d, ok := inputs[r.DataKey]; ok {
		tags[tagDataHash] = d.SHA256
	} else if d, ok := state[r.DataKey]; ok {
		tags[tagDataHash] = d.SHA256
	}
	return tags
}

// resolveInputs finds each input in this run's state or, failing that, in
// the latest finished run of the step that produces it.
func (r *Runner) resolveInputs(ctx context.Context, all []Step, st Step, expID string, state map[string]mlops.ArtifactInfo) (map[string]mlops.ArtifactInfo, error) {
	out := map[string]mlops.ArtifactInfo{}
	for _, k := range st.Inputs() {
		if info, ok := state[k]; ok {
			out[k] = info
			continue
		}
		producer := producerOf(all, k)
		if producer == nil {
			return nil, fmt.Errorf("input %q is produced by no step", k)
		}
		info, err := r.latestOutput(ctx, expID, producer.Name(), k)
		if err != nil {
			return nil, err
		}
		r.Log.Info("input from an earlier run", "step", st.Name(), "key", k, "producer", producer.Name(), "uri", info.URI)
		state[k], out[k] = info, info
	}
	return out, nil
}

func producerOf(all []Step, key string) Step {
	for _, s := range all {
		if slices.Contains(s.Outputs(), key) {
			return s
		}
	}
	return nil
}

func (r *Runner) latestOutput(ctx context.Context, expID, producer, key string) (mlops.ArtifactInfo, error) {
	runs, err := r.stepRuns(ctx, expID, map[string]string{tagStep: producer})
	if err != nil {
		return mlops.ArtifactInfo{}, err
	}
	for _, run := range runs {
		if uri, sha := run.Tags[tagOutURI+key], run.Tags[tagOutSHA+key]; uri != "" && sha != "" {
			return mlops.ArtifactInfo{URI: uri, SHA256: sha}, nil
		}
	}
	return mlops.ArtifactInfo{}, fmt.Errorf("needs %q: no finished run of step %s has it; run that step first", key, producer)
}

// findCached returns the newest finished run of st with the same cache key
// whose outputs are all still stored intact, or nil.
func (r *Runner) findCached(ctx context.Context, expID string, st Step, key string) (*mlops.Run, error) {
	runs, err := r.stepRuns(ctx, expID, map[string]string{tagStep: st.Name(), tagCacheKey: key})
	if err != nil {
		return nil, err
	}
	for _, run := range runs {
		if r.outputsIntact(ctx, st, run) {
			return run, nil
		}
	}
	return nil, nil
}

func (r *Runner) outputsIntact(ctx context.Context, st Step, run *mlops.Run) bool {
	for _, k := range st.Outputs() {
		uri, sha := run.Tags[tagOutURI+k], run.Tags[tagOutSHA+k]
		if uri == "" || sha == "" {
			return false
		}
		if _, err := r.Artifacts.Get(ctx, uri, sha); err != nil {
			r.Log.Warn("cached output unusable", "step", st.Name(), "key", k, "error", err.Error())
			return false
		}
	}
	return true
}

// stepRuns returns finished runs with the given tags, newest first.
func (r *Runner) stepRuns(ctx context.Context, expID string, tags map[string]string) ([]*mlops.Run, error) {
	var out []*mlops.Run
	f := mlops.RunFilter{ExperimentIDs: []string{expID}, Tags: tags, OrderBy: []string{"start_time DESC"}}
	for {
		runs, next, err := r.Tracker.SearchRuns(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("searching runs: %w", err)
		}
		for _, run := range runs {
			if run.Status == mlops.RunFinished && tagsMatch(run, tags) {
				out = append(out, run)
			}
		}
		if next == "" {
			break
		}
		f.PageToken = next
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].StartTime.After(out[j].StartTime) })
	return out, nil
}

// tagsMatch re-checks the filter, so a store that ignores RunFilter.Tags
// cannot make the cache reuse the wrong run.
func tagsMatch(run *mlops.Run, tags map[string]string) bool {
	for k, v := range tags {
		if run.Tags[k] != v {
			return false
		}
	}
	return true
}

// cacheKey is the SHA-256 of the step's name, its inputs' SHA-256s, its
// params and the code version.
func cacheKey(st Step, inputs map[string]mlops.ArtifactInfo, codeVersion string) (string, error) {
	shas := map[string]string{}
	for k, v := range inputs {
		shas[k] = v.SHA256
	}
	b, err := json.Marshal(map[string]any{"step": st.Name(), "inputs": shas, "params": st.Params(), "code": codeVersion})
	if err != nil {
		return "", fmt.Errorf("params are not JSON-encodable: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

func inputsHash(inputs map[string]mlops.ArtifactInfo) string {
	keys := make([]string, 0, len(inputs))
	for k := range inputs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%s\n", k, inputs[k].SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// flattenParams turns params into sorted string params; non-string values
// are JSON-encoded.
func flattenParams(p map[string]any) []mlops.Param {
	out := make([]mlops.Param, 0, len(p))
	for k, v := range p {
		s, ok := v.(string)
		if !ok {
			b, err := json.Marshal(v)
			if err != nil {
				s = fmt.Sprint(v)
			} else {
				s = string(b)
			}
		}
		out = append(out, mlops.Param{Key: k, Value: truncate(s, 6000)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func sortTags(t []mlops.Tag) []mlops.Tag {
	sort.Slice(t, func(i, j int) bool { return t[i].Key < t[j].Key })
	return t
}

func outputList(o map[string]mlops.ArtifactInfo) []string {
	out := make([]string, 0, len(o))
	for k, v := range o {
		out = append(out, k+"@"+short(v.SHA256))
	}
	sort.Strings(out)
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
