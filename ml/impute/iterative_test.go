package impute

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops/ml"
	"gonum.org/v1/gonum/mat"
)

// leastSquares is a test-only linear regressor (with intercept) whose fitted
// state is exported, so Iterative can serialise it.
type leastSquares struct {
	Coef []float64 `json:"coef"` // intercept first
}

func (l *leastSquares) Fit(X *ml.Matrix, y []float64) error {
	A := mat.NewDense(X.Rows, X.Cols+1, nil)
	for i := 0; i < X.Rows; i++ {
		A.Set(i, 0, 1)
		for j := 0; j < X.Cols; j++ {
			A.Set(i, j+1, X.At(i, j))
		}
	}
	var beta mat.VecDense
	if err := beta.SolveVec(A, mat.NewVecDense(len(y), append([]float64(nil), y...))); err != nil {
		return err
	}
	l.Coef = append([]float64(nil), beta.RawVector().Data...)
	return nil
}

func (l *leastSquares) Predict(X *ml.Matrix) ([]float64, error) {
	if len(l.Coef) != X.Cols+1 {
		return nil, fmt.Errorf("least squares fitted on %d features, got %d", len(l.Coef)-1, X.Cols)
	}
	out := make([]float64, X.Rows)
	for i := range out {
		s := l.Coef[0]
		for j, v := range X.Row(i) {
			s += l.Coef[j+1] * v
		}
		out[i] = s
	}
	return out, nil
}

func newLSQ() ml.Regressor { return &leastSquares{} }

// linearData has c = 2a - 3b + 1 exactly, with cells of c and a hidden.
func linearData(t *testing.T) (full, masked *ml.Matrix) {
	full = ml.NewMatrix(40, 3)
	rng := ml.NewRand(7, 0)
	for i := 0; i < 40; i++ {
		a, b := rng.Float64()*10, rng.Float64()*5
		full.Set(i, 0, a)
		full.Set(i, 1, b)
		full.Set(i, 2, 2*a-3*b+1)
	}
	masked = full.Clone()
	for _, i := range []int{1, 5, 9, 13, 22} {
		masked.Set(i, 2, nan) // 5 missing in column 2
	}
	for _, i := range []int{3, 30} {
		masked.Set(i, 0, nan) // 2 missing in column 0
	}
	return full, masked
}

// TestIterativeRecoversLinear: with an exact linear relation and a linear
// estimator, the rounds converge to the true values.
func TestIterativeRecoversLinear(t *testing.T) {
	full, masked := linearData(t)
	// Default tolerance: stops early, close to the truth.
	m := NewIterative(newLSQ)
	if err := m.Fit(masked); err != nil {
		t.Fatal(err)
	}
	if m.NIter < 2 || m.NIter >= 10 {
		t.Errorf("default tol: %d rounds; a mean start needs a few and must stop before max_iter", m.NIter)
	}
	// Tight tolerance: the fixed point is the truth.
	m.Tol, m.MaxIter = 1e-13, 500
	if err := m.Fit(masked); err != nil {
		t.Fatal(err)
	}
	out, err := m.Transform(masked)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range full.Data {
		if math.Abs(out.Data[k]-v) > 1e-9 {
			t.Errorf("cell %d: %v, want %v", k, out.Data[k], v)
		}
	}
	if m.NIter >= 500 {
		t.Errorf("did not converge in %d rounds", m.NIter)
	}
	// Each round visits columns by ascending missing count: 1 (0 missing),
	// 0 (2 missing), 2 (5 missing).
	if len(m.Steps) != 3*m.NIter {
		t.Fatalf("%d steps for %d rounds of 3 columns", len(m.Steps), m.NIter)
	}
	for k, s := range m.Steps {
		if want := []int{1, 0, 2}[k%3]; s.Col != want || len(s.Features) != 2 {
			t.Errorf("step %d models column %d from %v, want column %d", k, s.Col, s.Features, want)
		}
	}
	// New rows are imputed by replaying the steps.
	fresh := mustMatrix(t, 2, 3, 4, 1, nan, nan, 2, 5)
	got, err := m.Transform(fresh)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got.At(0, 2)-6) > 1e-9 || math.Abs(got.At(1, 0)-5) > 1e-9 {
		t.Errorf("fresh rows imputed as %v, want c=6 and a=5", got.Data)
	}
}

