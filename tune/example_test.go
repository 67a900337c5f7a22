package tune_test

import (
	"context"
	"fmt"

	"github.com/housing-mlops/mlops/tune"
)

// growingModel stands in for a warm-startable learner such as
// ensemble.RandomForest (Grow(X, y, total)) evaluated on a validation fold.
type growingModel struct{ trees, depth int }

func (m *growingModel) validationError() float64 {
	return 1/float64(m.trees) + 0.01*float64(m.depth)
}

// forestTrial grows one configuration's model band by band.
type forestTrial struct {
	model *growingModel
	max   int
}

// MaxBudget makes the trial iterative: Hyperband may stop it below max trees.
func (t *forestTrial) MaxBudget() int { return t.max }

func (t *forestTrial) Advance(_ context.Context, trees int) (float64, error) {
	t.model.trees = trees // a real trial calls forest.Grow(X, y, trees)
	return t.model.validationError(), nil
}

func (t *forestTrial) Final(context.Context) (map[string]float64, error) {
	return map[string]float64{"wmape": t.model.validationError()}, nil
}

// Example shows the shape of a step-06 sweep: the original sweep file, an
// objective building warm-startable trials, and callbacks for child runs.
func Example() {
	cfg, err := tune.DefaultSpace("random_forest")
	if err != nil {
		fmt.Println(err)
		return
	}
	obj := func(_ context.Context, p map[string]any) (tune.Trial, error) {
		return &forestTrial{model: &growingModel{depth: p["max_depth"].(int)}, max: p["n_estimators"].(int)}, nil
	}
	cb := tune.Callbacks{OnTrialEnd: func(r tune.TrialResult) {
		// log r.Params, r.Metric, r.Budget, r.StoppedEarly as a child run
	}}
	res, err := tune.Run(context.Background(), cfg, 20, 2, 42, obj, cb)
	if err != nil {
		fmt.Println(err)
		return
	}
	best := res.Trials[res.Best]
	fmt.Println(best.Params, best.Metric, res.BudgetSpent)
}
