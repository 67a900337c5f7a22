package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestBenchServeWithModelFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.json")
	if err := os.WriteFile(path, ridgeArtifact(t, 1), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := benchServeCommand(t.Context(), []string{"--model-file", path, "--data", "../../testdata/housing.csv",
		"--duration", "300ms", "--connections", "2", "--batches", "1,7", "--json"}, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var res serveBenchResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if res.ModelKind != "ridge" || len(res.ModelSHA256) != 64 || !(res.ReadySeconds > 0) || !(res.RSSMiBPeak > 0) {
		t.Errorf("result %+v", res)
	}
	if len(res.Phases) != 2 || res.Phases[0].Batch != 1 || res.Phases[1].Batch != 7 {
		t.Fatalf("phases %+v", res.Phases)
	}
	for _, p := range res.Phases {
		if p.Requests == 0 || p.Errors != 0 || !(p.P50Ms > 0) || p.P99Ms < p.P50Ms || p.MaxMs < p.P99Ms ||
			p.InstPerSec != p.ReqPerSec*float64(p.Batch) {
			t.Errorf("phase %+v", p)
		}
	}
}

func TestBenchServeTrainsAForest(t *testing.T) {
	var out bytes.Buffer
	err := benchServeCommand(t.Context(), []string{"--trees", "2", "--data", "../../testdata/housing.csv",
		"--duration", "200ms", "--connections", "2", "--batches", "100"}, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"random_forest (2 trees, trained here)", "time to ready:", "INSTANCES/S", "RSS idle"} {
		if !bytes.Contains(out.Bytes(), []byte(want)) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBenchServeFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--addr", "10.0.0.1:8080"}, {"--addr", "example.com:80"}, {"--duration", "0s"},
		{"--connections", "0"}, {"--batches", "1,x"}, {"extra"},
	} {
		if _, err := parseServeBenchFlags(args, io.Discard); !asUsage(err, new(usageError)) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	f, err := parseServeBenchFlags([]string{"--addr", "[::1]:0"}, io.Discard)
	if err != nil || f.addr != "[::1]:0" || f.duration.Seconds() != 10 || f.conns != 16 {
		t.Errorf("%+v %v", f, err)
	}
}
