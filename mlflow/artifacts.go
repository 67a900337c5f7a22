package mlflow

import (
	"errors"
	"mime"
	"net/http"
	"path"
	"sort"
	"strings"

	"github.com/housing-mlops/mlops"
)

// serveArtifacts is MLflow's artifact proxy: PUT uploads the raw body, GET
// with a path downloads, GET artifacts?path=dir lists one level.
func (h *handler) serveArtifacts(w http.ResponseWriter, r *http.Request, rest string) {
	if h.art == nil {
		writeError(w, h.opts.Logger, mlops.Errorf(codeNotImplemented, "this server has no artifact store: the artifact proxy is off"))
		return
	}
	p, ok := strings.CutPrefix(rest, "artifacts")
	if !ok || (p != "" && !strings.HasPrefix(p, "/")) {
		if strings.HasPrefix(rest, "mpu/") {
			writeError(w, h.opts.Logger, mlops.Errorf(codeNotImplemented, "multipart artifact upload is not supported by housing-mlops (see docs/mlflow.md)"))
			return
		}
		writeError(w, h.opts.Logger, mlops.Errorf(codeEndpointNotFound, "no MLflow artifacts endpoint at %s", r.URL.Path))
		return
	}
	p = strings.Trim(p, "/")
	var err error
	switch {
	case r.Method == http.MethodGet && p == "":
		err = h.listArtifacts(w, r)
	case r.Method == http.MethodGet:
		err = h.downloadArtifact(w, r, p)
	case r.Method == http.MethodPut && p != "":
		err = h.uploadArtifact(w, r, p)
	case r.Method == http.MethodDelete:
		err = mlops.Errorf(codeNotImplemented, "deleting artifacts is not supported by housing-mlops")
	default:
		err = mlops.Errorf(codeEndpointNotFound, "%s does not answer %s", r.URL.Path, r.Method)
	}
	if err != nil {
		writeError(w, h.opts.Logger, err)
	}
}

// safePath rejects artifact paths that are absolute or climb out of the
// root, as MLflow's server does.
func safePath(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	if strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || strings.Contains(p, "\x00") {
		return "", mlops.Errorf(mlops.EINVALID, "Invalid path: %q", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." || seg == "." {
			return "", mlops.Errorf(mlops.EINVALID, "Invalid path: %q", p)
		}
	}
	return strings.Trim(path.Clean(p), "/"), nil
}

func (h *handler) key(p string) string { return h.opts.ArtifactPrefix + p }

func (h *handler) uploadArtifact(w http.ResponseWriter, r *http.Request, p string) error {
	p, err := safePath(p)
	if err != nil {
		return err
	}
	body := http.MaxBytesReader(w, r.Body, h.opts.MaxArtifactBytes)
	if _, err := h.art.Put(r.Context(), h.key(p), body); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return mlops.Errorf(mlops.EINVALID, "artifact %s exceeds %d bytes", p, h.opts.MaxArtifactBytes)
		}
		return err
	}
	writeJSON(w, http.StatusOK, empty{})
	return nil
}

func (h *handler) downloadArtifact(w http.ResponseWriter, r *http.Request, p string) error {
	p, err := safePath(p)
	if err != nil {
		return err
	}
	data, err := h.art.Get(r.Context(), h.key(p), "")
	if err != nil {
		return err
	}
	ct := mime.TypeByExtension(path.Ext(p))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", "attachment; filename=\""+strings.ReplaceAll(path.Base(p), "\"", "")+"\"")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
	return nil
}

// listArtifacts answers one directory level: files with their size and
// sub-directories, each named by its base name, as MLflow's proxy does.
func (h *handler) listArtifacts(w http.ResponseWriter, r *http.Request) error {
	dir, err := safePath(r.URL.Query().Get("path"))
	if err != nil {
		return err
	}
	prefix := h.key(dir)
	if dir != "" || prefix != "" {
		prefix = strings.TrimSuffix(prefix, "/") + "/"
	}
	infos, err := h.art.List(r.Context(), prefix)
	if err != nil {
		return err
	}
	files := map[string]wireFileInfo{}
	for _, in := range infos {
		rel := strings.TrimPrefix(in.Path, prefix)
		if rel == "" || rel == in.Path && prefix != "" {
			continue
		}
		name, _, isDir := strings.Cut(rel, "/")
		if isDir {
			files[name] = wireFileInfo{Path: name, IsDir: true}
		} else {
			files[name] = wireFileInfo{Path: name, FileSize: jsonInt(in.Size)}
		}
	}
	out := make([]wireFileInfo, 0, len(files))
	for _, f := range files {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	writeJSON(w, http.StatusOK, searchResp("files", out, ""))
	return nil
}
