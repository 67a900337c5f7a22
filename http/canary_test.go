package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/housing-mlops/mlops"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func canaryServer(t *testing.T, canaryErr error) *Server {
	t.Helper()
	s := newServer(t, Config{}, Deps{}, newFake(t, "1", 0))
	c := newFake(t, "2", 1e6)
	c.err = canaryErr
	if err := s.SetCanary(c, "test", 20); err != nil {
		t.Fatal(err)
	}
	return s
}

func scrape(t *testing.T, s *Server) []VersionStats {
	t.Helper()
	rec := do(s.Handler(), "GET", "/metrics", "", nil)
	stats, err := ParseVersionStats(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	return stats
}

func TestCanarySplitsTraffic(t *testing.T) {
	s := canaryServer(t, nil)
	body := mustJSON(t, map[string]any{"instances": []any{validInstance()}})
	const n = 2000
	versions := map[string]int{}
	for i := 0; i < n; i++ {
		rec := postJSON(s.Handler(), "/api/v1/predict", body)
		var resp predictResp
		decodeBody(t, rec, &resp)
		versions[resp.ModelVersion]++
		// The canary's answers are its own (offset 1e6), not stable's.
		if big := resp.Predictions[0].PredictedPrice > 1e6; big != (resp.ModelVersion == "2") {
			t.Fatalf("version %s answered %v", resp.ModelVersion, resp.Predictions[0].PredictedPrice)
		}
	}
	share := float64(versions["2"]) / n
	if share < 0.17 || share > 0.23 || versions["1"]+versions["2"] != n {
		t.Errorf("canary served %.3f of requests (%v), want about 0.20", share, versions)
	}
	// The same request id always reaches the same model.
	for _, id := range []string{"client-a", "client-b", "client-c"} {
		first := ""
		for i := 0; i < 5; i++ {
			rec := do(s.Handler(), "POST", "/api/v1/predict", "application/json", body, "X-Request-ID", id)
			var resp predictResp
			decodeBody(t, rec, &resp)
			if first == "" {
				first = resp.ModelVersion
			} else if resp.ModelVersion != first {
				t.Errorf("request id %s reached v%s then v%s", id, first, resp.ModelVersion)
			}
		}
	}
	stats := scrape(t, s)
	got := map[string]VersionStats{}
	for _, st := range stats {
		got[st.Role+"/"+st.Version] = st
	}
	if got["stable/1"].Requests < float64(versions["1"]) || got["canary/2"].Requests < float64(versions["2"]) ||
		got["stable/1"].Requests+got["canary/2"].Requests != n+15 {
		t.Errorf("per-version requests %+v, served %v", got, versions)
	}
	if got["stable/1"].P99Seconds <= 0 || got["canary/2"].P99Seconds <= 0 {
		t.Errorf("p99 missing: %+v", got)
	}
	if !strings.Contains(do(s.Handler(), "GET", "/metrics", "", nil).Body.String(), `mlops_model_request_duration_seconds_bucket{role="canary",version="2"`) {
		t.Error("latency histogram by version missing from /metrics")
	}
}

func TestCanaryCheck(t *testing.T) {
	body := mustJSON(t, map[string]any{"instances": []any{validInstance()}})
	th := CanaryThresholds{MaxErrorRate: 0.01, MaxLatencyRatio: 1e9, MinRequests: 50}
	for _, tc := range []struct {
		name   string
		err    error
		wantOK bool
	}{{"healthy", nil, true}, {"erroring", errors.New("canary broke"), false}} {
		s := canaryServer(t, tc.err)
		for i := 0; i < 500; i++ {
			postJSON(s.Handler(), "/api/v1/predict", body)
		}
		v := CheckCanary(scrape(t, s), th)
		if v.OK != tc.wantOK {
			t.Errorf("%s: verdict %+v", tc.name, v)
		}
		if v.Stable.Version != "1" || v.Canary.Version != "2" || v.Stable.Errors != 0 {
			t.Errorf("%s: stable %+v canary %+v", tc.name, v.Stable, v.Canary)
		}
		if tc.err != nil && (v.Canary.ErrorRate != 1 || !strings.Contains(fmt.Sprint(v.Problems), "error rate")) {
			t.Errorf("%s: canary %+v problems %v", tc.name, v.Canary, v.Problems)
		}
	}
	if v := CheckCanary(nil, th); v.OK || len(v.Problems) == 0 {
		t.Errorf("no metrics: %+v", v)
	}
	slow := []VersionStats{{Role: RoleStable, Version: "1", Requests: 100, P99Seconds: 0.01},
		{Role: RoleCanary, Version: "2", Requests: 100, P99Seconds: 0.05}}
	if v := CheckCanary(slow, CanaryThresholds{MaxErrorRate: 0.01, MaxLatencyRatio: 1.5, MinRequests: 50}); v.OK || v.LatencyRatio != 5 {
		t.Errorf("slow canary: %+v", v)
	}
	if v := CheckCanary(slow[:1], th); v.OK {
		t.Errorf("no canary: %+v", v)
	}
}

func TestSetCanaryRejectsBadPercent(t *testing.T) {
	s := newServer(t, Config{}, Deps{}, newFake(t, "1", 0))
	for _, p := range []float64{0, -1, 100, 150} {
		if err := s.SetCanary(newFake(t, "2", 0), "test", p); err == nil {
			t.Errorf("percent %v: want an error", p)
		}
	}
	if _, _, ok := s.Canary(); ok {
		t.Error("a refused canary was set")
	}
}

func TestHistogramQuantile(t *testing.T) {
	text := `# TYPE h histogram
h_bucket{le="0.1"} 50
h_bucket{le="0.2"} 90
h_bucket{le="0.4"} 100
h_bucket{le="+Inf"} 100
h_sum 10
h_count 100
`
	p, err := ParseVersionStats(strings.NewReader(text))
	if err != nil || len(p) != 0 {
		t.Fatalf("%v %v", p, err)
	}
	// Through the parser's own types: p99 of 100 samples is rank 99, in
	// the (0.2, 0.4] bucket holding samples 91..100: 0.2 + 0.2·9/10.
	fams, _ := parseFamilies(t, text)
	if got := histogramQuantile(0.99, fams["h"].GetMetric()[0].GetHistogram()); got < 0.3799 || got > 0.3801 {
		t.Errorf("p99 = %v, want 0.38", got)
	}
}

func parseFamilies(t *testing.T, text string) (map[string]*dto.MetricFamily, error) {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(strings.NewReader(text))
}

// canaryRegistry has versions 1..4 of model housing (artifacts "one" ..
// "four"), @champion on 1 and @canary on 2; version 5's artifact does not
// decode.
func canaryRegistry(t *testing.T) *fakeRegistry {
	t.Helper()
	reg := &fakeRegistry{versions: map[int]*mlops.ModelVersion{}, aliases: map[string]int{"champion": 1, "canary": 2}}
	writeArtifacts(t, reg, map[int]string{1: "one", 2: "two", 3: "three", 4: "four", 5: "garbage"})
	return reg
}

// followServer serves models:/housing@champion with a 20 % canary that
// follows models:/housing@canary; its log goes to logs.
func followServer(t *testing.T, reg *fakeRegistry, decode Decoder, logs *bytes.Buffer) *Server {
	t.Helper()
	breaker := NewBreaker(3, time.Minute)
	stable := &RegistrySource{URI: ModelURI{Name: "housing", Alias: "champion"}, Registry: reg, Breaker: breaker}
	canary := &RegistrySource{URI: ModelURI{Name: "housing", Alias: "canary"}, Registry: reg, Breaker: breaker}
	s := New(Config{}, Deps{
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		Loader: &Cascade{Sources: []Source{stable}, Decode: decode, Retry: noWait(1)}, Watch: stable,
		Canary: &CanaryWatch{Loader: &Cascade{Sources: []Source{canary}, Decode: decode, Retry: noWait(1)}, Watch: canary, Percent: 20},
	})
	if err := s.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if changed, err := s.ReloadCanary(t.Context(), "startup"); !changed || err != nil {
		t.Fatalf("start-up canary: changed %v, err %v", changed, err)
	}
	return s
}

// canaryVersion is the canary's version, "" when there is none.
func canaryVersion(s *Server) string {
	info, _, ok := s.Canary()
	if !ok {
		return ""
	}
	return info.Version
}

func (r *fakeRegistry) setAlias(alias string, version int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if version == 0 {
		delete(r.aliases, alias)
		return
	}
	r.aliases[alias] = version
}

// TestCanaryFollowsAlias moves, deletes and re-sets @canary and checks each
// poll brings the canary in step, logging every change.
func TestCanaryFollowsAlias(t *testing.T) {
	reg := canaryRegistry(t)
	var logs bytes.Buffer
	s := followServer(t, reg, fakeDecoder(t), &logs)
	stableIs := func(want string) {
		t.Helper()
		if info, _ := s.ModelInfo(); info.Version != want {
			t.Fatalf("stable %q, want %q", info.Version, want)
		}
	}
	stableIs("one")
	if v := canaryVersion(s); v != "two" {
		t.Fatalf("canary %q at start-up, want two", v)
	}
	if _, pct, _ := s.Canary(); pct != 20 {
		t.Fatalf("canary share %v, want 20", pct)
	}
	steps := []struct {
		what    string
		alias   string
		version int // 0 deletes the alias
		canary  string
		stable  string
		logMsg  string
	}{
		{"nothing changed", "", 0, "two", "one", ""},
		{"@canary moved to 3", "canary", 3, "three", "one", "canary set"},
		{"@canary deleted", "canary", 0, "", "one", "canary cleared: its registry source no longer resolves"},
		{"@canary set again", "canary", 4, "four", "one", "canary set"},
		{"@canary moved onto the stable version", "canary", 1, "", "one", "canary cleared: its registry source points at the stable version"},
		{"stable moved away from @canary's version", "champion", 2, "one", "two", "canary set"},
		{"canary promoted: @champion moved onto it", "champion", 1, "", "one", "canary cleared: its registry source points at the stable version"},
	}
	for _, st := range steps {
		if st.alias != "" {
			reg.setAlias(st.alias, st.version)
		}
		logs.Reset()
		s.PollOnce(t.Context())
		stableIs(st.stable)
		if v := canaryVersion(s); v != st.canary {
			t.Fatalf("%s: canary %q, want %q", st.what, v, st.canary)
		}
		if st.logMsg != "" && !strings.Contains(logs.String(), `"msg":"`+st.logMsg) {
			t.Fatalf("%s: no %q in the log:\n%s", st.what, st.logMsg, logs.String())
		}
		if st.logMsg == "" && strings.Contains(logs.String(), "canary") {
			t.Fatalf("%s: the canary was touched:\n%s", st.what, logs.String())
		}
	}
}

// TestCanaryLoadFailureKeepsCanary points @canary at an artifact that does
// not decode, then takes the registry down: the canary serves on.
func TestCanaryLoadFailureKeepsCanary(t *testing.T) {
	reg := canaryRegistry(t)
	var logs bytes.Buffer
	s := followServer(t, reg, fakeDecoder(t), &logs)
	reg.setAlias("canary", 5)
	s.PollOnce(t.Context())
	if v := canaryVersion(s); v != "two" {
		t.Fatalf("after a failed load the canary is %q, want two", v)
	}
	if !strings.Contains(logs.String(), "canary load failed; the current canary keeps serving") {
		t.Fatalf("failed load not logged:\n%s", logs.String())
	}
	if !strings.Contains(do(s.Handler(), "GET", "/metrics", "", nil).Body.String(), `mlops_model_reloads_total{result="error",trigger="canary_poll"} 1`) {
		t.Error("failed canary reload not counted")
	}
	// The same artifact keeps failing: each poll retries, the canary stays.
	s.PollOnce(t.Context())
	if v := canaryVersion(s); v != "two" {
		t.Fatalf("second failed load: canary %q", v)
	}
	reg.mu.Lock()
	reg.down = true
	reg.mu.Unlock()
	reg.setAlias("canary", 3)
	for range 5 {
		s.PollOnce(t.Context())
	}
	if v := canaryVersion(s); v != "two" {
		t.Fatalf("registry outage changed the canary to %q", v)
	}
	reg.mu.Lock()
	reg.down = false
	reg.mu.Unlock()
	body := mustJSON(t, map[string]any{"instances": []any{validInstance()}})
	for i := 0; i < 200; i++ {
		if rec := postJSON(s.Handler(), "/api/v1/predict", body); rec.Code != 200 {
			t.Fatalf("predict with a kept canary: %d %s", rec.Code, rec.Body)
		}
	}
}

// TestCanaryReloadUnderLoad moves @canary between versions while clients
// predict: no request fails, and every answer comes wholly from one model
// (its version and its prediction agree).
func TestCanaryReloadUnderLoad(t *testing.T) {
	offsets := map[string]float64{"one": 0, "two": 1e6, "three": 2e6, "four": 3e6}
	decode := func(f *Fetched) (Model, error) {
		m := newFake(t, string(f.Data), offsets[string(f.Data)])
		m.info.SHA256 = sum(f.Data)
		return m, nil
	}
	reg := canaryRegistry(t)
	var logs bytes.Buffer
	s := followServer(t, reg, decode, &logs)
	body := mustJSON(t, map[string]any{"instances": []any{validInstance()}})
	b, errs, msg := decodeInstances(housingSchema(t), body, 100)
	if msg != "" || len(errs) > 0 {
		t.Fatal(msg, errs)
	}
	// Each version's answer, by the fake's formula on the same batch.
	want := map[string]float64{}
	for v, off := range offsets {
		want[v] = fakePredict(b, off)[0].Value
	}

	const clients, perClient = 4, 100
	var wg sync.WaitGroup
	failures := make(chan string, clients*perClient)
	seen := make(chan string, clients*perClient)
	start := make(chan struct{})
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range perClient {
				rec := postJSON(s.Handler(), "/api/v1/predict", body)
				var got predictResp
				if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &got) != nil {
					failures <- fmt.Sprintf("status %d: %s", rec.Code, rec.Body)
					continue
				}
				w, ok := want[got.ModelVersion]
				if !ok || got.Predictions[0].PredictedPrice != w {
					failures <- fmt.Sprintf("version %q answered %v", got.ModelVersion, got.Predictions[0].PredictedPrice)
				}
				seen <- got.ModelVersion
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	close(start)
	// Swap canaries for as long as the clients run.
	for i := 0; ; i++ {
		select {
		case <-done:
		default:
			reg.setAlias("canary", []int{3, 4, 2}[i%3])
			s.PollOnce(t.Context())
			continue
		}
		break
	}
	reg.setAlias("canary", 2)
	s.PollOnce(t.Context())
	close(failures)
	close(seen)
	for f := range failures {
		t.Error(f)
	}
	versions := map[string]int{}
	for v := range seen {
		versions[v]++
	}
	if versions["one"] == 0 || len(versions) < 2 {
		t.Errorf("answers by version %v: want the stable model and at least one canary", versions)
	}
	if v := canaryVersion(s); v != "two" {
		t.Fatalf("final canary %q, want two", v)
	}
}
