package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/housing-mlops/mlops/chart"
	"github.com/housing-mlops/mlops/config"
	"github.com/housing-mlops/mlops/ml/metrics"
	"github.com/housing-mlops/mlops/ml/selection"
)

// overfitRatio flags a family whose CV error is this many times its
// training error (the original's "train score >> test score" check).
const overfitRatio = 1.5

// Selection is step 05: grid search with K-fold CV for every configured
// family, a comparison table, and the best family (by CV score) for step 06.
type Selection struct{ Cfg *config.Config }

// familyResult is one row of the comparison table.
type familyResult struct {
	Family     string             `json:"family"`
	BestParams selection.Params   `json:"best_params"`
	CVScore    float64            `json:"cv_score"`
	CVStd      float64            `json:"cv_std"`
	CVTrain    float64            `json:"cv_train_score"`
	TrainMAE   float64            `json:"train_mae"`
	Overfit    bool               `json:"overfit"`
	Test       map[string]float64 `json:"test_metrics"`
	FitSeconds float64            `json:"fit_seconds"`
	Candidates int                `json:"candidates"`
	Failed     int                `json:"failed_candidates"`
}

// selectionResult is selection.json, step 06's input.
type selectionResult struct {
	Scoring    string         `json:"scoring"`
	Best       string         `json:"best_family"`
	BestParams map[string]any `json:"best_params"`
	Families   []familyResult `json:"families"`
}

// Name implements Step.
func (s *Selection) Name() string { return "05_model_selection" }

// Inputs implements Step.
func (s *Selection) Inputs() []string { return []string{KeyTrain, KeyTest, KeyPreprocessor} }

// Outputs implements Step.
func (s *Selection) Outputs() []string { return []string{KeySelection} }

// Params implements Step (parallelism never changes results, so it is left out).
func (s *Selection) Params() map[string]any {
	m := s.Cfg.ModelSelection
	grids := map[string]config.Grid{}
	for _, f := range m.Families {
		grids[f] = m.Grids[f]
	}
	return map[string]any{"families": m.Families, "grids": grids, "cv_folds": m.CVFolds,
		"scoring": m.Scoring, "random_state": m.RandomState, "target": s.Cfg.Data.Target}
}

