package monitor

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
)

// Alert reports that a feature's PSI crossed PSIAlertThreshold between two
// snapshots of a Window: upwards (Significant true) or back below it.
type Alert struct {
	Feature     string
	PSI         float64
	Threshold   float64
	Significant bool
}

// WindowOptions configures a Window.
type WindowOptions struct {
	// Compare is passed to Compare for every snapshot.
	Compare Options
	// OnAlert, when set, is called from Snapshot (after the window's lock
	// is released) once per crossing of PSIAlertThreshold by a feature.
	OnAlert func(Alert)
}

// Window keeps the last size observations seen by the server and compares
// them with the reference on demand. It is safe for concurrent use: Add is
// a short critical section, Snapshot copies the window under the lock and
// computes outside it.
type Window struct {
	reference *Table
	size      int
	opts      WindowOptions

	mu      sync.Mutex
	num     map[string][]float64 // ring buffers, one per reference column
	cat     map[string][]string
	next    int // ring position of the next observation
	count   int // observations held, ≤ size
	alerted map[string]bool
}

// NewWindow returns an empty window over the reference's columns.
func NewWindow(reference *Table, size int, opts WindowOptions) (*Window, error) {
	if size <= 0 {
		return nil, fmt.Errorf("monitor: window size %d, want > 0", size)
	}
	if _, err := reference.Rows(); err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	w := &Window{reference: reference, size: size, opts: opts,
		num: map[string][]float64{}, cat: map[string][]string{}, alerted: map[string]bool{}}
	for name := range reference.Numeric {
		w.num[name] = make([]float64, size)
	}
	for name := range reference.Categorical {
		w.cat[name] = make([]string, size)
	}
	return w, nil
}

// Add records one observation. Features the reference does not have are
// ignored; missing or unusable values count as missing.
func (w *Window) Add(features map[string]any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for name, col := range w.num {
		col[w.next] = toFloat(features[name])
	}
	for name, col := range w.cat {
		col[w.next] = toCategory(features[name])
	}
	w.next = (w.next + 1) % w.size
	w.count = min(w.count+1, w.size)
}

// Len returns the number of observations held.
func (w *Window) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.count
}

// Snapshot compares the observations held with the reference and fires
// OnAlert for every feature whose PSI crossed PSIAlertThreshold since the
// previous snapshot.
func (w *Window) Snapshot() (*Report, error) {
	current := w.copyCurrent()
	if n, _ := current.Rows(); n == 0 {
		return nil, errors.New("monitor: window is empty")
	}
	rep, err := Compare(w.reference, current, w.opts.Compare)
	if err != nil {
		return nil, err
	}
	for _, a := range w.crossings(rep) {
		if w.opts.OnAlert != nil {
			w.opts.OnAlert(a)
		}
	}
	return rep, nil
}

// copyCurrent returns the held observations, oldest first.
func (w *Window) copyCurrent() *Table {
	w.mu.Lock()
	defer w.mu.Unlock()
	start := (w.next - w.count + w.size) % w.size
	t := NewTable()
	for name, col := range w.num {
		out := make([]float64, w.count)
		for i := range out {
			out[i] = col[(start+i)%w.size]
		}
		t.Numeric[name] = out
	}
	for name, col := range w.cat {
		out := make([]string, w.count)
		for i := range out {
			out[i] = col[(start+i)%w.size]
		}
		t.Categorical[name] = out
	}
	return t
}

// crossings updates the per-feature alert state and returns the changes.
func (w *Window) crossings(rep *Report) []Alert {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []Alert
	for _, f := range rep.Features {
		high := f.PSI >= PSIAlertThreshold
		if high != w.alerted[f.Name] {
			w.alerted[f.Name] = high
			out = append(out, Alert{Feature: f.Name, PSI: f.PSI, Threshold: PSIAlertThreshold, Significant: high})
		}
	}
	return out
}

// toFloat accepts the numeric types a decoded request may hold.
func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case float32:
		return float64(x)
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case int32:
		return float64(x)
	case json.Number:
		f, err := x.Float64()
		if err == nil {
			return f
		}
	case string:
		f, err := strconv.ParseFloat(x, 64)
		if err == nil {
			return f
		}
	}
	return math.NaN()
}

func toCategory(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}
