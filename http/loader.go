package http

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/housing-mlops/mlops"
)

// Fetched is an artifact's bytes and what its source knows about them.
type Fetched struct {
	Data []byte
	// SHA256 is the digest the bytes must have ("" when the source records
	// none); the cascade verifies it before decoding and then sets it to
	// the bytes' lower-case hex digest, so the decoder need not hash them
	// again.
	SHA256 string
	// Name and Version come from the registry; empty for other sources,
	// where the decoder takes them from the artifact.
	Name, Version string
	// URI is where the bytes were read from.
	URI string
}

// Source is one place a model artifact can be loaded from.
type Source interface {
	// Name is "registry", "blob" or "file": the load-source label.
	Name() string
	Fetch(ctx context.Context) (*Fetched, error)
}

// Decoder turns verified artifact bytes into a Model.
type Decoder func(f *Fetched) (Model, error)

// LoadResult is a model the cascade loaded and where it came from.
type LoadResult struct {
	Model  Model
	Info   ModelInfo
	Source string
	URI    string
}

// Cascade tries its sources in order; the first one that yields an
// artifact whose checksum verifies and which decodes wins. Each source gets
// Retry attempts, each bounded by Timeout.
type Cascade struct {
	Sources []Source
	Decode  Decoder
	Timeout time.Duration // per attempt (default 30s)
	Retry   Backoff
	Logger  *slog.Logger
	// OnAttempt, when set, is told each source's outcome ("ok" or "error").
	OnAttempt func(source, result string)
}

// Load runs the cascade. The error names every source's failure.
func (c *Cascade) Load(ctx context.Context) (LoadResult, error) {
	return c.LoadFrom(ctx, c.Sources...)
}

// LoadFrom runs the cascade over the given sources.
func (c *Cascade) LoadFrom(ctx context.Context, sources ...Source) (LoadResult, error) {
	if len(sources) == 0 {
		return LoadResult{}, errors.New("no model source configured (give --model, --model-url or --model-file)")
	}
	var errs []error
	for _, src := range sources {
		res, err := c.loadOne(ctx, src)
		c.report(src.Name(), err)
		if err == nil {
			c.logger().Info("model loaded", "source", src.Name(), "uri", res.URI,
				"name", res.Info.Name, "version", res.Info.Version, "sha256", res.Info.SHA256)
			return res, nil
		}
		c.logger().Warn("model source failed", "source", src.Name(), "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", src.Name(), err))
		if ctx.Err() != nil {
			break
		}
	}
	return LoadResult{}, errors.Join(errs...)
}

func (c *Cascade) report(source string, err error) {
	if c.OnAttempt == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	c.OnAttempt(source, result)
}

func (c *Cascade) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// loadOne fetches (with retries), verifies and decodes from one source.
func (c *Cascade) loadOne(ctx context.Context, src Source) (LoadResult, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	var f *Fetched
	err := c.Retry.Retry(ctx, func(ctx context.Context) error {
		actx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		var err error
		f, err = src.Fetch(actx)
		return err
	})
	if err != nil {
		return LoadResult{}, err
	}
	sum := sha256.Sum256(f.Data)
	got := hex.EncodeToString(sum[:])
	if f.SHA256 != "" && !strings.EqualFold(f.SHA256, got) {
		return LoadResult{}, fmt.Errorf("checksum mismatch for %s: recorded sha256 %s, content has %s", f.URI, f.SHA256, got)
	}
	f.SHA256 = got
	if c.Decode == nil {
		return LoadResult{}, errors.New("no decoder configured")
	}
	m, err := c.Decode(f)
	if err != nil {
		return LoadResult{}, fmt.Errorf("decode %s: %w", f.URI, err)
	}
	info := m.Info()
	return LoadResult{Model: m, Info: info, Source: src.Name(), URI: f.URI}, nil
}

