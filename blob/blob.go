// Package blob is the artifact store: mlops.ArtifactStore over
// gocloud.dev/blob, so artifacts live on local disk (file://), in memory
// (mem://, tests) or in object storage (s3://, gs://) behind one API.
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
	"mime"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/housing-mlops/mlops"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/memblob" // registers mem://
	"gocloud.dev/gcerrors"
)

// MetadataSHA256 is the metadata key holding an artifact's SHA-256 (hex).
const MetadataSHA256 = "sha256"

// Store is an mlops.ArtifactStore rooted at one bucket URL.
type Store struct {
	bucket *blob.Bucket
	// prefix is what every artifact URI starts with: the root URL without
	// query string, ending in "/" (mem:// for the memory store).
	prefix string
}

var _ mlops.ArtifactStore = (*Store)(nil)

// Open opens the artifact store at rawURL: file:///abs/dir (created if
// missing), a plain local directory path, mem://, or any URL scheme
// registered with gocloud.dev/blob (s3://, gs:// when their drivers are
// linked in).
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
	var b *blob.Bucket
	if u.Scheme == "file" {
		b, err = openFile(u.Path)
	} else {
		b, err = blob.OpenBucket(ctx, rawURL)
	}
	if err != nil {
		return nil, fmt.Errorf("artifact store %s: %w", rawURL, err)
	}
	return &Store{bucket: b, prefix: prefix}, nil
}

// openFile opens a directory bucket, creating the directory. fileblob
// writes each blob to a temporary file and renames it into place on Close,
// so readers never see half an artifact.
func openFile(dir string) (*blob.Bucket, error) {
	if dir == "" {
		return nil, mlops.Errorf(mlops.EINVALID, "file URL without a path")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return fileblob.OpenBucket(dir, &fileblob.Options{CreateDir: true})
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
	opts := &blob.WriterOptions{Metadata: map[string]string{MetadataSHA256: sum}, ContentType: contentType(key)}
	if err := s.bucket.Upload(ctx, key, tmp, opts); err != nil {
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
	r, err := s.bucket.NewReader(ctx, key, nil)
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
		if attrs, err := s.bucket.Attributes(ctx, key); err == nil {
			want = attrs.Metadata[MetadataSHA256]
		}
	}
	if err := verify(s.URI(key), data, want); err != nil {
		return nil, err
	}
	return data, nil
}

func (s *Store) readErr(key string, err error) error {
	if gcerrors.Code(err) == gcerrors.NotFound {
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
	it := s.bucket.List(&blob.ListOptions{Prefix: prefix})
	var out []mlops.ArtifactInfo
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", s.URI(prefix), err)
		}
		if obj.IsDir {
			continue
		}
		info := mlops.ArtifactInfo{URI: s.URI(obj.Key), Path: obj.Key, Size: obj.Size}
		attrs, err := s.bucket.Attributes(ctx, obj.Key)
		if err != nil {
			return nil, fmt.Errorf("list %s: attributes: %w", s.URI(obj.Key), err)
		}
		info.SHA256 = attrs.Metadata[MetadataSHA256]
		out = append(out, info)
	}
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
