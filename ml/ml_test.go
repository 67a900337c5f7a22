package ml

import (
	"encoding/json"
	"math"
	"testing"
)

func TestFloat64sRoundTripIsBitIdentical(t *testing.T) {
	in := Float64s{0, math.Copysign(0, -1), 1.0 / 3, math.Inf(1), math.NaN(), 1e-300, math.MaxFloat64}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out Float64s
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("len %d, want %d", len(out), len(in))
	}
	for i := range in {
		if math.Float64bits(in[i]) != math.Float64bits(out[i]) {
			t.Errorf("element %d: %v != %v", i, out[i], in[i])
		}
	}
}

func TestInt32sRoundTrip(t *testing.T) {
	in := Int32s{0, -1, 1 << 30, -(1 << 31)}
	b, _ := json.Marshal(in)
	var out Int32s
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if in[i] != out[i] {
			t.Errorf("element %d: %v != %v", i, out[i], in[i])
		}
	}
}

func TestParallelForFillsEverySlotAndReportsLowestError(t *testing.T) {
	out := make([]int, 1000)
	if err := ParallelFor(len(out), 4, func(i int) error { out[i] = i * i; return nil }); err != nil {
		t.Fatal(err)
	}
	for i, v := range out {
		if v != i*i {
			t.Fatalf("slot %d = %d", i, v)
		}
	}
	err := ParallelFor(10, 3, func(i int) error {
		if i == 7 || i == 4 {
			return &indexErr{i}
		}
		return nil
	})
	if e, ok := err.(*indexErr); !ok || e.i != 4 {
		t.Fatalf("got %v, want error of index 4", err)
	}
}

type indexErr struct{ i int }

func (e *indexErr) Error() string { return "failed" }

func TestCheckXYNamesTheOffendingCell(t *testing.T) {
	X, _ := MatrixFrom(2, 2, []float64{1, 2, 3, math.NaN()})
	err := CheckXY(X, []float64{1, 2})
	if err == nil || err.Error() != "ml: X[1][1] is NaN; impute missing values first" {
		t.Fatalf("got %v", err)
	}
	if err := CheckXY(X, []float64{1}); err == nil {
		t.Fatal("want shape error")
	}
}

func TestHStackAndSelect(t *testing.T) {
	a, _ := MatrixFrom(2, 1, []float64{1, 2})
	b, _ := MatrixFrom(2, 2, []float64{3, 4, 5, 6})
	h, err := HStack(a, b)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{1, 3, 4, 2, 5, 6}
	for i, v := range want {
		if h.Data[i] != v {
			t.Fatalf("hstack = %v", h.Data)
		}
	}
	s := h.SelectRows([]int{1}).SelectCols([]int{2, 0})
	if s.Data[0] != 6 || s.Data[1] != 2 {
		t.Fatalf("select = %v", s.Data)
	}
	c, _ := MatrixFrom(1, 1, []float64{1})
	if _, err := HStack(a, c); err == nil {
		t.Fatal("want row mismatch error")
	}
}
