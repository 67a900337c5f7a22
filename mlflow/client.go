package mlflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/housing-mlops/mlops"
)

// ClientOptions configure a Client. The zero value talks without
// credentials, with a 30 s timeout per attempt and 3 retries.
type ClientOptions struct {
	// Token is sent as "Authorization: Bearer" (MLFLOW_TRACKING_TOKEN).
	Token string
	// Username and Password are sent as HTTP Basic credentials when Token
	// is empty (MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD).
	Username, Password string
	// Timeout bounds each attempt (default 30 s; negative means none).
	Timeout time.Duration
	// Retries is how many times an idempotent call is repeated after a
	// connection error, a 429 or a 5xx (default 3; negative means none).
	Retries int
	// Backoff is the first wait between attempts, doubled each time up to
	// 10 s (default 500 ms). A 429's or 503's Retry-After wins when longer.
	Backoff time.Duration
	// HTTPClient sends the requests (default: a new http.Client).
	HTTPClient *http.Client
}

// Environment variables MLflow's own client reads, honoured by
// ClientOptionsFromEnv and TrackingURIFromEnv.
const (
	EnvTrackingURI      = "MLFLOW_TRACKING_URI"
	EnvTrackingToken    = "MLFLOW_TRACKING_TOKEN"
	EnvTrackingUsername = "MLFLOW_TRACKING_USERNAME"
	EnvTrackingPassword = "MLFLOW_TRACKING_PASSWORD"
)

// ClientOptionsFromEnv reads credentials the way MLflow's client does;
// getenv is os.Getenv in production and a map lookup in tests.
func ClientOptionsFromEnv(getenv func(string) string) ClientOptions {
	return ClientOptions{
		Token:    getenv(EnvTrackingToken),
		Username: getenv(EnvTrackingUsername),
		Password: getenv(EnvTrackingPassword),
	}
}

// IsTrackingURI reports whether uri names an MLflow tracking server
// (http:// or https://) rather than a local store.
func IsTrackingURI(uri string) bool {
	return strings.HasPrefix(uri, "http://") || strings.HasPrefix(uri, "https://")
}

// Client is an mlops.Store and an mlops.ArtifactStore backed by an MLflow
// tracking server's REST API (and its artifact proxy). It is safe for
// concurrent use.
type Client struct {
	base string
	opts ClientOptions
	hc   *http.Client
}

var (
	_ mlops.Store         = (*Client)(nil)
	_ mlops.ArtifactStore = (*Client)(nil)
)

// NewClient returns a client of the MLflow server at baseURL
// (http[s]://host[:port][/prefix]). Credentials in the URL's user info are
// moved to Basic authentication so that they never appear in errors.
func NewClient(baseURL string, opts ClientOptions) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, mlops.Errorf(mlops.EINVALID, "invalid MLflow tracking URI %q: want http(s)://host[:port]", redactURL(baseURL))
	}
	if u.User != nil {
		if opts.Username == "" && opts.Token == "" {
			opts.Username = u.User.Username()
			opts.Password, _ = u.User.Password()
		}
		u.User = nil
	}
	u.RawQuery, u.Fragment = "", ""
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Retries == 0 {
		opts.Retries = 3
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 500 * time.Millisecond
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: strings.TrimSuffix(u.String(), "/"), opts: opts, hc: hc}, nil
}

// redactURL drops user info from a URL for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		if i := strings.Index(s, "@"); i >= 0 {
			if j := strings.Index(s, "://"); j >= 0 && j < i {
				return s[:j+3] + "REDACTED@" + s[i+1:]
			}
		}
		return s
	}
	u.User = url.User("REDACTED")
	return u.String()
}

// Close releases idle connections.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

// BaseURL returns the server URL without credentials.
func (c *Client) BaseURL() string { return c.base }

// request describes one call.
type request struct {
	method     string
	path       string // absolute path below the base URL
	query      url.Values
	body       []byte
	idempotent bool
	header     http.Header
}

// api calls an endpoint below /api/2.0/mlflow/ with a JSON message (GET:
// query parameters) and decodes the JSON answer into out (may be nil).
func (c *Client) api(ctx context.Context, method, endpoint string, idempotent bool, in any, out any) error {
	req := request{method: method, path: APIPrefix + endpoint, idempotent: idempotent}
	if method == http.MethodGet {
		q, ok := in.(url.Values)
		if !ok && in != nil {
			return fmt.Errorf("mlflow client: GET %s needs url.Values", endpoint)
		}
		req.query = q
	} else if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("mlflow client: encode %s request: %w", endpoint, err)
		}
		req.body = b
	}
	data, err := c.do(ctx, req)
	if err != nil {
		return err
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return mlops.Errorf(mlops.EINTERNAL, "mlflow %s %s: malformed response: %v", method, endpoint, err)
	}
	return nil
}

