package sweep

import (
	"math"

	"github.com/housing-mlops/mlops/tune"
)

// Summary condenses a sweep's trials.
type Summary struct {
	Counts map[string]int // trials by status
	// Best is the position in the trials slice of the best trial that ran
	// to completion (or, if none did, the best early-stopped one), as
	// tune.Result.Best; -1 when no trial has a result.
	Best        int
	BudgetSpent int // budget (trees) reached, summed over finished trials
}

// Summarize counts trials by status and finds the best one under the
// sweep's goal.
func Summarize(cfg *tune.SweepConfig, trials []TrialRow) Summary {
	s := Summary{Counts: map[string]int{}, Best: -1}
	bestLoss, bestStopped, bestStoppedLoss := math.Inf(1), -1, math.Inf(1)
	for i, t := range trials {
		s.Counts[t.Status]++
		if finished(t.Status) {
			s.BudgetSpent += t.Budget
		}
		if math.IsNaN(t.Metric) {
			continue
		}
		l := cfg.Loss(t.Metric)
		switch t.Status {
		case StatusDone:
			if s.Best < 0 || l < bestLoss {
				s.Best, bestLoss = i, l
			}
		case StatusStopped:
			if bestStopped < 0 || l < bestStoppedLoss {
				bestStopped, bestStoppedLoss = i, l
			}
		}
	}
	if s.Best < 0 {
		s.Best = bestStopped
	}
	return s
}
