package tune

import (
	"errors"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// bestParamsFile is the layout of best_params.yaml, the file the original
// step 06 handed to registration.
type bestParamsFile struct {
	Sweep       string         `yaml:"sweep,omitempty"`
	Method      string         `yaml:"method"`
	Metric      string         `yaml:"metric"`
	Goal        string         `yaml:"goal"`
	Value       float64        `yaml:"value"`
	Trial       int            `yaml:"trial"`
	Trials      int            `yaml:"trials"`
	Seed        uint64         `yaml:"seed"`
	Parallelism int            `yaml:"parallelism"`
	BudgetSpent int            `yaml:"budget_spent"`
	Params      map[string]any `yaml:"params"`
}

// BestParamsYAML renders the best trial as a best_params.yaml document
// (parameters under "params", keys sorted), with what is needed to reproduce
// the sweep (seed, parallelism).
func (r *Result) BestParamsYAML() ([]byte, error) {
	if r == nil || r.Best < 0 || r.Best >= len(r.Trials) {
		return nil, errors.New("tune: no successful trial to report")
	}
	best := r.Trials[r.Best]
	out, err := yaml.Marshal(bestParamsFile{
		Sweep: r.Config.Name, Method: r.Config.Method, Metric: r.Config.Metric.Name, Goal: r.Config.Metric.Goal,
		Value: best.Metric, Trial: best.Index, Trials: len(r.Trials), Seed: r.Seed,
		Parallelism: r.Parallelism, BudgetSpent: r.BudgetSpent, Params: best.Params,
	})
	if err != nil {
		return nil, fmt.Errorf("tune: best params: %w", err)
	}
	return out, nil
}
