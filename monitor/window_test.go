package monitor

import (
	"strings"
	"sync"
	"testing"
)

func windowReference() *Table {
	return &Table{
		Numeric:     map[string][]float64{"income": seq(2000, phi1, 10, 0)},
		Categorical: map[string][]string{"ocean": repeat("INLAND", 1000, "NEAR BAY", 1000)},
	}
}

func TestWindowKeepsLastObservations(t *testing.T) {
	ref := windowReference()
	w, err := NewWindow(ref, 100, WindowOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Snapshot(); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty window: %v", err)
	}
	// 150 shifted observations, then 100 drawn like the reference: only
	// the last 100 count.
	for i := range 150 {
		w.Add(map[string]any{"income": 50 + float64(i), "ocean": "ISLAND"})
	}
	for i := range 100 {
		w.Add(map[string]any{"income": ref.Numeric["income"][i*20], "ocean": ref.Categorical["ocean"][i*20], "ignored": 1})
	}
	if w.Len() != 100 {
		t.Fatalf("Len %d, want 100", w.Len())
	}
	got := w.copyCurrent()
	for i := range 100 {
		if got.Numeric["income"][i] != ref.Numeric["income"][i*20] {
			t.Fatalf("row %d: %v, want the %d-th reference value oldest first", i, got.Numeric["income"][i], i*20)
		}
	}
	rep, err := w.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if rep.CurrentRows != 100 || rep.DatasetDrift {
		t.Errorf("window of reference-like rows: %+v", rep)
	}
}

func TestWindowAlertsOnPSICrossing(t *testing.T) {
	ref := windowReference()
	var mu sync.Mutex
	var alerts []Alert
	w, err := NewWindow(ref, 200, WindowOptions{OnAlert: func(a Alert) {
		mu.Lock()
		alerts = append(alerts, a)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	fill := func(shiftBy float64, ocean string) {
		for i := range 200 {
			w.Add(map[string]any{"income": ref.Numeric["income"][i*10] + shiftBy, "ocean": ocean})
		}
	}
	fill(0, "INLAND") // income like the reference; ocean all one category
	if _, err := w.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || alerts[0].Feature != "ocean" || !alerts[0].Significant || alerts[0].PSI < 0.2 {
		t.Fatalf("after first snapshot: %+v, want one rising ocean alert", alerts)
	}
	// Same state again: no new alert (edge-triggered).
	if _, err := w.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 {
		t.Fatalf("repeated snapshot re-alerted: %+v", alerts)
	}
	fill(4, "") // income shifted by 40 % of its range; ocean missing → balanced below
	for i := range 100 {
		w.Add(map[string]any{"income": ref.Numeric["income"][i*10] + 4, "ocean": []string{"INLAND", "NEAR BAY"}[i%2]})
	}
	if _, err := w.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 3 {
		t.Fatalf("alerts %+v, want income rising and ocean recovering", alerts)
	}
	for _, a := range alerts[1:] {
		switch {
		case a.Feature == "income" && a.Significant && a.PSI >= 0.2:
		case a.Feature == "ocean" && !a.Significant && a.PSI < 0.2:
		default:
			t.Errorf("unexpected alert %+v", a)
		}
	}
}

func TestWindowConcurrentUse(t *testing.T) {
	ref := windowReference()
	w, err := NewWindow(ref, 500, WindowOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				w.Add(map[string]any{"income": ref.Numeric["income"][(g*500+i)%2000], "ocean": "INLAND"})
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 5 {
			if _, err := w.Snapshot(); err != nil && !strings.Contains(err.Error(), "empty") {
				t.Error(err)
			}
		}
	}()
	wg.Wait()
	rep, err := w.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if rep.CurrentRows != 500 {
		t.Errorf("%d rows, want the window size 500", rep.CurrentRows)
	}
}

func TestToFloatAndCategory(t *testing.T) {
	if toFloat(3) != 3 || toFloat("2.5") != 2.5 || toFloat(float32(1.5)) != 1.5 {
		t.Error("numeric conversions")
	}
	if v := toFloat("abc"); v == v {
		t.Errorf("toFloat(abc) = %v, want NaN", v)
	}
	if toCategory(true) != "true" || toCategory(3) != "" {
		t.Error("category conversions")
	}
}
