package search

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/housing-mlops/mlops"
)

func TestParseRunFilter(t *testing.T) {
	cases := []struct {
		in   string
		want []Clause
	}{
		{"", nil},
		{"   ", nil},
		{"metrics.rmse < 50000", []Clause{{Kind: KindMetric, Key: "rmse", Op: "<", Number: 50000}}},
		{"metric.rmse>=-1.5e3", []Clause{{Kind: KindMetric, Key: "rmse", Op: ">=", Number: -1500}}},
		{"metrics.`val.rmse` != 3", []Clause{{Kind: KindMetric, Key: "val.rmse", Op: "!=", Number: 3}}},
		{`metrics."val.rmse" <> 3`, []Clause{{Kind: KindMetric, Key: "val.rmse", Op: "!=", Number: 3}}},
		{"`metrics.a b` = 1", []Clause{{Kind: KindMetric, Key: "a b", Op: "=", Number: 1}}},
		{"params.model = 'tree'", []Clause{{Kind: KindParam, Key: "model", Op: "=", String: "tree"}}},
		{`params.model = "tr'ee"`, []Clause{{Kind: KindParam, Key: "model", Op: "=", String: "tr'ee"}}},
		{"params.x = 'it''s'", []Clause{{Kind: KindParam, Key: "x", Op: "=", String: "it's"}}},
		{"tags.mlflow.parentRunId = 'abc'", []Clause{{Kind: KindTag, Key: "mlflow.parentRunId", Op: "=", String: "abc"}}},
		{"tags.k like 'a%'", []Clause{{Kind: KindTag, Key: "k", Op: "LIKE", String: "a%"}}},
		{"attributes.status = 'FINISHED'", []Clause{{Kind: KindAttribute, Key: "status", Op: "=", String: "FINISHED"}}},
		{"run_name = 'x' and status != 'FAILED'", []Clause{
			{Kind: KindAttribute, Key: "run_name", Op: "=", String: "x"},
			{Kind: KindAttribute, Key: "status", Op: "!=", String: "FAILED"}}},
		{"run_id IN ('a', 'b')", []Clause{{Kind: KindAttribute, Key: "run_id", Op: "IN", List: []string{"a", "b"}}}},
		{"attributes.run_id not in ('a')", []Clause{{Kind: KindAttribute, Key: "run_id", Op: "NOT IN", List: []string{"a"}}}},
		{"attributes.start_time > 1700000000000", []Clause{{Kind: KindAttribute, Key: "start_time", Op: ">", Number: 1.7e12}}},
	}
	for _, c := range cases {
		got, err := ParseRunFilter(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", c.in, got, c.want)
		}
	}
}

func TestParseRunFilterErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"metrics.rmse < 1 OR metrics.rmse > 2", "OR is not supported"},
		{"metrics.rmse", "expected a comparison operator"},
		{"metrics.rmse <", "needs a number"},
		{"metrics.rmse < 'x'", "needs a number"},
		{"params.p = 3", "needs a quoted string"},
		{"params.p = 'x", "unterminated quote"},
		{"metrics.rmse LIKE '%'", "operator LIKE is not supported for metrics.rmse"},
		{"run_id < 'a'", "operator < is not supported for run_id"},
		{"foo.bar = 'x'", `unknown key prefix "foo"`},
		{"bogus = 'x'", `unknown key "bogus"`},
		{"attributes.color = 'red'", `unknown attribute "color"`},
		{"metrics. = 1", "empty name"},
		{"params.a = 'x' params.b = 'y'", "expected AND"},
		{"run_id IN 'a'", "expected ( after IN"},
		{"run_id IN ('a' 'b')", "expected , or )"},
		{"params.a NOT = 'x'", "expected IN after NOT"},
		{"params.a = 'x' AND", "expected a key"},
		{"metrics.a ~ 1", "unexpected character"},
	}
	for _, c := range cases {
		_, err := ParseRunFilter(c.in)
		if err == nil {
			t.Errorf("%q: no error", c.in)
			continue
		}
		if mlops.ErrorCode(err) != mlops.EINVALID || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "position") {
			t.Errorf("%q: error %q, want EINVALID containing %q and a position", c.in, err, c.want)
		}
	}
}

func run(id, name string, start int, rmse float64, params map[string]string) *mlops.Run {
	r := &mlops.Run{ID: id, Name: name, Status: mlops.RunFinished, StartTime: time.UnixMilli(int64(start)), Params: params}
	if !math.IsInf(rmse, 0) {
		r.Metrics = []mlops.Metric{{Key: "rmse", Value: rmse}}
	}
	return r
}

