package selection

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/housing-mlops/mlops/ml"
)

// FoldScore is what one fold of a cross-validation measured.
type FoldScore struct {
	Test       float64 // score on the fold's held-out rows
	Train      float64 // score on the rows the model was fitted on
	FitSeconds float64 // wall time of Fit alone (noisy; not part of determinism)
}

// CVResult summarises a cross-validation. Standard deviations are population
// ones (ddof 0) like scikit-learn's cv_results_.
type CVResult struct {
	Scorer         string
	Folds          []FoldScore
	MeanTest       float64
	StdTest        float64
	MeanTrain      float64
	StdTrain       float64
	MeanFitSeconds float64
}

// foldData holds one fold's rows, copied once and shared read-only by every
// model evaluated on that fold.
type foldData struct {
	xTrain, xTest *ml.Matrix
	yTrain, yTest []float64
}

func prepareFolds(X *ml.Matrix, y []float64, folds []Fold) ([]foldData, error) {
	if X == nil {
		return nil, errors.New("selection: X is nil")
	}
	if len(y) != X.Rows {
		return nil, fmt.Errorf("selection: X has %d rows but y has %d values", X.Rows, len(y))
	}
	if err := checkFolds(folds, X.Rows); err != nil {
		return nil, err
	}
	out := make([]foldData, len(folds))
	for f, fold := range folds {
		out[f] = foldData{
			xTrain: X.SelectRows(fold.Train), xTest: X.SelectRows(fold.Test),
			yTrain: ml.SelectFloats(y, fold.Train), yTest: ml.SelectFloats(y, fold.Test),
		}
	}
	return out, nil
}

// evalFold fits model on the fold's training rows and scores both sides.
func evalFold(model ml.Regressor, fd foldData, scorer Scorer) (FoldScore, error) {
	start := time.Now()
	if err := model.Fit(fd.xTrain, fd.yTrain); err != nil {
		return FoldScore{}, fmt.Errorf("fit: %w", err)
	}
	fs := FoldScore{FitSeconds: time.Since(start).Seconds()}
	var err error
	if fs.Test, err = scoreOn(model, fd.xTest, fd.yTest, scorer); err != nil {
		return FoldScore{}, fmt.Errorf("test score: %w", err)
	}
	if fs.Train, err = scoreOn(model, fd.xTrain, fd.yTrain, scorer); err != nil {
		return FoldScore{}, fmt.Errorf("train score: %w", err)
	}
	return fs, nil
}

func scoreOn(model ml.Regressor, X *ml.Matrix, y []float64, scorer Scorer) (float64, error) {
	pred, err := model.Predict(X)
	if err != nil {
		return 0, err
	}
	return scorer.Score(y, pred)
}

func checkScorer(s Scorer) error {
	if s.Score == nil {
		return fmt.Errorf("selection: scorer %q has no Score function", s.Name)
	}
	return nil
}

// CrossValidate fits a fresh model from newModel on every fold, in parallel
// on up to workers goroutines (0 = all cores), and scores it on the fold's
// test and train rows. Results are in fold order whatever the scheduling.
// Any fold's failure fails the whole call, naming the fold.
func CrossValidate(ctx context.Context, newModel func() ml.Regressor, X *ml.Matrix, y []float64, folds []Fold, scorer Scorer, workers int) (CVResult, error) {
	if err := checkScorer(scorer); err != nil {
		return CVResult{}, err
	}
	data, err := prepareFolds(X, y, folds)
	if err != nil {
		return CVResult{}, err
	}
	scores := make([]FoldScore, len(folds))
	err = ml.ParallelFor(len(folds), workers, func(f int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		fs, err := evalFold(newModel(), data[f], scorer)
		if err != nil {
			return fmt.Errorf("selection: fold %d: %w", f, err)
		}
		scores[f] = fs
		return nil
	})
	if cerr := ctx.Err(); cerr != nil {
		return CVResult{}, cerr
	}
	if err != nil {
		return CVResult{}, err
	}
	return summarise(scorer.Name, scores), nil
}

func summarise(name string, scores []FoldScore) CVResult {
	test := make([]float64, len(scores))
	train := make([]float64, len(scores))
	fit := make([]float64, len(scores))
	for i, s := range scores {
		test[i], train[i], fit[i] = s.Test, s.Train, s.FitSeconds
	}
	r := CVResult{Scorer: name, Folds: scores}
	r.MeanTest, r.StdTest = meanStd(test)
	r.MeanTrain, r.StdTrain = meanStd(train)
	r.MeanFitSeconds, _ = meanStd(fit)
	return r
}

// meanStd returns the mean and population standard deviation, summing in
// index order so the result is reproducible bit for bit.
func meanStd(v []float64) (mean, std float64) {
	if len(v) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	for _, x := range v {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(v)))
}

// progressCounter serialises progress callbacks from worker goroutines so the
// caller sees done strictly increasing and never concurrently.
type progressCounter struct {
	mu    sync.Mutex
	done  int
	total int
	fn    func(done, total int)
}

func (p *progressCounter) step() {
	if p.fn == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	p.fn(p.done, p.total)
}
