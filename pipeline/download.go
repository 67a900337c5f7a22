package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/housing-mlops/mlops/config"
	"github.com/housing-mlops/mlops/dataset"
	"github.com/housing-mlops/mlops/ml/frame"
)

// Artifact keys exchanged by the steps.
const (
	KeyRaw          = "raw.csv"
	KeyImputed      = "imputed.csv"
	KeyImputer      = "imputer.json"
	KeyPreprocessor = "preprocessor.json"
	KeyFeatures     = "features.json"
	KeyTrain        = "train.csv"
	KeyTest         = "test.csv"
	KeySelection    = "selection.json"
	KeyBestParams   = "best_params.yaml"
	KeyModel        = "model.json"
	KeyModelConfig  = "model_config.yaml"
)

// maxArchiveBytes bounds a download; the housing archive is 400 kB.
const maxArchiveBytes = 512 << 20

// Download is step 01: fetch the archive, verify its SHA-256, fall back to
// the copy embedded in the binary, and store the raw table.
//
// The raw table is stored as CSV, not Parquet: frame writes the shortest text
// that reads back to the same float64, so CSV round-trips exactly; at 1.4 MB
// Parquet's compression and typed columns buy nothing here, and CSV stays
// readable with any tool.
type Download struct {
	Cfg    *config.Config
	Client *http.Client // nil means http.DefaultClient
	// Backoff is the first retry delay, doubled after each failure.
	Backoff time.Duration
	// Embedded is the fallback archive (dataset.HousingTGZ when nil).
	Embedded []byte
}

// Name implements Step.
func (s *Download) Name() string { return "01_download" }

// Inputs implements Step.
func (s *Download) Inputs() []string { return nil }

// Outputs implements Step.
func (s *Download) Outputs() []string { return []string{KeyRaw} }

// Params implements Step: what decides the bytes (retries and timeouts do not).
func (s *Download) Params() map[string]any {
	d := s.Cfg.Download
	return map[string]any{"file_url": d.FileURL, "sha256": d.SHA256, "schema": s.Cfg.Data}
}

// Run implements Step.
func (s *Download) Run(ctx context.Context, sc *StepContext) error {
	archive, source, err := s.fetchOrFallback(ctx, sc.Log)
	if err != nil {
		return err
	}
	if err := sc.Summary(ctx, "data_source", source); err != nil {
		return err
	}
	f, err := frame.ReadArchive(bytes.NewReader(archive), source, s.csvOptions())
	if err != nil {
		return err
	}
	if err := checkSchema(f, s.Cfg.Data); err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	if err := s.logShape(ctx, sc, f); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := f.WriteCSV(&buf); err != nil {
		return err
	}
	_, err = sc.Write(ctx, KeyRaw, buf.Bytes())
	return err
}

func (s *Download) csvOptions() frame.CSVOptions {
	d := s.Cfg.Data
	return frame.CSVOptions{Numeric: append(append([]string{}, d.Numeric...), d.Target), Categorical: d.Categorical}
}

func (s *Download) logShape(ctx context.Context, sc *StepContext, f *frame.Frame) error {
	m := map[string]float64{"rows": float64(f.NumRows()), "columns": float64(f.NumCols())}
	for _, name := range f.Names() {
		n, err := f.CountMissing(name)
		if err != nil {
			return err
		}
		if n > 0 {
			m["missing_"+name] = float64(n)
		}
	}
	sc.Log.Info("raw data", "rows", f.NumRows(), "columns", f.NumCols())
	return sc.Metrics(ctx, m)
}

// fetchOrFallback downloads the archive; on any failure it uses the
// embedded copy, but only when the configured checksum is the embedded
// archive's, so the fallback can never change the data silently.
func (s *Download) fetchOrFallback(ctx context.Context, log *slog.Logger) ([]byte, string, error) {
	d := s.Cfg.Download
	b, err := s.fetch(ctx, log)
	if err == nil {
		log.Info("downloaded", "url", d.FileURL, "bytes", len(b), "sha256", short(sha256Hex(b)))
		return b, d.FileURL, nil
	}
	if ctx.Err() != nil {
		return nil, "", ctx.Err()
	}
	emb := s.Embedded
	if emb == nil {
		emb = dataset.HousingTGZ
	}
	if d.SHA256 == "" || sha256Hex(emb) != d.SHA256 {
		return nil, "", fmt.Errorf("download failed and the embedded archive does not match download_data.sha256: %w", err)
	}
	log.Warn("download failed; using the archive embedded in the binary (same SHA-256)", "url", d.FileURL, "error", err.Error())
	return emb, "embedded:housing.tgz", nil
}

// fetch tries 1+retries times with exponential backoff, each attempt bounded
// by the configured timeout and verified against the checksum.
func (s *Download) fetch(ctx context.Context, log *slog.Logger) ([]byte, error) {
	d := s.Cfg.Download
	delay := s.Backoff
	if delay <= 0 {
		delay = 500 * time.Millisecond
	}
	var last error
	for attempt := 0; attempt <= d.Retries; attempt++ {
		if attempt > 0 {
			log.Info("retrying download", "attempt", attempt+1, "after", delay.String(), "error", last.Error())
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(delay):
			}
			delay *= 2
		}
		b, err := s.get(ctx, d.FileURL, time.Duration(d.Timeout))
		if err == nil && d.SHA256 != "" && sha256Hex(b) != d.SHA256 {
			err = fmt.Errorf("checksum mismatch: got sha256 %s, want %s", sha256Hex(b), d.SHA256)
		}
		if err == nil {
			return b, nil
		}
		last = err
	}
	return nil, last
}

func (s *Download) get(ctx context.Context, url string, timeout time.Duration) ([]byte, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxArchiveBytes+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if len(b) > maxArchiveBytes {
		return nil, errors.New("archive larger than 512 MiB")
	}
	return b, nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// checkSchema verifies the table has every configured column.
func checkSchema(f *frame.Frame, d config.Data) error {
	cols := append(append(append([]string{d.Target}, d.Numeric...), d.Categorical...), d.Geo...)
	for _, c := range cols {
		if !f.Has(c) {
			return fmt.Errorf("column %q from the data section of the config is missing (columns: %v)", c, f.Names())
		}
	}
	return nil
}