// ModelURI is a parsed registry model URI: models:/NAME/STAGE,
// models:/NAME@ALIAS or models:/NAME/VERSION.
type ModelURI struct {
	Name    string
	Stage   mlops.Stage // set for models:/NAME/Stage
	Alias   string      // set for models:/NAME@alias
	Version int         // set for models:/NAME/3
}

// ParseModelURI parses a models:/ URI.
func ParseModelURI(s string) (ModelURI, error) {
	rest, ok := strings.CutPrefix(s, "models:/")
	if !ok || rest == "" {
		return ModelURI{}, fmt.Errorf("model URI %q: want models:/NAME/STAGE, models:/NAME@ALIAS or models:/NAME/VERSION", s)
	}
	if name, alias, ok := strings.Cut(rest, "@"); ok {
		if name == "" || alias == "" || strings.Contains(name, "/") {
			return ModelURI{}, fmt.Errorf("model URI %q: want models:/NAME@ALIAS", s)
		}
		return ModelURI{Name: name, Alias: alias}, nil
	}
	name, ref, ok := strings.Cut(rest, "/")
	if !ok || name == "" || ref == "" || strings.Contains(ref, "/") {
		return ModelURI{}, fmt.Errorf("model URI %q: want models:/NAME/STAGE or models:/NAME/VERSION", s)
	}
	if v, err := strconv.Atoi(ref); err == nil {
		if v < 1 {
			return ModelURI{}, fmt.Errorf("model URI %q: version must be >= 1", s)
		}
		return ModelURI{Name: name, Version: v}, nil
	}
	st, err := mlops.ParseStage(ref)
	if err != nil {
		return ModelURI{}, fmt.Errorf("model URI %q: %w", s, err)
	}
	return ModelURI{Name: name, Stage: st}, nil
}

// String returns the URI in canonical form.
func (u ModelURI) String() string {
	switch {
	case u.Alias != "":
		return "models:/" + u.Name + "@" + u.Alias
	case u.Version > 0:
		return "models:/" + u.Name + "/" + strconv.Itoa(u.Version)
	}
	return "models:/" + u.Name + "/" + string(u.Stage)
}

// VersionResolver is the part of mlops.Registry the server uses.
type VersionResolver interface {
	GetModelVersion(ctx context.Context, name string, version int) (*mlops.ModelVersion, error)
	GetModelVersionByAlias(ctx context.Context, name, alias string) (*mlops.ModelVersion, error)
	LatestVersions(ctx context.Context, name string, stages ...mlops.Stage) ([]*mlops.ModelVersion, error)
}

// ArtifactGetter is the part of mlops.ArtifactStore the server uses.
type ArtifactGetter interface {
	Get(ctx context.Context, keyOrURI, wantSHA256 string) ([]byte, error)
}

// RegistrySource resolves a models:/ URI in the registry and fetches the
// version's artifact. Registry calls go through Breaker (when set), so a
// registry that is down is not hammered by the poller and fails fast.
type RegistrySource struct {
	URI       ModelURI
	Registry  VersionResolver
	Artifacts ArtifactGetter // nil: read file:// and plain-path sources directly
	Breaker   *Breaker
}

// Name returns "registry".
func (s *RegistrySource) Name() string { return "registry" }

// Resolve returns the model version the URI points at now.
func (s *RegistrySource) Resolve(ctx context.Context) (*mlops.ModelVersion, error) {
	var mv *mlops.ModelVersion
	call := func(ctx context.Context) error {
		var err error
		mv, err = s.resolve(ctx)
		if code := mlops.ErrorCode(err); code == mlops.ENOTFOUND || code == mlops.EINVALID {
			return Permanent(err)
		}
		return err
	}
	var err error
	if s.Breaker != nil {
		err = s.Breaker.Do(ctx, call)
	} else {
		err = call(ctx)
	}
	return mv, err
}

