package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/housing-mlops/mlops/dataset"
	mlopshttp "github.com/housing-mlops/mlops/http"
	"github.com/housing-mlops/mlops/ml/ensemble"
	"github.com/housing-mlops/mlops/ml/frame"
	"github.com/housing-mlops/mlops/ml/impute"
	"github.com/housing-mlops/mlops/ml/model"
	"github.com/housing-mlops/mlops/ml/preprocess"
)

// serveBenchPhase is one load phase: every request carries Batch instances.
type serveBenchPhase struct {
	Batch         int     `json:"batch"`
	Requests      int     `json:"requests"`
	Errors        int     `json:"errors"`
	Seconds       float64 `json:"seconds"`
	ReqPerSec     float64 `json:"req_per_sec"`
	InstPerSec    float64 `json:"instances_per_sec"`
	P50Ms         float64 `json:"p50_ms"`
	P99Ms         float64 `json:"p99_ms"`
	MaxMs         float64 `json:"max_ms"`
	RSSMiBAfter   float64 `json:"rss_mib_after"`
	FirstErrorMsg string  `json:"first_error,omitempty"`
}

// serveBenchResult is what `mlops bench serve --json` prints.
type serveBenchResult struct {
	Model        string  `json:"model"`
	ModelKind    string  `json:"model_kind"`
	ModelSHA256  string  `json:"model_sha256"`
	TrainSeconds float64 `json:"train_seconds,omitempty"`
	// ReadySeconds is from creating the server (load cascade: read the
	// file, verify, decode) to the first 200 from /health/ready.
	ReadySeconds float64 `json:"ready_seconds"`
	Connections  int     `json:"connections"`
	GOMAXPROCS   int     `json:"gomaxprocs"`
	// RSS is the whole process: server, model and load generator.
	RSSMiBIdle float64           `json:"rss_mib_idle"`
	RSSMiBPeak float64           `json:"rss_mib_peak"`
	Phases     []serveBenchPhase `json:"phases"`
}

type serveBenchFlags struct {
	modelFile, data, target, addr string
	saveModel                     string
	duration                      time.Duration
	conns, trees                  int
	batches                       []int
	asJSON                        bool
}

// benchServeCommand measures the prediction server in-process: it starts
// it on a loopback port with a model (--model-file, or a 128-tree forest
// trained here with the original's tuned parameters), then drives it with
// --connections concurrent clients for --duration per batch size.
func benchServeCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseServeBenchFlags(args, stderr)
	if err != nil {
		return err
	}
	fr, err := benchServeData(f.data)
	if err != nil {
		return err
	}
	res := serveBenchResult{Connections: f.conns, GOMAXPROCS: runtime.GOMAXPROCS(0)}
	path := f.modelFile
	if path == "" {
		fmt.Fprintf(stderr, "training a %d-tree random forest on %d rows...\n", f.trees, fr.NumRows())
		t0 := time.Now()
		a, err := trainBenchForest(fr, f.target, f.trees)
		if err != nil {
			return err
		}
		res.TrainSeconds = time.Since(t0).Seconds()
		dir, err := os.MkdirTemp("", "mlops-bench-serve-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "model.json")
		if err := a.SaveFile(path); err != nil {
			return err
		}
		res.Model = fmt.Sprintf("random_forest (%d trees, trained here)", f.trees)
		if f.saveModel != "" {
			if err := a.SaveFile(f.saveModel); err != nil {
				return err
			}
		}
	} else {
		res.Model = f.modelFile
	}
	return runServeBench(ctx, f, fr, path, &res, stdout, stderr)
}

func parseServeBenchFlags(args []string, stderr io.Writer) (*serveBenchFlags, error) {
	f := &serveBenchFlags{}
	fs := newFlagSet("bench serve", stderr)
	fs.StringVar(&f.modelFile, "model-file", "", "model artifact to serve (default: train a 128-tree forest on --data)")
	fs.StringVar(&f.data, "data", "testdata/housing.csv", "CSV (or .tgz) whose rows make the request bodies and the training data; the embedded housing archive when the file is absent")
	fs.StringVar(&f.target, "target", "median_house_value", "target column of --data")
	fs.StringVar(&f.addr, "addr", "127.0.0.1:0", "loopback address the server listens on")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "load duration of each batch size")
	fs.IntVar(&f.conns, "connections", 16, "concurrent client connections")
	fs.StringVar(&f.saveModel, "save-model", "", "also save the trained forest here (to serve it with mlops serve --model-file)")
	fs.IntVar(&f.trees, "trees", 128, "trees of the forest trained when no --model-file is given")
	batches := fs.String("batches", "1,100", "comma-separated instances per request, one load phase each")
	fs.BoolVar(&f.asJSON, "json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}
	if f.duration <= 0 || f.duration > 10*time.Minute {
		return nil, usagef("--duration %v: want a duration in (0, 10m]", f.duration)
	}
	if f.conns < 1 || f.conns > 1024 || f.trees < 1 {
		return nil, usagef("--connections must be in 1..1024 and --trees positive")
	}
	host, _, err := net.SplitHostPort(f.addr)
	if err != nil {
		return nil, usagef("--addr %q: %v", f.addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, usagef("--addr %q: only loopback addresses (127.0.0.0/8, ::1, localhost) are allowed", f.addr)
	}
	for _, b := range strings.Split(*batches, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(b))
		if err != nil || n < 1 {
			return nil, usagef("--batches: %q is not a positive number", b)
		}
		f.batches = append(f.batches, n)
	}
	return f, nil
}

