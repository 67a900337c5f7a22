// Package model is the saved form of a trained model: the fitted
// preprocessing (a preprocess.ColumnTransformer), the fitted regressor, the
// input schema and the training metadata, in one versioned, checksummed,
// self-describing JSON file. Training writes it and serving reads it, so
// serving runs exactly the transformation the model was trained with.
//
// The file format is documented in docs/model-format.md.
package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"time"

	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/frame"
	"github.com/housing-mlops/mlops/ml/internal/rawjson"
	"github.com/housing-mlops/mlops/ml/preprocess"
)

// FormatVersion is the artifact format this package writes and reads.
// Bump it whenever the payload changes incompatibly.
const FormatVersion = 1

// Magic identifies an artifact file; it is the first field of the envelope.
const Magic = "housing-mlops/model"

// magicPrefix is how every artifact file starts (encoding/json keeps struct
// field order), so a foreign file is recognised before parsing it.
var magicPrefix = []byte(`{"magic":"` + Magic + `"`)

// Meta is what an artifact records about how it was trained.
type Meta struct {
	// Params are the regressor's hyperparameters as the trainer chose them.
	Params map[string]any `json:"params,omitempty"`
	// Metrics are evaluation results, e.g. {"test_rmse": 48000}.
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// CreatedAt defaults to the time New is called.
	CreatedAt time.Time `json:"created_at"`
	// LibraryVersion defaults to the main module's build version.
	LibraryVersion string `json:"library_version"`
	// Tags are free-form labels (run id, data hash, ...).
	Tags map[string]string `json:"tags,omitempty"`
}

// Artifact is a fitted preprocessing + regressor pair with its schema.
// Predict is safe for concurrent use. Treat the fields as read-only: the
// checksum (and what Save writes) is the encoding made by New or Load.
type Artifact struct {
	Schema         Schema
	Preprocessor   *preprocess.ColumnTransformer
	Regressor      ml.Regressor
	Meta           Meta
	OutputFeatures []string // the preprocessor's output names, the regressor's inputs
	// Calibration, when set by CalibrateIntervals, adjusts PredictInterval
	// at its level; nil for an uncalibrated artifact.
	Calibration *Calibration

	// payload is the canonical encoding, set by New and Load. A loaded
	// artifact whose regressor can re-encode its own state exactly (see
	// canonicalDecoder) keeps only the bytes around that state, head and
	// tail, instead: for a forest that is kilobytes instead of the ~10 MB
	// of its trees, which the regressor holds anyway.
	payload    []byte
	head, tail []byte
	sum        string
}

// payload is everything the checksum covers.
type payloadJSON struct {
	Schema         Schema      `json:"schema"`
	OutputFeatures []string    `json:"output_features"`
	Preprocessor   []blockJSON `json:"preprocessor"`
	Model          component   `json:"model"`
	Meta           Meta        `json:"meta"`
	// Calibration is omitted when absent, so uncalibrated artifacts encode
	// exactly as before it existed and older files load unchanged.
	Calibration *Calibration `json:"calibration,omitempty"`
}

// envelope is the file: magic, version and checksum around the payload.
type envelope struct {
	Magic         string          `json:"magic"`
	FormatVersion int             `json:"format_version"`
	SHA256        string          `json:"sha256"`
	Payload       json.RawMessage `json:"payload"`
}

// New assembles an artifact from fitted parts. It checks that the
// preprocessor is fitted and reads only schema features, that every part can
// be saved, and works out each feature's Nullable flag by transforming a
// probe record with that feature missing.
func New(schema Schema, pre *preprocess.ColumnTransformer, reg ml.Regressor, meta Meta) (*Artifact, error) {
	if pre == nil || reg == nil {
		return nil, errors.New("model: preprocessor and regressor are required")
	}
	if !pre.Fitted() {
		return nil, fmt.Errorf("model: preprocessor: %w", ml.ErrNotFitted)
	}
	schema.Features = slices.Clone(schema.Features)
	if err := schema.check(); err != nil {
		return nil, err
	}
	if err := checkInputs(schema, pre); err != nil {
		return nil, err
	}
	for k, v := range meta.Metrics {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("model: metric %q is %v; only finite metrics can be saved", k, v)
		}
	}
	if meta.CreatedAt.IsZero() {
		meta.CreatedAt = time.Now().UTC()
	}
	if meta.LibraryVersion == "" {
		meta.LibraryVersion = buildVersion()
	}
	a := &Artifact{Schema: schema, Preprocessor: pre, Regressor: reg, Meta: meta,
		OutputFeatures: pre.FeatureNamesOut()}
	if err := a.probeNullable(); err != nil {
		return nil, err
	}
	if err := a.seal(); err != nil {
		return nil, err
	}
	return a, nil
}

