package pipeline

import (
	"context"

	"github.com/housing-mlops/mlops/config"
	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/frame"
	"github.com/housing-mlops/mlops/ml/preprocess"
)

// splitData is the train and test splits run through the fitted
// preprocessing of step 03: what steps 05-07 train and evaluate on.
type splitData struct {
	Pre            *preprocess.ColumnTransformer
	TrainFrame     *frame.Frame
	TestFrame      *frame.Frame
	Xtr, Xte       *ml.Matrix
	Ytr, Yte       []float64
	OutputFeatures []string
}

// loadSplit reads train.csv, test.csv and preprocessor.json and transforms
// both splits with the saved (not re-fitted) preprocessing.
func loadSplit(ctx context.Context, sc *StepContext, d config.Data) (*splitData, error) {
	b, err := sc.Read(ctx, KeyPreprocessor)
	if err != nil {
		return nil, err
	}
	pre, _, err := loadPreprocessor(b)
	if err != nil {
		return nil, err
	}
	s := &splitData{Pre: pre, OutputFeatures: pre.FeatureNamesOut()}
	if s.TrainFrame, s.Xtr, s.Ytr, err = loadXY(ctx, sc, KeyTrain, d, pre); err != nil {
		return nil, err
	}
	if s.TestFrame, s.Xte, s.Yte, err = loadXY(ctx, sc, KeyTest, d, pre); err != nil {
		return nil, err
	}
	return s, nil
}

func loadXY(ctx context.Context, sc *StepContext, key string, d config.Data, pre *preprocess.ColumnTransformer) (*frame.Frame, *ml.Matrix, []float64, error) {
	f, err := readFrame(ctx, sc, key, d)
	if err != nil {
		return nil, nil, nil, err
	}
	X, err := pre.Transform(f)
	if err != nil {
		return nil, nil, nil, err
	}
	y, err := target(f, d)
	if err != nil {
		return nil, nil, nil, err
	}
	return f, X, y, nil
}
