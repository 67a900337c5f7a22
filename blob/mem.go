package blob

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"maps"
	"strings"
	"sync"
)

// memBackend keeps objects in memory, for tests and throwaway runs; each
// mem:// store is a new, empty one.
type memBackend struct {
	mu      sync.Mutex
	objects map[string]memObject
}

type memObject struct {
	data []byte
	meta map[string]string
}

func newMem() *memBackend { return &memBackend{objects: map[string]memObject{}} }

// Put copies the content and metadata.
func (m *memBackend) Put(ctx context.Context, key string, body io.ReadSeeker, _ string, meta map[string]string) error {
	data, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if meta = maps.Clone(meta); meta == nil {
		meta = map[string]string{}
	}
	m.objects[key] = memObject{data: data, meta: meta}
	return nil
}

func (m *memBackend) object(key string) (memObject, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objects[key]
	if !ok {
		return o, &fs.PathError{Op: "open", Path: "mem://" + key, Err: fs.ErrNotExist}
	}
	return o, nil
}

// Get returns a reader of the content (which Put never modifies in place).
func (m *memBackend) Get(_ context.Context, key string) (io.ReadCloser, error) {
	o, err := m.object(key)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(o.data)), nil
}

// Metadata returns a copy of the metadata.
func (m *memBackend) Metadata(_ context.Context, key string) (map[string]string, error) {
	o, err := m.object(key)
	if err != nil {
		return nil, err
	}
	return maps.Clone(o.meta), nil
}

// List calls fn outside the lock, on a snapshot.
func (m *memBackend) List(_ context.Context, prefix string, fn func(key string, size int64, meta map[string]string) error) error {
	m.mu.Lock()
	snap := make(map[string]memObject)
	for k, o := range m.objects {
		if strings.HasPrefix(k, prefix) {
			snap[k] = o
		}
	}
	m.mu.Unlock()
	for k, o := range snap {
		if err := fn(k, int64(len(o.data)), maps.Clone(o.meta)); err != nil {
			return err
		}
	}
	return nil
}

// Close releases nothing; the objects go with the store.
func (m *memBackend) Close() error { return nil }