// checkInputs makes sure every column the preprocessor reads is a schema
// feature of the kind it needs.
func checkInputs(s Schema, pre *preprocess.ColumnTransformer) error {
	names, kinds := pre.InputColumns()
	for i, n := range names {
		f, ok := s.Feature(n)
		if !ok {
			return fmt.Errorf("model: the preprocessor reads column %q, which the schema lacks", n)
		}
		if f.Type != kinds[i].String() {
			return fmt.Errorf("model: the preprocessor reads %q as %v, the schema says %s", n, kinds[i], f.Type)
		}
	}
	return nil
}

// probeNullable transforms one baseline record (each number at its training
// minimum, each category its first value), then the same record with each
// feature missing in turn: a feature is nullable when the output stays
// finite. This asks the fitted pipeline itself instead of guessing from its
// structure.
func (a *Artifact) probeNullable() error {
	base := map[string]any{}
	for _, f := range a.Schema.Features {
		switch {
		case f.Type == TypeNumeric && f.Min != nil:
			base[f.Name] = *f.Min
		case f.Type == TypeNumeric:
			base[f.Name] = 0.0
		case len(f.Categories) > 0:
			base[f.Name] = f.Categories[0]
		default:
			base[f.Name] = "?"
		}
	}
	ok, err := a.transformsFinitely(base)
	if err != nil {
		return fmt.Errorf("model: the preprocessor fails on a complete probe record: %w", err)
	}
	if !ok {
		return errors.New("model: the preprocessor gives non-finite output for a complete probe record")
	}
	for i, f := range a.Schema.Features {
		rec := make(map[string]any, len(base))
		for k, v := range base {
			rec[k] = v
		}
		delete(rec, f.Name)
		ok, err := a.transformsFinitely(rec)
		a.Schema.Features[i].Nullable = ok && err == nil
	}
	return nil
}

// transformsFinitely transforms one record; each probe runs alone because
// a step may refuse a whole batch for one missing value.
func (a *Artifact) transformsFinitely(rec map[string]any) (bool, error) {
	fr, err := a.Schema.Frame([]map[string]any{rec})
	if err != nil {
		return false, err
	}
	X, err := a.Preprocessor.Transform(fr)
	if err != nil {
		return false, err
	}
	return finiteRow(X.Row(0)), nil
}