// do sends req, retrying idempotent calls on connection errors, 429 and
// 5xx with exponential backoff, and returns the body of a 2xx answer.
func (c *Client) do(ctx context.Context, req request) ([]byte, error) {
	attempts := 1
	if req.idempotent && c.opts.Retries > 0 {
		attempts += c.opts.Retries
	}
	wait := c.opts.Backoff
	var lastErr error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			if err := sleepCtx(ctx, wait); err != nil {
				return nil, fmt.Errorf("mlflow %s %s: %w (after: %v)", req.method, req.path, err, lastErr)
			}
			wait = min(2*wait, 10*time.Second)
		}
		data, status, retryAfter, err := c.once(ctx, req)
		switch {
		case err == nil && status/100 == 2:
			return data, nil
		case err != nil:
			lastErr = err
			if ctx.Err() != nil {
				return nil, lastErr
			}
		default:
			lastErr = responseError(req, status, data)
			if status != http.StatusTooManyRequests && status < 500 {
				return nil, lastErr
			}
			if retryAfter > wait {
				wait = min(retryAfter, time.Minute)
			}
		}
	}
	return nil, lastErr
}

// once sends one attempt.
func (c *Client) once(ctx context.Context, req request) ([]byte, int, time.Duration, error) {
	if c.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.Timeout)
		defer cancel()
	}
	u := c.base + req.path
	if len(req.query) > 0 {
		u += "?" + req.query.Encode()
	}
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, u, body)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("mlflow %s %s: %w", req.method, req.path, err)
	}
	for k, vs := range req.header {
		hr.Header[k] = vs
	}
	if req.body != nil && hr.Header.Get("Content-Type") == "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	c.authorize(hr)
	resp, err := c.hc.Do(hr)
	if err != nil {
		// url.Error names the URL, which holds no credentials (NewClient
		// removed them).
		return nil, 0, 0, mlops.Errorf(mlops.EINTERNAL, "mlflow %s %s: %v", req.method, req.path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, 0, mlops.Errorf(mlops.EINTERNAL, "mlflow %s %s: read response: %v", req.method, req.path, err)
	}
	return data, resp.StatusCode, retryAfter(resp.Header.Get("Retry-After")), nil
}

func (c *Client) authorize(r *http.Request) {
	switch {
	case c.opts.Token != "":
		r.Header.Set("Authorization", "Bearer "+c.opts.Token)
	case c.opts.Username != "" || c.opts.Password != "":
		r.SetBasicAuth(c.opts.Username, c.opts.Password)
	}
}

func retryAfter(v string) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	return 0
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// responseError turns an MLflow error answer into a domain error: codes
// the domain shares keep their meaning, the rest are named in the message.
func responseError(req request, status int, data []byte) error {
	var e apiError
	_ = json.Unmarshal(data, &e)
	msg := e.Message
	if msg == "" {
		msg = strings.TrimSpace(string(data))
		if len(msg) > 200 {
			msg = msg[:200] + "..."
		}
	}
	where := req.method + " " + req.path
	switch e.ErrorCode {
	case mlops.ENOTFOUND, mlops.EEXISTS, mlops.EINVALID, mlops.ECONFLICT:
		return mlops.Errorf(e.ErrorCode, "%s", msg)
	case codeEndpointNotFound, codeNotImplemented:
		return mlops.Errorf(mlops.EINVALID, "not supported by this MLflow server (%s: %s): %s", where, e.ErrorCode, msg)
	case codeBadRequest:
		return mlops.Errorf(mlops.EINVALID, "%s", msg)
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return mlops.Errorf(mlops.EINVALID, "MLflow server refused %s (HTTP %d): check MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD", where, status)
	case status == http.StatusNotFound:
		return mlops.Errorf(mlops.ENOTFOUND, "%s: HTTP 404: %s", where, msg)
	case status/100 == 4:
		return mlops.Errorf(mlops.EINVALID, "%s: HTTP %d %s: %s", where, status, e.ErrorCode, msg)
	}
	return mlops.Errorf(mlops.EINTERNAL, "%s: HTTP %d %s: %s", where, status, e.ErrorCode, msg)
}

// isCode reports whether err carries the domain code.
func isCode(err error, code string) bool {
	var e *mlops.Error
	return errors.As(err, &e) && e.Code == code
}

// quote renders s as a filter string literal.
func quote(s string) (string, error) {
	switch {
	case !strings.Contains(s, "'"):
		return "'" + s + "'", nil
	case !strings.Contains(s, `"`):
		return `"` + s + `"`, nil
	}
	return "", mlops.Errorf(mlops.EINVALID, "value %q holds both quote kinds: an MLflow filter cannot express it", s)
}

// backtick quotes a key for a filter.
func backtick(k string) string { return "`" + k + "`" }
