package selection

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/housing-mlops/mlops/ml"
)

// Params is one set of hyperparameters, keyed by name. It is an alias so a
// plain map[string]any (e.g. decoded YAML) can be passed without conversion.
type Params = map[string]any

// ExpandGrid lists every combination of a parameter grid in a fixed order:
// keys sorted, the last key varying fastest (scikit-learn's ParameterGrid
// order). An empty grid gives one empty Params; a key with no values is an
// error because it would silently empty the whole search.
func ExpandGrid(grid map[string][]any) ([]Params, error) {
	keys := make([]string, 0, len(grid))
	for k, vals := range grid {
		if len(vals) == 0 {
			return nil, fmt.Errorf("selection: grid parameter %q has no values", k)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := []Params{{}}
	for _, k := range keys {
		next := make([]Params, 0, len(out)*len(grid[k]))
		for _, p := range out {
			for _, v := range grid[k] {
				q := make(Params, len(p)+1)
				for pk, pv := range p {
					q[pk] = pv
				}
				q[k] = v
				next = append(next, q)
			}
		}
		out = next
	}
	return out, nil
}

// CandidateResult is the cross-validated outcome of one grid point.
type CandidateResult struct {
	Params         Params
	MeanTest       float64   // mean test score over folds (NaN if the candidate failed)
	StdTest        float64   // population std of the fold test scores
	MeanTrain      float64   // mean score on the training rows
	MeanFitSeconds float64   // mean Fit wall time
	FoldTest       []float64 // test score per fold, in fold order
	Rank           int       // 1 = best; ties share a rank; failed candidates rank after all others
	Err            error     // first fold error (lowest fold), nil on success
}

// GridSearch cross-validates every combination of grid, building a fresh
// model per (candidate, fold) with build. The candidate×fold tasks run on up
// to workers goroutines (0 = all cores) so small grids still keep all cores
// busy; results come back in ExpandGrid order whatever the scheduling.
//
// A candidate whose build, fit or scoring fails is recorded with its Err and
// NaN scores and does not stop the search; the call fails only for invalid
// input, cancellation, or when every candidate failed. best is the index of
// the best mean test score (first one on ties). progress, if not nil, is
// called after each task with done increasing from 1 to total, never
// concurrently; it should return quickly.
func GridSearch(ctx context.Context, grid map[string][]any, build func(Params) (ml.Regressor, error),
	X *ml.Matrix, y []float64, folds []Fold, scorer Scorer, workers int,
	progress func(done, total int)) ([]CandidateResult, int, error) {
	if err := checkScorer(scorer); err != nil {
		return nil, -1, err
	}
	cands, err := ExpandGrid(grid)
	if err != nil {
		return nil, -1, err
	}
	data, err := prepareFolds(X, y, folds)
	if err != nil {
		return nil, -1, err
	}
	nf := len(folds)
	scores := make([]FoldScore, len(cands)*nf)
	errs := make([]error, len(cands)*nf)
	pc := &progressCounter{total: len(scores), fn: progress}
	_ = ml.ParallelFor(len(scores), workers, func(t int) error {
		if ctx.Err() != nil {
			return nil
		}
		c, f := t/nf, t%nf
		model, err := build(cands[c])
		if err == nil {
			scores[t], err = evalFold(model, data[f], scorer)
		} else {
			err = fmt.Errorf("build: %w", err)
		}
		if err != nil {
			errs[t] = fmt.Errorf("selection: candidate %d (%s) fold %d: %w", c, FormatParams(cands[c]), f, err)
		}
		pc.step()
		return nil
	})
	if err := ctx.Err(); err != nil {
		return nil, -1, err
	}
	results := collect(cands, scores, errs, nf)
	best := rank(results, scorer)
	if best < 0 {
		return results, -1, fmt.Errorf("selection: all %d candidates failed; first: %w", len(cands), results[0].Err)
	}
	return results, best, nil
}

func collect(cands []Params, scores []FoldScore, errs []error, nf int) []CandidateResult {
	results := make([]CandidateResult, len(cands))
	for c := range cands {
		r := CandidateResult{Params: cands[c]}
		for f := 0; f < nf; f++ {
			if errs[c*nf+f] != nil {
				r.Err = errs[c*nf+f]
				break
			}
		}
		if r.Err != nil {
			r.MeanTest, r.StdTest, r.MeanTrain, r.MeanFitSeconds = math.NaN(), math.NaN(), math.NaN(), math.NaN()
			results[c] = r
			continue
		}
		cv := summarise("", scores[c*nf:(c+1)*nf])
		r.MeanTest, r.StdTest, r.MeanTrain, r.MeanFitSeconds = cv.MeanTest, cv.StdTest, cv.MeanTrain, cv.MeanFitSeconds
		r.FoldTest = make([]float64, nf)
		for f, s := range cv.Folds {
			r.FoldTest[f] = s.Test
		}
		results[c] = r
	}
	return results
}

// rank fills Rank (competition ranking: equal scores share the best rank) and
// returns the index of the first best successful candidate, or -1.
func rank(results []CandidateResult, scorer Scorer) int {
	order := make([]int, len(results))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		sa, sb := results[a].MeanTest, results[b].MeanTest
		switch {
		case scorer.Better(sa, sb):
			return -1
		case scorer.Better(sb, sa):
			return 1
		}
		return 0
	})
	for pos, i := range order {
		results[i].Rank = pos + 1
		if pos > 0 {
			prev := order[pos-1]
			if !scorer.Better(results[prev].MeanTest, results[i].MeanTest) && !math.IsNaN(results[i].MeanTest) {
				results[i].Rank = results[prev].Rank
			}
		}
	}
	if len(order) == 0 || math.IsNaN(results[order[0]].MeanTest) {
		return -1
	}
	return order[0]
}

