package remote

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// statuses serves the given statuses in turn, then 200, counting calls.
func statuses(t *testing.T, codes ...int) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := int(calls.Add(1))
		if n <= len(codes) {
			w.WriteHeader(codes[n-1])
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func quick() *Client {
	return &Client{HTTP: http.DefaultClient, Attempts: 3, Backoff: time.Millisecond}
}

func TestRetries(t *testing.T) {
	srv, calls := statuses(t, 503, 500)
	resp, err := quick().Do(context.Background(), func() (*http.Request, error) { return http.NewRequest("GET", srv.URL, nil) })
	if err != nil || resp.StatusCode != 200 || calls.Load() != 3 {
		t.Fatalf("after two 5xx: %v %v, %d calls", resp, err, calls.Load())
	}
	_ = resp.Body.Close()

	srv, calls = statuses(t, 503, 503, 503, 503)
	resp, err = quick().Do(context.Background(), func() (*http.Request, error) { return http.NewRequest("GET", srv.URL, nil) })
	if err != nil || resp.StatusCode != 503 || calls.Load() != 3 {
		t.Fatalf("out of attempts: want the last 503 after 3 calls, got %v %v, %d calls", resp, err, calls.Load())
	}
	_ = resp.Body.Close()

	srv, calls = statuses(t, 404)
	resp, err = quick().Do(context.Background(), func() (*http.Request, error) { return http.NewRequest("GET", srv.URL, nil) })
	if err != nil || resp.StatusCode != 404 || calls.Load() != 1 {
		t.Fatalf("404 is final: %v %v, %d calls", resp, err, calls.Load())
	}
	_ = resp.Body.Close()
}

// TestRetryStopsOnCancel cancels during the backoff after a 503: Do
// returns the context's error at once instead of waiting out the backoff.
func TestRetryStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		cancel()
	}))
	defer srv.Close()
	c := &Client{HTTP: http.DefaultClient, Attempts: 3, Backoff: time.Hour}
	_, err := c.Do(ctx, func() (*http.Request, error) { return http.NewRequest("GET", srv.URL, nil) })
	if !errors.Is(err, context.Canceled) || calls.Load() != 1 {
		t.Fatalf("cancelled during backoff: %v after %d calls", err, calls.Load())
	}
}

func TestBody(t *testing.T) {
	r := strings.NewReader("head|payload")
	if _, err := r.Seek(5, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	b, err := NewBody(r)
	if err != nil || b.Size != 7 {
		t.Fatalf("NewBody: %+v %v", b, err)
	}
	sum, err := b.Hash(sha256.New())
	want := sha256.Sum256([]byte("payload"))
	if err != nil || hex.EncodeToString(sum) != hex.EncodeToString(want[:]) {
		t.Fatalf("Hash: %x %v", sum, err)
	}
	for range 2 { // every attempt reads the same bytes
		rc, err := b.Reader()
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := io.ReadAll(rc); string(got) != "payload" {
			t.Fatalf("Reader: %q", got)
		}
	}
}

func TestErrorIsNotExist(t *testing.T) {
	e404 := &Error{Service: "s3", Op: "GET", Bucket: "b", Key: "k", Status: 404, Code: "NoSuchKey", Message: "gone"}
	if !errors.Is(e404, fs.ErrNotExist) || e404.Error() != "s3 GET b/k: HTTP 404 Not Found: NoSuchKey: gone" {
		t.Fatalf("404: %v", e404)
	}
	if errors.Is(&Error{Status: 403}, fs.ErrNotExist) {
		t.Fatal("403 matched fs.ErrNotExist")
	}
	netErr := &Error{Service: "gcs", Op: "LIST", Bucket: "b", Key: "p/", Err: io.ErrUnexpectedEOF}
	if !errors.Is(netErr, io.ErrUnexpectedEOF) || !strings.Contains(netErr.Error(), "gcs LIST b/p/: unexpected EOF") {
		t.Fatalf("transport error: %v", netErr)
	}
}
