package gcs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops/blob/internal/fakegcs"
)

var ctx = context.Background()

// fakeWithKey starts a fake GCS and writes a service-account key file it
// trusts, whose token_uri is the fake's.
func fakeWithKey(t *testing.T) (*fakegcs.Server, *httptest.Server, string) {
	t.Helper()
	f := fakegcs.New()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	kf, err := f.KeyFile(srv.URL + fakegcs.TokenPath)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key.json")
	if err := os.WriteFile(path, kf, 0o600); err != nil {
		t.Fatal(err)
	}
	return f, srv, path
}

// open opens rawURL with the environment env (nothing else).
func open(t *testing.T, rawURL string, env map[string]string, hc *http.Client) *Bucket {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(u, func(k string) string { return env[k] }, hc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func get(b *Bucket, key string) (string, error) {
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
		out = append(out, fmt.Sprintf("%s:%d:%s", key, size, meta["sha256"]))
		return nil
	})
	if err != nil {
		t.Fatalf("List(%s): %v", prefix, err)
	}
	return strings.Join(out, ",")
}

// TestServiceAccountRoundTrip goes through the whole client with a key
// file: JWT exchange, upload with metadata, download, metadata, list
// pages, 404 — on one cached token.
func TestServiceAccountRoundTrip(t *testing.T) {
	f, srv, keyPath := fakeWithKey(t)
	f.MaxResults = 2
	b := open(t, "gs://bkt/team/x?endpoint="+url.QueryEscape(srv.URL), map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": keyPath}, nil)
	key := "runs/a b/$model+1.json"
	if err := b.Put(ctx, key, strings.NewReader(`{"coef":[1,2]}`), "application/json", map[string]string{"sha256": "abc123"}); err != nil {
		t.Fatal(err)
	}
	if o, ok := f.Object("bkt", "team/x/"+key); !ok || string(o.Data) != `{"coef":[1,2]}` || o.Metadata["sha256"] != "abc123" || o.ContentType != "application/json" {
		t.Fatalf("stored object %+v %v (want it under the root prefix, with its metadata)", o, ok)
	}
	if got, err := get(b, key); err != nil || got != `{"coef":[1,2]}` {
		t.Fatalf("Get: %q %v", got, err)
	}
	if meta, err := b.Metadata(ctx, key); err != nil || len(meta) != 1 || meta["sha256"] != "abc123" {
		t.Fatalf("Metadata %v %v", meta, err)
	}
	for _, k := range []string{"runs/1/a", "runs/1/b", "runs/2/a"} {
		if err := b.Put(ctx, k, strings.NewReader(k), "text/plain", map[string]string{"sha256": "s" + k[5:6]}); err != nil {
			t.Fatal(err)
		}
	}
	if got := list(t, b, "runs/"); got != "runs/1/a:8:s1,runs/1/b:8:s1,runs/2/a:8:s2,"+key+":14:abc123" {
		t.Fatalf("list = %s", got)
	}
	pages := 0
	for _, r := range f.Requests() {
		if strings.Contains(r, "pageToken=") {
			pages++
		}
	}
	if pages != 1 {
		t.Fatalf("%d follow-up list pages, want 1 (4 objects, 2 a page): %v", pages, f.Requests())
	}
	_, err := get(b, "missing")
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "bkt/team/x/missing") || !strings.Contains(err.Error(), "404") {
		t.Fatalf("missing object: %v", err)
	}
	if _, err := b.Metadata(ctx, "missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("metadata of a missing object: %v", err)
	}
	if n := f.Issued(); n != 1 {
		t.Fatalf("%d tokens fetched, want 1 cached for all requests", n)
	}
}

