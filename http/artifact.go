package http

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/housing-mlops/mlops/ml/frame"
	"github.com/housing-mlops/mlops/ml/model"
)

// RangeTagPrefix marks artifact tags that record a feature's valid range:
// Meta.Tags["valid_range.latitude"] = "-90:90" (either side may be empty).
// The pipeline records them; they win over the defaults below.
const RangeTagPrefix = "valid_range."

// ArtifactModel serves an ml/model artifact. Predictions are
// Artifact.Predict's exactly (same transform, same regressor call); the
// interval is model.Artifact.PredictInterval's: the calibrated interval
// when the artifact was calibrated at the served level, else the central
// interval of the forest's per-tree predictions. A model without quantiles
// is served at its calibration level, or, uncalibrated, with a degenerate
// interval [p, p] and level 0.
type ArtifactModel struct {
	Artifact *model.Artifact
	info     ModelInfo
	schema   *Schema
}

// ArtifactDecoder returns a Decoder for ml/model artifacts. defaultName
// names the model when the source does not (file and blob sources); level is
// the interval's nominal coverage (0 means 0.9).
func ArtifactDecoder(defaultName string, level float64) Decoder {
	return func(f *Fetched) (Model, error) {
		a, err := model.Decode(f.Data)
		if err != nil {
			return nil, err
		}
		info := ModelInfo{Name: f.Name, Version: f.Version, SHA256: fileDigest(f)}
		if info.Name == "" {
			info.Name = defaultName
		}
		if info.Version == "" {
			// Not from the registry: the artifact's own identity.
			info.Version = "sha256:" + a.SHA256()[:12]
		}
		return NewArtifactModel(a, info, level)
	}
}

// fileDigest is the hex SHA-256 of f.Data: the one the cascade verified
// and recorded when it has, else computed here (a 10 MB forest takes
// milliseconds to hash, so once per load is enough).
func fileDigest(f *Fetched) string {
	if len(f.SHA256) == 64 {
		return strings.ToLower(f.SHA256)
	}
	sum := sha256.Sum256(f.Data)
	return hex.EncodeToString(sum[:])
}

// NewArtifactModel wraps a loaded artifact; info names it.
func NewArtifactModel(a *model.Artifact, info ModelInfo, level float64) (*ArtifactModel, error) {
	if level <= 0 || level >= 1 {
		level = 0.9
	}
	if !a.SupportsIntervalsAt(level) && a.Calibration != nil {
		// A model without quantiles has an interval only at the level it
		// was calibrated for: serve that one rather than none.
		level = a.Calibration.Level
	}
	info.IntervalLevel = level
	if !a.SupportsIntervalsAt(level) {
		info.IntervalLevel = 0
	}
	sc, err := SchemaFromArtifact(a)
	if err != nil {
		return nil, err
	}
	return &ArtifactModel{Artifact: a, info: info, schema: sc}, nil
}

// SchemaFromArtifact derives the serving schema from the artifact's
// recorded schema: every feature in order, categories as trained, features
// that were missing in training and that the pipeline imputes optional.
// Valid ranges come from the valid_range.* tags when recorded; otherwise longitude and latitude get their geographic ranges
// and a feature never negative in training must be ≥ 0 (counts, sizes).
// The observed training range itself is not a limit: values outside it are
// legitimate, merely unusual.
func SchemaFromArtifact(a *model.Artifact) (*Schema, error) {
	fields := make([]Field, 0, len(a.Schema.Features))
	for _, ft := range a.Schema.Features {
		// A feature may be left out of a request only when training data
		// lacked it sometimes and the pipeline fills it in: an imputer on a
		// column that was always present does not make it optional.
		f := Field{Name: ft.Name, Optional: ft.Nullable && ft.Missing > 0}
		switch ft.Type {
		case model.TypeCategorical:
			f.Kind = Category
			f.Categories = ft.Categories
		case model.TypeNumeric:
			f.Kind = Number
			if err := setRange(&f, ft, a.Meta.Tags[RangeTagPrefix+ft.Name]); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("artifact feature %q has unknown type %q", ft.Name, ft.Type)
		}
		fields = append(fields, f)
	}
	return NewSchema(fields)
}

