package pipeline

import (
	"context"
	"fmt"

	"github.com/housing-mlops/mlops/config"
	"github.com/housing-mlops/mlops/ml/selection"
)

// Segregation is step 04: a seeded train/test split of the imputed table,
// optionally stratified on a binned column.
type Segregation struct{ Cfg *config.Config }

// Name implements Step.
func (s *Segregation) Name() string { return "04_segregation" }

// Inputs implements Step.
func (s *Segregation) Inputs() []string { return []string{KeyImputed} }

// Outputs implements Step.
func (s *Segregation) Outputs() []string { return []string{KeyTrain, KeyTest} }

// Params implements Step.
func (s *Segregation) Params() map[string]any {
	return map[string]any{"segregation": s.Cfg.Segregation, "schema": s.Cfg.Data}
}

// Run implements Step.
func (s *Segregation) Run(ctx context.Context, sc *StepContext) error {
	cfg := s.Cfg.Segregation
	f, err := readFrame(ctx, sc, KeyImputed, s.Cfg.Data)
	if err != nil {
		return err
	}
	var strata []int
	if cfg.StratifyColumn != "" {
		col, err := f.Numeric(cfg.StratifyColumn)
		if err != nil {
			return fmt.Errorf("segregation.stratify_column: %w", err)
		}
		strata = selection.Bin(col, cfg.StratifyBins)
	}
	train, test, err := selection.TrainTestSplit(f.NumRows(), cfg.TestSize, uint64(cfg.RandomState), strata)
	if err != nil {
		return err
	}
	sc.Log.Info("split", "train_rows", len(train), "test_rows", len(test), "stratified", strata != nil)
	if err := sc.Metrics(ctx, map[string]float64{"train_rows": float64(len(train)), "test_rows": float64(len(test))}); err != nil {
		return err
	}
	if strata != nil {
		if err := logStrata(ctx, sc, strata, train, test); err != nil {
			return err
		}
	}
	if err := writeFrame(ctx, sc, KeyTrain, f.Select(train)); err != nil {
		return err
	}
	return writeFrame(ctx, sc, KeyTest, f.Select(test))
}

// logStrata logs each stratum's share of the train and test rows, the
// evidence that stratification kept the proportions.
func logStrata(ctx context.Context, sc *StepContext, strata, train, test []int) error {
	share := func(idx []int) map[int]float64 {
		m := map[int]float64{}
		for _, i := range idx {
			m[strata[i]]++
		}
		for k := range m {
			m[k] /= float64(len(idx))
		}
		return m
	}
	tr, te := share(train), share(test)
	out := map[string]float64{}
	for k, v := range tr {
		out[fmt.Sprintf("stratum_%d_train_share", k)] = v
		out[fmt.Sprintf("stratum_%d_test_share", k)] = te[k]
	}
	return sc.Metrics(ctx, out)
}
