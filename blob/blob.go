// Package blob is the artifact store: mlops.ArtifactStore over a local
// directory (file://), memory (mem://, tests) or object storage (s3://,
// gs://) behind one API. The S3 and GCS clients are this module's own
// (packages blob/s3 and blob/gcs), on the standard library.
//
// Every artifact is written with its SHA-256 in the blob's metadata and
// read back verified: a model file that changed on disk is refused rather
// than served.
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/housing-mlops/mlops"
)

// MetadataSHA256 is the metadata key holding an artifact's SHA-256 (hex).
const MetadataSHA256 = "sha256"

// backend is what a Store needs from a place that holds objects. Keys
// are checked by the Store (validKey) before they get here.
type backend interface {
	// Put writes the object key from body, read from its current position
	// to its end (possibly more than once: hashing, retries), replacing
	// any previous object whole.
	Put(ctx context.Context, key string, body io.ReadSeeker, contentType string, meta map[string]string) error
	// Get returns the object's content; a missing object is an error
	// matching fs.ErrNotExist.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Metadata returns the object's metadata, as written by Put.
	Metadata(ctx context.Context, key string) (map[string]string, error)
	// List calls fn for each object whose key starts with prefix, with
	// its metadata when the listing carries it (nil when it does not).
	List(ctx context.Context, prefix string, fn func(key string, size int64, meta map[string]string) error) error
	Close() error
}

// Store is an mlops.ArtifactStore rooted at one bucket URL.
type Store struct {
	bucket backend
	// prefix is what every artifact URI starts with: the root URL without
	// query string, ending in "/" (mem:// for the memory store).
	prefix string
}

var _ mlops.ArtifactStore = (*Store)(nil)

// Open opens the artifact store at rawURL: file:///abs/dir (created if
// missing), a plain local directory path, mem://, s3://bucket[/prefix] or
// gs://bucket[/prefix] (see packages blob/s3 and blob/gcs for their query
// parameters and credentials).
func Open(ctx context.Context, rawURL string) (*Store, error) {
	if rawURL == "" {
		return nil, mlops.Errorf(mlops.EINVALID, "artifact store: empty URL")
	}
	if !strings.Contains(rawURL, "://") {
		abs, err := filepath.Abs(rawURL)
		if err != nil {
			return nil, fmt.Errorf("artifact store %s: %w", rawURL, err)
		}
		rawURL = "file://" + filepath.ToSlash(abs)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, mlops.Errorf(mlops.EINVALID, "artifact store: invalid URL %q: %v", rawURL, err)
	}
	prefix := u.Scheme + "://" + u.Host + strings.TrimSuffix(u.Path, "/") + "/"
	if u.Host == "" && strings.Trim(u.Path, "/") == "" {
		prefix = u.Scheme + "://"
	}
	b, err := openBackend(u)
	if err != nil {
		return nil, fmt.Errorf("artifact store %s: %w", rawURL, err)
	}
	return &Store{bucket: b, prefix: prefix}, nil
}

// Root returns the URL every artifact URI of this store starts with
// (followed by "/" unless the root is a bare scheme like mem://).
func (s *Store) Root() string { return strings.TrimSuffix(s.prefix, "/") }

// Close releases the bucket.
func (s *Store) Close() error { return s.bucket.Close() }

// URI returns the URI of key in this store.
func (s *Store) URI(key string) string { return s.prefix + key }

// validKey rejects keys that could escape the root or that object stores
// treat specially.
func validKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") {
		return mlops.Errorf(mlops.EINVALID, "invalid artifact key %q: want a relative path like runs/ID/model.json", key)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return mlops.Errorf(mlops.EINVALID, "invalid artifact key %q: empty, . or .. segment", key)
		}
	}
	return nil
}

// Put spools r to a temporary file while hashing it, then writes the blob
// with its SHA-256 as metadata in one atomic write.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (mlops.ArtifactInfo, error) {
	if err := validKey(key); err != nil {
		return mlops.ArtifactInfo{}, err
	}
	tmp, err := os.CreateTemp("", "mlops-artifact-*")
	if err != nil {
		return mlops.ArtifactInfo{}, fmt.Errorf("put %s: spool: %w", key, err)
	}
	defer func() {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
	}()
	h := sha256.New()
	size, err := io.Copy(io.MultiWriter(tmp, h), r)
	if err != nil {
		return mlops.ArtifactInfo{}, fmt.Errorf("put %s: read content: %w", key, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return mlops.ArtifactInfo{}, fmt.Errorf("put %s: rewind spool: %w", key, err)
	}
	meta := map[string]string{MetadataSHA256: sum}
	if err := s.bucket.Put(ctx, key, tmp, contentType(key), meta); err != nil {
		return mlops.ArtifactInfo{}, fmt.Errorf("put %s: %w", s.URI(key), err)
	}
	return mlops.ArtifactInfo{URI: s.URI(key), Path: key, Size: size, SHA256: sum}, nil
}

