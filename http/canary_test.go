package http

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

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