func benchServeData(path string) (*frame.Frame, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return frame.ReadArchive(bytes.NewReader(dataset.HousingTGZ), "housing.tgz (embedded)", frame.CSVOptions{})
	}
	if strings.HasSuffix(path, ".tgz") || strings.HasSuffix(path, ".tar.gz") {
		return frame.ReadCSVArchive(path, frame.CSVOptions{})
	}
	return frame.ReadCSVFile(path, frame.CSVOptions{})
}

// trainBenchForest fits the pipeline's preprocessing (median imputer and
// scaler on numbers, one-hot categories) and the original system's tuned
// forest (max_depth 23, min_samples_split 9, min_samples_leaf 9, log2
// features) on every row of fr.
func trainBenchForest(fr *frame.Frame, target string, trees int) (*model.Artifact, error) {
	var num, cat []string
	for _, name := range fr.Names() {
		if name == target {
			continue
		}
		if k, _ := fr.Kind(name); k == frame.Categorical {
			cat = append(cat, name)
		} else {
			num = append(num, name)
		}
	}
	ct, err := preprocess.NewColumnTransformer(
		preprocess.Numeric("num", num, impute.NewSimple("median"), preprocess.NewStandardScaler()),
		preprocess.Categorical("cat", cat, preprocess.NewOneHotEncoder(true)),
	)
	if err != nil {
		return nil, err
	}
	X, err := ct.FitTransform(fr)
	if err != nil {
		return nil, err
	}
	y, err := fr.Numeric(target)
	if err != nil {
		return nil, err
	}
	p := ensemble.DefaultForestParams()
	p.NEstimators, p.MaxDepth, p.MinSamplesSplit, p.MinSamplesLeaf, p.MaxFeatures, p.Seed = trees, 23, 9, 9, "log2", 42
	rf := ensemble.NewRandomForest(p)
	if err := rf.Fit(X, y); err != nil {
		return nil, err
	}
	schema, err := model.SchemaFromFrame(fr, nil, target)
	if err != nil {
		return nil, err
	}
	return model.New(schema, ct, rf, model.Meta{Params: map[string]any{"n_estimators": trees, "max_depth": 23,
		"min_samples_split": 9, "min_samples_leaf": 9, "max_features": "log2", "seed": 42}})
}

// runServeBench starts the server on path, waits for readiness and runs
// one load phase per batch size.
func runServeBench(ctx context.Context, f *serveBenchFlags, fr *frame.Frame, path string, res *serveBenchResult, stdout, stderr io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.addr, err)
	}
	t0 := time.Now()
	srv := mlopshttp.New(mlopshttp.Config{PollInterval: -1, MaxBatch: slices.Max(f.batches), ShutdownTimeout: 5 * time.Second},
		mlopshttp.Deps{Loader: &mlopshttp.Cascade{Sources: []mlopshttp.Source{&mlopshttp.FileSource{Path: path}},
			Decode: mlopshttp.ArtifactDecoder("housing", 0.9)}})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	go func() { _ = srv.Load(ctx) }()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: f.conns, MaxConnsPerHost: f.conns, DisableCompression: true},
		Timeout: 30 * time.Second}
	if err := waitReady(ctx, client, base+"/health/ready", 60*time.Second); err != nil {
		return err
	}
	res.ReadySeconds = time.Since(t0).Seconds()
	if info, ok := srv.ModelInfo(); ok {
		res.ModelSHA256 = info.SHA256
	}
	if a, err := model.LoadFile(path); err == nil {
		res.ModelKind = a.ModelKind()
	}
	res.RSSMiBIdle, _ = procStatusMiB("VmRSS")
	for _, batch := range f.batches {
		bodies, err := requestBodies(fr, f.target, batch, 64)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "load: %d instance(s) per request, %d connections, %v...\n", batch, f.conns, f.duration)
		ph := loadPhase(ctx, client, base+"/api/v1/predict", bodies, f.conns, f.duration)
		ph.Batch = batch
		ph.InstPerSec = ph.ReqPerSec * float64(batch)
		ph.RSSMiBAfter, _ = procStatusMiB("VmRSS")
		res.Phases = append(res.Phases, ph)
	}
	res.RSSMiBPeak, _ = procStatusMiB("VmHWM")
	cancel()
	if err := <-served; err != nil {
		return err
	}
	if f.asJSON {
		return emitJSON(stdout, res)
	}
	printServeBench(stdout, *res)
	return nil
}

func waitReady(ctx context.Context, c *http.Client, url string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := c.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server not ready after %v", limit)
		case <-time.After(time.Millisecond):
		}
	}
}

