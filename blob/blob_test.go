package blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/blob"
	gcblob "gocloud.dev/blob"
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

// TestPutGetList runs the same checks on mem:// and file://.
func TestPutGetList(t *testing.T) {
	fileStore, dir := openFileStore(t)
	prefixes := map[string]string{"mem": "mem://", "file": "file://" + filepath.ToSlash(dir) + "/"}
	for name, s := range map[string]*blob.Store{"mem": openMem(t), "file": fileStore} {
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
	if _, err := blob.Open(ctx, "nosuchscheme://x"); err == nil {
		t.Fatal("unknown scheme opened")
	}
}

// TestObjectStoreSchemesRegistered checks the s3 and gs drivers are linked
// in, without opening a bucket (that would look for cloud credentials).
func TestObjectStoreSchemesRegistered(t *testing.T) {
	for _, scheme := range []string{"s3", "gs", "file", "mem"} {
		if !gcblob.DefaultURLMux().ValidBucketScheme(scheme) {
			t.Errorf("scheme %s:// not registered", scheme)
		}
	}
}
