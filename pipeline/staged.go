package pipeline

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/selection"
)

// gridSearch cross-validates every point of grid with the same results as
// selection.GridSearch. For families that grow tree by tree it fits each
// (other parameters, fold) once, growing to each n_estimators of the grid in
// turn and scoring on the way: Grow is bit-identical to Fit with that many
// trees, so the scores are the same while the default random-forest grid
// grows 300 trees per point instead of 50+100+200+300.
func gridSearch(ctx context.Context, family string, grid map[string][]any, seed uint64, X *ml.Matrix, y []float64,
	folds []selection.Fold, scorer selection.Scorer, workers int, progress func()) ([]selection.CandidateResult, int, error) {
	build := func(p selection.Params) (ml.Regressor, error) { return buildModel(family, p, seed, 1) }
	cands, err := selection.ExpandGrid(grid)
	if err != nil {
		return nil, 0, err
	}
	probe, err := build(cands[0])
	_, growable := probe.(grower)
	if err != nil || !growable || len(grid["n_estimators"]) < 2 {
		return selection.GridSearch(ctx, grid, build, X, y, folds, scorer, workers, func(int, int) { progress() })
	}
	groups := stageGroups(cands)
	data := splitFolds(X, y, folds)
	cells := make([][]stagedCell, len(cands)) // [candidate][fold]
	for i := range cells {
		cells[i] = make([]stagedCell, len(folds))
	}
	tasks := len(groups) * len(folds)
	notify := serialised(progress)
	err = ml.ParallelFor(tasks, workers, func(t int) error {
		g, f := groups[t/len(folds)], t%len(folds)
		runStages(ctx, build, cands, g, data[f], scorer, func(c int, cell stagedCell) {
			cells[c][f] = cell
			notify()
		})
		return ctx.Err()
	})
	if err != nil {
		return nil, 0, err
	}
	return summarise(cands, cells, scorer)
}

// stagedCell is one candidate's score on one fold.
type stagedCell struct {
	test, train, seconds float64
	err                  error
}

type foldData struct {
	Xtr, Xte *ml.Matrix
	Ytr, Yte []float64
}

func splitFolds(X *ml.Matrix, y []float64, folds []selection.Fold) []foldData {
	out := make([]foldData, len(folds))
	for i, f := range folds {
		out[i] = foldData{Xtr: X.SelectRows(f.Train), Ytr: ml.SelectFloats(y, f.Train),
			Xte: X.SelectRows(f.Test), Yte: ml.SelectFloats(y, f.Test)}
	}
	return out
}

// stageGroups groups candidate indices that differ only in n_estimators,
// each group sorted by n_estimators ascending, groups in first-seen order.
func stageGroups(cands []selection.Params) [][]int {
	index := map[string]int{}
	var groups [][]int
	for i, p := range cands {
		rest := selection.Params{}
		for k, v := range p {
			if k != "n_estimators" {
				rest[k] = v
			}
		}
		key := selection.FormatParams(rest)
		g, ok := index[key]
		if !ok {
			g = len(groups)
			index[key] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	for _, g := range groups {
		sort.SliceStable(g, func(a, b int) bool { return nEstimators(cands[g[a]]) < nEstimators(cands[g[b]]) })
	}
	return groups
}

func nEstimators(p selection.Params) int {
	n, _, _ := selection.ParamInt(p, "n_estimators")
	return n
}

// runStages grows one model through the group's n_estimators on one fold,
// reporting each candidate's cell. A failure fails the rest of the group.
func runStages(ctx context.Context, build func(selection.Params) (ml.Regressor, error), cands []selection.Params,
	group []int, d foldData, scorer selection.Scorer, report func(int, stagedCell)) {
	last := cands[group[len(group)-1]]
	m, err := build(last)
	var elapsed time.Duration
	for _, c := range group {
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			report(c, stagedCell{err: err, test: math.NaN(), train: math.NaN()})
			continue
		}
		start := time.Now()
		err = m.(grower).Grow(d.Xtr, d.Ytr, nEstimators(cands[c]))
		elapsed += time.Since(start)
		cell := stagedCell{seconds: elapsed.Seconds()}
		if err == nil {
			cell.test, err = score(m, d.Xte, d.Yte, scorer)
		}
		if err == nil {
			cell.train, err = score(m, d.Xtr, d.Ytr, scorer)
		}
		if err != nil {
			err = fmt.Errorf("%s: %w", selection.FormatParams(cands[c]), err)
			cell = stagedCell{err: err, test: math.NaN(), train: math.NaN()}
		}
		report(c, cell)
	}
}

func score(m ml.Regressor, X *ml.Matrix, y []float64, s selection.Scorer) (float64, error) {
	pred, err := m.Predict(X)
	if err != nil {
		return 0, err
	}
	return s.Score(y, pred)
}

// summarise turns cells into candidate results, ranks and the best index,
// as selection.GridSearch does.
func summarise(cands []selection.Params, cells [][]stagedCell, scorer selection.Scorer) ([]selection.CandidateResult, int, error) {
	out := make([]selection.CandidateResult, len(cands))
	best := -1
	for i, p := range cands {
		r := selection.CandidateResult{Params: p, FoldTest: make([]float64, len(cells[i]))}
		var sum, sumTrain, secs float64
		for f, c := range cells[i] {
			if c.err != nil && r.Err == nil {
				r.Err = fmt.Errorf("fold %d: %w", f, c.err)
			}
			r.FoldTest[f] = c.test
			sum, sumTrain, secs = sum+c.test, sumTrain+c.train, secs+c.seconds
		}
		n := float64(len(cells[i]))
		r.MeanTest, r.MeanTrain, r.MeanFitSeconds = sum/n, sumTrain/n, secs/n
		var ss float64
		for _, v := range r.FoldTest {
			ss += (v - r.MeanTest) * (v - r.MeanTest)
		}
		r.StdTest = math.Sqrt(ss / n)
		if r.Err != nil {
			r.MeanTest, r.StdTest, r.MeanTrain = math.NaN(), math.NaN(), math.NaN()
		} else if best < 0 || scorer.Better(r.MeanTest, out[best].MeanTest) {
			best = i
		}
		out[i] = r
	}
	if best < 0 {
		return out, -1, fmt.Errorf("every candidate failed; first: %v", out[0].Err)
	}
	for i := range out {
		out[i].Rank = rank(out, i, scorer)
	}
	return out, best, nil
}

// rank is 1 + the number of candidates strictly better; failed ones come last.
func rank(rs []selection.CandidateResult, i int, s selection.Scorer) int {
	r := 1
	for j := range rs {
		if j == i {
			continue
		}
		if rs[i].Err != nil && rs[j].Err == nil {
			r++
		} else if rs[i].Err == nil && rs[j].Err == nil && s.Better(rs[j].MeanTest, rs[i].MeanTest) {
			r++
		}
	}
	return r
}

// serialised makes f safe to call from several goroutines.
func serialised(f func()) func() {
	ch := make(chan struct{}, 1)
	return func() {
		ch <- struct{}{}
		f()
		<-ch
	}
}