func names(rs []*mlops.Run) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return strings.Join(out, ",")
}

func TestQueryApplyOrderAndPages(t *testing.T) {
	runs := []*mlops.Run{
		run("a", "A", 1, 3, map[string]string{"m": "z"}),
		run("b", "B", 2, math.NaN(), map[string]string{"m": "y"}),
		run("c", "C", 3, 1, nil),
		run("d", "D", 4, math.Inf(1), map[string]string{"m": "x"}), // no rmse
		run("e", "E", 4, 2, nil),
	}
	order := func(terms ...string) string {
		q, err := Compile(mlops.RunFilter{OrderBy: terms})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := q.Apply(runs)
		return names(got)
	}
	// Equal start times fall back to run id.
	if got := order(); got != "D,E,C,B,A" {
		t.Errorf("default order %s", got)
	}
	if got := order("metrics.rmse ASC"); got != "C,E,A,B,D" {
		t.Errorf("rmse ASC %s (NaN after numbers, missing last)", got)
	}
	if got := order("metrics.rmse desc"); got != "A,E,C,B,D" {
		t.Errorf("rmse DESC %s", got)
	}
	if got := order("params.m"); got != "D,B,A,E,C" {
		t.Errorf("params.m %s", got)
	}
	if got := order("attributes.run_name DESC"); got != "E,D,C,B,A" {
		t.Errorf("run_name DESC %s", got)
	}
	q, err := Compile(mlops.RunFilter{MaxResults: 2, OrderBy: []string{"start_time ASC"}})
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	tok := ""
	for i := 0; i < 5; i++ {
		q.Offset, err = DecodePageToken(tok)
		if err != nil {
			t.Fatal(err)
		}
		page, next := q.Apply(runs)
		all = append(all, names(page))
		if next == "" {
			break
		}
		tok = next
	}
	if got := strings.Join(all, "|"); got != "A,B|C,D|E" {
		t.Errorf("pages %s", got)
	}
	for _, bad := range []string{"x", "LTE=", EncodePageToken(-1)} {
		if _, err := DecodePageToken(bad); mlops.ErrorCode(err) != mlops.EINVALID {
			t.Errorf("token %q: %v", bad, err)
		}
	}
	for _, bad := range []string{"metrics.rmse UP", "nope", "metrics.rmse ASC extra", "'x'"} {
		if _, err := ParseOrderBy([]string{bad}); mlops.ErrorCode(err) != mlops.EINVALID {
			t.Errorf("order %q: %v", bad, err)
		}
	}
	if _, err := Compile(mlops.RunFilter{MaxResults: MaxMaxResults + 1}); mlops.ErrorCode(err) != mlops.EINVALID {
		t.Errorf("huge max results: %v", err)
	}
}

func TestMatch(t *testing.T) {
	r := &mlops.Run{ID: "abc", Name: "Forest-1", Status: mlops.RunFinished, StartTime: time.UnixMilli(1000), EndTime: time.UnixMilli(5000),
		Params: map[string]string{"model": "forest"}, Tags: map[string]string{"note": "50% faster"},
		Metrics: []mlops.Metric{{Key: "rmse", Value: 49000}}}
	cases := map[string]bool{
		"metrics.rmse = 49000":         true,
		"metrics.rmse > 49000":         false,
		"metrics.mae < 1":              false, // missing metric never matches
		"params.missing != 'x'":        false, // nor a missing param
		"params.model != 'tree'":       true,
		"run_name LIKE 'forest%'":      false, // LIKE is case-sensitive
		"run_name ILIKE 'forest%'":     true,
		"run_name LIKE 'Forest-_'":     true,
		"tags.note LIKE '50% f%'":      true,
		"tags.note LIKE '5.%'":         false, // regexp metacharacters are literal
		"attributes.end_time >= 5000":  true,
		"attributes.start_time < 1000": false,
		"run_id IN ('x', 'abc')":       true,
		"run_id NOT IN ('abc')":        false,
		"status = 'FINISHED' AND params.model = 'forest' AND metrics.rmse < 5e4": true,
	}
	for f, want := range cases {
		cl, err := ParseRunFilter(f)
		if err != nil {
			t.Fatalf("%q: %v", f, err)
		}
		if got := Match(r, cl); got != want {
			t.Errorf("%q: match %v, want %v", f, got, want)
		}
	}
}
