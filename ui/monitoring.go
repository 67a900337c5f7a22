package ui

import (
	"context"
	"html/template"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/housing-mlops/mlops/chart"
)

// The monitoring page shows rates and recent latency quantiles, which need
// history: the handler keeps a bounded ring of readings of the Monitor,
// taken when a page or the JSON endpoint asks (at most one a second).

const (
	maxSamples   = 240
	minSampleGap = time.Second
	rateWindow   = time.Minute
)

type sample struct {
	at    time.Time
	stats MonitorStats
}

// sampler records readings of a Monitor. It is the handler's only mutable
// state and is guarded by mu.
type sampler struct {
	src Monitor
	mu  sync.Mutex
	buf []sample
}

func newSampler(src Monitor) *sampler { return &sampler{src: src} }

// read takes a reading (unless one was taken less than minSampleGap ago)
// and returns a copy of the history, oldest first.
func (s *sampler) read(ctx context.Context) ([]sample, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if n := len(s.buf); n == 0 || now.Sub(s.buf[n-1].at) >= minSampleGap {
		st, err := s.src.Stats(ctx)
		if err != nil {
			return nil, err
		}
		if st.At.IsZero() {
			st.At = now
		}
		s.buf = append(s.buf, sample{at: now, stats: st})
		if len(s.buf) > maxSamples {
			s.buf = append(s.buf[:0], s.buf[len(s.buf)-maxSamples:]...)
		}
	}
	out := make([]sample, len(s.buf))
	copy(out, s.buf)
	return out, nil
}

// monitorJSON is both the page's data and the polled JSON document: text
// values by element id and SVG charts by container id.
type monitorJSON struct {
	At           string                   `json:"at"`
	Values       map[string]string        `json:"values"`
	Charts       map[string]template.HTML `json:"charts"`
	DatasetDrift bool                     `json:"dataset_drift"`
	PollMS       int                      `json:"poll_ms"`
}

func (h *handler) monitorData(ctx context.Context) (*monitorJSON, error) {
	hist, err := h.mon.read(ctx)
	if err != nil {
		return nil, err
	}
	cur := hist[len(hist)-1]
	base := windowStart(hist, rateWindow)
	out := &monitorJSON{At: fmtTime(cur.at), Values: map[string]string{}, Charts: map[string]template.HTML{}, PollMS: int(h.deps.PollInterval / time.Millisecond)}
	v := out.Values
	v["requests"] = strconv.FormatFloat(cur.stats.Requests, 'f', 0, 64)
	v["errors"] = strconv.FormatFloat(cur.stats.Errors, 'f', 0, 64)
	v["rate"] = "—"
	if base != nil {
		if dt := cur.at.Sub(base.at).Seconds(); dt > 0 {
			v["rate"] = strconv.FormatFloat((cur.stats.Requests-base.stats.Requests)/dt, 'f', 1, 64) + " /s"
		}
	}
	lat, scope := cur.stats.Latency, "since start"
	if base != nil {
		if d := diffHist(cur.stats.Latency, base.stats.Latency); d.Total() > 0 {
			lat, scope = d, "last minute"
		}
	}
	v["latency-scope"] = scope
	for _, q := range []struct {
		k string
		q float64
	}{{"p50", 0.5}, {"p95", 0.95}, {"p99", 0.99}} {
		v[q.k] = fmtDur(quantile(lat, q.q))
	}
	out.Charts["chart-rate"], out.Charts["chart-latency"] = historyCharts(hist)
	out.Charts["chart-predictions"] = predictionChart(cur.stats.Predictions)
	h.driftValues(out, cur.stats)
	return out, nil
}

func (h *handler) driftValues(out *monitorJSON, st MonitorStats) {
	v := out.Values
	rep := st.Drift
	if rep == nil {
		v["drift"] = "no report yet"
		v["drift-detail"] = "The drift report appears once requests have been observed."
		out.Charts["chart-psi"] = psiChart(nil, nil, nil, 640)
		return
	}
	out.DatasetDrift = rep.DatasetDrift
	v["drift"] = "no dataset drift"
	if rep.DatasetDrift {
		v["drift"] = "DATASET DRIFT"
	}
	v["drift-detail"] = strconv.Itoa(rep.DriftedFeatures) + " of " + strconv.Itoa(len(rep.Features)) +
		" features drifted (dataset drift at " + chart.Num(rep.DriftShareThreshold*100) + " %)."
	if rep.ReferenceRows > 0 {
		v["drift-detail"] += " " + strconv.Itoa(rep.CurrentRows) + " recent rows against " + strconv.Itoa(rep.ReferenceRows) + " reference rows."
	}
	var names []string
	var psi []float64
	var drifted []bool
	for _, f := range rep.Features {
		names, psi, drifted = append(names, f.Name), append(psi, f.PSI), append(drifted, f.Drifted)
	}
	out.Charts["chart-psi"] = psiChart(names, psi, drifted, 640)
}

// windowStart is the oldest sample within window of the newest, or the
// one before the newest when none is that recent; nil with one sample.
func windowStart(hist []sample, window time.Duration) *sample {
	if len(hist) < 2 {
		return nil
	}
	last := hist[len(hist)-1].at
	for i := range hist[:len(hist)-1] {
		if last.Sub(hist[i].at) <= window {
			return &hist[i]
		}
	}
	return &hist[len(hist)-2]
}

