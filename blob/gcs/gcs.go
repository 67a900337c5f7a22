// Package gcs is the gs:// backend of package blob: Google Cloud Storage
// over its JSON API with OAuth2 bearer tokens, on the standard library.
// It replaces gocloud.dev/blob/gcsblob, whose client library brought gRPC,
// OpenTelemetry and protobuf into the binary.
//
// URLs: gs://bucket[/prefix][?param=value&...]. The path is a key prefix:
// gs://b/team/x stores the key k as the object team/x/k, which is also the
// URI package blob reports for it. Query parameters:
//
//   - anonymous: true sends no token (public buckets).
//   - endpoint: base URL of a GCS-compatible server instead of
//     https://storage.googleapis.com; tokens are still sent.
//
// $STORAGE_EMULATOR_HOST (host:port or URL), as the Google client
// libraries honour it, points at an emulator and sends no token.
// Tokens: see DefaultTokens.
package gcs

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/housing-mlops/mlops/blob/internal/remote"
)

// DefaultEndpoint is Cloud Storage's JSON API host.
const DefaultEndpoint = "https://storage.googleapis.com"

// Options configure a bucket; Open fills them from the URL and the
// environment.
type Options struct {
	// Endpoint is the base URL: requests go to Endpoint/storage/v1/...
	// and Endpoint/upload/storage/v1/...
	Endpoint string
	// Tokens authorizes requests; nil sends none.
	Tokens TokenSource
	// HTTPClient sends the requests; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// Bucket is one Cloud Storage bucket, or a prefix of one.
type Bucket struct {
	name   string
	root   string
	base   string
	tokens TokenSource
	client *remote.Client
}

// Open opens the bucket of a gs:// URL with settings and credentials from
// getenv (os.Getenv in production; see DefaultTokens); hc sends the
// requests, token requests included (nil: http.DefaultClient). It reads a
// key file if one is named, but sends no request.
func Open(u *url.URL, getenv func(string) string, hc *http.Client) (*Bucket, error) {
	name, root, opts, err := ParseURL(u, getenv, hc)
	if err != nil {
		return nil, err
	}
	opts.HTTPClient = hc
	return New(name, root, opts)
}

// New returns bucket name; root ("" or ending in "/") is prefixed to
// every key.
func New(name, root string, opts Options) (*Bucket, error) {
	if name == "" {
		return nil, fmt.Errorf("gcs: empty bucket name")
	}
	base := strings.TrimSuffix(opts.Endpoint, "/")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("gcs bucket %s: endpoint %q: want a URL like https://host[:port]", name, opts.Endpoint)
	}
	return &Bucket{name: name, root: root, base: base, tokens: opts.Tokens, client: remote.NewClient(opts.HTTPClient)}, nil
}

// ParseURL reads a gs:// URL and the environment (getenv) into the bucket
// name, key prefix and Options; hc is the client token requests will use.
func ParseURL(u *url.URL, getenv func(string) string, hc *http.Client) (name, root string, opts Options, err error) {
	name = u.Host
	if name == "" {
		return "", "", opts, fmt.Errorf("gs URL %q: no bucket name (want gs://bucket[/prefix])", u.Redacted())
	}
	if root = strings.Trim(u.Path, "/"); root != "" {
		root += "/"
	}
	anonymous := false
	for k, vs := range u.Query() {
		switch k {
		case "anonymous":
			if anonymous, err = strconv.ParseBool(vs[0]); err != nil {
				return "", "", opts, fmt.Errorf("gs URL %q: query parameter anonymous=%q: want true or false", u.Redacted(), vs[0])
			}
		case "endpoint":
			opts.Endpoint = vs[0]
		default:
			return "", "", opts, fmt.Errorf("gs URL %q: unknown query parameter %q (want anonymous or endpoint)", u.Redacted(), k)
		}
	}
	if host := getenv("STORAGE_EMULATOR_HOST"); host != "" && opts.Endpoint == "" {
		opts.Endpoint, anonymous = host, true
		if !strings.Contains(host, "://") {
			opts.Endpoint = "http://" + host
		}
	}
	if opts.Endpoint == "" {
		opts.Endpoint = DefaultEndpoint
	}
	if !anonymous {
		opts.Tokens, err = DefaultTokens(getenv, hc)
	}
	return name, root, opts, err
}

