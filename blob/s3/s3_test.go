package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops/blob/internal/fakes3"
	"github.com/housing-mlops/mlops/blob/internal/remote"
)

var ctx = context.Background()

const (
	testKeyID  = "AKIDTEST"
	testSecret = "test/secret+key"
)

// fake starts an S3 fake for eu-west-1 and opens bucket "bkt" (with root
// prefix root) on it with the test credentials.
func fake(t *testing.T, root string) (*fakes3.Server, *Bucket) {
	t.Helper()
	f := fakes3.New("eu-west-1", map[string]string{testKeyID: testSecret})
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	b, err := New("bkt", root, Options{Region: "eu-west-1", Endpoint: srv.URL, PathStyle: true,
		Credentials: &Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}})
	if err != nil {
		t.Fatal(err)
	}
	return f, b
}

func put(t *testing.T, b *Bucket, key, content string, meta map[string]string) {
	t.Helper()
	if err := b.Put(ctx, key, strings.NewReader(content), "application/json", meta); err != nil {
		t.Fatalf("Put(%s): %v", key, err)
	}
}

func get(t *testing.T, b *Bucket, key string) (string, error) {
	t.Helper()
	r, err := b.Get(ctx, key)
	if err != nil {
		return "", err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	return string(data), err
}

func list(t *testing.T, b *Bucket, prefix string) string {
	t.Helper()
	var out []string
	err := b.List(ctx, prefix, func(key string, size int64, meta map[string]string) error {
		if meta != nil {
			t.Errorf("ListObjectsV2 has no metadata, got %v", meta)
		}
		out = append(out, fmt.Sprintf("%s:%d", key, size))
		return nil
	})
	if err != nil {
		t.Fatalf("List(%s): %v", prefix, err)
	}
	return strings.Join(out, ",")
}

func TestPutGetMetadata(t *testing.T) {
	f, b := fake(t, "team/x/")
	key := "runs/a b/$model+1.json" // characters SigV4 escapes differently from Go
	put(t, b, key, `{"coef":[1,2]}`, map[string]string{"sha256": "abc123", "note": "é ü"})
	obj, ok := f.Object("bkt", "team/x/"+key)
	if !ok || string(obj.Data) != `{"coef":[1,2]}` || obj.ContentType != "application/json" || obj.Meta["x-amz-meta-sha256"] != "abc123" {
		t.Fatalf("stored object = %+v, %v (want it under the root prefix)", obj, ok)
	}
	if got, err := get(t, b, key); err != nil || got != `{"coef":[1,2]}` {
		t.Fatalf("Get: %q %v", got, err)
	}
	meta, err := b.Metadata(ctx, key)
	if err != nil || len(meta) != 2 || meta["sha256"] != "abc123" || meta["note"] != "é ü" {
		t.Fatalf("Metadata = %v, %v", meta, err)
	}
}

// TestPutFromPosition: the body is what remains from the reader's
// position, as for a spool file package blob hands over.
func TestPutFromPosition(t *testing.T) {
	f, b := fake(t, "")
	r := strings.NewReader("skip:content")
	if _, err := r.Seek(5, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "k", r, "text/plain", nil); err != nil {
		t.Fatal(err)
	}
	if o, ok := f.Object("bkt", "k"); !ok || string(o.Data) != "content" {
		t.Fatalf("stored %+v %v", o, ok)
	}
}

func TestListPaginatesAndStripsRoot(t *testing.T) {
	f, b := fake(t, "root/")
	f.MaxKeys = 2 // five objects take three pages
	for _, k := range []string{"runs/1/a", "runs/1/b", "runs/2/a", "runs/3", "other"} {
		put(t, b, k, k, nil)
	}
	if got := list(t, b, "runs/"); got != "runs/1/a:8,runs/1/b:8,runs/2/a:8,runs/3:6" {
		t.Fatalf("list runs/ = %s", got)
	}
	if got := list(t, b, ""); !strings.HasPrefix(got, "other:5,runs/1/a:8") || strings.Count(got, ",") != 4 {
		t.Fatalf("list all = %s", got)
	}
	tokens := 0
	for _, req := range f.Requests() {
		if strings.Contains(req, "continuation-token=") {
			tokens++
		}
	}
	if tokens < 3 {
		t.Fatalf("lists used %d continuation tokens, want ≥ 3: %v", tokens, f.Requests())
	}
}

func TestNotFound(t *testing.T) {
	_, b := fake(t, "p/")
	_, err := get(t, b, "missing.json")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing key: %v, want fs.ErrNotExist", err)
	}
	for _, want := range []string{"bkt/p/missing.json", "404", "NoSuchKey"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := b.Metadata(ctx, "missing.json"); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "HEAD") {
		t.Fatalf("HEAD of a missing key: %v", err)
	}
	if err := b.Put(ctx, "bad\nkey", strings.NewReader("x"), "text/plain", nil); err == nil || !strings.Contains(err.Error(), "control character") {
		t.Fatalf("key with a newline: %v", err)
	}
}

func TestWrongSecretIsRefused(t *testing.T) {
	f := fakes3.New("eu-west-1", map[string]string{testKeyID: testSecret})
	srv := httptest.NewServer(f)
	defer srv.Close()
	b, err := New("bkt", "", Options{Region: "eu-west-1", Endpoint: srv.URL, PathStyle: true,
		Credentials: &Credentials{AccessKeyID: testKeyID, SecretAccessKey: "wrong"}})
	if err != nil {
		t.Fatal(err)
	}
	err = b.Put(ctx, "k", strings.NewReader("x"), "text/plain", nil)
	var re *remote.Error
	if !errors.As(err, &re) || re.Status != 403 || re.Code != "SignatureDoesNotMatch" || errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("wrong secret: %v", err)
	}
}