// TestIterativeRoundTrip: a decoded imputer transforms bit-identically, with
// the custom estimator and with the default forest.
func TestIterativeRoundTrip(t *testing.T) {
	_, masked := linearData(t)
	for name, est := range map[string]func() ml.Regressor{"lsq": newLSQ, "default": nil} {
		m := NewIterative(est)
		m.MaxIter = 3
		if err := m.Fit(masked); err != nil {
			t.Fatal(err)
		}
		want, err := m.Transform(masked)
		if err != nil {
			t.Fatal(err)
		}
		back := &Iterative{Estimator: est}
		roundTrip(t, m, back)
		got, err := back.Transform(masked)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !sameBits(got.Data, want.Data) || back.Kind() != "iterative_imputer" {
			t.Errorf("%s: round trip changed the transform", name)
		}
	}
}

// TestIterativeDeterministic: the default forest fits in parallel; one core
// and two give the same bits.
func TestIterativeDeterministic(t *testing.T) {
	_, masked := linearData(t)
	fit := func() []float64 {
		m := NewIterative(nil)
		m.MaxIter = 2
		if err := m.Fit(masked); err != nil {
			t.Fatal(err)
		}
		out, err := m.Transform(masked)
		if err != nil {
			t.Fatal(err)
		}
		return out.Data
	}
	prev := runtime.GOMAXPROCS(1)
	one := fit()
	runtime.GOMAXPROCS(max(2, prev))
	two := fit()
	runtime.GOMAXPROCS(prev)
	if !sameBits(one, two) {
		t.Error("GOMAXPROCS changed the imputation")
	}
}

// TestIterativeColumns: a column outside Columns keeps its initial fill.
func TestIterativeColumns(t *testing.T) {
	_, masked := linearData(t)
	m := NewIterative(newLSQ)
	m.Columns = []int{2}
	if err := m.Fit(masked); err != nil {
		t.Fatal(err)
	}
	out, err := m.Transform(masked)
	if err != nil {
		t.Fatal(err)
	}
	if out.At(3, 0) != m.Initial.Statistics[0] {
		t.Errorf("column 0 was modelled: %v, initial fill %v", out.At(3, 0), m.Initial.Statistics[0])
	}
	for _, s := range m.Steps {
		if s.Col != 2 {
			t.Fatalf("step models column %d", s.Col)
		}
	}
	for _, bad := range [][]int{{3}, {-1}, {2, 2}} {
		m.Columns = bad
		if err := m.Fit(masked); err == nil {
			t.Errorf("Columns %v accepted", bad)
		}
	}
}

func TestIterativeErrors(t *testing.T) {
	_, masked := linearData(t)
	if _, err := NewIterative(newLSQ).Transform(masked); !errors.Is(err, ErrNotFitted) {
		t.Errorf("unfitted: %v", err)
	}
	nilEst := NewIterative(func() ml.Regressor { return nil })
	if err := nilEst.Fit(masked); err == nil {
		t.Error("nil regressor accepted")
	}
	m := NewIterative(newLSQ)
	if err := m.Fit(masked); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Transform(mustMatrix(t, 1, 2, 1, 2)); err == nil {
		t.Error("column mismatch accepted")
	}
	allMissing := mustMatrix(t, 2, 2, 1, nan, 2, nan)
	if err := NewIterative(newLSQ).Fit(allMissing); err == nil || !strings.Contains(err.Error(), "column 1") {
		t.Errorf("all-missing column: %v", err)
	}
	// A decoded imputer whose estimator cannot read the saved model fails
	// at Transform with the step named.
	back := &Iterative{Estimator: func() ml.Regressor { return &undecodable{} }}
	roundTrip(t, m, back)
	if _, err := back.Transform(masked); err == nil || !strings.Contains(err.Error(), "step 0") {
		t.Errorf("undecodable estimator: %v", err)
	}
}

// undecodable is a regressor that refuses every saved model.
type undecodable struct{ leastSquares }

func (*undecodable) UnmarshalJSON([]byte) error { return errors.New("refused") }