// objectResource is the JSON API's object resource, the fields the client
// reads and writes.
type objectResource struct {
	Name        string            `json:"name,omitempty"`
	ContentType string            `json:"contentType,omitempty"`
	Size        string            `json:"size,omitempty"`    // int64 in decimal, as the API sends it
	MD5Hash     string            `json:"md5Hash,omitempty"` // base64
	Metadata    map[string]string `json:"metadata,omitempty"`
}

// request is one JSON API call: what it is (for errors) and what to send.
type request struct {
	op, key string // key names the object, or the prefix of a LIST
	method  string
	url     string
	header  http.Header
	body    func() (io.ReadCloser, error)
	size    int64
}

// do sends r with a bearer token, with retries, and turns a non-2xx
// answer into a *remote.Error. The caller closes the returned body.
func (b *Bucket) do(ctx context.Context, r request) (*http.Response, error) {
	resp, err := b.client.Do(ctx, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, r.method, r.url, nil)
		if err != nil {
			return nil, err
		}
		for k, vs := range r.header {
			req.Header[k] = vs
		}
		if r.body != nil {
			if req.Body, err = r.body(); err != nil {
				return nil, err
			}
			req.ContentLength = r.size
		}
		if b.tokens != nil {
			tok, err := b.tokens.Token(ctx)
			if err != nil {
				return nil, fmt.Errorf("get an access token: %w", err)
			}
			if tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
		}
		return req, nil
	})
	if err != nil {
		return nil, &remote.Error{Service: "gcs", Op: r.op, Bucket: b.name, Key: r.key, Err: err}
	}
	if resp.StatusCode/100 != 2 {
		return nil, b.responseError(r, resp)
	}
	return resp, nil
}

// responseError reads the JSON API's {"error": {code, message, errors:
// [{reason}]}} document.
func (b *Bucket) responseError(r request, resp *http.Response) error {
	e := &remote.Error{Service: "gcs", Op: r.op, Bucket: b.name, Key: r.key, Status: resp.StatusCode}
	var doc struct {
		Error struct {
			Message string `json:"message"`
			Errors  []struct {
				Reason string `json:"reason"`
			} `json:"errors"`
		} `json:"error"`
	}
	body := remote.ReadErrorBody(resp)
	if json.Unmarshal(body, &doc) == nil && doc.Error.Message != "" {
		e.Message = doc.Error.Message
		if len(doc.Error.Errors) > 0 {
			e.Code = doc.Error.Errors[0].Reason
		}
	} else {
		e.Message = strings.TrimSpace(string(body))
	}
	return e
}

