// Package s3 is the s3:// backend of package blob: Amazon S3 and
// S3-compatible stores (MinIO, ...) over their REST API with AWS Signature
// Version 4, on the standard library. It replaces gocloud.dev/blob/s3blob,
// whose AWS SDK was a sizeable part of the binary.
//
// URLs: s3://bucket[/prefix][?param=value&...]. The path is a key prefix:
// s3://b/team/x stores the key k as the object team/x/k, which is also the
// URI package blob reports for it. Query parameters (the subset of
// s3blob's that applies here):
//
//   - region: the bucket's region; else $AWS_REGION, $AWS_DEFAULT_REGION,
//     else us-east-1.
//   - endpoint: base URL of an S3-compatible service, like
//     http://minio:9000 (https:// is assumed without a scheme); else
//     $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS.
//   - use_path_style (or s3ForcePathStyle): true for endpoint/bucket/key
//     requests; the default with a custom endpoint and for bucket names
//     with dots, else virtual-hosted bucket.endpoint/key.
//   - disable_https: true for http:// to AWS or a scheme-less endpoint.
//   - anonymous: true sends unsigned requests even with credentials set.
//
// Credentials come from $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY and
// $AWS_SESSION_TOKEN; without them requests are unsigned (public buckets).
// Shared config files, profiles, SSO and instance or pod roles are not
// read. Objects are written with one PUT each (at most 5 GiB).
package s3

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/housing-mlops/mlops/blob/internal/remote"
	"github.com/housing-mlops/mlops/blob/internal/sigv4"
)

// maxPut is S3's limit on one PUT; larger objects need multipart uploads,
// which artifacts of this project never need.
const maxPut = 5 << 30

// Credentials are an AWS access key pair and optional session token.
type Credentials = sigv4.Credentials