func (s *RegistrySource) resolve(ctx context.Context) (*mlops.ModelVersion, error) {
	u := s.URI
	switch {
	case u.Alias != "":
		return s.Registry.GetModelVersionByAlias(ctx, u.Name, u.Alias)
	case u.Version > 0:
		return s.Registry.GetModelVersion(ctx, u.Name, u.Version)
	}
	vs, err := s.Registry.LatestVersions(ctx, u.Name, u.Stage)
	if err != nil {
		return nil, err
	}
	for _, v := range vs {
		if v != nil && v.Stage == u.Stage {
			return v, nil
		}
	}
	return nil, mlops.Errorf(mlops.ENOTFOUND, "%s: no version of %q is in stage %s", u, u.Name, u.Stage)
}

// Fetch resolves the URI and reads the version's artifact.
func (s *RegistrySource) Fetch(ctx context.Context) (*Fetched, error) {
	mv, err := s.Resolve(ctx)
	if err != nil {
		return nil, err
	}
	data, err := readArtifact(ctx, s.Artifacts, mv.Source)
	if err != nil {
		return nil, permanentIfNotFound(fmt.Errorf("%s version %d: %w", mv.Name, mv.Version, err))
	}
	return &Fetched{Data: data, SHA256: mv.SHA256, Name: mv.Name, Version: strconv.Itoa(mv.Version), URI: mv.Source}, nil
}

// Check reports the registry's health for /health/deep.
func (s *RegistrySource) Check(ctx context.Context) error {
	if s.Breaker != nil && s.Breaker.State() == "open" {
		return ErrBreakerOpen
	}
	_, err := s.Resolve(ctx)
	if isPermanent(err) {
		return nil // it answered
	}
	return err
}

// BlobSource reads an artifact by key or URL from an artifact store.
type BlobSource struct {
	Store  ArtifactGetter
	Key    string
	SHA256 string // expected digest; "" skips the check
}

// Name returns "blob".
func (s *BlobSource) Name() string { return "blob" }

// Fetch reads the artifact.
func (s *BlobSource) Fetch(ctx context.Context) (*Fetched, error) {
	data, err := readArtifact(ctx, s.Store, s.Key)
	if err != nil {
		return nil, permanentIfNotFound(err)
	}
	return &Fetched{Data: data, SHA256: s.SHA256, URI: s.Key}, nil
}

// FileSource reads an artifact from a local file. Without SHA256 the digest
// is taken from a sidecar file PATH.sha256 when one exists.
type FileSource struct {
	Path   string
	SHA256 string
}

// Name returns "file".
func (s *FileSource) Name() string { return "file" }

// Fetch reads the file.
func (s *FileSource) Fetch(_ context.Context) (*Fetched, error) {
	data, err := os.ReadFile(s.Path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, Permanent(err)
		}
		return nil, err
	}
	want := s.SHA256
	if want == "" {
		if side, err := os.ReadFile(s.Path + ".sha256"); err == nil {
			if f := strings.Fields(string(side)); len(f) > 0 {
				want = f[0]
			}
		}
	}
	return &Fetched{Data: data, SHA256: want, URI: s.Path}, nil
}

// readArtifact reads uri through store, or directly from disk for file://
// URIs and plain paths when there is no store.
func readArtifact(ctx context.Context, store ArtifactGetter, uri string) ([]byte, error) {
	if store != nil {
		return store.Get(ctx, uri, "")
	}
	path := uri
	if strings.HasPrefix(uri, "file://") {
		u, err := url.Parse(uri)
		if err != nil {
			return nil, Permanent(fmt.Errorf("artifact URI %q: %w", uri, err))
		}
		path = u.Path
	} else if strings.Contains(uri, "://") {
		return nil, Permanent(fmt.Errorf("artifact URI %q: no artifact store configured to read it", uri))
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, Permanent(err)
	}
	return data, err
}

// permanentIfNotFound marks a store's "not found" as permanent: retrying
// will not make the artifact appear.
func permanentIfNotFound(err error) error {
	if mlops.ErrorCode(err) == mlops.ENOTFOUND && !isPermanent(err) {
		return Permanent(err)
	}
	return err
}