// objectURL is the JSON API URL of object name; the name is one path
// segment, its slashes escaped.
func (b *Bucket) objectURL(name string, q url.Values) string {
	u := b.base + "/storage/v1/b/" + url.PathEscape(b.name) + "/o/" + url.PathEscape(name)
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// Put uploads the object key from body (read from its current position
// to its end, twice: for its MD5, which GCS checks, then to send it) in
// one multipart request: the object resource (content type, metadata,
// MD5) and the content together, so no reader sees the object without its
// metadata.
func (b *Bucket) Put(ctx context.Context, key string, body io.ReadSeeker, contentType string, meta map[string]string) error {
	name := b.root + key
	if err := remote.ValidKey(key); err != nil {
		return fmt.Errorf("gcs upload %s/%s: %w", b.name, name, err)
	}
	content, err := remote.NewBody(body)
	if err != nil {
		return fmt.Errorf("gcs upload %s/%s: measure content: %w", b.name, name, err)
	}
	sum, err := content.Hash(md5.New())
	if err != nil {
		return fmt.Errorf("gcs upload %s/%s: hash content: %w", b.name, name, err)
	}
	res, err := json.Marshal(objectResource{Name: name, ContentType: contentType, Metadata: meta,
		MD5Hash: base64.StdEncoding.EncodeToString(sum)})
	if err != nil {
		return err
	}
	var rnd [16]byte
	_, _ = rand.Read(rnd[:])
	boundary := hex.EncodeToString(rnd[:])
	head := "--" + boundary + "\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n" + string(res) +
		"\r\n--" + boundary + "\r\nContent-Type: " + contentType + "\r\n\r\n"
	tail := "\r\n--" + boundary + "--\r\n"
	resp, err := b.do(ctx, request{op: "upload", key: name, method: http.MethodPost,
		url:    b.base + "/upload/storage/v1/b/" + url.PathEscape(b.name) + "/o?uploadType=multipart",
		header: http.Header{"Content-Type": {"multipart/related; boundary=" + boundary}},
		size:   int64(len(head)) + content.Size + int64(len(tail)),
		body: func() (io.ReadCloser, error) {
			r, err := content.Reader()
			if err != nil {
				return nil, err
			}
			return io.NopCloser(io.MultiReader(strings.NewReader(head), r, strings.NewReader(tail))), nil
		}})
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// Get returns the content of object key (alt=media); the caller closes
// it. A missing object is an error matching fs.ErrNotExist.
func (b *Bucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	name := b.root + key
	if err := remote.ValidKey(key); err != nil {
		return nil, fmt.Errorf("gcs GET %s/%s: %w", b.name, name, err)
	}
	resp, err := b.do(ctx, request{op: "GET", key: name, method: http.MethodGet, url: b.objectURL(name, url.Values{"alt": {"media"}})})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Metadata returns the user metadata of object key.
func (b *Bucket) Metadata(ctx context.Context, key string) (map[string]string, error) {
	name := b.root + key
	if err := remote.ValidKey(key); err != nil {
		return nil, fmt.Errorf("gcs GET %s/%s: %w", b.name, name, err)
	}
	resp, err := b.do(ctx, request{op: "GET metadata", key: name, method: http.MethodGet, url: b.objectURL(name, nil)})
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	var o objectResource
	if err := json.NewDecoder(resp.Body).Decode(&o); err != nil {
		return nil, &remote.Error{Service: "gcs", Op: "GET metadata", Bucket: b.name, Key: name, Err: fmt.Errorf("decode object resource: %w", err)}
	}
	return nonNil(o.Metadata), nil
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// listPage is one page of objects.list.
type listPage struct {
	Items         []objectResource `json:"items"`
	NextPageToken string           `json:"nextPageToken"`
}

// List calls fn for every object whose key starts with prefix, with its
// metadata, page by page.
func (b *Bucket) List(ctx context.Context, prefix string, fn func(key string, size int64, meta map[string]string) error) error {
	q := url.Values{"prefix": {b.root + prefix}}
	for {
		page, err := b.listPage(ctx, q)
		if err != nil {
			return err
		}
		for _, o := range page.Items {
			size, _ := strconv.ParseInt(o.Size, 10, 64)
			if err := fn(strings.TrimPrefix(o.Name, b.root), size, nonNil(o.Metadata)); err != nil {
				return err
			}
		}
		if page.NextPageToken == "" {
			return nil
		}
		q.Set("pageToken", page.NextPageToken)
	}
}

func (b *Bucket) listPage(ctx context.Context, q url.Values) (*listPage, error) {
	prefix := q.Get("prefix")
	resp, err := b.do(ctx, request{op: "LIST", key: prefix, method: http.MethodGet,
		url: b.base + "/storage/v1/b/" + url.PathEscape(b.name) + "/o?" + q.Encode()})
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	var page listPage
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return nil, &remote.Error{Service: "gcs", Op: "LIST", Bucket: b.name, Key: prefix, Err: fmt.Errorf("decode objects list: %w", err)}
	}
	return &page, nil
}

// Close releases nothing: requests hold no state between calls.
func (b *Bucket) Close() error { return nil }
