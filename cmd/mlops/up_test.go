package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe to read while a command writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// awaitReady polls url until it answers 200 or the deadline passes.
func awaitReady(t *testing.T, url string, done <-chan int, deadline time.Duration) {
	t.Helper()
	end := time.Now().Add(deadline)
	for time.Now().Before(end) {
		select {
		case code := <-done:
			t.Fatalf("command exited with %d before %s was ready", code, url)
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not an assertion
	}
	t.Fatalf("%s not ready within %v", url, deadline)
}

func TestUpRunsPipelinePromotesAndServes(t *testing.T) {
	home := t.TempDir()
	t.Setenv(envHome, home)
	t.Setenv(envTrackingURI, "")
	t.Setenv(envArtifacts, "")
	t.Setenv("PORT", "")
	addr := freeLoopbackAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb lockedBuffer
	done := make(chan int, 1)
	args := append([]string{"up", "--addr", addr}, smallRun(t)...)
	go func() { done <- execute(ctx, args, &out, &errb) }()

	awaitReady(t, "http://"+addr+"/health/ready", done, 3*time.Minute)
	body := `{"instances":[{"longitude":-122.23,"latitude":37.88,"housing_median_age":41,"total_rooms":880,` +
		`"total_bedrooms":129,"population":322,"households":126,"median_income":8.3252,"ocean_proximity":"NEAR BAY"}]}`
	resp, err := http.Post("http://"+addr+"/api/v1/predict", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var answer bytes.Buffer
	answer.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(answer.String(), `"predicted_price"`) {
		t.Fatalf("predict: %d %s", resp.StatusCode, answer.String())
	}
	// The map shows the training split (exported as the drift reference)
	// and the served model's cluster centres.
	resp, err = http.Get("http://" + addr + "/ui/map")
	if err != nil {
		t.Fatal(err)
	}
	answer.Reset()
	answer.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !regexp.MustCompile(`lede">[1-9][0-9]* training districts`).MatchString(answer.String()) ||
		!regexp.MustCompile(`with the [1-9][0-9]* KMeans cluster centres`).MatchString(answer.String()) {
		t.Errorf("map page (%d) lacks districts or centres:\n%.600s", resp.StatusCode, answer.String())
	}
	if _, err := os.Stat(filepath.Join(home, "reference.csv")); err != nil {
		t.Errorf("no drift reference exported: %v", err)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("up exited %d: %s", code, tail(errb.String()))
	}
	for _, want := range []string{"running the pipeline", "Promoted housing_price_model version 1 to Production",
		fmt.Sprintf("http://%s/ui/", addr)} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out.String())
		}
	}

	// A second start finds the Production version and skips the pipeline.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	var out2, errb2 lockedBuffer
	done2 := make(chan int, 1)
	go func() { done2 <- execute(ctx2, args, &out2, &errb2) }()
	awaitReady(t, "http://"+addr+"/health/ready", done2, time.Minute)
	cancel2()
	if code := <-done2; code != 0 {
		t.Fatalf("second up exited %d: %s", code, tail(errb2.String()))
	}
	if strings.Contains(out2.String(), "running the pipeline") {
		t.Errorf("second start ran the pipeline again:\n%s", out2.String())
	}
}
