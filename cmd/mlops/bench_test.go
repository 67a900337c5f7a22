package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeSyntheticCSV writes a small regression data set that is not housing:
// y = 3a - 2b + 10·[c == "hi"] + noise-free, with a few missing a values.
func writeSyntheticCSV(t *testing.T, rows int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("a,b,c,y\n")
	for i := 0; i < rows; i++ {
		a, bb := float64(i%17), float64((i*7)%13)
		c := []string{"lo", "hi", "mid"}[i%3]
		y := 3*a - 2*bb
		if c == "hi" {
			y += 10
		}
		aText := fmt.Sprint(a)
		if i%50 == 7 {
			aText = ""
		}
		fmt.Fprintf(&b, "%s,%v,%s,%v\n", aText, bb, c, y+100)
	}
	path := filepath.Join(t.TempDir(), "synthetic.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBenchLearnersOnAnotherCSVPrintsJSON(t *testing.T) {
	path := writeSyntheticCSV(t, 400)
	var out, errb bytes.Buffer
	code := execute(context.Background(), []string{"bench", "learners", "--data", path, "--target", "y",
		"--learners", "ridge,decision_tree", "--json"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rows []learnerResult
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out.String())
	}
	if len(rows) != 2 || rows[0].Learner != "ridge" || rows[1].Learner != "decision_tree" {
		t.Fatalf("rows = %+v", rows)
	}
	for _, r := range rows {
		for _, k := range []string{"mae", "rmse", "r2", "mape", "smape", "wmape", "median_ape", "within_5pct", "within_10pct", "within_15pct"} {
			if _, ok := r.Metrics[k]; !ok {
				t.Errorf("%s: metric %s missing", r.Learner, k)
			}
		}
		if r.FitSeconds <= 0 {
			t.Errorf("%s: fit_seconds %v", r.Learner, r.FitSeconds)
		}
	}
	// The target is an exact linear function of the features, so ridge
	// with a small penalty must explain nearly all of it.
	if r2 := rows[0].Metrics["r2"]; r2 < 0.99 {
		t.Errorf("ridge R² = %v on a linear target", r2)
	}
}

func TestBenchLearnersErrors(t *testing.T) {
	path := writeSyntheticCSV(t, 50)
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"bench"}, 2, "want a harness"},
		{[]string{"bench", "learners", "--data", path}, 2, "--data and --target are required"},
		{[]string{"bench", "learners", "--data", path, "--target", "nope"}, 1, "nope"},
		{[]string{"bench", "learners", "--data", path, "--target", "y", "--learners", "svm"}, 2, `unknown learner "svm"`},
		{[]string{"bench", "learners", "--data", filepath.Join(t.TempDir(), "missing.csv"), "--target", "y"}, 1, "missing.csv"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := execute(context.Background(), c.args, &out, &errb)
		if code != c.code || !strings.Contains(errb.String(), c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d containing %q", c.args, code, errb.String(), c.code, c.msg)
		}
	}
}

func TestBenchSplitFileRejectsOutOfRangeRows(t *testing.T) {
	p := filepath.Join(t.TempDir(), "split.json")
	os.WriteFile(p, []byte(`{"train_rows":[0,1],"test_rows":[5]}`), 0o644)
	if _, _, err := benchSplit(p, 3, 1); err == nil || !strings.Contains(err.Error(), "row 5") {
		t.Fatalf("err = %v", err)
	}
}
