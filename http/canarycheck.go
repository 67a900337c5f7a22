package http

import (
	"fmt"
	"io"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// VersionStats are one model version's predict figures as /metrics
// exports them (cumulative since the server started).
type VersionStats struct {
	Version  string  `json:"version"`
	Role     string  `json:"role"`
	Requests float64 `json:"requests"`
	// Errors are 5xx answers: the model or server failed. 4xx answers are
	// the client's fault and do not count against a version.
	Errors    float64 `json:"errors"`
	ErrorRate float64 `json:"error_rate"`
	// P99Seconds is the 99th percentile latency, interpolated within the
	// histogram bucket like Prometheus's histogram_quantile.
	P99Seconds float64 `json:"p99_seconds"`
}

// ParseVersionStats reads Prometheus text exposition (a /metrics page) and
// returns the per-version predict figures, keyed by role then version,
// sorted by role (canary first) and version.
func ParseVersionStats(r io.Reader) ([]VersionStats, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	byKey := map[[2]string]*VersionStats{}
	get := func(m *dto.Metric) *VersionStats {
		k := [2]string{label(m, "role"), label(m, "version")}
		if byKey[k] == nil {
			byKey[k] = &VersionStats{Role: k[0], Version: k[1]}
		}
		return byKey[k]
	}
	if f := fams["mlops_model_requests_total"]; f != nil {
		for _, m := range f.GetMetric() {
			st, n := get(m), m.GetCounter().GetValue()
			st.Requests += n
			if strings.HasPrefix(label(m, "code"), "5") {
				st.Errors += n
			}
		}
	}
	if f := fams["mlops_model_request_duration_seconds"]; f != nil {
		for _, m := range f.GetMetric() {
			get(m).P99Seconds = histogramQuantile(0.99, m.GetHistogram())
		}
	}
	out := make([]VersionStats, 0, len(byKey))
	for _, st := range byKey {
		if st.Requests > 0 {
			st.ErrorRate = st.Errors / st.Requests
		}
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Role != out[j].Role {
			return out[i].Role < out[j].Role
		}
		return out[i].Version < out[j].Version
	})
	return out, nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// histogramQuantile interpolates quantile q linearly within the bucket that
// holds it; NaN for an empty histogram. A quantile in the +Inf bucket is
// the highest finite bound; an empty histogram gives 0.
func histogramQuantile(q float64, h *dto.Histogram) float64 {
	total := float64(h.GetSampleCount())
	if total == 0 {
		return 0
	}
	rank := q * total
	prevBound, prevCount := 0.0, 0.0
	for _, b := range h.GetBucket() {
		c := float64(b.GetCumulativeCount())
		if c >= rank {
			ub := b.GetUpperBound()
			if c == prevCount {
				return ub
			}
			return prevBound + (ub-prevBound)*(rank-prevCount)/(c-prevCount)
		}
		prevBound, prevCount = b.GetUpperBound(), c
	}
	return prevBound
}

// CanaryThresholds are the limits a canary must stay within.
type CanaryThresholds struct {
	// MaxErrorRate is the largest tolerated share of 5xx answers (0.01).
	MaxErrorRate float64
	// MaxLatencyRatio bounds canary p99 / stable p99 (1.5).
	MaxLatencyRatio float64
	// MinRequests is how many canary requests are needed for a verdict.
	MinRequests float64
}

// CanaryVerdict is the outcome of CheckCanary.
type CanaryVerdict struct {
	Stable, Canary VersionStats
	LatencyRatio   float64 `json:"latency_ratio"`
	// OK is true when the canary is within every threshold.
	OK bool `json:"ok"`
	// Problems says which thresholds were crossed (or why there is no
	// verdict).
	Problems []string `json:"problems,omitempty"`
}

// CheckCanary compares the canary with the stable version. It fails when
// there is no canary or stable traffic, too few canary requests, a canary
// error rate above the limit, or a p99 latency ratio above the limit.
func CheckCanary(stats []VersionStats, th CanaryThresholds) CanaryVerdict {
	var v CanaryVerdict
	var haveStable, haveCanary bool
	for _, s := range stats {
		switch s.Role {
		case RoleStable:
			if !haveStable || s.Requests > v.Stable.Requests {
				v.Stable, haveStable = s, true
			}
		case RoleCanary:
			if !haveCanary || s.Requests > v.Canary.Requests {
				v.Canary, haveCanary = s, true
			}
		}
	}
	switch {
	case !haveCanary:
		v.Problems = append(v.Problems, "no canary traffic in the metrics (is --canary-percent set?)")
	case v.Canary.Requests < th.MinRequests:
		v.Problems = append(v.Problems, fmt.Sprintf("only %.0f canary requests, need %.0f for a verdict", v.Canary.Requests, th.MinRequests))
	case v.Canary.ErrorRate > th.MaxErrorRate:
		v.Problems = append(v.Problems, fmt.Sprintf("canary error rate %.4f > %.4f", v.Canary.ErrorRate, th.MaxErrorRate))
	}
	if !haveStable {
		v.Problems = append(v.Problems, "no stable traffic in the metrics to compare with")
	} else if haveCanary && v.Stable.P99Seconds > 0 {
		v.LatencyRatio = v.Canary.P99Seconds / v.Stable.P99Seconds
		if v.LatencyRatio > th.MaxLatencyRatio {
			v.Problems = append(v.Problems, fmt.Sprintf("canary p99 latency %.4fs is %.2f× stable's %.4fs (limit %.2f×)",
				v.Canary.P99Seconds, v.LatencyRatio, v.Stable.P99Seconds, th.MaxLatencyRatio))
		}
	}
	v.OK = len(v.Problems) == 0
	return v
}
