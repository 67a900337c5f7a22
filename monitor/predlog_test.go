package monitor

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func rec(i int) Record {
	ocean := "INLAND"
	if i%3 == 0 {
		ocean = "ISLAND" // same length as INLAND: the rotation test counts bytes
	}
	return Record{
		TS: time.Date(2026, 11, 23, 12, 0, i, 0, time.UTC), RequestID: fmt.Sprintf("req-%04d", i), ModelVersion: "3",
		LatencyMS: 1.5, Prediction: 100000 + float64(i),
		Features: map[string]any{"median_income": float64(i), "ocean_proximity": ocean},
	}
}

func TestPredictionLogRoundTrip(t *testing.T) {
	dir := t.TempDir()
	l, err := NewPredictionLog(dir, LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		l.Log(rec(i))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Written != 50 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
	data, err := os.ReadFile(filepath.Join(dir, "predictions.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	first := strings.SplitN(string(data), "\n", 2)[0]
	for _, key := range []string{`"ts":"2026-11-23T12:00:00Z"`, `"request_id":"req-0000"`, `"model_version":"3"`, `"latency_ms":1.5`, `"features":{`, `"prediction":100000`} {
		if !strings.Contains(first, key) {
			t.Errorf("first line %s lacks %s", first, key)
		}
	}
	tab, err := ReadPredictionLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	inc := tab.Numeric["median_income"]
	if len(inc) != 50 || inc[0] != 0 || inc[49] != 49 {
		t.Errorf("median_income read back: %v", inc)
	}
	if oc := tab.Categorical["ocean_proximity"]; len(oc) != 50 || oc[0] != "ISLAND" || oc[1] != "INLAND" {
		t.Errorf("ocean_proximity read back: %v", oc)
	}
	// Log after Close drops instead of panicking.
	l.Log(rec(99))
	if st := l.Stats(); st.Dropped != 1 {
		t.Errorf("log after close: %+v", st)
	}
}

func TestPredictionLogRotation(t *testing.T) {
	dir := t.TempDir()
	line := len(mustLine(t, rec(1000)))
	// Room for exactly 3 lines per file; 4 files kept (active + 3 rotated).
	l, err := NewPredictionLog(dir, LogOptions{MaxBytes: int64(3 * line), MaxFiles: 4})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1000; i < 1020; i++ {
		l.Log(rec(i))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		if info, _ := e.Info(); info.Size() > int64(3*line) {
			t.Errorf("%s is %d bytes, over MaxBytes %d", e.Name(), info.Size(), 3*line)
		}
	}
	want := []string{"predictions-1.jsonl", "predictions-2.jsonl", "predictions-3.jsonl", "predictions.jsonl"}
	if !slices.Equal(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}
	// 20 records in files of 3: the active file holds the last 2, the three
	// rotated ones the 9 before; the oldest 9 were deleted.
	tab, err := ReadPredictionLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	inc := tab.Numeric["median_income"]
	if len(inc) != 11 || inc[0] != 1009 || inc[10] != 1019 || !slices.IsSorted(inc) {
		t.Errorf("records kept, oldest first: %v", inc)
	}
}

func mustLine(t *testing.T, r Record) []byte {
	t.Helper()
	dir := t.TempDir()
	l, err := NewPredictionLog(dir, LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l.Log(r)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, activeLogName))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestPredictionLogSampling(t *testing.T) {
	const n = 20000
	counts := map[uint64]uint64{}
	for _, seed := range []uint64{1, 2} {
		l, err := NewPredictionLog(t.TempDir(), LogOptions{SampleRate: 0.1, Seed: seed, BufferSize: n})
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			l.Log(rec(i))
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		st := l.Stats()
		if st.Written+st.SampledOut != n || st.Dropped != 0 {
			t.Fatalf("seed %d: %+v", seed, st)
		}
		// Binomial(20000, 0.1): sd = 42.4; 5 sd either side.
		if math.Abs(float64(st.Written)-2000) > 5*42.43 {
			t.Errorf("seed %d: kept %d of %d at rate 0.1", seed, st.Written, n)
		}
		counts[seed] = st.Written
	}
	if counts[1] == counts[2] {
		t.Logf("seeds 1 and 2 kept the same count %d (possible, unlikely)", counts[1])
	}
	// Same seed, same decisions.
	a, b := sampleDecisions(t, 7), sampleDecisions(t, 7)
	if !slices.Equal(a, b) {
		t.Error("same seed gave different sampling decisions")
	}
}

func sampleDecisions(t *testing.T, seed uint64) []string {
	dir := t.TempDir()
	l, err := NewPredictionLog(dir, LogOptions{SampleRate: 0.3, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		l.Log(rec(i))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, activeLogName))
	return strings.Split(string(data), "\n")
}

// stallingFile blocks every Write until released, and signals when the
// first write is waiting.
type stallingFile struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	lines   int
}

func (f *stallingFile) Write(p []byte) (int, error) {
	f.once.Do(func() { close(f.entered) })
	<-f.release
	f.mu.Lock()
	f.lines += strings.Count(string(p), "\n")
	f.mu.Unlock()
	return len(p), nil
}

func (f *stallingFile) Close() error { return nil }

func TestPredictionLogNeverBlocks(t *testing.T) {
	f := &stallingFile{entered: make(chan struct{}), release: make(chan struct{})}
	l, err := NewPredictionLog(t.TempDir(), LogOptions{BufferSize: 4, open: func(string) (io.WriteCloser, int64, error) { return f, 0, nil }})
	if err != nil {
		t.Fatal(err)
	}
	l.Log(rec(0))
	<-f.entered // the writer holds record 0 and is stuck in Write
	// Fill the queue, then overflow it by 1000 records; with a stalled
	// writer any blocking send would hang the test here.
	for i := 1; i <= 1004; i++ {
		l.Log(rec(i))
	}
	if st := l.Stats(); st.Dropped != 1000 || st.Written != 1 {
		t.Fatalf("with a stalled writer: %+v, want 1000 dropped, 1 in flight", st)
	}
	close(f.release)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Written != 5 || f.lines != 5 {
		t.Errorf("after release: %+v, %d lines written, want 5", st, f.lines)
	}
}

func TestPredictionLogConcurrentLoggers(t *testing.T) {
	dir := t.TempDir()
	l, err := NewPredictionLog(dir, LogOptions{BufferSize: 10000})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				l.Log(rec(g*1000 + i))
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	tab, err := ReadPredictionLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := tab.Rows(); n != 1600 {
		t.Errorf("%d rows, want 1600", n)
	}
}

func TestReadPredictionLogErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadPredictionLog(dir); err == nil || !strings.Contains(err.Error(), "no predictions.jsonl") {
		t.Errorf("empty dir: %v", err)
	}
	if _, err := ReadPredictionLog(filepath.Join(dir, "nope")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing dir: %v", err)
	}
	good := `{"features":{"a":1,"b":"x"}}` + "\n"
	// A torn last line is skipped; a feature first seen later is padded.
	write(t, dir, good+`{"features":{"a":2,"b":"y","c":3}}`+"\n"+`{"features":{"a":`)
	tab, err := ReadPredictionLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c := tab.Numeric["c"]; len(c) != 2 || !math.IsNaN(c[0]) || c[1] != 3 {
		t.Errorf("late column c: %v", c)
	}
	write(t, dir, good+"not json\n"+good)
	if _, err := ReadPredictionLog(dir); err == nil || !strings.Contains(err.Error(), "predictions.jsonl:2") {
		t.Errorf("bad line: %v", err)
	}
	write(t, dir, good+`{"features":{"a":"text"}}`+"\n")
	if _, err := ReadPredictionLog(dir); err == nil || !strings.Contains(err.Error(), `predictions.jsonl:2: feature "a"`) {
		t.Errorf("type change: %v", err)
	}
}

func write(t *testing.T, dir, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, activeLogName), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPredictionLogNonFiniteValues(t *testing.T) {
	dir := t.TempDir()
	l, err := NewPredictionLog(dir, LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := rec(1)
	r.Prediction = math.NaN()
	r.Features["median_income"] = math.Inf(1)
	l.Log(r)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.Written != 1 {
		t.Fatalf("stats %+v", st)
	}
	if r.Features["median_income"] != math.Inf(1) {
		t.Error("the caller's feature map was modified")
	}
	data, _ := os.ReadFile(filepath.Join(dir, activeLogName))
	if !strings.Contains(string(data), `"median_income":null`) || !strings.Contains(string(data), `"prediction":null`) {
		t.Errorf("non-finite values not written as null: %s", data)
	}
}