func finiteRow(r []float64) bool {
	for _, v := range r {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// seal encodes the payload and its checksum.
func (a *Artifact) seal() error {
	blocks, err := encodePreprocessor(a.Preprocessor)
	if err != nil {
		return fmt.Errorf("model: preprocessor: %w", err)
	}
	reg, err := encode(a.Regressor, newRegressor)
	if err != nil {
		return err
	}
	p, err := json.Marshal(payloadJSON{Schema: a.Schema, OutputFeatures: a.OutputFeatures,
		Preprocessor: blocks, Model: reg, Meta: a.Meta, Calibration: a.Calibration})
	if err != nil {
		return fmt.Errorf("model: encode payload: %w", err)
	}
	sum := sha256.Sum256(p)
	a.payload, a.sum = p, hex.EncodeToString(sum[:])
	return nil
}

// ModelKind names the regressor ("ridge", "random_forest", ...).
func (a *Artifact) ModelKind() string {
	if k, ok := a.Regressor.(kinded); ok {
		return k.Kind()
	}
	return fmt.Sprintf("%T", a.Regressor)
}

// SHA256 is the hex SHA-256 of the payload: the artifact's identity, stable
// across save and load.
func (a *Artifact) SHA256() string { return a.sum }

// Transform runs the fitted preprocessing on f.
func (a *Artifact) Transform(f *frame.Frame) (*ml.Matrix, error) {
	X, err := a.Preprocessor.Transform(f)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	return X, nil
}

// Predict runs the fitted preprocessing and regressor on the raw feature
// columns of f (extra columns, such as the target, are ignored).
func (a *Artifact) Predict(f *frame.Frame) ([]float64, error) {
	X, err := a.Transform(f)
	if err != nil {
		return nil, err
	}
	y, err := a.Regressor.Predict(X)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", a.ModelKind(), err)
	}
	return y, nil
}

// PredictRecords validates raw records and predicts them. The error lists
// every failing field of the first invalid record.
func (a *Artifact) PredictRecords(recs []map[string]any) ([]float64, error) {
	for i, r := range recs {
		if errs := a.Schema.Validate(r); len(errs) > 0 {
			return nil, &RecordError{Index: i, Fields: errs}
		}
	}
	f, err := a.Schema.Frame(recs)
	if err != nil {
		return nil, err
	}
	return a.Predict(f)
}

// RecordError is a record refused by schema validation.
type RecordError struct {
	Index  int
	Fields []FieldError
}

func (e *RecordError) Error() string {
	msg := fmt.Sprintf("model: record %d is invalid:", e.Index)
	for _, f := range e.Fields {
		msg += " " + f.Error() + ";"
	}
	return msg[:len(msg)-1]
}

// Quantiler is implemented by regressors that can predict quantiles (the
// random forest, from the spread of its trees): out[k][i] is quantile qs[k]
// of row i.
type Quantiler interface {
	PredictQuantiles(X *ml.Matrix, qs []float64) ([][]float64, error)
}

// ErrNoIntervals is returned by PredictInterval for regressors that cannot
// predict quantiles.
var ErrNoIntervals = errors.New("model: this model kind does not predict intervals")

// SupportsIntervals reports whether PredictInterval works for this model.
func (a *Artifact) SupportsIntervals() bool {
	_, ok := a.Regressor.(Quantiler)
	return ok
}

// PredictInterval returns a central prediction interval at level (e.g. 0.9
// for the 5 %–95 % quantiles) for each row of f. When the artifact was
// calibrated at level (CalibrateIntervals), the calibrated interval is
// returned, for any regressor; otherwise the regressor's raw quantile
// interval, or ErrNoIntervals for a regressor without quantiles.
func (a *Artifact) PredictInterval(f *frame.Frame, level float64) (lower, upper []float64, err error) {
	if !(level > 0 && level < 1) {
		return nil, nil, fmt.Errorf("model: interval level %v must be in (0, 1)", level)
	}
	if !a.SupportsIntervalsAt(level) {
		return nil, nil, ErrNoIntervals
	}
	X, err := a.Transform(f)
	if err != nil {
		return nil, nil, err
	}
	var pred []float64
	if a.Calibration != nil && a.Calibration.Level == level {
		if pred, err = a.Regressor.Predict(X); err != nil {
			return nil, nil, fmt.Errorf("model: %s: %w", a.ModelKind(), err)
		}
	} else {
		pred = make([]float64, X.Rows) // unused by the raw interval
	}
	return a.IntervalsFromMatrix(X, pred, level)
}

// Save writes the artifact file to w. A loaded artifact is written back
// byte for byte.
func (a *Artifact) Save(w io.Writer) error {
	payload, err := a.encodedPayload()
	if err != nil {
		return err
	}
	// The envelope is written by hand: json.Marshal would re-validate and
	// compact the payload, megabytes for a forest, and compacting a payload
	// that was loaded in another layout would break its checksum.
	head := fmt.Sprintf(`{"magic":%q,"format_version":%d,"sha256":%q,"payload":`, Magic, FormatVersion, a.sum)
	b := make([]byte, 0, len(head)+len(payload)+2)
	b = append(append(append(b, head...), payload...), "}\n"...)
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("model: write: %w", err)
	}
	return nil
}

// encodedPayload returns the payload bytes: the kept encoding, or, for a
// loaded artifact that kept only head and tail, those around the
// regressor's state encoded again. The checksum guards that re-encoding:
// a regressor changed since Load is refused rather than saved under the
// old identity.
func (a *Artifact) encodedPayload() ([]byte, error) {
	if a.payload != nil {
		return a.payload, nil
	}
	if a.head == nil {
		if err := a.seal(); err != nil {
			return nil, err
		}
		return a.payload, nil
	}
	reg, err := encode(a.Regressor, newRegressor)
	if err != nil {
		return nil, err
	}
	p := make([]byte, 0, len(a.head)+len(reg.State)+len(a.tail))
	p = append(append(append(p, a.head...), reg.State...), a.tail...)
	if sum := sha256.Sum256(p); hex.EncodeToString(sum[:]) != a.sum {
		return nil, fmt.Errorf("model: the %s regressor no longer encodes to the loaded payload (sha256 %s); it was modified after Load", a.ModelKind(), a.sum)
	}
	return p, nil
}