// Options configure a bucket; Open fills them from the URL and the
// environment.
type Options struct {
	// Region is the bucket's region, signed into every request.
	Region string
	// Endpoint is the base URL requests go to, like
	// https://s3.eu-west-1.amazonaws.com or http://minio:9000.
	Endpoint string
	// PathStyle puts the bucket in the path (endpoint/bucket/key) rather
	// than in the host name (bucket.endpoint/key).
	PathStyle bool
	// Credentials sign requests; nil sends them unsigned.
	Credentials *Credentials
	// HTTPClient sends the requests; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// Bucket is one S3 bucket, or a prefix of one.
type Bucket struct {
	name      string
	root      string
	region    string
	base      *url.URL
	pathStyle bool
	creds     *Credentials
	client    *remote.Client
}

// Open opens the bucket of an s3:// URL with settings and credentials from
// getenv (os.Getenv in production); hc sends the requests (nil:
// http.DefaultClient). It sends no request.
func Open(u *url.URL, getenv func(string) string, hc *http.Client) (*Bucket, error) {
	name, root, opts, err := ParseURL(u, getenv)
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
		return nil, fmt.Errorf("s3: empty bucket name")
	}
	if opts.Region == "" {
		return nil, fmt.Errorf("s3 bucket %s: empty region", name)
	}
	base, err := url.Parse(strings.TrimSuffix(opts.Endpoint, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("s3 bucket %s: endpoint %q: want a URL like https://host[:port]", name, opts.Endpoint)
	}
	return &Bucket{name: name, root: root, region: opts.Region, base: base, pathStyle: opts.PathStyle,
		creds: opts.Credentials, client: remote.NewClient(opts.HTTPClient)}, nil
}

// ParseURL reads an s3:// URL and the environment (getenv) into the
// bucket name, key prefix and Options.
func ParseURL(u *url.URL, getenv func(string) string) (name, root string, opts Options, err error) {
	name = u.Host
	if name == "" {
		return "", "", opts, fmt.Errorf("s3 URL %q: no bucket name (want s3://bucket[/prefix])", u.Redacted())
	}
	if root = strings.Trim(u.Path, "/"); root != "" {
		root += "/"
	}
	var endpoint, pathStyle string
	var disableHTTPS, anonymous bool
	for k, vs := range u.Query() {
		v := vs[0]
		switch k {
		case "region":
			opts.Region = v
		case "endpoint":
			endpoint = v
		case "use_path_style", "s3ForcePathStyle":
			pathStyle = v
		case "disable_https":
			disableHTTPS, err = parseBool(k, v)
		case "anonymous":
			anonymous, err = parseBool(k, v)
		case "awssdk":
			// s3blob's choice between AWS SDK versions; there is no SDK.
		default:
			err = fmt.Errorf("unknown query parameter %q (want region, endpoint, use_path_style, disable_https or anonymous)", k)
		}
		if err != nil {
			return "", "", opts, fmt.Errorf("s3 URL %q: %w", u.Redacted(), err)
		}
	}
	opts.Region = firstNonEmpty(opts.Region, getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION"), "us-east-1")
	endpoint = firstNonEmpty(endpoint, getenv("AWS_ENDPOINT_URL_S3"), getenv("AWS_ENDPOINT_URL"))
	if opts.PathStyle, err = choosePathStyle(name, endpoint, pathStyle); err != nil {
		return "", "", opts, fmt.Errorf("s3 URL %q: %w", u.Redacted(), err)
	}
	opts.Endpoint = endpointURL(endpoint, opts.Region, disableHTTPS)
	if !anonymous {
		opts.Credentials, err = envCredentials(getenv)
	}
	return name, root, opts, err
}

func parseBool(param, v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("query parameter %s=%q: want true or false", param, v)
	}
	return b, nil
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// choosePathStyle: an explicit setting wins; custom endpoints (MinIO and
// the like) rarely resolve bucket subdomains; dotted bucket names break
// TLS on AWS's wildcard certificates.
func choosePathStyle(name, endpoint, param string) (bool, error) {
	if param != "" {
		return parseBool("use_path_style", param)
	}
	return endpoint != "" || strings.Contains(name, "."), nil
}

// endpointURL completes endpoint with a scheme, or names AWS's regional
// endpoint when it is empty.
func endpointURL(endpoint, region string, disableHTTPS bool) string {
	scheme := "https://"
	if disableHTTPS {
		scheme = "http://"
	}
	if endpoint == "" {
		host := "s3." + region + ".amazonaws.com"
		if strings.HasPrefix(region, "cn-") {
			host += ".cn"
		}
		return scheme + host
	}
	if !strings.Contains(endpoint, "://") {
		return scheme + endpoint
	}
	return endpoint
}

// envCredentials reads the standard AWS variables; none set means
// anonymous access, half a key pair is an error.
func envCredentials(getenv func(string) string) (*Credentials, error) {
	c := Credentials{AccessKeyID: getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken: getenv("AWS_SESSION_TOKEN")}
	switch {
	case c.AccessKeyID == "" && c.SecretAccessKey == "":
		return nil, nil
	case c.AccessKeyID == "":
		return nil, fmt.Errorf("s3: AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is empty")
	case c.SecretAccessKey == "":
		return nil, fmt.Errorf("s3: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is empty")
	}
	return &c, nil
}

// objectURL is the URL of object key (the bucket itself when key is ""),
// its path escaped and its query encoded as SigV4 canonicalizes them.
func (b *Bucket) objectURL(key string, q url.Values) *url.URL {
	u := *b.base
	p := u.Path + "/" + key
	if b.pathStyle {
		p = u.Path + "/" + b.name
		if key != "" {
			p += "/" + key
		}
	} else {
		u.Host = b.name + "." + u.Host
	}
	u.Path, u.RawPath, u.RawQuery = p, sigv4.EscapePath(p), sigv4.EncodeQuery(q)
	return &u
}

// request is one S3 call: what it is (for errors) and what to send.
type request struct {
	op, key string // key names the object, or the prefix of a LIST
	method  string
	list    bool // a bucket-level request: the URL has no key
	query   url.Values
	header  http.Header
	body    *remote.Body
	sha256  string // hex SHA-256 of body; "" for no body
}

// do sends r, signed, with retries, and turns a non-2xx answer into a
// *remote.Error. The caller closes the returned body.
func (b *Bucket) do(ctx context.Context, r request) (*http.Response, error) {
	objectKey := r.key
	if r.list {
		objectKey = ""
	}
	u := b.objectURL(objectKey, r.query).String()
	payloadHash := r.sha256
	if payloadHash == "" {
		payloadHash = sigv4.EmptySHA256
	}
	resp, err := b.client.Do(ctx, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, r.method, u, nil)
		if err != nil {
			return nil, err
		}
		for k, vs := range r.header {
			req.Header[k] = vs
		}
		if r.body != nil {
			if req.Body, err = r.body.Reader(); err != nil {
				return nil, err
			}
			req.ContentLength = r.body.Size
		}
		if b.creds != nil {
			sigv4.Sign(req, *b.creds, b.region, payloadHash, time.Now())
		}
		return req, nil
	})
	if err != nil {
		return nil, &remote.Error{Service: "s3", Op: r.op, Bucket: b.name, Key: r.key, Err: err}
	}
	if resp.StatusCode/100 != 2 {
		return nil, b.responseError(r, resp)
	}
	return resp, nil
}

// responseError reads S3's <Error><Code/><Message/></Error> document (HEAD
// answers have none) and hints at the bucket's real region when S3 says
// it differs.
func (b *Bucket) responseError(r request, resp *http.Response) error {
	e := &remote.Error{Service: "s3", Op: r.op, Bucket: b.name, Key: r.key, Status: resp.StatusCode}
	var doc struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	if body := remote.ReadErrorBody(resp); xml.Unmarshal(body, &doc) == nil {
		e.Code, e.Message = doc.Code, doc.Message
	} else {
		e.Message = strings.TrimSpace(string(body))
	}
	if region := resp.Header.Get("X-Amz-Bucket-Region"); region != "" && region != b.region {
		e.Message = strings.TrimSpace(e.Message + " (the bucket is in region " + region + "; set ?region=" + region + ")")
	}
	return e
}