// diffHist is the histogram of the observations made between two readings
// (zero if the counters were reset).
func diffHist(cur, old Histogram) Histogram {
	if len(cur.Counts) != len(old.Counts) {
		return Histogram{Bounds: cur.Bounds}
	}
	d := Histogram{Bounds: cur.Bounds, Counts: make([]float64, len(cur.Counts))}
	for i := range cur.Counts {
		d.Counts[i] = math.Max(0, cur.Counts[i]-old.Counts[i])
	}
	return d
}

// quantile estimates a quantile from bucket counts, interpolating linearly
// inside the bucket like Prometheus' histogram_quantile; NaN when empty.
func quantile(h Histogram, q float64) float64 {
	total := h.Total()
	if total == 0 || len(h.Bounds) == 0 {
		return math.NaN()
	}
	rank := q * total
	var cum float64
	for i, c := range h.Counts {
		if cum+c >= rank && c > 0 {
			if i >= len(h.Bounds) {
				return h.Bounds[len(h.Bounds)-1]
			}
			lo := 0.0
			if i > 0 {
				lo = h.Bounds[i-1]
			}
			return lo + (h.Bounds[i]-lo)*(rank-cum)/c
		}
		cum += c
	}
	return h.Bounds[len(h.Bounds)-1]
}

// historyCharts draws the request rate and latency quantiles over the
// readings kept.
func historyCharts(hist []sample) (template.HTML, template.HTML) {
	var t, rate, p50, p95, p99 []float64
	if len(hist) > 0 {
		t0 := hist[len(hist)-1].at
		for i := 1; i < len(hist); i++ {
			a, b := hist[i-1], hist[i]
			dt := b.at.Sub(a.at).Seconds()
			if dt <= 0 {
				continue
			}
			t = append(t, -t0.Sub(b.at).Seconds())
			rate = append(rate, math.Max(0, b.stats.Requests-a.stats.Requests)/dt)
			d := diffHist(b.stats.Latency, a.stats.Latency)
			p50 = append(p50, quantile(d, 0.5)*1000)
			p95 = append(p95, quantile(d, 0.95)*1000)
			p99 = append(p99, quantile(d, 0.99)*1000)
		}
	}
	ro := chart.Options{Title: "Predict requests per second", XLabel: "seconds ago", YLabel: "requests/s", Width: 640, Height: 220}
	r, err := chart.LineChart{Options: ro, Series: []chart.Series{{Name: "rate", X: t, Y: rate, Class: "s1"}}}.SVG()
	rateChart := inline(r, err, ro, "line", "no data yet")
	lo := chart.Options{Title: "Predict latency quantiles", XLabel: "seconds ago", YLabel: "ms", Width: 640, Height: 220}
	l, err := chart.LineChart{Options: lo, Series: []chart.Series{
		{Name: "p50", X: t, Y: p50, Class: "s1"}, {Name: "p95", X: t, Y: p95, Class: "s2"}, {Name: "p99", X: t, Y: p99, Class: "s3"},
	}}.SVG()
	return rateChart, inline(l, err, lo, "line", "no data yet")
}

// predictionChart draws the distribution of the predicted prices.
func predictionChart(h Histogram) template.HTML {
	var labels []string
	for i := range h.Counts {
		switch {
		case i < len(h.Bounds):
			labels = append(labels, "≤"+shortMoney(h.Bounds[i]))
		case len(h.Bounds) > 0:
			labels = append(labels, ">"+shortMoney(h.Bounds[len(h.Bounds)-1]))
		default:
			labels = append(labels, "all")
		}
	}
	o := chart.Options{Title: "Distribution of predicted prices", XLabel: "predicted price", YLabel: "predictions", Width: 640, Height: 220}
	if h.Total() == 0 {
		return template.HTML(chart.Message(o, "bars", "no data yet"))
	}
	svg, err := chart.BarChart{Options: o, Labels: labels, Values: h.Counts}.SVG()
	return inline(svg, err, o, "bars", "no data yet")
}

// shortMoney prints 450000 as 450k for axis labels.
func shortMoney(v float64) string {
	if math.Abs(v) >= 1000 {
		return chart.Num(math.Round(v/1000)) + "k"
	}
	return chart.Num(v)
}

func (h *handler) monitoringPage(w http.ResponseWriter, r *http.Request) {
	if h.deps.Monitor == nil {
		h.notConfigured(w, r, "Monitoring", "monitoring", "Monitoring")
		return
	}
	d, err := h.monitorData(r.Context())
	if err != nil {
		h.failErr(w, r, "reading the monitor", err)
		return
	}
	h.render(w, r, http.StatusOK, "monitoring", page{Title: "Monitoring", Nav: "monitoring", Data: d})
}

func (h *handler) monitoringJSON(w http.ResponseWriter, r *http.Request) {
	if h.deps.Monitor == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"message": "monitoring is not configured"})
		return
	}
	d, err := h.monitorData(r.Context())
	if err != nil {
		h.deps.Logger.Error("ui: monitor", "err", err)
		writeJSON(w, http.StatusBadGateway, map[string]string{"message": "cannot read the monitor"})
		return
	}
	writeJSON(w, http.StatusOK, d)
}
