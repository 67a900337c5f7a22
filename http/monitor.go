package http

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/housing-mlops/mlops/monitor"
)

// MonitorObserver hands every served instance to the monitor: the
// prediction log (which samples and writes in the background, dropping
// rather than blocking when its queue is full) and the drift window.
type MonitorObserver struct {
	Log    *monitor.PredictionLog // nil: no log
	Window *monitor.Window        // nil: no drift window
}

// Observe implements Observer. It copies what it keeps: one feature map per
// instance.
func (o *MonitorObserver) Observe(ev PredictionEvent) {
	latency := float64(ev.Latency) / float64(time.Millisecond)
	for r := 0; r < ev.Batch.Rows; r++ {
		rec := batchRecord(ev.Batch, r)
		if o.Window != nil {
			o.Window.Add(rec)
		}
		if o.Log != nil {
			o.Log.Log(monitor.Record{
				TS: ev.Time, RequestID: ev.RequestID, ModelVersion: ev.ModelVersion,
				LatencyMS: latency, Features: rec, Prediction: ev.Predictions[r].Value,
			})
		}
	}
}

// DriftMonitor snapshots a monitor.Window on a timer and keeps the latest
// PSI per feature for /metrics, so a scrape never waits for a drift
// computation. Alert log lines come from the window's OnAlert hook, which
// Snapshot fires (see NewDriftAlertLogger).
type DriftMonitor struct {
	Window   *monitor.Window
	Interval time.Duration // default 30s
	Logger   *slog.Logger

	mu  sync.Mutex
	psi map[string]float64
}

// PSI implements DriftSource.
func (d *DriftMonitor) PSI() map[string]float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]float64, len(d.psi))
	for k, v := range d.psi {
		out[k] = v
	}
	return out
}

// Refresh takes one snapshot now (an empty window is skipped).
func (d *DriftMonitor) Refresh() {
	if d.Window == nil || d.Window.Len() == 0 {
		return
	}
	rep, err := d.Window.Snapshot()
	if err != nil {
		if d.Logger != nil {
			d.Logger.Warn("drift snapshot failed", "err", err)
		}
		return
	}
	psi := make(map[string]float64, len(rep.Features))
	for _, f := range rep.Features {
		psi[f.Name] = f.PSI
	}
	d.mu.Lock()
	d.psi = psi
	d.mu.Unlock()
}

// Run refreshes every Interval until ctx ends.
func (d *DriftMonitor) Run(ctx context.Context) {
	iv := d.Interval
	if iv <= 0 {
		iv = 30 * time.Second
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.Refresh()
		}
	}
}

// NewDriftAlertLogger returns a monitor.WindowOptions.OnAlert hook that
// writes one log line per PSI threshold crossing.
func NewDriftAlertLogger(log *slog.Logger) func(monitor.Alert) {
	return func(a monitor.Alert) {
		if a.Significant {
			log.Warn("drift alert: feature PSI crossed the threshold", "feature", a.Feature, "psi", a.PSI, "threshold", a.Threshold)
			return
		}
		log.Info("drift recovered: feature PSI back below the threshold", "feature", a.Feature, "psi", a.PSI, "threshold", a.Threshold)
	}
}
