package main

import (
	"bytes"
	"fmt"
	"math"
	"sort"

	"github.com/housing-mlops/mlops/dataset"
	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/frame"
	"github.com/housing-mlops/mlops/ml/selection"
	"github.com/housing-mlops/mlops/pipeline"
)

// The data of `mlops sweep agent` and `mlops bench sweep`, which score trials
// with pipeline.SweepObjective like step 06. Agents need nothing but the data
// file, so the design matrix is the generic one of `mlops bench learners`
// (median-imputed numeric columns, one-hot categorical ones) rather than
// the pipeline's feature engineering, which needs steps 02-04.

// sweepRows are the 0-based data rows of each part of a sweep's data, for
// measuring another implementation on exactly the same rows
// (scripts/sklearn_sweep.py reads them from `mlops bench sweep --split-out`).
type sweepRows struct {
	Fit        []int `json:"fit_rows"`
	Validation []int `json:"validation_rows"`
	Test       []int `json:"test_rows"`
}

// loadSweepData reads the data (path "" = the housing archive built into
// the binary), optionally keeps a seeded sample of rows, holds out a 20 %
// test split (never seen by the sweep), and cuts the rest 80/20 into the
// fitting and validation parts of pipeline.SweepObjective.
func loadSweepData(path, target string, seed uint64, rows int) (*pipeline.SweepData, *sweepRows, error) {
	f, err := readSweepFrame(path)
	if err != nil {
		return nil, nil, err
	}
	var keep []int // data row of each row of f; nil: the same
	if rows > 0 && rows < f.NumRows() {
		keep = ml.NewRand(seed, 1).Perm(f.NumRows())[:rows]
		sort.Ints(keep)
		f = f.Select(keep)
	}
	y, err := f.Numeric(target)
	if err != nil {
		return nil, nil, fmt.Errorf("target: %w", err)
	}
	for i, v := range y {
		if math.IsNaN(v) {
			return nil, nil, fmt.Errorf("target %q is missing on data row %d", target, i+1)
		}
	}
	train, test, err := selection.TrainTestSplit(f.NumRows(), 0.2, seed, nil)
	if err != nil {
		return nil, nil, err
	}
	fitPos, valPos, err := selection.TrainTestSplit(len(train), 0.2, seed+1, nil)
	if err != nil {
		return nil, nil, err
	}
	fit, val := pickRows(train, fitPos), pickRows(train, valPos)
	d, err := sweepDesign(f, target, y, fit, val)
	if err != nil {
		return nil, nil, err
	}
	dataRows := func(pos []int) []int {
		if keep == nil {
			return pos
		}
		return pickRows(keep, pos)
	}
	return d, &sweepRows{Fit: dataRows(fit), Validation: dataRows(val), Test: dataRows(test)}, nil
}

// sweepDesign builds the design matrices of the fitting and validation rows,
// with the preprocessing fitted on the fitting rows only.
func sweepDesign(f *frame.Frame, target string, y []float64, fit, val []int) (*pipeline.SweepData, error) {
	ct, err := benchPreprocessor(f, target)
	if err != nil {
		return nil, err
	}
	Xfit, err := ct.FitTransform(f.Select(fit))
	if err != nil {
		return nil, err
	}
	Xval, err := ct.Transform(f.Select(val))
	if err != nil {
		return nil, err
	}
	return &pipeline.SweepData{Xfit: Xfit, Xval: Xval, Yfit: ml.SelectFloats(y, fit), Yval: ml.SelectFloats(y, val)}, nil
}

func pickRows(rows, pos []int) []int {
	out := make([]int, len(pos))
	for i, p := range pos {
		out[i] = rows[p]
	}
	return out
}

func readSweepFrame(path string) (*frame.Frame, error) {
	if path == "" {
		return frame.ReadArchive(bytes.NewReader(dataset.HousingTGZ), "housing.tgz", frame.CSVOptions{})
	}
	return readFrame(path)
}