// requestBodies builds n predict bodies of batch instances each from
// consecutive rows of fr (a missing value is sent as null).
func requestBodies(fr *frame.Frame, target string, batch, n int) ([][]byte, error) {
	names := slices.DeleteFunc(fr.Names(), func(s string) bool { return s == target })
	cols := make([]any, len(names))
	for i, name := range names {
		if k, _ := fr.Kind(name); k == frame.Categorical {
			v, err := fr.Categorical(name)
			if err != nil {
				return nil, err
			}
			cols[i] = v
		} else {
			v, err := fr.Numeric(name)
			if err != nil {
				return nil, err
			}
			cols[i] = v
		}
	}
	rows := fr.NumRows()
	out := make([][]byte, n)
	for b := range out {
		insts := make([]map[string]any, batch)
		for k := range insts {
			r := (b*batch + k) % rows
			m := make(map[string]any, len(names))
			for i, name := range names {
				switch c := cols[i].(type) {
				case []float64:
					if math.IsNaN(c[r]) {
						m[name] = nil
					} else {
						m[name] = c[r]
					}
				case []string:
					m[name] = c[r]
				}
			}
			insts[k] = m
		}
		body, err := json.Marshal(map[string]any{"instances": insts})
		if err != nil {
			return nil, err
		}
		out[b] = body
	}
	return out, nil
}

// loadPhase runs conns closed-loop clients against url for d, cycling
// through bodies, and summarises their latencies.
func loadPhase(ctx context.Context, c *http.Client, url string, bodies [][]byte, conns int, d time.Duration) serveBenchPhase {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	lat := make([][]time.Duration, conns)
	errs := make([]int, conns)
	firstErr := make([]string, conns)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; ctx.Err() == nil; i += conns {
				t := time.Now()
				err := postOnce(ctx, c, url, bodies[i%len(bodies)])
				if ctx.Err() != nil {
					return // cut by the deadline: not a server error
				}
				lat[w] = append(lat[w], time.Since(t))
				if err != nil {
					errs[w]++
					if firstErr[w] == "" {
						firstErr[w] = err.Error()
					}
				}
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	var all []time.Duration
	ph := serveBenchPhase{Seconds: elapsed}
	for w := range lat {
		all = append(all, lat[w]...)
		ph.Errors += errs[w]
		if ph.FirstErrorMsg == "" {
			ph.FirstErrorMsg = firstErr[w]
		}
	}
	slices.Sort(all)
	ph.Requests = len(all)
	ph.ReqPerSec = float64(len(all)) / elapsed
	if len(all) > 0 {
		ph.P50Ms = ms(all[(len(all)-1)*50/100])
		ph.P99Ms = ms(all[(len(all)-1)*99/100])
		ph.MaxMs = ms(all[len(all)-1])
	}
	return ph
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func postOnce(ctx context.Context, c *http.Client, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	return err
}

// procStatusMiB reads a kB field (VmRSS, VmHWM) of /proc/self/status in
// MiB; 0 where /proc is not available.
func procStatusMiB(field string) (float64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/self/status %s: %w", field, err)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("/proc/self/status has no %s", field)
}

func printServeBench(w io.Writer, r serveBenchResult) {
	fmt.Fprintf(w, "model: %s (%s, sha256 %s)\n", r.Model, r.ModelKind, shortID(r.ModelSHA256))
	if r.TrainSeconds > 0 {
		fmt.Fprintf(w, "train: %.2f s\n", r.TrainSeconds)
	}
	fmt.Fprintf(w, "time to ready: %.1f ms (load cascade + decode + listen → /health/ready 200)\n", 1000*r.ReadySeconds)
	fmt.Fprintf(w, "connections: %d, GOMAXPROCS %d\n", r.Connections, r.GOMAXPROCS)
	tw := newTable(w)
	row(tw, "BATCH", "REQUESTS", "REQ/S", "INSTANCES/S", "P50 MS", "P99 MS", "MAX MS", "ERRORS", "RSS MIB")
	for _, p := range r.Phases {
		row(tw, strconv.Itoa(p.Batch), strconv.Itoa(p.Requests), fmt.Sprintf("%.0f", p.ReqPerSec), fmt.Sprintf("%.0f", p.InstPerSec),
			fmt.Sprintf("%.2f", p.P50Ms), fmt.Sprintf("%.2f", p.P99Ms), fmt.Sprintf("%.2f", p.MaxMs), strconv.Itoa(p.Errors),
			fmt.Sprintf("%.0f", p.RSSMiBAfter))
	}
	_ = tw.Flush()
	for _, p := range r.Phases {
		if p.FirstErrorMsg != "" {
			fmt.Fprintf(w, "batch %d: first error: %s\n", p.Batch, p.FirstErrorMsg)
		}
	}
	fmt.Fprintf(w, "RSS idle %.0f MiB, peak %.0f MiB (whole process: server, model and load generator)\n", r.RSSMiBIdle, r.RSSMiBPeak)
}