// SaveFile writes the artifact to path atomically (temporary file, then
// rename), so a reader never sees half a model.
func (a *Artifact) SaveFile(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".model-*")
	if err != nil {
		return fmt.Errorf("model: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := a.Save(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	return nil
}

// LoadFile reads an artifact file; errors name the path.
func LoadFile(path string) (*Artifact, error) {
	data, err := os.ReadFile(path) // sized from the file: one read, no regrowth
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	a, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// Load reads and verifies an artifact: the magic, a supported format
// version, the payload checksum, then every component's state.
func Load(r io.Reader) (*Artifact, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("model: read: %w", err)
	}
	return Decode(data)
}

// Decode is Load from the bytes of an artifact file, which it does not
// keep or modify (callers that already hold the file save a copy).
func Decode(data []byte) (*Artifact, error) {
	if !bytes.HasPrefix(data, magicPrefix) {
		return nil, errors.New("model: not a model artifact (magic header missing)")
	}
	env, ok := splitEnvelope(data)
	if !ok {
		if err := json.Unmarshal(data, &env); err != nil {
			return nil, fmt.Errorf("model: truncated or malformed artifact: %w", err)
		}
	}
	if env.FormatVersion != FormatVersion {
		rel := "older"
		if env.FormatVersion > FormatVersion {
			rel = "newer"
		}
		return nil, fmt.Errorf("model: artifact format version %d is %s than the supported version %d",
			env.FormatVersion, rel, FormatVersion)
	}
	// Hashing a 10 MB payload takes as long as decoding a good part of it:
	// do both at once. The decoders are robust to any input (a file can be
	// crafted with a matching checksum anyway), and a checksum mismatch is
	// still the error reported, whatever decoding made of the bytes.
	sumc := make(chan string, 1)
	go func() {
		sum := sha256.Sum256(env.Payload)
		sumc <- hex.EncodeToString(sum[:])
	}()
	a, err := decodePayload(env.Payload, env.SHA256)
	if got := <-sumc; got != env.SHA256 {
		return nil, fmt.Errorf("model: checksum mismatch: payload hashes to %s, header says %s (file corrupted or edited)", got, env.SHA256)
	}
	return a, err
}

// splitEnvelope reads the envelope of a file written by Save without
// parsing the payload: Save always writes the same field order, and
// scanning a multi-megabyte payload here would be wasted, since the
// checksum and decodePayload check it. ok is false for any other layout,
// which then goes through encoding/json.
func splitEnvelope(data []byte) (env envelope, ok bool) {
	rest, ok := bytes.CutPrefix(data, []byte(`{"magic":"`+Magic+`","format_version":`))
	if !ok {
		return env, false
	}
	var i int
	env.FormatVersion, i = leadingDigits(rest, 9)
	rest, ok = bytes.CutPrefix(rest[i:], []byte(`,"sha256":"`))
	if i == 0 || !ok || len(rest) < 64 || !isLowerHex(rest[:64]) {
		return env, false
	}
	env.SHA256 = string(rest[:64])
	rest, ok = bytes.CutPrefix(rest[64:], []byte(`","payload":`))
	rest = bytes.TrimRight(rest, " \t\r\n")
	if !ok || len(rest) < 2 || rest[0] != '{' || rest[len(rest)-1] != '}' {
		return env, false
	}
	env.Magic, env.Payload = Magic, rest[:len(rest)-1]
	return env, true
}

// leadingDigits parses the decimal digits at the start of b, at most limit
// of them, and returns the value and how many digits it read.
func leadingDigits(b []byte, limit int) (n, i int) {
	for i < len(b) && i < limit && b[i] >= '0' && b[i] <= '9' {
		n = n*10 + int(b[i]-'0')
		i++
	}
	return n, i
}

// isLowerHex reports whether b is all lower-case hexadecimal digits, the
// spelling Save writes checksums in.
func isLowerHex(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// decodePayload decodes a verified payload. The layout Save writes goes
// through splitPayload, which hands each part to its own decoder, so the
// multi-megabyte regressor state is scanned once, by the regressor;
// anything else goes through encoding/json as a whole.
func decodePayload(p []byte, sum string) (*Artifact, error) {
	if parts, ok := splitPayload(p); ok {
		if a, err := parts.decode(p, sum); err == nil {
			return a, nil
		}
		// Fall through: the general decoder gives the precise error.
	}
	var pj payloadJSON
	if err := json.Unmarshal(p, &pj); err != nil {
		return nil, fmt.Errorf("model: decode payload: %w", err)
	}
	reg, _, err := decodeRegressor(pj.Model)
	if err != nil {
		return nil, err
	}
	a, err := assemble(pj, reg)
	if err != nil {
		return nil, err
	}
	a.payload, a.sum = bytes.Clone(p), sum
	return a, nil
}

// assemble checks decoded parts against each other and builds the
// artifact.
func assemble(pj payloadJSON, reg ml.Regressor) (*Artifact, error) {
	if err := pj.Schema.check(); err != nil {
		return nil, err
	}
	pre, err := decodePreprocessor(pj.Preprocessor)
	if err != nil {
		return nil, fmt.Errorf("model: preprocessor: %w", err)
	}
	if err := checkInputs(pj.Schema, pre); err != nil {
		return nil, err
	}
	if names := pre.FeatureNamesOut(); !slices.Equal(names, pj.OutputFeatures) {
		return nil, fmt.Errorf("model: the preprocessor outputs %d features, the artifact lists %d", len(names), len(pj.OutputFeatures))
	}
	_, hasQ := reg.(Quantiler)
	if err := checkCalibration(pj.Calibration, hasQ); err != nil {
		return nil, err
	}
	return &Artifact{Schema: pj.Schema, Preprocessor: pre, Regressor: reg, Meta: pj.Meta,
		OutputFeatures: pj.OutputFeatures, Calibration: pj.Calibration}, nil
}

// payloadParts are the raw fields of a payload in Save's layout.
type payloadParts struct {
	schema, outputs, pre, kind, state, meta, calibration []byte
	stateAt                                              int // offset of state in the payload
}

// splitPayload cuts a payload written by Save into its fields without
// decoding them; ok is false for any other layout.
func splitPayload(p []byte) (parts payloadParts, ok bool) {
	c := rawjson.Cursor{Data: p}
	field := func(lit string, dst *[]byte) bool {
		if !ok || !c.Lit(lit) {
			return false
		}
		*dst, ok = c.Value()
		return ok
	}
	ok = true
	ok = field(`{"schema":`, &parts.schema) && field(`,"output_features":`, &parts.outputs) &&
		field(`,"preprocessor":`, &parts.pre) && field(`,"model":{"kind":`, &parts.kind)
	if !ok || !c.Lit(`,"state":`) {
		return parts, false
	}
	parts.stateAt = c.Pos
	ok = field("", &parts.state) && field(`},"meta":`, &parts.meta)
	if ok && c.Peek(',') {
		ok = field(`,"calibration":`, &parts.calibration)
	}
	return parts, ok && c.Lit("}") && c.Done()
}

// decode decodes the parts of payload p. When the regressor re-encodes its
// state exactly, the artifact keeps only the bytes around it.
func (parts payloadParts) decode(p []byte, sum string) (*Artifact, error) {
	var pj payloadJSON
	for _, f := range []struct {
		raw []byte
		v   any
	}{{parts.schema, &pj.Schema}, {parts.outputs, &pj.OutputFeatures}, {parts.pre, &pj.Preprocessor},
		{parts.kind, &pj.Model.Kind}, {parts.meta, &pj.Meta}, {parts.calibration, &pj.Calibration}} {
		if f.raw == nil {
			continue
		}
		if err := json.Unmarshal(f.raw, f.v); err != nil {
			return nil, fmt.Errorf("model: decode payload: %w", err)
		}
	}
	pj.Model.State = parts.state
	reg, canonical, err := decodeRegressor(pj.Model)
	if err != nil {
		return nil, err
	}
	a, err := assemble(pj, reg)
	if err != nil {
		return nil, err
	}
	a.sum = sum
	if canonical {
		end := parts.stateAt + len(parts.state)
		a.head, a.tail = bytes.Clone(p[:parts.stateAt]), bytes.Clone(p[end:])
	} else {
		a.payload = bytes.Clone(p)
	}
	return a, nil
}
