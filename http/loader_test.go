package http

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/housing-mlops/mlops"
)

// fakeSource returns data (or err) and counts its calls.
type fakeSource struct {
	name    string
	data    []byte
	sha     string
	version string
	err     error
	// failFirst makes the first n calls fail with errDown.
	failFirst int

	mu    sync.Mutex
	calls int
}

func (s *fakeSource) Name() string { return s.name }

func (s *fakeSource) Fetch(context.Context) (*Fetched, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.calls <= s.failFirst {
		return nil, errDown
	}
	if s.err != nil {
		return nil, s.err
	}
	return &Fetched{Data: s.data, SHA256: s.sha, Version: s.version, URI: s.name + "://x"}, nil
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// fakeDecoder makes a fake model whose version is the artifact text, and
// fails on the text "garbage".
func fakeDecoder(t testing.TB) Decoder {
	return func(f *Fetched) (Model, error) {
		if string(f.Data) == "garbage" {
			return nil, errors.New("not an artifact")
		}
		m := newFake(t, string(f.Data), 0)
		m.info.SHA256 = sum(f.Data)
		return m, nil
	}
}

// noWait is a Backoff that never sleeps, so retry tests are instant.
func noWait(attempts int) Backoff {
	return Backoff{Attempts: attempts, Sleep: func(context.Context, time.Duration) error { return nil }}
}

func TestCascadeFallsBack(t *testing.T) {
	good := []byte("v-blob")
	cases := []struct {
		name       string
		reg        *fakeSource
		wantSource string
		wantCalls  int // registry attempts
	}{
		{"registry unreachable", &fakeSource{name: "registry", err: errDown}, "blob", 3},
		{"registry checksum mismatch", &fakeSource{name: "registry", data: []byte("v-reg"), sha: sum([]byte("other"))}, "blob", 1},
		{"registry artifact undecodable", &fakeSource{name: "registry", data: []byte("garbage")}, "blob", 1},
		{"registry not found", &fakeSource{name: "registry", err: Permanent(mlops.Errorf(mlops.ENOTFOUND, "no such model"))}, "blob", 1},
		{"registry ok after a retry", &fakeSource{name: "registry", data: []byte("v-reg"), sha: sum([]byte("v-reg")), failFirst: 1}, "registry", 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			blob := &fakeSource{name: "blob", data: good, sha: sum(good)}
			cas := &Cascade{Sources: []Source{c.reg, blob, &fakeSource{name: "file", err: errDown}}, Decode: fakeDecoder(t), Retry: noWait(3)}
			res, err := cas.Load(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if res.Source != c.wantSource {
				t.Fatalf("source %q, want %q", res.Source, c.wantSource)
			}
			if c.reg.calls != c.wantCalls {
				t.Fatalf("registry called %d times, want %d", c.reg.calls, c.wantCalls)
			}
			if res.Info.SHA256 == "" {
				t.Fatal("no sha256 in result")
			}
		})
	}
}

func TestCascadeAllFail(t *testing.T) {
	cas := &Cascade{Sources: []Source{
		&fakeSource{name: "registry", err: errDown},
		&fakeSource{name: "blob", data: []byte("x"), sha: "00"},
		&fakeSource{name: "file", err: Permanent(os.ErrNotExist)},
	}, Decode: fakeDecoder(t), Retry: noWait(2)}
	_, err := cas.Load(t.Context())
	if err == nil {
		t.Fatal("no error")
	}
	for _, frag := range []string{"registry: connection refused", "blob: checksum mismatch", "file:"} {
		if !strings.Contains(err.Error(), frag) {
			t.Errorf("error %q lacks %q", err, frag)
		}
	}
	if _, err := (&Cascade{}).Load(t.Context()); err == nil {
		t.Error("empty cascade loaded something")
	}
}

func TestServerStartsNotReadyThenPollRecovers(t *testing.T) {
	reg := &fakeSource{name: "registry", data: []byte("v1"), failFirst: 2}
	s := New(Config{}, Deps{Loader: &Cascade{Sources: []Source{reg}, Decode: fakeDecoder(t), Retry: noWait(1)}})
	if err := s.Load(t.Context()); err == nil {
		t.Fatal("first load succeeded")
	}
	if rec := do(s.Handler(), "GET", "/health/ready", "", nil); rec.Code != 503 {
		t.Fatalf("ready = %d with no model", rec.Code)
	}
	if s.PollOnce(t.Context()) {
		t.Fatal("second attempt should still fail")
	}
	if !s.PollOnce(t.Context()) {
		t.Fatal("third attempt should load")
	}
	if info, ok := s.ModelInfo(); !ok || info.Version != "v1" {
		t.Fatalf("loaded %+v %v", info, ok)
	}
	if rec := do(s.Handler(), "GET", "/health/ready", "", nil); rec.Code != 200 {
		t.Fatalf("ready = %d after load", rec.Code)
	}
}

func TestParseModelURI(t *testing.T) {
	good := map[string]ModelURI{
		"models:/housing/Production": {Name: "housing", Stage: mlops.StageProduction},
		"models:/housing/staging":    {Name: "housing", Stage: mlops.StageStaging},
		"models:/housing@champion":   {Name: "housing", Alias: "champion"},
		"models:/housing/3":          {Name: "housing", Version: 3},
	}
	for in, want := range good {
		got, err := ParseModelURI(in)
		if err != nil || got != want {
			t.Errorf("ParseModelURI(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if again, _ := ParseModelURI(got.String()); again != got {
			t.Errorf("%q does not round-trip through String (%q)", in, got.String())
		}
	}
	for _, bad := range []string{"", "housing", "models:/", "models:/housing", "models:/housing/0", "models:/housing/Prod",
		"models:/@x", "models:/h@", "models:/a/b/c", "runs:/abc/model"} {
		if _, err := ParseModelURI(bad); err == nil {
			t.Errorf("ParseModelURI(%q) accepted", bad)
		}
	}
}

// fakeRegistry is an in-memory VersionResolver.
type fakeRegistry struct {
	mu       sync.Mutex
	versions map[int]*mlops.ModelVersion
	aliases  map[string]int
	down     bool
	calls    int
}

func (r *fakeRegistry) get(v int) (*mlops.ModelVersion, error) {
	r.calls++
	if r.down {
		return nil, errDown
	}
	mv, ok := r.versions[v]
	if !ok {
		return nil, mlops.Errorf(mlops.ENOTFOUND, "version %d not found", v)
	}
	c := *mv
	return &c, nil
}

func (r *fakeRegistry) GetModelVersion(_ context.Context, _ string, v int) (*mlops.ModelVersion, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.get(v)
}

func (r *fakeRegistry) GetModelVersionByAlias(_ context.Context, _, alias string) (*mlops.ModelVersion, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.aliases[alias]
	if !ok {
		r.calls++
		return nil, mlops.Errorf(mlops.ENOTFOUND, "alias %q not found", alias)
	}
	return r.get(v)
}

func (r *fakeRegistry) LatestVersions(_ context.Context, _ string, stages ...mlops.Stage) ([]*mlops.ModelVersion, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.down {
		return nil, errDown
	}
	var out []*mlops.ModelVersion
	for _, mv := range r.versions {
		for _, st := range stages {
			if mv.Stage == st {
				c := *mv
				out = append(out, &c)
			}
		}
	}
	return out, nil
}

// writeArtifacts writes one artifact file per version and registers it.
func writeArtifacts(t *testing.T, reg *fakeRegistry, versions map[int]string) {
	dir := t.TempDir()
	for v, content := range versions {
		p := filepath.Join(dir, content)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		reg.versions[v] = &mlops.ModelVersion{Name: "housing", Version: v, Source: "file://" + p, SHA256: sum([]byte(content)), Stage: mlops.StageNone}
	}
}

func TestRegistrySourceResolves(t *testing.T) {
	reg := &fakeRegistry{versions: map[int]*mlops.ModelVersion{}, aliases: map[string]int{"champion": 2}}
	writeArtifacts(t, reg, map[int]string{1: "one", 2: "two", 3: "three"})
	reg.versions[3].Stage = mlops.StageProduction
	for uri, want := range map[string]string{"models:/housing/Production": "three", "models:/housing@champion": "two", "models:/housing/1": "one"} {
		u, err := ParseModelURI(uri)
		if err != nil {
			t.Fatal(err)
		}
		f, err := (&RegistrySource{URI: u, Registry: reg}).Fetch(t.Context())
		if err != nil {
			t.Fatalf("%s: %v", uri, err)
		}
		if string(f.Data) != want || f.SHA256 != sum([]byte(want)) || f.Name != "housing" {
			t.Errorf("%s fetched %q (%+v), want %q", uri, f.Data, f, want)
		}
	}
	u, _ := ParseModelURI("models:/housing/Staging")
	_, err := (&RegistrySource{URI: u, Registry: reg}).Fetch(t.Context())
	if !isPermanent(err) || mlops.ErrorCode(err) != mlops.ENOTFOUND {
		t.Fatalf("empty stage: err %v, want a permanent ENOTFOUND", err)
	}
}

func TestHotReloadOnStageChange(t *testing.T) {
	reg := &fakeRegistry{versions: map[int]*mlops.ModelVersion{}}
	writeArtifacts(t, reg, map[int]string{1: "one", 2: "two"})
	reg.versions[1].Stage = mlops.StageProduction
	u, _ := ParseModelURI("models:/housing/Production")
	src := &RegistrySource{URI: u, Registry: reg, Breaker: NewBreaker(3, time.Minute)}
	s := New(Config{}, Deps{Loader: &Cascade{Sources: []Source{src}, Decode: fakeDecoder(t), Retry: noWait(1)}, Watch: src})
	if err := s.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if info, _ := s.ModelInfo(); info.Version != "one" {
		t.Fatalf("loaded %q", info.Version)
	}
	if s.PollOnce(t.Context()) {
		t.Fatal("reloaded without a change")
	}
	reg.mu.Lock()
	reg.versions[1].Stage, reg.versions[2].Stage = mlops.StageArchived, mlops.StageProduction
	reg.mu.Unlock()
	if !s.PollOnce(t.Context()) {
		t.Fatal("stage change not picked up")
	}
	if info, _ := s.ModelInfo(); info.Version != "two" {
		t.Fatalf("after promotion serving %q", info.Version)
	}
	// Registry down: polls fail, the model keeps serving.
	reg.mu.Lock()
	reg.down = true
	reg.mu.Unlock()
	for range 5 {
		s.PollOnce(t.Context())
	}
	if info, _ := s.ModelInfo(); info.Version != "two" {
		t.Fatalf("registry outage changed the model to %q", info.Version)
	}
	if src.Breaker.State() != "open" {
		t.Fatalf("breaker %s after repeated failures", src.Breaker.State())
	}
	reg.mu.Lock()
	calls := reg.calls
	reg.mu.Unlock()
	s.PollOnce(t.Context())
	if reg.calls != calls {
		t.Fatal("open breaker still let a call through")
	}
}

func TestFileSourceSidecar(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "model.json")
	if err := os.WriteFile(p, []byte("v-file"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := (&FileSource{Path: p}).Fetch(t.Context())
	if err != nil || f.SHA256 != "" {
		t.Fatalf("no sidecar: %+v %v", f, err)
	}
	if err := os.WriteFile(p+".sha256", []byte(sum([]byte("tampered"))+"  model.json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cas := &Cascade{Sources: []Source{&FileSource{Path: p}}, Decode: fakeDecoder(t), Retry: noWait(1)}
	if _, err := cas.Load(t.Context()); err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("sidecar digest not enforced: %v", err)
	}
	_, err = (&FileSource{Path: filepath.Join(dir, "missing")}).Fetch(t.Context())
	if !isPermanent(err) {
		t.Fatalf("missing file: %v, want permanent", err)
	}
}

func TestBreaker(t *testing.T) {
	now := time.Unix(0, 0)
	b := &Breaker{Threshold: 2, Cooldown: time.Minute, Now: func() time.Time { return now }}
	fail := func(context.Context) error { return errDown }
	ok := func(context.Context) error { return nil }
	ctx := t.Context()
	_ = b.Do(ctx, fail)
	if b.State() != "closed" {
		t.Fatal("opened after one failure")
	}
	_ = b.Do(ctx, fail)
	if b.State() != "open" {
		t.Fatal("not open after threshold")
	}
	called := false
	if err := b.Do(ctx, func(context.Context) error { called = true; return nil }); !errors.Is(err, ErrBreakerOpen) || called {
		t.Fatalf("open breaker: err %v called %v", err, called)
	}
	now = now.Add(time.Minute)
	if b.State() != "half-open" {
		t.Fatal("not half-open after cooldown")
	}
	_ = b.Do(ctx, fail) // trial fails: open again at once
	if b.State() != "open" {
		t.Fatal("failed trial did not reopen")
	}
	now = now.Add(time.Minute)
	if err := b.Do(ctx, ok); err != nil || b.State() != "closed" {
		t.Fatalf("successful trial: %v, state %s", err, b.State())
	}
	// Permanent errors mean the dependency answered: they do not open it.
	for range 5 {
		_ = b.Do(ctx, func(context.Context) error { return Permanent(errors.New("not found")) })
	}
	if b.State() != "closed" {
		t.Fatal("permanent errors opened the breaker")
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Rand: func() float64 { return 0.999999 }}
	prev := time.Duration(0)
	for n := range 8 {
		d := b.Delay(n)
		if d > time.Second || d < prev {
			t.Fatalf("delay %d = %v (prev %v)", n, d, prev)
		}
		prev = d
	}
	if b.Delay(0) > 100*time.Millisecond || b.Delay(7) < 990*time.Millisecond {
		t.Fatalf("delays not bounded by initial·2ⁿ capped at max: %v %v", b.Delay(0), b.Delay(7))
	}
	b.Rand = func() float64 { return 0 }
	if b.Delay(5) != 0 {
		t.Fatal("full jitter must reach 0")
	}
	var slept []time.Duration
	b.Rand = func() float64 { return 0.5 }
	b.Sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
	b.Attempts = 4
	calls := 0
	err := b.Retry(t.Context(), func(context.Context) error { calls++; return errDown })
	if !errors.Is(err, errDown) || calls != 4 || len(slept) != 3 || slept[0] != 50*time.Millisecond || slept[2] != 200*time.Millisecond {
		t.Fatalf("retry: err %v calls %d slept %v", err, calls, slept)
	}
	calls = 0
	_ = b.Retry(t.Context(), func(context.Context) error { calls++; return Permanent(errDown) })
	if calls != 1 {
		t.Fatalf("permanent error retried %d times", calls)
	}
}

// missingStore answers every Get with ENOTFOUND and counts calls.
type missingStore struct{ calls int }

func (m *missingStore) Get(context.Context, string, string) ([]byte, error) {
	m.calls++
	return nil, mlops.Errorf(mlops.ENOTFOUND, "no such artifact")
}

func TestBlobNotFoundIsNotRetried(t *testing.T) {
	st := &missingStore{}
	cas := &Cascade{Sources: []Source{&BlobSource{Store: st, Key: "models/x"}}, Decode: fakeDecoder(t), Retry: noWait(3)}
	if _, err := cas.Load(t.Context()); err == nil || !strings.Contains(err.Error(), "no such artifact") {
		t.Fatalf("err %v", err)
	}
	if st.calls != 1 {
		t.Fatalf("a missing artifact was fetched %d times", st.calls)
	}
}
