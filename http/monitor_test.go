package http

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops/monitor"
)

// TestMonitorWiring serves drifted traffic through the real monitor: the
// prediction log gets every instance, the window's PSI shows on /metrics,
// and the crossing of PSI 0.2 writes an alert log line.
func TestMonitorWiring(t *testing.T) {
	data, _, test := realArtifact(t)
	m, err := ArtifactDecoder("housing", 0.9)(&Fetched{Data: data, Name: "housing", Version: "1"})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := monitor.FromFrame(trained.train.Drop(target))
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	win, err := monitor.NewWindow(ref, 300, monitor.WindowOptions{OnAlert: NewDriftAlertLogger(logger)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	plog, err := monitor.NewPredictionLog(dir, monitor.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	drift := &DriftMonitor{Window: win, Logger: logger}
	s := newServer(t, Config{}, Deps{Observer: &MonitorObserver{Log: plog, Window: win}, Drift: drift}, m)

	// 300 test rows with median_income tripled: a clear shift.
	sent := 0
	for start := 0; start < 300; start += 100 {
		rows := make([]int, 100)
		for i := range rows {
			rows[i] = start + i
		}
		inst := frameInstances(t, test, rows)
		for _, in := range inst {
			in["median_income"] = in["median_income"].(float64) * 3
		}
		if rec := postJSON(s.Handler(), "/api/v1/predict", mustJSON(t, map[string]any{"instances": inst})); rec.Code != 200 {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		sent += len(inst)
	}
	if win.Len() != 300 {
		t.Fatalf("window holds %d observations, want 300", win.Len())
	}
	drift.Refresh()
	psi := drift.PSI()
	if psi["median_income"] < monitor.PSIAlertThreshold {
		t.Fatalf("median_income PSI %v after a 3× shift", psi["median_income"])
	}
	if !strings.Contains(logs.String(), "drift alert") || !strings.Contains(logs.String(), "feature=median_income") {
		t.Fatalf("no alert line for median_income in:\n%s", logs.String())
	}
	metrics := do(s.Handler(), "GET", "/metrics", "", nil).Body.String()
	if !strings.Contains(metrics, `mlops_feature_drift_psi{feature="median_income"}`) {
		t.Fatal("drift gauge missing from /metrics")
	}

	if err := plog.Close(); err != nil {
		t.Fatal(err)
	}
	if st := plog.Stats(); st.Written != uint64(sent) {
		t.Fatalf("prediction log wrote %d of %d (dropped %d)", st.Written, sent, st.Dropped)
	}
	tab, err := monitor.ReadPredictionLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := tab.Rows(); n != sent || len(tab.Categorical["ocean_proximity"]) != sent {
		t.Fatalf("log table has %d rows, want %d", n, sent)
	}
	inc, _ := test.Numeric("median_income")
	if got := tab.Numeric["median_income"][0]; got != inc[0]*3 {
		t.Fatalf("logged median_income %v, want %v", got, inc[0]*3)
	}
}

func TestObserverPanicDoesNotFailRequest(t *testing.T) {
	s := newServer(t, Config{}, Deps{Observer: panicObserver{}}, newFake(t, "1", 0))
	rec := postJSON(s.Handler(), "/api/v1/predict", mustJSON(t, map[string]any{"instances": []any{validInstance()}}))
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(do(s.Handler(), "GET", "/metrics", "", nil).Body.String(), "mlops_observer_panics_total 1") {
		t.Fatal("observer panic not counted")
	}
}

type panicObserver struct{}

func (panicObserver) Observe(PredictionEvent) { panic("observer bug") }
