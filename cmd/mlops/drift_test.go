package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops/monitor"
)

// writeDriftCSV writes n rows of income, age and ocean; mult picks the
// low-discrepancy sequence (so two files hold different draws of the same
// distribution) and shift moves income and age.
func writeDriftCSV(t *testing.T, dir, name string, n int, mult, shift float64) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("median_income,housing_median_age,ocean_proximity\n")
	oceans := []string{"INLAND", "NEAR BAY", "<1H OCEAN"}
	for i := 1; i <= n; i++ {
		u := math.Mod(float64(i)*mult, 1)
		v := math.Mod(float64(i)*mult*1.7, 1)
		fmt.Fprintf(&b, "%.4f,%.1f,%s\n", 1+8*u+shift, math.Round(1+50*v+10*shift), oceans[i%3])
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runDrift(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = execute(context.Background(), append([]string{"drift"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestDriftCleanVersusShifted(t *testing.T) {
	dir := t.TempDir()
	ref := writeDriftCSV(t, dir, "ref.csv", 3000, 0.6180339887498949, 0)
	clean := writeDriftCSV(t, dir, "clean.csv", 800, 0.7548776662466927, 0)
	shifted := writeDriftCSV(t, dir, "shifted.csv", 800, 0.7548776662466927, 1.5)

	code, out, errOut := runDrift(t, "--reference", ref, "--current", clean)
	if code != 0 || !strings.Contains(out, "no dataset drift: 0 of 3 features drifted") {
		t.Fatalf("clean: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runDrift(t, "--reference", ref, "--current", shifted)
	if code != 0 || !strings.Contains(out, "DATASET DRIFT: 2 of 3 features drifted") {
		t.Fatalf("shifted: exit %d\n%s%s", code, out, errOut)
	}
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "median_income", "housing_median_age":
			if fields[len(fields)-1] != "yes" {
				t.Errorf("shifted feature not flagged: %s", line)
			}
		case "ocean_proximity":
			if fields[len(fields)-1] != "no" {
				t.Errorf("unchanged feature flagged: %s", line)
			}
		}
	}
}

func TestDriftJSONAndColumns(t *testing.T) {
	dir := t.TempDir()
	ref := writeDriftCSV(t, dir, "ref.csv", 500, 0.6180339887498949, 0)
	shifted := writeDriftCSV(t, dir, "shifted.csv", 300, 0.7548776662466927, 1.5)
	code, out, errOut := runDrift(t, "--reference", ref, "--current", shifted, "--json", "--columns", "median_income, ocean_proximity")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep monitor.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, out)
	}
	if len(rep.Features) != 2 || rep.Features[0].Name != "median_income" || rep.Features[1].Name != "ocean_proximity" {
		t.Fatalf("features %+v, want the two requested in order", rep.Features)
	}
	// A 500-row reference gets Evidently's p-value tests.
	inc := rep.Features[0]
	if inc.Test != monitor.TestKS || inc.PValue == nil || !inc.Drifted || rep.Features[1].Test != monitor.TestChiSquare {
		t.Errorf("features %+v", rep.Features)
	}
	if !rep.DatasetDrift || rep.ReferenceRows != 500 || rep.CurrentRows != 300 {
		t.Errorf("report %+v", rep)
	}
}

func TestDriftHTMLReport(t *testing.T) {
	dir := t.TempDir()
	ref := writeDriftCSV(t, dir, "ref.csv", 1500, 0.6180339887498949, 0)
	cur := writeDriftCSV(t, dir, "cur.csv", 400, 0.7548776662466927, 1)
	page := filepath.Join(dir, "report.html")
	code, out, errOut := runDrift(t, "--reference", ref, "--current", cur, "--html", page)
	if code != 0 || !strings.Contains(out, "FEATURE") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	html := string(data)
	if !strings.HasPrefix(html, "<!DOCTYPE html>") || strings.Count(html, "<svg") != 3 || !strings.Contains(html, "cur.csv vs ref.csv") {
		t.Errorf("HTML report incomplete (%d bytes)", len(html))
	}
}

func TestDriftPredictionLogAsCurrent(t *testing.T) {
	dir := t.TempDir()
	ref := writeDriftCSV(t, dir, "ref.csv", 2000, 0.6180339887498949, 0)
	logDir := filepath.Join(dir, "log")
	l, err := monitor.NewPredictionLog(logDir, monitor.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 300; i++ {
		u := math.Mod(float64(i)*0.7548776662466927, 1)
		l.Log(monitor.Record{RequestID: fmt.Sprint(i), Features: map[string]any{
			"median_income": 5 + 8*u, "housing_median_age": 30.0, "ocean_proximity": "INLAND"}})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runDrift(t, "--reference", ref, "--current", logDir)
	if code != 0 || !strings.Contains(out, "DATASET DRIFT: 3 of 3") || !strings.Contains(out, "current 300 rows") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
}

func TestDriftErrors(t *testing.T) {
	dir := t.TempDir()
	ref := writeDriftCSV(t, dir, "ref.csv", 50, 0.6180339887498949, 0)
	missing := filepath.Join(dir, "no-such.csv")
	code, _, errOut := runDrift(t, "--reference", ref, "--current", missing)
	if code != 1 || !strings.Contains(errOut, "mlops drift: current data: ") || !strings.Contains(errOut, missing) {
		t.Errorf("missing current file: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runDrift(t, "--reference", missing, "--current", ref)
	if code != 1 || !strings.Contains(errOut, "reference data: ") || !strings.Contains(errOut, missing) {
		t.Errorf("missing reference file: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runDrift(t, "--reference", ref, "--current", ref, "--columns", "nope")
	if code != 1 || !strings.Contains(errOut, `column "nope" not in reference data`) {
		t.Errorf("unknown column: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runDrift(t, "--reference", ref)
	if code != 2 || !strings.Contains(errOut, "--current are required") {
		t.Errorf("missing flag: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runDrift(t, "--reference", "run:abc", "--current", ref)
	if code != 1 || !strings.Contains(errOut, "not supported yet") {
		t.Errorf("run reference: exit %d, stderr %q", code, errOut)
	}
}
