package monitor

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Record is one served prediction as written to the prediction log, one
// JSON object per line.
type Record struct {
	TS           time.Time      `json:"ts"`
	RequestID    string         `json:"request_id"`
	ModelVersion string         `json:"model_version"`
	LatencyMS    float64        `json:"latency_ms"`
	Features     map[string]any `json:"features"`
	Prediction   float64        `json:"prediction"`
}

// LogOptions configures a PredictionLog. Zero values take the defaults.
type LogOptions struct {
	// SampleRate is the fraction of records kept, in (0, 1] (default 1).
	SampleRate float64
	// MaxBytes rotates the active file before a record would take it past
	// this size (default 10 MiB).
	MaxBytes int64
	// MaxFiles is how many files are kept, the active one included
	// (default 5); the oldest rotated file is deleted beyond it.
	MaxFiles int
	// Seed makes the sampling decisions reproducible.
	Seed uint64
	// BufferSize is the number of records queued for the writer; when the
	// queue is full Log drops the record (default 1024).
	BufferSize int

	// open replaces opening the active file, so tests can stall the writer.
	open func(path string) (io.WriteCloser, int64, error)
}

func (o LogOptions) withDefaults() LogOptions {
	if o.SampleRate <= 0 || o.SampleRate > 1 {
		o.SampleRate = 1
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 10 << 20
	}
	if o.MaxFiles <= 0 {
		o.MaxFiles = 5
	}
	if o.BufferSize <= 0 {
		o.BufferSize = 1024
	}
	if o.open == nil {
		o.open = openAppend
	}
	return o
}

// Log file names: the active file and its rotated predecessors, numbered
// from 1 (newest) upwards.
const activeLogName = "predictions.jsonl"

func rotatedLogName(n int) string { return fmt.Sprintf("predictions-%d.jsonl", n) }

// LogStats counts what happened to the records handed to Log.
type LogStats struct {
	Written    uint64 // appended to the log
	Dropped    uint64 // queue full, log closed, or write failed
	SampledOut uint64 // skipped by sampling
}

// PredictionLog appends sampled prediction records to JSONL files in a
// directory from a background goroutine, so that serving never waits on the
// disk. Create it with NewPredictionLog and Close it to flush.
type PredictionLog struct {
	dir   string
	opts  LogOptions
	queue chan Record
	done  chan struct{}

	// mu guards closed against Log sending on a closed queue; Log only
	// read-locks it, Close holds it just long enough to close the queue.
	mu     sync.RWMutex
	closed bool

	calls                        atomic.Uint64
	written, dropped, sampledOut atomic.Uint64
	err                          error // first write error; read after done
}

// NewPredictionLog creates dir if needed and starts the writer.
func NewPredictionLog(dir string, opts LogOptions) (*PredictionLog, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("prediction log: %w", err)
	}
	opts = opts.withDefaults()
	l := &PredictionLog{dir: dir, opts: opts, queue: make(chan Record, opts.BufferSize), done: make(chan struct{})}
	w, size, err := opts.open(filepath.Join(dir, activeLogName))
	if err != nil {
		return nil, fmt.Errorf("prediction log: %w", err)
	}
	go l.run(w, size)
	return l, nil
}

// Log queues rec for writing and returns at once: a record not selected by
// sampling is skipped, and one that finds the queue full (or the log
// closed) is dropped and counted. It never waits on the writer or the disk;
// the only lock it takes is a read lock that Close holds for the instant
// it takes to close the queue. rec.Features must not be modified after the
// call (the writer encodes it later).
func (l *PredictionLog) Log(rec Record) {
	if !l.sampled() {
		l.sampledOut.Add(1)
		return
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		l.dropped.Add(1)
		return
	}
	select {
	case l.queue <- rec:
	default:
		l.dropped.Add(1)
	}
}

// sampled decides from the seed and a call counter, without locks: the
// n-th call is kept when a SplitMix64 hash of (seed, n) falls below the rate.
func (l *PredictionLog) sampled() bool {
	if l.opts.SampleRate >= 1 {
		return true
	}
	n := l.calls.Add(1)
	u := float64(splitmix64(l.opts.Seed^(n*0x9e3779b97f4a7c15))>>11) / (1 << 53)
	return u < l.opts.SampleRate
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Stats returns the counters so far.
func (l *PredictionLog) Stats() LogStats {
	return LogStats{Written: l.written.Load(), Dropped: l.dropped.Load(), SampledOut: l.sampledOut.Load()}
}

// Close stops accepting records, waits until the queued ones are written
// and the file is closed, and returns the first write error, if any.
// Calling it again returns the same result.
func (l *PredictionLog) Close() error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.queue)
	}
	l.mu.Unlock()
	<-l.done
	return l.err
}