// TestRetryResendsBody fails the first PUT: the retry must carry the whole
// body again, freshly signed, or the fake refuses it.
func TestRetryResendsBody(t *testing.T) {
	f, b := fake(t, "")
	f.FailNext(1)
	put(t, b, "k", "content sent twice", nil)
	if o, ok := f.Object("bkt", "k"); !ok || string(o.Data) != "content sent twice" {
		t.Fatalf("after a retried PUT: %+v %v", o, ok)
	}
	if n := len(f.Requests()); n != 2 {
		t.Fatalf("%d requests, want 2 (failed + retried)", n)
	}
}

func TestAnonymous(t *testing.T) {
	f := fakes3.New("us-east-1", nil)
	srv := httptest.NewServer(f)
	defer srv.Close()
	u, _ := url.Parse("s3://pub?endpoint=" + url.QueryEscape(srv.URL))
	b, err := Open(u, func(string) string { return "" }, nil)
	if err != nil || b.creds != nil {
		t.Fatalf("Open without credentials: %+v %v", b, err)
	}
	if _, err := get(t, b, "k"); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("anonymous request to a private fake: %v", err)
	}
	f.Anonymous = true
	if _, err := get(t, b, "k"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("anonymous request to a public fake: %v", err)
	}
}

func TestParseURL(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	parse := func(raw string) (string, string, Options, error) {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return ParseURL(u, getenv)
	}
	name, root, o, err := parse("s3://bkt/team/x/")
	if err != nil || name != "bkt" || root != "team/x/" || o.Region != "us-east-1" ||
		o.Endpoint != "https://s3.us-east-1.amazonaws.com" || o.PathStyle || o.Credentials != nil {
		t.Fatalf("defaults: %s %s %+v %v", name, root, o, err)
	}
	env["AWS_DEFAULT_REGION"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"] = "eu-west-3", "AK", "SK", "TOK"
	_, _, o, err = parse("s3://bkt")
	want := Credentials{AccessKeyID: "AK", SecretAccessKey: "SK", SessionToken: "TOK"}
	if err != nil || o.Region != "eu-west-3" || o.Credentials == nil || *o.Credentials != want {
		t.Fatalf("from env: %+v %v", o, err)
	}
	env["AWS_REGION"], env["AWS_ENDPOINT_URL_S3"] = "eu-central-1", "minio:9000"
	_, _, o, err = parse("s3://bkt?region=ap-south-1&disable_https=true")
	if err != nil || o.Region != "ap-south-1" || o.Endpoint != "http://minio:9000" || !o.PathStyle {
		t.Fatalf("query over env, env endpoint: %+v %v", o, err)
	}
	_, _, o, err = parse("s3://bkt?endpoint=https://s3.example.com&use_path_style=false&anonymous=true")
	if err != nil || o.Endpoint != "https://s3.example.com" || o.PathStyle || o.Credentials != nil {
		t.Fatalf("explicit virtual-hosted, anonymous: %+v %v", o, err)
	}
	delete(env, "AWS_ENDPOINT_URL_S3")
	if _, _, o, _ = parse("s3://my.dotted.bucket"); !o.PathStyle {
		t.Fatal("dotted bucket name without path style")
	}
	if _, _, o, _ = parse("s3://b?region=cn-north-1"); o.Endpoint != "https://s3.cn-north-1.amazonaws.com.cn" {
		t.Fatalf("China endpoint %s", o.Endpoint)
	}
	for raw, want := range map[string]string{
		"s3:///prefix":              "no bucket name",
		"s3://b?profile=dev":        `unknown query parameter "profile"`,
		"s3://b?use_path_style=yes": "want true or false",
	} {
		if _, _, _, err := parse(raw); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", raw, err, want)
		}
	}
	delete(env, "AWS_SECRET_ACCESS_KEY")
	if _, _, _, err := parse("s3://b"); err == nil || !strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY is empty") {
		t.Errorf("half a key pair: %v", err)
	}
}

func TestObjectURL(t *testing.T) {
	for _, tc := range []struct {
		pathStyle bool
		endpoint  string
		key, want string
	}{
		{false, "https://s3.eu-west-1.amazonaws.com", "a b/$c", "https://bkt.s3.eu-west-1.amazonaws.com/a%20b/%24c?x=1"},
		{true, "http://minio:9000", "a b/$c", "http://minio:9000/bkt/a%20b/%24c?x=1"},
		{true, "http://minio:9000/base/", "", "http://minio:9000/base/bkt?x=1"},
	} {
		b, err := New("bkt", "", Options{Region: "eu-west-1", Endpoint: tc.endpoint, PathStyle: tc.pathStyle})
		if err != nil {
			t.Fatal(err)
		}
		if got := b.objectURL(tc.key, url.Values{"x": {"1"}}).String(); got != tc.want {
			t.Errorf("objectURL(%q) = %s, want %s", tc.key, got, tc.want)
		}
	}
	if _, err := New("bkt", "", Options{Region: "r", Endpoint: "minio:9000"}); err == nil {
		t.Error("endpoint without scheme accepted by New")
	}
}
