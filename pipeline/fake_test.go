package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/housing-mlops/mlops"
)

// fakeTracker implements the part of mlops.Tracker the runner uses; calling
// anything else panics through the nil embedded interface, which a test
// would report.
type fakeTracker struct {
	mlops.Tracker
	mu   sync.Mutex
	exps map[string]*mlops.Experiment
	runs map[string]*mlops.Run
	seq  int
}

func newFakeTracker() *fakeTracker {
	return &fakeTracker{exps: map[string]*mlops.Experiment{}, runs: map[string]*mlops.Run{}}
}

func (f *fakeTracker) GetExperimentByName(_ context.Context, name string) (*mlops.Experiment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.exps[name]; ok {
		return e, nil
	}
	return nil, mlops.Errorf(mlops.ENOTFOUND, "no experiment %s", name)
}

func (f *fakeTracker) CreateExperiment(_ context.Context, name, _ string, _ map[string]string) (*mlops.Experiment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := &mlops.Experiment{ID: fmt.Sprint(len(f.exps) + 1), Name: name}
	f.exps[name] = e
	return e, nil
}

func (f *fakeTracker) CreateRun(_ context.Context, c mlops.RunCreate) (*mlops.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	r := &mlops.Run{ID: fmt.Sprintf("run%03d", f.seq), ExperimentID: c.ExperimentID, Name: c.Name, ParentID: c.ParentID,
		Status: mlops.RunRunning, StartTime: time.Unix(int64(f.seq), 0), Params: map[string]string{}, Tags: map[string]string{}}
	for k, v := range c.Tags {
		r.Tags[k] = v
	}
	f.runs[r.ID] = r
	return r, nil
}

func (f *fakeTracker) GetRun(_ context.Context, id string) (*mlops.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.runs[id]
	if !ok {
		return nil, mlops.Errorf(mlops.ENOTFOUND, "no run %s", id)
	}
	return r, nil
}

func (f *fakeTracker) UpdateRun(_ context.Context, id string, u mlops.RunUpdate) (*mlops.Run, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.runs[id]
	if u.Status != "" {
		r.Status = u.Status
	}
	return r, nil
}

func (f *fakeTracker) SearchRuns(_ context.Context, flt mlops.RunFilter) ([]*mlops.Run, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*mlops.Run
	for _, r := range f.runs {
		if flt.ParentID != "" && r.ParentID != flt.ParentID {
			continue
		}
		if tagsMatch(r, flt.Tags) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, "", nil
}

func (f *fakeTracker) LogBatch(_ context.Context, id string, ms []mlops.Metric, ps []mlops.Param, ts []mlops.Tag) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.runs[id]
	if !ok {
		return mlops.Errorf(mlops.ENOTFOUND, "no run %s", id)
	}
	for _, p := range ps {
		if old, ok := r.Params[p.Key]; ok && old != p.Value {
			return mlops.Errorf(mlops.EINVALID, "param %s changed", p.Key)
		}
		r.Params[p.Key] = p.Value
	}
	for _, t := range ts {
		r.Tags[t.Key] = t.Value
	}
	for _, m := range ms {
		replaced := false
		for i := range r.Metrics {
			if r.Metrics[i].Key == m.Key {
				r.Metrics[i], replaced = m, true
			}
		}
		if !replaced {
			r.Metrics = append(r.Metrics, m)
		}
	}
	return nil
}

// childrenOf returns the step runs of a pipeline run by name.
func (f *fakeTracker) childrenOf(parent string) map[string]*mlops.Run {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]*mlops.Run{}
	for _, r := range f.runs {
		if r.ParentID == parent {
			out[r.Name] = r
		}
	}
	return out
}

// fakeArtifacts is an in-memory ArtifactStore.
type fakeArtifacts struct {
	mu    sync.Mutex
	files map[string][]byte
}

func newFakeArtifacts() *fakeArtifacts { return &fakeArtifacts{files: map[string][]byte{}} }

func (a *fakeArtifacts) Put(_ context.Context, key string, r io.Reader) (mlops.ArtifactInfo, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return mlops.ArtifactInfo{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.files[key] = b
	sum := sha256.Sum256(b)
	return mlops.ArtifactInfo{URI: "mem://" + key, Path: key, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}, nil
}

func (a *fakeArtifacts) Get(_ context.Context, keyOrURI, want string) ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	b, ok := a.files[strings.TrimPrefix(keyOrURI, "mem://")]
	if !ok {
		return nil, mlops.Errorf(mlops.ENOTFOUND, "no artifact %s", keyOrURI)
	}
	sum := sha256.Sum256(b)
	if want != "" && hex.EncodeToString(sum[:]) != want {
		return nil, fmt.Errorf("artifact %s: checksum mismatch", keyOrURI)
	}
	return bytes.Clone(b), nil
}

func (a *fakeArtifacts) List(context.Context, string) ([]mlops.ArtifactInfo, error) { return nil, nil }
func (a *fakeArtifacts) Close() error                                               { return nil }