// Put writes the object key from body (read from its current position to
// its end, twice: to hash it for the signature, then to send it) with its
// content type and metadata (x-amz-meta-* headers).
func (b *Bucket) Put(ctx context.Context, key string, body io.ReadSeeker, contentType string, meta map[string]string) error {
	name := b.root + key
	if err := remote.ValidKey(key); err != nil {
		return fmt.Errorf("s3 PUT %s/%s: %w", b.name, name, err)
	}
	content, err := remote.NewBody(body)
	if err != nil {
		return fmt.Errorf("s3 PUT %s/%s: measure content: %w", b.name, name, err)
	}
	if content.Size > maxPut {
		return fmt.Errorf("s3 PUT %s/%s: %d bytes is over S3's 5 GiB single-request limit", b.name, name, content.Size)
	}
	sum, err := content.Hash(sha256.New())
	if err != nil {
		return fmt.Errorf("s3 PUT %s/%s: hash content: %w", b.name, name, err)
	}
	h := http.Header{"Content-Type": {contentType}}
	for k, v := range meta {
		// s3blob's escaping, so that objects it wrote read the same.
		h.Set("X-Amz-Meta-"+url.PathEscape(k), url.PathEscape(v))
	}
	resp, err := b.do(ctx, request{op: "PUT", key: name, method: http.MethodPut, header: h,
		body: content, sha256: hex.EncodeToString(sum)})
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// Get returns the content of object key; the caller closes it. A missing
// object is an error matching fs.ErrNotExist.
func (b *Bucket) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	name := b.root + key
	if err := remote.ValidKey(key); err != nil {
		return nil, fmt.Errorf("s3 GET %s/%s: %w", b.name, name, err)
	}
	resp, err := b.do(ctx, request{op: "GET", key: name, method: http.MethodGet})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Metadata returns the user metadata of object key (HEAD).
func (b *Bucket) Metadata(ctx context.Context, key string) (map[string]string, error) {
	name := b.root + key
	if err := remote.ValidKey(key); err != nil {
		return nil, fmt.Errorf("s3 HEAD %s/%s: %w", b.name, name, err)
	}
	resp, err := b.do(ctx, request{op: "HEAD", key: name, method: http.MethodHead})
	if err != nil {
		return nil, err
	}
	_ = resp.Body.Close()
	meta := map[string]string{}
	for k, vs := range resp.Header {
		if name, ok := strings.CutPrefix(strings.ToLower(k), "x-amz-meta-"); ok && len(vs) > 0 {
			meta[unescape(name)] = unescape(vs[0])
		}
	}
	return meta, nil
}

// unescape reverses the URL escaping s3blob applied to metadata, which
// HTTP headers need for non-ASCII text.
func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// listResult is the part of ListObjectsV2's answer the client reads.
type listResult struct {
	Contents []struct {
		Key  string `xml:"Key"`
		Size int64  `xml:"Size"`
	} `xml:"Contents"`
	IsTruncated           bool   `xml:"IsTruncated"`
	NextContinuationToken string `xml:"NextContinuationToken"`
}

// List calls fn for every object whose key starts with prefix, page by
// page (ListObjectsV2 with continuation tokens). ListObjectsV2 carries no
// user metadata: fn gets nil for it.
func (b *Bucket) List(ctx context.Context, prefix string, fn func(key string, size int64, meta map[string]string) error) error {
	q := url.Values{"list-type": {"2"}, "prefix": {b.root + prefix}}
	for {
		res, err := b.listPage(ctx, q)
		if err != nil {
			return err
		}
		for _, c := range res.Contents {
			if err := fn(strings.TrimPrefix(c.Key, b.root), c.Size, nil); err != nil {
				return err
			}
		}
		if !res.IsTruncated || res.NextContinuationToken == "" {
			return nil
		}
		q.Set("continuation-token", res.NextContinuationToken)
	}
}

func (b *Bucket) listPage(ctx context.Context, q url.Values) (*listResult, error) {
	prefix := q.Get("prefix")
	resp, err := b.do(ctx, request{op: "LIST", key: prefix, method: http.MethodGet, list: true, query: q})
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	var res listResult
	if err := xml.NewDecoder(resp.Body).Decode(&res); err != nil {
		return nil, &remote.Error{Service: "s3", Op: "LIST", Bucket: b.name, Key: prefix,
			Err: fmt.Errorf("decode ListObjectsV2 response: %w", err)}
	}
	return &res, nil
}

// Close releases nothing: requests hold no state between calls.
func (b *Bucket) Close() error { return nil }
