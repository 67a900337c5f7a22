package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/housing-mlops/mlops"
)

// storeFlags are the flags every registry and tracking command takes.
type storeFlags struct {
	store string
	json  bool
}

func addStoreFlags(fs *flag.FlagSet) *storeFlags {
	sf := &storeFlags{}
	fs.StringVar(&sf.store, "store", "", "tracking store: sqlite:///path, a file path or postgres://... (default $MLOPS_TRACKING_URI or $MLOPS_HOME/mlops.db)")
	fs.BoolVar(&sf.json, "json", false, "print JSON instead of a table")
	return sf
}

// parseInterspersed parses flags that may come before, between or after
// positional arguments (mlops models promote NAME 3 --stage Production) and
// returns the positionals. A bad flag is a usage error.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%v", err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// emitJSON writes v as indented JSON.
func emitJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// newTable returns a writer that aligns tab-separated columns.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// row writes one tab-separated table row.
func row(w io.Writer, cols ...string) {
	fmt.Fprintln(w, strings.Join(cols, "\t"))
}

// fmtTime shows a time in UTC to the second; the zero time is "-".
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// fmtDuration shows how long a run took; unfinished runs show "-".
func fmtDuration(start, end time.Time) string {
	if start.IsZero() || end.IsZero() {
		return "-"
	}
	return end.Sub(start).Round(time.Second).String()
}

// fmtFloat shows a metric compactly without losing small differences.
func fmtFloat(v float64) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', 8, 64)
}

// orDash shows an empty string as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// jsonFloat is a float that JSON-encodes NaN and infinities as strings,
// which encoding/json refuses as numbers.
type jsonFloat float64

// MarshalJSON implements json.Marshaler.
func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return json.Marshal(fmtFloat(v))
	}
	return json.Marshal(v)
}

// jsonMetric is mlops.Metric with a JSON-safe value.
type jsonMetric struct {
	Key       string    `json:"key"`
	Value     jsonFloat `json:"value"`
	Timestamp time.Time `json:"timestamp"`
	Step      int64     `json:"step"`
}

func jsonMetrics(ms []mlops.Metric) []jsonMetric {
	out := make([]jsonMetric, 0, len(ms))
	for _, m := range ms {
		out = append(out, jsonMetric{m.Key, jsonFloat(m.Value), m.Timestamp, m.Step})
	}
	return out
}

// jsonRun is mlops.Run with JSON-safe metrics.
type jsonRun struct {
	*mlops.Run
	Metrics []jsonMetric `json:"metrics"`
}

func toJSONRun(r *mlops.Run) jsonRun { return jsonRun{Run: r, Metrics: jsonMetrics(r.Metrics)} }

// shortID abbreviates a run id for tables.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
