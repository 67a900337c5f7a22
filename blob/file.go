package blob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/housing-mlops/mlops"
)

// attrsExt names the metadata file kept next to each artifact file. The
// layout and format are gocloud's fileblob's, which earlier versions of
// this package used, so existing artifact directories read the same.
const attrsExt = ".attrs"

// tmpPrefix starts the names of files being written; listings skip them.
const tmpPrefix = ".mlops-tmp-"

// fileAttrs is the JSON of an .attrs file (fileblob's xattrs).
type fileAttrs struct {
	CacheControl       string            `json:"user.cache_control"`
	ContentDisposition string            `json:"user.content_disposition"`
	ContentEncoding    string            `json:"user.content_encoding"`
	ContentLanguage    string            `json:"user.content_language"`
	ContentType        string            `json:"user.content_type"`
	Metadata           map[string]string `json:"user.metadata"`
	MD5                []byte            `json:"md5"`
}

// fileBackend keeps each object as a file under dir, key "a/b" at
// dir/a/b, its metadata in dir/a/b.attrs.
type fileBackend struct {
	dir string
}

// openFile opens a directory store, creating the directory.
func openFile(dir string) (*fileBackend, error) {
	if dir == "" {
		return nil, mlops.Errorf(mlops.EINVALID, "file URL without a path")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &fileBackend{dir: filepath.Clean(dir)}, nil
}

func (f *fileBackend) path(key string) (string, error) {
	if strings.HasSuffix(key, attrsExt) || strings.HasPrefix(path.Base(key), tmpPrefix) {
		return "", mlops.Errorf(mlops.EINVALID, "invalid artifact key %q: the %s suffix and the %s prefix are reserved", key, attrsExt, tmpPrefix)
	}
	return filepath.Join(f.dir, filepath.FromSlash(key)), nil
}

// Put writes the content and the metadata each to a temporary file in the
// target directory, then renames them into place: metadata first (as
// fileblob did), then content, so a reader never sees half an artifact.
func (f *fileBackend) Put(ctx context.Context, key string, body io.ReadSeeker, contentType string, meta map[string]string) error {
	p, err := f.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp, err := writeTemp(p, body)
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp) }() // fails harmlessly after the rename
	attrs, err := json.Marshal(fileAttrs{ContentType: contentType, Metadata: meta})
	if err != nil {
		return err
	}
	tmpAttrs, err := writeTemp(p+attrsExt, strings.NewReader(string(attrs)+"\n"))
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmpAttrs) }()
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Rename(tmpAttrs, p+attrsExt); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// writeTemp writes r to a new file next to path, synced, and returns its
// name.
func writeTemp(path string, r io.Reader) (string, error) {
	t, err := os.CreateTemp(filepath.Dir(path), tmpPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return "", err
	}
	_, err = io.Copy(t, r)
	if err == nil {
		// CreateTemp makes 0600 files; artifacts are as readable as the
		// directories fileblob created.
		err = t.Chmod(0o644)
	}
	if err == nil {
		err = t.Sync()
	}
	if cerr := t.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(t.Name())
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return t.Name(), nil
}

// Get opens the artifact file.
func (f *fileBackend) Get(_ context.Context, key string) (io.ReadCloser, error) {
	p, err := f.path(key)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(p); err == nil && st.IsDir() {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	return os.Open(p)
}

// Metadata reads the .attrs file; an artifact without one (copied in by
// hand) has no metadata.
func (f *fileBackend) Metadata(_ context.Context, key string) (map[string]string, error) {
	p, err := f.path(key)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(p); err != nil {
		return nil, err
	}
	return readAttrs(p)
}

func readAttrs(p string) (map[string]string, error) {
	data, err := os.ReadFile(p + attrsExt)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	var a fileAttrs
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("metadata file %s%s: %w", p, attrsExt, err)
	}
	if a.Metadata == nil {
		a.Metadata = map[string]string{}
	}
	return a.Metadata, nil
}

// List walks the directory of prefix's last "/", skipping metadata and
// temporary files.
func (f *fileBackend) List(ctx context.Context, prefix string, fn func(key string, size int64, meta map[string]string) error) error {
	start := f.dir
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = filepath.Join(f.dir, filepath.FromSlash(prefix[:i]))
	}
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasSuffix(p, attrsExt) || strings.HasPrefix(d.Name(), tmpPrefix) {
			return ctx.Err()
		}
		rel, err := filepath.Rel(f.dir, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		meta, err := readAttrs(p)
		if err != nil {
			return err
		}
		return fn(key, info.Size(), meta)
	})
	if errors.Is(err, fs.ErrNotExist) && start != f.dir {
		return nil // nothing was ever written under the prefix's directory
	}
	return err
}

// Close releases nothing.
func (f *fileBackend) Close() error { return nil }