// FormatParams renders params as "a=1 b=x" with sorted keys, for logs and
// error messages that must read the same on every run.
func FormatParams(p Params) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%v", k, p[k])
	}
	return b.String()
}

// ErrParamType is wrapped by the Param* accessors when a value has the wrong
// type.
var ErrParamType = errors.New("wrong parameter type")

// ParamInt reads an integer parameter, accepting any Go integer type and
// integral floats (YAML and JSON decoders differ on which they produce).
// ok is false when the key is absent.
func ParamInt(p Params, key string) (v int, ok bool, err error) {
	raw, ok := p[key]
	if !ok {
		return 0, false, nil
	}
	switch x := raw.(type) {
	case int:
		return x, true, nil
	case int64:
		return int(x), true, nil
	case int32:
		return int(x), true, nil
	case uint64:
		return int(x), true, nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int(x), true, nil
		}
	}
	return 0, true, fmt.Errorf("parameter %q = %v (%T): %w, want an integer", key, raw, raw, ErrParamType)
}

// ParamFloat reads a numeric parameter as float64 from any integer or float
// type. ok is false when the key is absent.
func ParamFloat(p Params, key string) (v float64, ok bool, err error) {
	raw, ok := p[key]
	if !ok {
		return 0, false, nil
	}
	switch x := raw.(type) {
	case float64:
		return x, true, nil
	case float32:
		return float64(x), true, nil
	case int:
		return float64(x), true, nil
	case int64:
		return float64(x), true, nil
	case int32:
		return float64(x), true, nil
	}
	return 0, true, fmt.Errorf("parameter %q = %v (%T): %w, want a number", key, raw, raw, ErrParamType)
}

// ParamString reads a string parameter. ok is false when the key is absent.
func ParamString(p Params, key string) (v string, ok bool, err error) {
	raw, ok := p[key]
	if !ok {
		return "", false, nil
	}
	s, isStr := raw.(string)
	if !isStr {
		return "", true, fmt.Errorf("parameter %q = %v (%T): %w, want a string", key, raw, raw, ErrParamType)
	}
	return s, true, nil
}