// run is the writer goroutine: it owns the active file.
func (l *PredictionLog) run(w io.WriteCloser, size int64) {
	defer close(l.done)
	bw := bufio.NewWriterSize(w, 64<<10)
	fail := func(err error) {
		if l.err == nil {
			l.err = err
		}
	}
	for rec := range l.queue {
		line, err := json.Marshal(sanitize(rec))
		if err != nil {
			fail(fmt.Errorf("prediction log: record %q: %w", rec.RequestID, err))
			l.dropped.Add(1)
			continue
		}
		line = append(line, '\n')
		if size > 0 && size+int64(len(line)) > l.opts.MaxBytes {
			if w, size, err = l.rotate(bw, w); err != nil {
				fail(err)
				l.drain()
				return
			}
			bw.Reset(w)
		}
		if _, err := bw.Write(line); err != nil {
			fail(fmt.Errorf("prediction log: %w", err))
			l.dropped.Add(1)
			continue
		}
		size += int64(len(line))
		l.written.Add(1)
		// Flush whenever the queue runs dry: batches writes under load,
		// and keeps the file current when traffic is light.
		if len(l.queue) == 0 {
			if err := bw.Flush(); err != nil {
				fail(fmt.Errorf("prediction log: %w", err))
			}
		}
	}
	if err := bw.Flush(); err != nil {
		fail(fmt.Errorf("prediction log: %w", err))
	}
	if err := w.Close(); err != nil {
		fail(fmt.Errorf("prediction log: %w", err))
	}
}

// drain counts the rest of the queue as dropped after a fatal error.
func (l *PredictionLog) drain() {
	for range l.queue {
		l.dropped.Add(1)
	}
}

// rotate closes the active file, shifts predictions-k to predictions-(k+1)
// (deleting the one that would exceed MaxFiles), renames the active file to
// predictions-1 and opens a fresh active file.
func (l *PredictionLog) rotate(bw *bufio.Writer, w io.WriteCloser) (io.WriteCloser, int64, error) {
	if err := bw.Flush(); err != nil {
		return nil, 0, fmt.Errorf("prediction log: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, 0, fmt.Errorf("prediction log: %w", err)
	}
	active := filepath.Join(l.dir, activeLogName)
	keep := l.opts.MaxFiles - 1
	if err := removeIfExists(filepath.Join(l.dir, rotatedLogName(max(keep, 1)))); err != nil {
		return nil, 0, err
	}
	for k := keep - 1; k >= 1; k-- {
		if err := renameIfExists(filepath.Join(l.dir, rotatedLogName(k)), filepath.Join(l.dir, rotatedLogName(k+1))); err != nil {
			return nil, 0, err
		}
	}
	var err error
	if keep >= 1 {
		err = renameIfExists(active, filepath.Join(l.dir, rotatedLogName(1)))
	} else {
		err = removeIfExists(active)
	}
	if err != nil {
		return nil, 0, err
	}
	nw, size, err := l.opts.open(active)
	if err != nil {
		return nil, 0, fmt.Errorf("prediction log: %w", err)
	}
	return nw, size, nil
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("prediction log: %w", err)
	}
	return nil
}

func renameIfExists(from, to string) error {
	if err := os.Rename(from, to); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("prediction log: %w", err)
	}
	return nil
}

// openAppend opens path for appending and returns its current size.
func openAppend(path string) (io.WriteCloser, int64, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

// sanitize replaces non-finite numbers, which JSON cannot carry, by null so
// one bad request cannot stop the log.
func sanitize(rec Record) any {
	type plain Record
	out := struct {
		plain
		LatencyMS  *float64 `json:"latency_ms"`
		Prediction *float64 `json:"prediction"`
	}{plain: plain(rec), LatencyMS: finitePtr(rec.LatencyMS), Prediction: finitePtr(rec.Prediction)}
	if hasNonFinite(rec.Features) {
		out.Features = make(map[string]any, len(rec.Features))
		for k, v := range rec.Features {
			if f, ok := v.(float64); ok && finitePtr(f) == nil {
				v = nil
			}
			out.Features[k] = v
		}
	}
	return out
}

func finitePtr(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func hasNonFinite(m map[string]any) bool {
	for _, v := range m {
		if f, ok := v.(float64); ok && finitePtr(f) == nil {
			return true
		}
	}
	return false
}
