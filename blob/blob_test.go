package blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/blob"
	"github.com/housing-mlops/mlops/blob/internal/fakegcs"
	"github.com/housing-mlops/mlops/blob/internal/fakes3"
)

var ctx = context.Background()

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func openFileStore(t *testing.T) (*blob.Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "not", "yet", "there")
	s, err := blob.Open(ctx, "file://"+filepath.ToSlash(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, dir
}

func openMem(t *testing.T) *blob.Store {
	t.Helper()
	s, err := blob.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// openS3 opens s3://bkt/team on a fake S3 (which checks every signature)
// with credentials from the environment, as in production. The fake
// pages lists two objects at a time.
func openS3(t *testing.T) (*blob.Store, *fakes3.Server) {
	t.Helper()
	f := fakes3.New("eu-west-1", map[string]string{"AKIDTEST": "secret"})
	f.MaxKeys = 2
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	s, err := blob.Open(ctx, "s3://bkt/team?region=eu-west-1&endpoint="+url.QueryEscape(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, f
}

// openGCS opens gs://bkt/team on a fake GCS with a service-account key
// named by GOOGLE_APPLICATION_CREDENTIALS, whose token endpoint is the
// fake's. The fake pages lists two objects at a time.
func openGCS(t *testing.T) (*blob.Store, *fakegcs.Server) {
	t.Helper()
	f := fakegcs.New()
	f.MaxResults = 2
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	kf, err := f.KeyFile(srv.URL + fakegcs.TokenPath)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(t.TempDir(), "key.json")
	if err := os.WriteFile(keyPath, kf, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", keyPath)
	t.Setenv("GOOGLE_OAUTH_ACCESS_TOKEN", "")
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	s, err := blob.Open(ctx, "gs://bkt/team?endpoint="+url.QueryEscape(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, f
}

// TestPutGetList runs the same checks on mem://, file://, s3:// and gs://.
func TestPutGetList(t *testing.T) {
	fileStore, dir := openFileStore(t)
	s3Store, s3Fake := openS3(t)
	gcsStore, gcsFake := openGCS(t)
	prefixes := map[string]string{"mem": "mem://", "file": "file://" + filepath.ToSlash(dir) + "/",
		"s3": "s3://bkt/team/", "gs": "gs://bkt/team/"}
	stores := map[string]*blob.Store{"mem": openMem(t), "file": fileStore, "s3": s3Store, "gs": gcsStore}
	for name, s := range stores {
		t.Run(name, func(t *testing.T) {
			content := []byte(strings.Repeat("housing model bytes ", 1000))
			info, err := s.Put(ctx, "runs/abc/model.json", bytes.NewReader(content))
			if err != nil {
				t.Fatal(err)
			}
			if info.Size != int64(len(content)) || info.SHA256 != sum(content) || info.Path != "runs/abc/model.json" ||
				info.URI != prefixes[name]+"runs/abc/model.json" {
				t.Fatalf("info = %+v", info)
			}
			for _, ref := range []string{info.Path, info.URI} {
				got, err := s.Get(ctx, ref, info.SHA256)
				if err != nil || !bytes.Equal(got, content) {
					t.Fatalf("Get(%s): %v (%d bytes)", ref, err, len(got))
				}
			}
			if _, err := s.Get(ctx, info.Path, strings.ToUpper(info.SHA256)); err != nil {
				t.Fatalf("upper-case digest refused: %v", err)
			}
			_, err = s.Get(ctx, info.Path, sum([]byte("other")))
			if mlops.ErrorCode(err) != mlops.ECONFLICT || !strings.Contains(err.Error(), "SHA-256") {
				t.Fatalf("wrong digest: %v", err)
			}
			if _, err := s.Put(ctx, "runs/abc/plot.png", strings.NewReader("png")); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Put(ctx, "runs/other/x", strings.NewReader("x")); err != nil {
				t.Fatal(err)
			}
			list, err := s.List(ctx, "runs/abc/")
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 2 || list[0].Path != "runs/abc/model.json" || list[1].Path != "runs/abc/plot.png" ||
				list[0].SHA256 != info.SHA256 || list[1].Size != 3 || list[1].SHA256 != sum([]byte("png")) {
				t.Fatalf("list = %+v", list)
			}
			_, err = s.Get(ctx, "runs/missing", "")
			if mlops.ErrorCode(err) != mlops.ENOTFOUND {
				t.Fatalf("missing artifact: %v", err)
			}
			for _, bad := range []string{"", "/abs", "a/../b", "a//b", "dir/"} {
				if _, err := s.Put(ctx, bad, strings.NewReader("x")); mlops.ErrorCode(err) != mlops.EINVALID {
					t.Errorf("Put(%q): %v, want EINVALID", bad, err)
				}
			}
			if _, err := s.Get(ctx, "s3://elsewhere/x", ""); mlops.ErrorCode(err) != mlops.EINVALID {
				t.Fatalf("foreign URI: %v", err)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "runs", "abc", "model.json")); err != nil {
		t.Fatalf("file store did not write under its directory: %v", err)
	}
	// The URI prefix is where the objects are: under the URL's path.
	if o, ok := s3Fake.Object("bkt", "team/runs/abc/model.json"); !ok || o.Meta["x-amz-meta-sha256"] == "" {
		t.Fatalf("s3 object not under team/ with its digest: %+v", o)
	}
	if o, ok := gcsFake.Object("bkt", "team/runs/abc/model.json"); !ok || o.Metadata["sha256"] == "" {
		t.Fatalf("gcs object not under team/ with its digest: %+v", o)
	}
}

// TestCorruptedObjectIsRefused changes an object behind an object store's
// back (a fake S3 stores what it is sent): Get must notice.
func TestCorruptedObjectIsRefused(t *testing.T) {
	s, f := openS3(t)
	info, err := s.Put(ctx, "m.json", strings.NewReader("original"))
	if err != nil {
		t.Fatal(err)
	}
	o, _ := f.Object("bkt", "team/m.json")
	o.Data[0] = 'O'
	if _, err := s.Get(ctx, info.URI, ""); mlops.ErrorCode(err) != mlops.ECONFLICT {
		t.Fatalf("changed object served: %v", err)
	}
}

// TestFileLayoutIsFileblobs reads a directory laid out by gocloud's
// fileblob, which earlier versions used: content files with JSON .attrs
// sidecars holding the digest.
func TestFileLayoutIsFileblobs(t *testing.T) {
	dir := t.TempDir()
	content := []byte(`{"coef":[1]}`)
	if err := os.MkdirAll(filepath.Join(dir, "runs", "r1"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "runs", "r1", "model.json")
	attrs := `{"user.cache_control":"","user.content_disposition":"","user.content_encoding":"","user.content_language":"",` +
		`"user.content_type":"application/json","user.metadata":{"sha256":"` + sum(content) + `"},"md5":"AAAA"}` + "\n"
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p+".attrs", []byte(attrs), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := blob.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	list, err := s.List(ctx, "")
	if err != nil || len(list) != 1 || list[0].Path != "runs/r1/model.json" || list[0].SHA256 != sum(content) {
		t.Fatalf("list of a fileblob directory: %+v %v", list, err)
	}
	if err := os.WriteFile(p, []byte(`{"coef":[2]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "runs/r1/model.json", ""); mlops.ErrorCode(err) != mlops.ECONFLICT {
		t.Fatalf("digest from a fileblob sidecar not checked: %v", err)
	}
	// And what this package writes, fileblob's reader would read: the
	// sidecar has the same fields.
	if _, err := s.Put(ctx, "new.json", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	side, err := os.ReadFile(filepath.Join(dir, "new.json.attrs"))
	if err != nil || !strings.Contains(string(side), `"user.metadata":{"sha256":"`+sum([]byte("x"))+`"}`) ||
		!strings.Contains(string(side), `"user.content_type":"application/json"`) {
		t.Fatalf("sidecar %s %v", side, err)
	}
}

func TestFileListOrderAndReservedNames(t *testing.T) {
	s, dir := openFileStore(t)
	for _, k := range []string{"a/b", "a-b", "a/c"} {
		if _, err := s.Put(ctx, k, strings.NewReader(k)); err != nil {
			t.Fatal(err)
		}
	}
	// A crashed writer's leftover must not show up as an artifact.
	if err := os.WriteFile(filepath.Join(dir, "a", ".mlops-tmp-b-123"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, a := range list {
		keys = append(keys, a.Path)
	}
	if strings.Join(keys, ",") != "a-b,a/b,a/c" {
		t.Fatalf("list = %v, want key order without sidecars or temporary files", keys)
	}
	if list, err := s.List(ctx, "nothing/here/"); err != nil || len(list) != 0 {
		t.Fatalf("list of a missing directory: %v %v", list, err)
	}
	for _, bad := range []string{"m.attrs", "d/.mlops-tmp-x"} {
		if _, err := s.Put(ctx, bad, strings.NewReader("x")); mlops.ErrorCode(err) != mlops.EINVALID {
			t.Errorf("Put(%q): %v, want EINVALID", bad, err)
		}
	}
}

// TestCorruptedFileIsRefused edits an artifact on disk behind the store's
// back: reading it must fail, with or without the caller's digest.
func TestCorruptedFileIsRefused(t *testing.T) {
	s, dir := openFileStore(t)
	info, err := s.Put(ctx, "m/model.json", strings.NewReader(`{"coef":[1,2,3]}`))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "m", "model.json")
	if err := os.WriteFile(p, []byte(`{"coef":[1,2,4]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{info.SHA256, ""} {
		_, err := s.Get(ctx, info.URI, want)
		if err == nil || !strings.Contains(err.Error(), "corrupt or changed") || !strings.Contains(err.Error(), info.SHA256) {
			t.Fatalf("Get with want %q of a corrupted file: %v", want, err)
		}
	}
	// Reopening the store does not forget the digest.
	s2, err := blob.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.Get(ctx, "m/model.json", ""); mlops.ErrorCode(err) != mlops.ECONFLICT {
		t.Fatalf("reopened store read a corrupted file: %v", err)
	}
}

func TestOverwriteReplacesWhole(t *testing.T) {
	s := openMem(t)
	if _, err := s.Put(ctx, "k", strings.NewReader("first version, longer")); err != nil {
		t.Fatal(err)
	}
	info, err := s.Put(ctx, "k", strings.NewReader("second"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "k", "")
	if err != nil || string(got) != "second" || info.SHA256 != sum([]byte("second")) {
		t.Fatalf("after overwrite: %q %v", got, err)
	}
}

func TestLocalFileHelpers(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.txt")
	if err := os.WriteFile(p, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	uri := "file://" + filepath.ToSlash(p)
	if got, err := blob.LocalPath(uri); err != nil || got != p {
		t.Fatalf("LocalPath(%s) = %q, %v", uri, got, err)
	}
	if got, err := blob.LocalPath(p); err != nil || got != p {
		t.Fatalf("LocalPath(plain) = %q, %v", got, err)
	}
	if _, err := blob.LocalPath("s3://bucket/key"); mlops.ErrorCode(err) != mlops.EINVALID {
		t.Fatalf("LocalPath(s3): %v", err)
	}
	for _, ref := range []string{uri, p} {
		if b, err := blob.ReadFile(ref, sum([]byte("abc"))); err != nil || string(b) != "abc" {
			t.Fatalf("ReadFile(%s): %q %v", ref, b, err)
		}
	}
	if _, err := blob.ReadFile(uri, sum([]byte("abd"))); mlops.ErrorCode(err) != mlops.ECONFLICT {
		t.Fatalf("ReadFile with wrong digest: %v", err)
	}
	if _, err := blob.ReadFile(filepath.Join(dir, "none"), ""); mlops.ErrorCode(err) != mlops.ENOTFOUND {
		t.Fatalf("ReadFile missing: %v", err)
	}
	// A store reads file:// URIs outside its root from disk, verified.
	s := openMem(t)
	if b, err := s.Get(ctx, uri, sum([]byte("abc"))); err != nil || string(b) != "abc" {
		t.Fatalf("store Get of local URI: %q %v", b, err)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := blob.Open(ctx, ""); mlops.ErrorCode(err) != mlops.EINVALID {
		t.Fatalf("empty URL: %v", err)
	}
	if _, err := blob.Open(ctx, "nosuchscheme://x"); mlops.ErrorCode(err) != mlops.EINVALID || !strings.Contains(err.Error(), "nosuchscheme") {
		t.Fatalf("unknown scheme: %v", err)
	}
	for raw, want := range map[string]string{
		"s3://b?prefix=x": `unknown query parameter "prefix"`,
		"gs:///nobucket":  "no bucket name",
	} {
		if _, err := blob.Open(ctx, raw); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%s): %v, want %q", raw, err, want)
		}
	}
}