func setRange(f *Field, ft model.Feature, tag string) error {
	if tag != "" {
		lo, hi, ok := strings.Cut(tag, ":")
		if !ok {
			return fmt.Errorf("tag %s%s = %q: want MIN:MAX", RangeTagPrefix, ft.Name, tag)
		}
		var err error
		if f.HasMin = strings.TrimSpace(lo) != ""; f.HasMin {
			if f.Min, err = strconv.ParseFloat(strings.TrimSpace(lo), 64); err != nil {
				return fmt.Errorf("tag %s%s: %w", RangeTagPrefix, ft.Name, err)
			}
		}
		if f.HasMax = strings.TrimSpace(hi) != ""; f.HasMax {
			if f.Max, err = strconv.ParseFloat(strings.TrimSpace(hi), 64); err != nil {
				return fmt.Errorf("tag %s%s: %w", RangeTagPrefix, ft.Name, err)
			}
		}
		return nil
	}
	switch strings.ToLower(ft.Name) {
	case "longitude", "lon", "lng":
		f.Min, f.Max, f.HasMin, f.HasMax = -180, 180, true, true
	case "latitude", "lat":
		f.Min, f.Max, f.HasMin, f.HasMax = -90, 90, true, true
	default:
		if ft.Min != nil && *ft.Min >= 0 {
			f.Min, f.HasMin = 0, true
		}
	}
	return nil
}

// Info implements Model.
func (m *ArtifactModel) Info() ModelInfo { return m.info }

// Schema implements Model.
func (m *ArtifactModel) Schema() *Schema { return m.schema }

// Predict implements Model: it builds a frame from the batch, transforms it
// once and runs the regressor (and its quantiles) on the result.
func (m *ArtifactModel) Predict(ctx context.Context, b *Batch) ([]Prediction, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := BatchFrame(b)
	if err != nil {
		return nil, err
	}
	X, err := m.Artifact.Transform(f)
	if err != nil {
		return nil, err
	}
	// One pass over the model gives the values and, for the forest, the
	// quantiles of the interval.
	y, lo, hi, err := m.Artifact.PredictMatrixWithInterval(X, m.info.IntervalLevel)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", m.Artifact.ModelKind(), err)
	}
	out := make([]Prediction, len(y))
	for i, v := range y {
		out[i] = Prediction{Value: v, Lower: v, Upper: v}
		if lo != nil {
			out[i].Lower, out[i].Upper = lo[i], hi[i]
		}
	}
	return out, nil
}

// BatchFrame turns a validated batch into an ml/frame table with one
// column per schema field (the batch's own slices, not copies).
func BatchFrame(b *Batch) (*frame.Frame, error) {
	f := frame.New()
	for i, fd := range b.Schema.Fields() {
		var err error
		if fd.Kind == Category {
			err = f.AddCategorical(fd.Name, b.Columns[i].Cat)
		} else {
			err = f.AddNumeric(fd.Name, b.Columns[i].Num)
		}
		if err != nil {
			return nil, fmt.Errorf("batch column %q: %w", fd.Name, err)
		}
	}
	return f, nil
}

// batchRecord returns row r of b as a feature map (missing values as nil),
// the shape the monitor logs.
func batchRecord(b *Batch, r int) map[string]any {
	rec := make(map[string]any, len(b.Columns))
	for i, fd := range b.Schema.Fields() {
		c := b.Columns[i]
		switch {
		case c.Cat != nil:
			if v := c.Cat[r]; v != "" {
				rec[fd.Name] = v
			} else {
				rec[fd.Name] = nil
			}
		case math.IsNaN(c.Num[r]):
			rec[fd.Name] = nil
		default:
			rec[fd.Name] = c.Num[r]
		}
	}
	return rec
}
