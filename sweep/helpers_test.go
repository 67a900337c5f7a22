package sweep_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops/sweep"
	"github.com/housing-mlops/mlops/tune"
	_ "github.com/jackc/pgx/v5/stdlib"
)

// testDSN returns the server to test against. Without one the tests skip
// locally but fail in CI, where a silent skip would hide a broken store.
func testDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("MLOPS_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("MLOPS_TEST_POSTGRES_DSN not set in CI: distributed sweeps must be tested against PostgreSQL there")
		}
		t.Skip("MLOPS_TEST_POSTGRES_DSN not set: set it (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to test distributed sweeps")
	}
	return dsn
}

// freshSchema creates a schema for one test, drops it afterwards and
// returns a DSN whose search_path selects it.
func freshSchema(t *testing.T) string {
	t.Helper()
	dsn := testDSN(t)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "t_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		_ = admin.Close()
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		_ = admin.Close()
	})
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "search_path=" + schema
}

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
