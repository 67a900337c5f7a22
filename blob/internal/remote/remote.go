// Package remote holds what the S3 and GCS clients of package blob share:
// the error type, retried HTTP requests and the seekable request body.
package remote

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

// Error is a failed object-store request: which service, operation,
// bucket and key, and what the service (or the network) answered.
type Error struct {
	Service string // "s3" or "gcs"
	Op      string // what was attempted: GET, PUT, HEAD, LIST, ...
	Bucket  string
	Key     string // the object key, or the prefix of a list
	Status  int    // the HTTP status; 0 when no response arrived
	Code    string // the service's error code (NoSuchKey, notFound, ...), if any
	Message string // the service's error message, if any
	Err     error  // the transport or decoding error when Status is 0
}

// Error implements the error interface.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s/%s", e.Service, e.Op, e.Bucket, e.Key)
	if e.Status == 0 {
		fmt.Fprintf(&b, ": %v", e.Err)
		return b.String()
	}
	fmt.Fprintf(&b, ": HTTP %d %s", e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		b.WriteString(": " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// Unwrap returns the transport error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Is makes a 404 match fs.ErrNotExist, the not-found test package blob
// applies to every backend, files included.
func (e *Error) Is(target error) bool {
	return target == fs.ErrNotExist && e.Status == http.StatusNotFound
}

// ValidKey refuses keys S3 and GCS mangle or reject: empty or with control
// characters. (Package blob refuses "..", empty segments and the like.)
func ValidKey(key string) error {
	if key == "" {
		return errors.New("empty object key")
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("object key %q has a control character", key)
		}
	}
	return nil
}

// Client sends requests with retries: object stores answer 429 and 5xx
// under load and drop connections, and every request the clients make
// (GET, HEAD, list, whole-object PUT or upload) is safe to repeat.
type Client struct {
	HTTP     *http.Client
	Attempts int           // tries per request, at least 1
	Backoff  time.Duration // wait before the second try, doubled after each
}

// NewClient returns a Client over hc (http.DefaultClient when nil) with 3
// attempts and a 200 ms first backoff.
func NewClient(hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{HTTP: hc, Attempts: 3, Backoff: 200 * time.Millisecond}
}

// Do sends the request newReq builds, building it anew for each attempt
// (so it is signed afresh and its body rewound). It returns the first
// response that is not retryable, the last response when all attempts
// are used, or the last transport error.
func (c *Client) Do(ctx context.Context, newReq func() (*http.Request, error)) (*http.Response, error) {
	wait := c.Backoff
	for attempt := 1; ; attempt++ {
		req, err := newReq()
		if err != nil {
			return nil, err
		}
		resp, err := c.HTTP.Do(req.WithContext(ctx))
		last := attempt >= c.Attempts || ctx.Err() != nil
		if err == nil && (!retryable(resp.StatusCode) || last) {
			return resp, nil
		}
		if err != nil && last {
			return nil, err
		}
		if resp != nil {
			_ = ReadErrorBody(resp)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait *= 2
	}
}

func retryable(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// ReadErrorBody returns at most 64 KiB of an error response's body and
// closes it; error bodies are small documents, not objects.
func ReadErrorBody(resp *http.Response) []byte {
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return b
}

// Body is an object's content held locally, so that it can be hashed
// (S3 signs the payload's SHA-256, GCS checks its MD5) and sent again on
// retry: a seekable reader from start, Size bytes long.
type Body struct {
	r     io.ReadSeeker
	start int64
	Size  int64
}

// NewBody returns the Body of r's remaining bytes, from its current
// position to its end.
func NewBody(r io.ReadSeeker) (*Body, error) {
	start, err := r.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	end, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	return &Body{r: r, start: start, Size: end - start}, nil
}

// Reader rewinds the content and returns a reader of it for one request;
// closing it leaves the content open for the next attempt.
func (b *Body) Reader() (io.ReadCloser, error) {
	if _, err := b.r.Seek(b.start, io.SeekStart); err != nil {
		return nil, err
	}
	return io.NopCloser(io.LimitReader(b.r, b.Size)), nil
}

// Hash feeds the content to h and returns h's sum.
func (b *Body) Hash(h hash.Hash) ([]byte, error) {
	r, err := b.Reader()
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(h, r); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}
