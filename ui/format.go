package ui

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/housing-mlops/mlops/chart"
)

// fmtMoney prints a price in dollars with thousands separators.
func fmtMoney(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return chart.Num(v)
	}
	neg := v < 0
	s := strconv.FormatInt(int64(math.Round(math.Abs(v))), 10)
	var b strings.Builder
	if neg {
		b.WriteString("−")
	}
	b.WriteByte('$')
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func fmtPtr(p *float64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatFloat(*p, 'g', -1, 64)
}

// fmtDur prints a duration in seconds with a readable unit.
func fmtDur(seconds float64) string {
	switch {
	case math.IsNaN(seconds) || seconds < 0:
		return "—"
	case seconds < 1:
		return strconv.FormatFloat(seconds*1000, 'f', 0, 64) + " ms"
	case seconds < 120:
		return strconv.FormatFloat(seconds, 'f', 1, 64) + " s"
	}
	return (time.Duration(seconds) * time.Second).Round(time.Second).String()
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// shortID keeps the first 8 characters of a run id, enough to tell runs
// apart on screen.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// runSeconds is a run's wall time (until now when it is still running).
func runSeconds(start, end, now time.Time) float64 {
	if start.IsZero() {
		return math.NaN()
	}
	if end.IsZero() {
		end = now
	}
	return end.Sub(start).Seconds()
}
