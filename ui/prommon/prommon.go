// Package prommon reads the serving statistics of the web UI's monitoring
// page (ui.Monitor) from the API server's Prometheus registry, so the page
// shows exactly what /metrics exports.
package prommon

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/housing-mlops/mlops/monitor"
	"github.com/housing-mlops/mlops/ui"
)

// Metric names of package http (metrics.go).
const (
	requestsMetric    = "mlops_http_requests_total"
	latencyMetric     = "mlops_http_request_duration_seconds"
	predictionsMetric = "mlops_predicted_value"
	// DefaultRoute is the route label of the predict endpoint.
	DefaultRoute = "POST /api/v1/predict"
)

// Monitor implements ui.Monitor over a Prometheus registry.
type Monitor struct {
	Gatherer prometheus.Gatherer
	// Route selects the requests counted (default DefaultRoute).
	Route string
	// Drift returns the latest drift report; nil means none. When Drift
	// is nil, PSI (if set) gives a report built from PSI values only: a
	// feature drifts at PSI >= 0.2 and the dataset when half of them do.
	Drift func(ctx context.Context) (*monitor.Report, error)
	PSI   func() map[string]float64
}

// Stats implements ui.Monitor.
func (m *Monitor) Stats(ctx context.Context) (ui.MonitorStats, error) {
	if m.Gatherer == nil {
		return ui.MonitorStats{}, fmt.Errorf("prommon: no gatherer")
	}
	route := m.Route
	if route == "" {
		route = DefaultRoute
	}
	fams, err := m.Gatherer.Gather()
	if err != nil {
		return ui.MonitorStats{}, fmt.Errorf("prommon: gathering metrics: %w", err)
	}
	st := ui.MonitorStats{At: time.Now()}
	for _, f := range fams {
		switch f.GetName() {
		case requestsMetric:
			st.Requests, st.Errors = requests(f, route)
		case latencyMetric:
			for _, mt := range f.GetMetric() {
				if label(mt, "route") == route {
					st.Latency = histogram(mt.GetHistogram())
				}
			}
		case predictionsMetric:
			if ms := f.GetMetric(); len(ms) > 0 {
				st.Predictions = histogram(ms[0].GetHistogram())
			}
		}
	}
	st.Drift, err = m.drift(ctx)
	if err != nil {
		return ui.MonitorStats{}, err
	}
	return st, nil
}

func (m *Monitor) drift(ctx context.Context) (*monitor.Report, error) {
	if m.Drift != nil {
		rep, err := m.Drift(ctx)
		if err != nil {
			return nil, fmt.Errorf("prommon: drift report: %w", err)
		}
		return rep, nil
	}
	if m.PSI == nil {
		return nil, nil
	}
	psi := m.PSI()
	if len(psi) == 0 {
		return nil, nil
	}
	names := make([]string, 0, len(psi))
	for k := range psi {
		names = append(names, k)
	}
	sort.Strings(names)
	// Only PSI is known here: a feature counts as drifted at the PSI alert
	// threshold, and the dataset when half of them do (the monitor's
	// drift-share rule). Pass Drift for the monitor's own statistical tests.
	rep := &monitor.Report{DriftShareThreshold: 0.5}
	for _, n := range names {
		drifted := psi[n] >= monitor.PSIAlertThreshold
		if drifted {
			rep.DriftedFeatures++
		}
		rep.Features = append(rep.Features, monitor.FeatureResult{Name: n, PSI: psi[n], PSIBand: monitor.PSIBand(psi[n]), Drifted: drifted})
	}
	rep.DriftShare = float64(rep.DriftedFeatures) / float64(len(names))
	rep.DatasetDrift = rep.DriftShare >= rep.DriftShareThreshold
	return rep, nil
}

func requests(f *dto.MetricFamily, route string) (total, errs float64) {
	for _, mt := range f.GetMetric() {
		if label(mt, "route") != route {
			continue
		}
		v := mt.GetCounter().GetValue()
		total += v
		if code, err := strconv.Atoi(label(mt, "code")); err == nil && code >= 400 {
			errs += v
		}
	}
	return total, errs
}

func label(mt *dto.Metric, name string) string {
	for _, l := range mt.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// histogram converts Prometheus' cumulative buckets into per-bucket counts
// with an overflow bucket last, the layout ui.Histogram uses.
func histogram(h *dto.Histogram) ui.Histogram {
	if h == nil {
		return ui.Histogram{}
	}
	bs := slices.Clone(h.GetBucket())
	slices.SortFunc(bs, func(a, b *dto.Bucket) int {
		switch {
		case a.GetUpperBound() < b.GetUpperBound():
			return -1
		case a.GetUpperBound() > b.GetUpperBound():
			return 1
		}
		return 0
	})
	out := ui.Histogram{}
	var prev float64
	for _, b := range bs {
		if math.IsInf(b.GetUpperBound(), 1) {
			continue // the overflow bucket is added from the sample count
		}
		out.Bounds = append(out.Bounds, b.GetUpperBound())
		c := float64(b.GetCumulativeCount())
		out.Counts = append(out.Counts, c-prev)
		prev = c
	}
	out.Counts = append(out.Counts, float64(h.GetSampleCount())-prev)
	return out
}