// contentType guesses from the key's extension; object stores serve it.
func contentType(key string) string {
	if t := mime.TypeByExtension(path.Ext(key)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// Key turns a URI of this store into its key; a key is returned as is. A
// URI of another store is EINVALID.
func (s *Store) Key(keyOrURI string) (string, error) {
	if !strings.Contains(keyOrURI, "://") {
		return keyOrURI, nil
	}
	if k, ok := strings.CutPrefix(keyOrURI, s.prefix); ok {
		return k, nil
	}
	return "", mlops.Errorf(mlops.EINVALID, "artifact %q is not under this store's root %s", keyOrURI, s.Root())
}

// Get reads an artifact by key or URI and verifies its SHA-256 against
// wantSHA256 when given, else against the digest stored at Put. A file://
// URI outside the root is read from disk (see ReadFile).
func (s *Store) Get(ctx context.Context, keyOrURI, wantSHA256 string) ([]byte, error) {
	key, err := s.Key(keyOrURI)
	if err != nil {
		if strings.HasPrefix(keyOrURI, "file://") {
			return ReadFile(keyOrURI, wantSHA256)
		}
		return nil, err
	}
	if err := validKey(key); err != nil {
		return nil, err
	}
	r, err := s.bucket.Get(ctx, key)
	if err != nil {
		return nil, s.readErr(key, err)
	}
	defer func() { _ = r.Close() }()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, s.readErr(key, err)
	}
	want := wantSHA256
	if want == "" {
		if meta, err := s.bucket.Metadata(ctx, key); err == nil {
			want = meta[MetadataSHA256]
		}
	}
	if err := verify(s.URI(key), data, want); err != nil {
		return nil, err
	}
	return data, nil
}

func (s *Store) readErr(key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return mlops.Errorf(mlops.ENOTFOUND, "artifact %s not found", s.URI(key))
	}
	return fmt.Errorf("read artifact %s: %w", s.URI(key), err)
}

// verify compares data's SHA-256 with want (hex, any case); "" checks
// nothing.
func verify(uri string, data []byte, want string) error {
	if want == "" {
		return nil
	}
	sum := sha256.Sum256(data)
	got := hex.EncodeToString(sum[:])
	if !strings.EqualFold(got, want) {
		return mlops.Errorf(mlops.ECONFLICT, "artifact %s is corrupt or changed: SHA-256 is %s, expected %s", uri, got, strings.ToLower(want))
	}
	return nil
}

// List returns the artifacts whose key starts with prefix, by key.
func (s *Store) List(ctx context.Context, prefix string) ([]mlops.ArtifactInfo, error) {
	var out []mlops.ArtifactInfo
	err := s.bucket.List(ctx, prefix, func(key string, size int64, meta map[string]string) error {
		if meta == nil {
			var err error
			if meta, err = s.bucket.Metadata(ctx, key); err != nil {
				return fmt.Errorf("metadata of %s: %w", s.URI(key), err)
			}
		}
		out = append(out, mlops.ArtifactInfo{URI: s.URI(key), Path: key, Size: size, SHA256: meta[MetadataSHA256]})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.URI(prefix), err)
	}
	// Directory walks and object listings order keys differently
	// ("a-b" sorts before "a/b", but a walk visits a/ first).
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// LocalPath returns the file path of a file:// URI or of a plain path.
func LocalPath(uri string) (string, error) {
	if !strings.Contains(uri, "://") {
		return filepath.Clean(uri), nil
	}
	u, err := url.Parse(uri)
	if err != nil {
		return "", mlops.Errorf(mlops.EINVALID, "invalid URI %q: %v", uri, err)
	}
	if u.Scheme != "file" || (u.Host != "" && u.Host != "localhost") {
		return "", mlops.Errorf(mlops.EINVALID, "URI %q is not a local file (want file:///path or a path)", uri)
	}
	return filepath.FromSlash(path.Clean(u.Path)), nil
}

// ReadFile reads a local file named by a file:// URI or a path and checks
// its SHA-256 when wantSHA256 is given.
func ReadFile(uri, wantSHA256 string) ([]byte, error) {
	p, err := LocalPath(uri)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, mlops.Errorf(mlops.ENOTFOUND, "artifact %s not found", uri)
	}
	if err != nil {
		return nil, fmt.Errorf("read artifact %s: %w", uri, err)
	}
	if err := verify(uri, data, wantSHA256); err != nil {
		return nil, err
	}
	return data, nil
}