func TestWrongAudienceIsRefused(t *testing.T) {
	f, srv, keyPath := fakeWithKey(t)
	f.Audience = "https://elsewhere/token"
	b := open(t, "gs://bkt?endpoint="+url.QueryEscape(srv.URL), map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": keyPath}, nil)
	_, err := get(b, "k")
	if err == nil || !strings.Contains(err.Error(), "invalid_grant") || !strings.Contains(err.Error(), "aud") {
		t.Fatalf("token refused by the endpoint: %v", err)
	}
}

func TestStaticTokenAndAnonymous(t *testing.T) {
	f := fakegcs.New()
	srv := httptest.NewServer(f)
	defer srv.Close()
	env := map[string]string{"GOOGLE_OAUTH_ACCESS_TOKEN": "explicit-token"}
	b := open(t, "gs://bkt?endpoint="+url.QueryEscape(srv.URL), env, nil)
	if _, err := get(b, "k"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("unknown token: %v", err)
	}
	f.Allow("explicit-token")
	if _, err := get(b, "k"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("known token: %v", err)
	}
	anon := open(t, "gs://bkt?anonymous=true&endpoint="+url.QueryEscape(srv.URL), env, nil)
	if _, err := get(anon, "k"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("anonymous=true sent a token: %v", err)
	}
	f.Anonymous = true
	if _, err := get(anon, "k"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("anonymous to a public fake: %v", err)
	}
}

func TestMetadataServer(t *testing.T) {
	f := fakegcs.New()
	srv := httptest.NewServer(f)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	b := open(t, "gs://bkt?endpoint="+url.QueryEscape(srv.URL), map[string]string{"GCE_METADATA_HOST": host}, nil)
	if err := b.Put(ctx, "k", strings.NewReader("v"), "text/plain", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := get(b, "k"); err != nil || got != "v" || f.Issued() != 1 {
		t.Fatalf("with a metadata-server token: %q %v, %d tokens", got, err, f.Issued())
	}
}

// dnsFails answers every request as if the host name did not resolve.
type dnsFails struct{ calls int }

func (d *dnsFails) RoundTrip(r *http.Request) (*http.Response, error) {
	d.calls++
	return nil, &net.DNSError{Err: "no such host", Name: r.URL.Hostname(), IsNotFound: true}
}

// TestNoMetadataServerMeansAnonymous: off Google Cloud the metadata host
// does not resolve; the client then sends no token, and asks only once.
func TestNoMetadataServerMeansAnonymous(t *testing.T) {
	rt := &dnsFails{}
	ts := MetadataTokens("metadata.google.internal", &http.Client{Transport: rt})
	for range 3 {
		if tok, err := ts.Token(ctx); tok != "" || err != nil {
			t.Fatalf("Token() = %q, %v; want anonymous", tok, err)
		}
	}
	if rt.calls != 1 {
		t.Fatalf("%d metadata requests, want 1", rt.calls)
	}
}

func TestParseURL(t *testing.T) {
	parse := func(raw string, env map[string]string) (string, string, Options, error) {
		u, _ := url.Parse(raw)
		return ParseURL(u, func(k string) string { return env[k] }, nil)
	}
	name, root, o, err := parse("gs://bkt/a/b/", map[string]string{"GOOGLE_OAUTH_ACCESS_TOKEN": "t"})
	if err != nil || name != "bkt" || root != "a/b/" || o.Endpoint != DefaultEndpoint || o.Tokens == nil {
		t.Fatalf("defaults: %s %s %+v %v", name, root, o, err)
	}
	_, _, o, err = parse("gs://bkt", map[string]string{"STORAGE_EMULATOR_HOST": "localhost:4443", "GOOGLE_OAUTH_ACCESS_TOKEN": "t"})
	if err != nil || o.Endpoint != "http://localhost:4443" || o.Tokens != nil {
		t.Fatalf("emulator: %+v %v (want its endpoint and no token)", o, err)
	}
	for raw, want := range map[string]string{
		"gs:///x":              "no bucket name",
		"gs://b?access_id=x":   `unknown query parameter "access_id"`,
		"gs://b?anonymous=yes": "want true or false",
	} {
		if _, _, _, err := parse(raw, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", raw, err, want)
		}
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"type":"external_account"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{bad: `type "external_account"`, filepath.Join(dir, "none.json"): "none.json"} {
		_, _, _, err := parse("gs://b", map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": path})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "GOOGLE_APPLICATION_CREDENTIALS") {
			t.Errorf("key file %s: %v, want %q", path, err, want)
		}
	}
}

// TestAuthorizedUser uses gcloud's user credentials: a refresh token
// exchanged at the token endpoint.
func TestAuthorizedUser(t *testing.T) {
	f := fakegcs.New()
	srv := httptest.NewServer(f)
	defer srv.Close()
	f.RefreshToken = "1//refresh"
	kf := `{"type":"authorized_user","client_id":"cid","client_secret":"cs","refresh_token":"1//refresh","token_uri":"` + srv.URL + fakegcs.TokenPath + `"}`
	ts, err := KeyFileTokens([]byte(kf), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New("bkt", "", Options{Endpoint: srv.URL, Tokens: ts})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(b, "k"); !errors.Is(err, fs.ErrNotExist) || f.Issued() != 1 {
		t.Fatalf("with a refreshed user token: %v, %d tokens", err, f.Issued())
	}
	f.RefreshToken = "revoked"
	ts, _ = KeyFileTokens([]byte(kf), nil)
	if _, err := ts.Token(ctx); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("revoked refresh token: %v", err)
	}
}
