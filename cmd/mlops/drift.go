package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/housing-mlops/mlops/ml/frame"
	"github.com/housing-mlops/mlops/monitor"
)

// driftCommand compares reference data (the training CSV) with current data
// (a CSV or a prediction log directory) and prints the drift report.
//
// Planned: --reference run:ID, reading the training data a tracked run used.
func driftCommand(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("drift", stderr)
	refPath := fs.String("reference", "", "reference data: a CSV file (the training data)")
	curPath := fs.String("current", "", "current data: a CSV file or a prediction log directory")
	asJSON := fs.Bool("json", false, "print the report as JSON instead of a table")
	htmlPath := fs.String("html", "", "also write a self-contained HTML report to this file")
	columns := fs.String("columns", "", "comma-separated columns to compare (default: all columns in both)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mlops drift --reference FILE.csv --current FILE.csv|PREDICTION_LOG_DIR [--json] [--html report.html] [--columns a,b,c]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("unexpected argument %q", fs.Arg(0))
	case *refPath == "" || *curPath == "":
		return usagef("--reference and --current are required")
	case strings.HasPrefix(*refPath, "run:"):
		return fmt.Errorf("--reference %s: reading a run's data is not supported yet; pass the CSV file", *refPath)
	}
	ref, err := readDriftTable("reference", *refPath)
	if err != nil {
		return err
	}
	cur, err := readDriftTable("current", *curPath)
	if err != nil {
		return err
	}
	rep, err := monitor.Compare(ref, cur, monitor.Options{Columns: splitColumns(*columns)})
	if err != nil {
		return err
	}
	if *htmlPath != "" {
		if err := writeHTMLReport(*htmlPath, rep, *refPath, *curPath); err != nil {
			return err
		}
	}
	if *asJSON {
		return rep.WriteJSON(stdout)
	}
	return rep.WriteText(stdout)
}

// readDriftTable reads a CSV file, or a prediction log when path is a
// directory. Errors name the role and the path.
func readDriftTable(role, path string) (*monitor.Table, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s data: %w", role, err)
	}
	if info.IsDir() {
		t, err := monitor.ReadPredictionLog(path)
		if err != nil {
			return nil, fmt.Errorf("%s data %s: %w", role, path, err)
		}
		return t, nil
	}
	f, err := frame.ReadCSVFile(path, frame.CSVOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s data %s: %w", role, path, err)
	}
	return monitor.FromFrame(f)
}

func splitColumns(s string) []string {
	var out []string
	for _, c := range strings.Split(s, ",") {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// writeHTMLReport writes the report to path, removing a partial file on error.
func writeHTMLReport(path string, rep *monitor.Report, refPath, curPath string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	title := fmt.Sprintf("Drift report: %s vs %s", filepath.Base(curPath), filepath.Base(refPath))
	err = rep.WriteHTML(f, title)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("html report %s: %w", path, err)
	}
	return nil
}
