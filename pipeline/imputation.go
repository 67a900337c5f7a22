package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/housing-mlops/mlops/chart"
	"github.com/housing-mlops/mlops/config"
	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/frame"
	"github.com/housing-mlops/mlops/ml/impute"
)

// Imputation is step 02: compare imputation strategies for one column with
// the masked-validation protocol (hide known values, impute, score RMSE),
// apply the winner (or the configured strategy) and save it fitted.
//
// The features are the configured numeric columns without the target: the
// original used every numeric column, target included, which serving could
// not reproduce since the target is unknown there.
type Imputation struct{ Cfg *config.Config }

// Name implements Step.
func (s *Imputation) Name() string { return "02_imputation" }

// Inputs implements Step.
func (s *Imputation) Inputs() []string { return []string{KeyRaw} }

// Outputs implements Step.
func (s *Imputation) Outputs() []string { return []string{KeyImputed, KeyImputer} }

// Params implements Step.
func (s *Imputation) Params() map[string]any {
	return map[string]any{"preprocessing": s.Cfg.Preprocessing, "schema": s.Cfg.Data}
}

// savedImputer is imputer.json.
type savedImputer struct {
	Strategy string          `json:"strategy"`
	Columns  []string        `json:"columns"`
	Column   string          `json:"column"`
	Kind     string          `json:"kind"`
	State    json.RawMessage `json:"state"`
}

// Run implements Step.
func (s *Imputation) Run(ctx context.Context, sc *StepContext) error {
	p := s.Cfg.Preprocessing
	f, err := readFrame(ctx, sc, KeyRaw, s.Cfg.Data)
	if err != nil {
		return err
	}
	col := slices.Index(s.Cfg.Data.Numeric, p.ImputeColumn)
	X, err := f.Matrix(s.Cfg.Data.Numeric)
	if err != nil {
		return err
	}
	missing, err := f.CountMissing(p.ImputeColumn)
	if err != nil {
		return err
	}
	sc.Log.Info("imputation", "column", p.ImputeColumn, "missing", missing, "strategies", p.Strategies)
	chosen, err := s.compare(ctx, sc, X, col)
	if err != nil {
		return err
	}
	imp := s.strategies(col)[chosen]()
	if err := imp.Fit(X); err != nil {
		return fmt.Errorf("fitting %s imputer: %w", chosen, err)
	}
	filled, err := imp.Transform(X)
	if err != nil {
		return fmt.Errorf("applying %s imputer: %w", chosen, err)
	}
	out, err := replaceColumn(f, p.ImputeColumn, filled.Col(col))
	if err != nil {
		return err
	}
	if err := writeFrame(ctx, sc, KeyImputed, out); err != nil {
		return err
	}
	return s.saveImputer(ctx, sc, chosen, imp)
}

// strategies are the candidate imputers, each fresh per call. The iterative
// imputer models only the configured column: the other columns have no
// missing values to fill, and modelling them would multiply the cost.
func (s *Imputation) strategies(col int) map[string]func() ml.Transformer {
	p := s.Cfg.Preprocessing
	all := map[string]func() ml.Transformer{
		"median": func() ml.Transformer { return impute.NewSimple(impute.StrategyMedian) },
		"mean":   func() ml.Transformer { return impute.NewSimple(impute.StrategyMean) },
		"knn": func() ml.Transformer {
			k := impute.NewKNN(p.KNNNeighbors)
			k.Standardize = true // KNN distances need scaled features
			return k
		},
		"iterative": func() ml.Transformer {
			it := impute.NewIterative(nil)
			it.Columns = []int{col}
			return it
		},
	}
	out := map[string]func() ml.Transformer{}
	for _, name := range p.Strategies {
		out[name] = all[name]
	}
	if p.Strategy != "auto" {
		out[p.Strategy] = all[p.Strategy]
	}
	return out
}

// compare runs the masked-validation protocol, logs and plots every score,
// and returns the strategy to use.
func (s *Imputation) compare(ctx context.Context, sc *StepContext, X *ml.Matrix, col int) (string, error) {
	p := s.Cfg.Preprocessing
	results, err := impute.MaskedValidation(X, col, p.TestSize, uint64(p.RandomState), s.strategies(col))
	if err != nil {
		return "", err
	}
	m := map[string]float64{}
	labels, rmses := []string{}, []float64{}
	for _, r := range results {
		sc.Log.Info("imputer score", "strategy", r.Name, "rmse", r.RMSE, "mae", r.MAE, "seconds", r.Seconds, "n", r.N)
		m["rmse_"+r.Name], m["mae_"+r.Name], m["seconds_"+r.Name] = r.RMSE, r.MAE, r.Seconds
		labels, rmses = append(labels, r.Name), append(rmses, r.RMSE)
	}
	chosen := results[0].Name // sorted by RMSE, lowest first
	if p.Strategy != "auto" {
		chosen = p.Strategy
	}
	best := slices.Index(labels, chosen)
	m["chosen_rmse"] = rmses[best]
	if err := sc.Metrics(ctx, m); err != nil {
		return "", err
	}
	if err := sc.Summary(ctx, "imputer", chosen); err != nil {
		return "", err
	}
	sc.Log.Info("imputer chosen", "strategy", chosen, "rmse", rmses[best], "fixed_by_config", p.Strategy != "auto")
	svg, err := chart.BarChart{Options: plotOptions("Imputation strategies (masked validation)", "strategy", "RMSE"),
		Labels: labels, Values: rmses, Highlight: chosen, HighlightNote: "chosen"}.SVG()
	return chosen, savePlot(ctx, sc, "imputation_comparison.svg", svg, err)
}

func (s *Imputation) saveImputer(ctx context.Context, sc *StepContext, name string, imp ml.Transformer) error {
	state, err := json.Marshal(imp)
	if err != nil {
		return fmt.Errorf("encoding %s imputer: %w", name, err)
	}
	kind := name
	if k, ok := imp.(interface{ Kind() string }); ok {
		kind = k.Kind()
	}
	b, err := json.Marshal(savedImputer{Strategy: name, Columns: s.Cfg.Data.Numeric, Column: s.Cfg.Preprocessing.ImputeColumn, Kind: kind, State: state})
	if err != nil {
		return err
	}
	_, err = sc.Write(ctx, KeyImputer, b)
	return err
}

// replaceColumn returns a frame like f with numeric column name set to v,
// column order kept.
func replaceColumn(f *frame.Frame, name string, v []float64) (*frame.Frame, error) {
	out := frame.New()
	for _, c := range f.Names() {
		kind, err := f.Kind(c)
		if err != nil {
			return nil, err
		}
		if kind == frame.Categorical {
			vals, _ := f.Categorical(c)
			err = out.AddCategorical(c, vals)
		} else if c == name {
			err = out.AddNumeric(c, v)
		} else {
			vals, _ := f.Numeric(c)
			err = out.AddNumeric(c, vals)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
