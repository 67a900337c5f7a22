package mlflow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/housing-mlops/mlops"
)

// The client's mlops.ArtifactStore goes through MLflow's artifact proxy
// (mlflow server --serve-artifacts, the default since MLflow 2.0). Keys are
// paths below the proxy's root, and URIs are mlflow-artifacts:/<key>, the
// form MLflow itself gives run and experiment artifact locations.

// ArtifactURI returns the mlflow-artifacts URI of a key.
func ArtifactURI(key string) string { return artifactScheme + "/" + strings.TrimPrefix(key, "/") }

// artifactKey accepts a key, an mlflow-artifacts: URI (with or without a
// host) or an http(s) URL of this server's proxy.
func (c *Client) artifactKey(keyOrURI string) (string, error) {
	s := keyOrURI
	switch {
	case strings.HasPrefix(s, artifactScheme+"//"):
		rest := strings.TrimPrefix(s, artifactScheme+"//")
		_, k, _ := strings.Cut(rest, "/") // drop the host
		s = k
	case strings.HasPrefix(s, artifactScheme):
		s = strings.TrimPrefix(s, artifactScheme)
	case strings.HasPrefix(s, c.base+ArtifactsPrefix+"artifacts/"):
		s = strings.TrimPrefix(s, c.base+ArtifactsPrefix+"artifacts/")
	case strings.Contains(s, "://"):
		return "", mlops.Errorf(mlops.EINVALID, "artifact %q is not in the MLflow artifact proxy of %s", keyOrURI, c.base)
	}
	s = strings.Trim(s, "/")
	if _, err := safePath(s); err != nil || s == "" {
		return "", mlops.Errorf(mlops.EINVALID, "invalid artifact key %q", keyOrURI)
	}
	return s, nil
}

func escapePath(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// Put uploads an artifact. The content is buffered so that a failed
// upload can be retried.
func (c *Client) Put(ctx context.Context, key string, r io.Reader) (mlops.ArtifactInfo, error) {
	k, err := c.artifactKey(key)
	if err != nil {
		return mlops.ArtifactInfo{}, err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return mlops.ArtifactInfo{}, mlops.Errorf(mlops.EINTERNAL, "put artifact %s: read content: %v", k, err)
	}
	if data == nil {
		data = []byte{}
	}
	req := request{
		method: http.MethodPut, path: ArtifactsPrefix + "artifacts/" + escapePath(k), body: data, idempotent: true,
		header: http.Header{"Content-Type": {"application/octet-stream"}},
	}
	if _, err := c.do(ctx, req); err != nil {
		return mlops.ArtifactInfo{}, err
	}
	sum := sha256.Sum256(data)
	return mlops.ArtifactInfo{URI: ArtifactURI(k), Path: k, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}, nil
}

// Get downloads an artifact and verifies its SHA-256 when wantSHA256 is
// given (the proxy stores no digest, so nothing is checked otherwise).
func (c *Client) Get(ctx context.Context, keyOrURI, wantSHA256 string) ([]byte, error) {
	k, err := c.artifactKey(keyOrURI)
	if err != nil {
		return nil, err
	}
	data, err := c.do(ctx, request{method: http.MethodGet, path: ArtifactsPrefix + "artifacts/" + escapePath(k), idempotent: true})
	if err != nil {
		return nil, err
	}
	if wantSHA256 != "" {
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, wantSHA256) {
			return nil, mlops.Errorf(mlops.ECONFLICT, "artifact %s is corrupt or changed: SHA-256 is %s, expected %s", ArtifactURI(k), got, strings.ToLower(wantSHA256))
		}
	}
	return data, nil
}

// List returns the artifacts whose key starts with prefix, walking the
// proxy's one-level listings from the prefix's directory. SHA256 is empty:
// the proxy does not report digests.
func (c *Client) List(ctx context.Context, prefix string) ([]mlops.ArtifactInfo, error) {
	dir := ""
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		dir = prefix[:i]
	}
	if dir != "" {
		var err error
		if dir, err = c.artifactKey(dir); err != nil {
			return nil, err
		}
	}
	var out []mlops.ArtifactInfo
	queue := []string{dir}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		files, err := c.listDir(ctx, d)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			full := path.Join(d, f.Path)
			if d == "" {
				full = f.Path
			}
			switch {
			case f.IsDir && (strings.HasPrefix(full+"/", prefix) || strings.HasPrefix(prefix, full+"/")):
				queue = append(queue, full)
			case !f.IsDir && strings.HasPrefix(full, prefix):
				out = append(out, mlops.ArtifactInfo{URI: ArtifactURI(full), Path: full, Size: int64(f.FileSize)})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// listDir lists one directory level; entries are named by base name.
func (c *Client) listDir(ctx context.Context, dir string) ([]wireFileInfo, error) {
	req := request{method: http.MethodGet, path: ArtifactsPrefix + "artifacts", idempotent: true}
	if dir != "" {
		req.query = url.Values{"path": {dir}}
	}
	data, err := c.do(ctx, req)
	if err != nil {
		return nil, err
	}
	var resp struct {
		Files []wireFileInfo `json:"files"`
	}
	if len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, &resp); err != nil {
			return nil, mlops.Errorf(mlops.EINTERNAL, "list artifacts %s: malformed response: %v", dir, err)
		}
	}
	for i, f := range resp.Files {
		resp.Files[i].Path = path.Base(f.Path)
	}
	return resp.Files, nil
}
