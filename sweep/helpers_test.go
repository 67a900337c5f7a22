package sweep_test

import (
	"context"
	"testing"

	"github.com/housing-mlops/mlops/internal/pgtest"
	"github.com/housing-mlops/mlops/sweep"
	"github.com/housing-mlops/mlops/tune"
)

// freshSchema returns a DSN selecting a schema of this test's own.
func freshSchema(t *testing.T) string { return pgtest.FreshSchema(t, "distributed sweeps") }

func openStore(t *testing.T, dsn string) *sweep.Store {
	t.Helper()
	s, err := sweep.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mustParse(t *testing.T, text string) *tune.SweepConfig {
	t.Helper()
	cfg, err := tune.ParseSweepConfig([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// quadSweep is a bowl with its minimum at x = 0.3, y = -1.
const quadSweep = `
name: quad
method: bayes
metric: {name: loss, goal: minimize}
parameters:
  x: {distribution: uniform, min: 0.0, max: 1.0}
  y: {distribution: uniform, min: -3.0, max: 3.0}
  k: {values: [1, 2, 3]}
`

func quadLoss(p map[string]any) float64 {
	x, y := p["x"].(float64)-0.3, p["y"].(float64)+1
	return x*x + y*y + float64(p["k"].(int))
}

// flatTrial is a non-iterative trial with a fixed metric.
type flatTrial struct{ v float64 }

func (f flatTrial) Advance(context.Context, int) (float64, error) { return f.v, nil }
func (f flatTrial) Final(context.Context) (map[string]float64, error) {
	return map[string]float64{"loss": f.v}, nil
}

func quadObjective(_ context.Context, p map[string]any) (tune.Trial, error) {
	return flatTrial{quadLoss(p)}, nil
}

// curveTrial improves with budget: loss = quality + 10/budget.
type curveTrial struct {
	q   float64
	max int
}

func (c *curveTrial) Advance(_ context.Context, b int) (float64, error) {
	return c.q + 10/float64(b), nil
}
func (c *curveTrial) Final(context.Context) (map[string]float64, error) {
	return map[string]float64{"quality": c.q}, nil
}
func (c *curveTrial) MaxBudget() int { return c.max }

const hbSweep = `
name: hb
method: grid
metric: {name: loss}
parameters:
  quality: {values: [5, 3, 8, 1, 9, 2, 7, 4, 6]}
early_terminate: {type: hyperband, min_iter: 10, eta: 3}
`

func curveObjective(_ context.Context, p map[string]any) (tune.Trial, error) {
	return &curveTrial{q: float64(p["quality"].(int)), max: 90}, nil
}