// Run implements Step.
func (s *Selection) Run(ctx context.Context, sc *StepContext) error {
	m := s.Cfg.ModelSelection
	scorer, err := selection.ScorerByName(m.Scoring)
	if err != nil {
		return fmt.Errorf("model_selection.scoring: %w", err)
	}
	data, err := loadSplit(ctx, sc, s.Cfg.Data)
	if err != nil {
		return err
	}
	folds, err := selection.KFold{K: m.CVFolds}.Splits(data.Xtr.Rows)
	if err != nil {
		return err
	}
	out := selectionResult{Scoring: scorer.Name}
	for _, fam := range m.Families {
		res, err := s.searchFamily(ctx, sc, fam, data, folds, scorer)
		if err != nil {
			return fmt.Errorf("%s: %w", fam, err)
		}
		out.Families = append(out.Families, res)
		if out.Best == "" || scorer.Better(res.CVScore, bestScore(out)) {
			out.Best, out.BestParams = fam, res.BestParams
		}
	}
	logTable(sc, out)
	if err := s.report(ctx, sc, out); err != nil {
		return err
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = sc.Write(ctx, KeySelection, b)
	return err
}

func bestScore(r selectionResult) float64 {
	for _, f := range r.Families {
		if f.Family == r.Best {
			return f.CVScore
		}
	}
	return 0
}

// searchFamily grid-searches one family, refits the best candidate on the
// whole training split and evaluates it on the test split.
func (s *Selection) searchFamily(ctx context.Context, sc *StepContext, fam string, data *splitData, folds []selection.Fold, scorer selection.Scorer) (familyResult, error) {
	m := s.Cfg.ModelSelection
	grid, ok := m.Grids[fam]
	if !ok {
		grid = config.Grid{}
	}
	seed := uint64(m.RandomState)
	cands, err := selection.ExpandGrid(grid)
	if err != nil {
		return familyResult{}, err
	}
	prog := sc.Progress(len(cands)*len(folds), fam+" grid search")
	results, best, err := gridSearch(ctx, fam, grid, seed, data.Xtr, data.Ytr, folds, scorer, m.Parallelism, func() { prog.Add(1) })
	prog.Done()
	if err != nil {
		return familyResult{}, err
	}
	res := familyResult{Family: fam, BestParams: results[best].Params, CVScore: results[best].MeanTest,
		CVStd: results[best].StdTest, CVTrain: results[best].MeanTrain, Candidates: len(results)}
	for _, r := range results {
		if r.Err != nil {
			res.Failed++
			sc.Log.Warn("candidate failed", "family", fam, "params", selection.FormatParams(r.Params), "error", r.Err.Error())
		}
	}
	model, err := buildModel(fam, res.BestParams, seed, m.Parallelism)
	if err != nil {
		return res, err
	}
	start := time.Now()
	if err := model.Fit(data.Xtr, data.Ytr); err != nil {
		return res, fmt.Errorf("refit %s: %w", selection.FormatParams(res.BestParams), err)
	}
	res.FitSeconds = time.Since(start).Seconds()
	if res.TrainMAE, err = predictScore(model, data.Xtr, data.Ytr, metrics.MAE); err != nil {
		return res, err
	}
	rep, err := evaluate(model, data.Xte, data.Yte)
	if err != nil {
		return res, err
	}
	res.Test = rep.Map()
	res.Overfit = res.CVTrain > 0 && res.CVScore/res.CVTrain > overfitRatio && !scorer.HigherIsBetter
	return res, nil
}

// logTable writes the comparison table, one line per family.
func logTable(sc *StepContext, r selectionResult) {
	for _, f := range r.Families {
		sc.Log.Info("model comparison", "family", f.Family, "cv_"+r.Scoring, f.CVScore, "cv_std", f.CVStd,
			"train_mae", f.TrainMAE, "overfit", f.Overfit, "test_mae", f.Test["mae"], "test_r2", f.Test["r2"],
			"test_mape", f.Test["mape"], "fit_seconds", f.FitSeconds, "best", f.Family == r.Best,
			"params", selection.FormatParams(f.BestParams))
	}
}

// report logs every number as metrics, the table as markdown and the plot.
func (s *Selection) report(ctx context.Context, sc *StepContext, r selectionResult) error {
	all := map[string]float64{}
	labels, scores := []string{}, []float64{}
	var md strings.Builder
	fmt.Fprintf(&md, "| family | CV %s | ± std | train MAE | overfit | test MAE | test RMSE | test R² | test MAPE | fit s | params |\n", r.Scoring)
	md.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, f := range r.Families {
		all[f.Family+"_cv_"+r.Scoring] = f.CVScore
		all[f.Family+"_cv_std"] = f.CVStd
		all[f.Family+"_train_mae"] = f.TrainMAE
		all[f.Family+"_fit_seconds"] = f.FitSeconds
		for k, v := range f.Test {
			all[f.Family+"_test_"+k] = v
		}
		labels, scores = append(labels, f.Family), append(scores, f.CVScore)
		fmt.Fprintf(&md, "| %s | %.2f | %.2f | %.2f | %v | %.2f | %.2f | %.4f | %.2f | %.1f | %s |\n", f.Family, f.CVScore, f.CVStd,
			f.TrainMAE, f.Overfit, f.Test["mae"], f.Test["rmse"], f.Test["r2"], f.Test["mape"], f.FitSeconds, selection.FormatParams(f.BestParams))
	}
	if err := sc.Metrics(ctx, all); err != nil {
		return err
	}
	if err := sc.Summary(ctx, "model_family", r.Best); err != nil {
		return err
	}
	if _, err := sc.Write(ctx, "model_comparison.md", []byte(md.String())); err != nil {
		return err
	}
	svg, err := chart.BarChart{Options: plotOptions("Model comparison (CV "+r.Scoring+")", "model family", r.Scoring),
		Labels: labels, Values: scores, Highlight: r.Best}.SVG()
	return savePlot(ctx, sc, "model_comparison.svg", svg, err)
}
