package model

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/housing-mlops/mlops/ml/frame"
)

// Feature types in a Schema.
const (
	TypeNumeric     = "numeric"
	TypeCategorical = "categorical"
)

// Feature describes one raw input column as seen in the training data.
type Feature struct {
	Name string `json:"name"`
	Type string `json:"type"` // TypeNumeric or TypeCategorical
	// Categories are the sorted distinct training values of a categorical
	// feature.
	Categories []string `json:"categories,omitempty"`
	// Min and Max are the observed training range of a numeric feature (nil
	// when no value was observed).
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
	// Missing counts the missing values in the training data.
	Missing int `json:"missing"`
	// Nullable says whether the fitted preprocessing accepts a missing value
	// for this feature (an imputer or a fill covers it). New works it out by
	// probing the preprocessor, so it is true exactly when prediction works.
	Nullable bool `json:"nullable"`
}

// Schema is the input contract of a model: the raw features a record must
// carry and the target the model predicts.
type Schema struct {
	Features []Feature `json:"features"`
	Target   string    `json:"target"`
	Rows     int       `json:"training_rows"`
}

// SchemaFromFrame describes the features of a training frame. With features
// nil, every column but target is a feature. Nullable is left false: New
// sets it from the preprocessor.
func SchemaFromFrame(f *frame.Frame, features []string, target string) (Schema, error) {
	if features == nil {
		for _, n := range f.Names() {
			if n != target {
				features = append(features, n)
			}
		}
	}
	if target != "" {
		if slices.Contains(features, target) {
			return Schema{}, fmt.Errorf("model: target %q is also listed as a feature", target)
		}
		if _, err := f.Numeric(target); err != nil {
			return Schema{}, fmt.Errorf("model: target: %w", err)
		}
	}
	s := Schema{Target: target, Rows: f.NumRows()}
	for _, name := range features {
		ft, err := describe(f, name)
		if err != nil {
			return Schema{}, err
		}
		s.Features = append(s.Features, ft)
	}
	return s, nil
}

func describe(f *frame.Frame, name string) (Feature, error) {
	kind, err := f.Kind(name)
	if err != nil {
		return Feature{}, fmt.Errorf("model: %w", err)
	}
	ft := Feature{Name: name}
	ft.Missing, _ = f.CountMissing(name)
	if kind == frame.Categorical {
		ft.Type = TypeCategorical
		vals, _ := f.Categorical(name)
		seen := map[string]bool{}
		for _, v := range vals {
			if v != "" && !seen[v] {
				seen[v] = true
				ft.Categories = append(ft.Categories, v)
			}
		}
		slices.Sort(ft.Categories)
		return ft, nil
	}
	ft.Type = TypeNumeric
	vals, _ := f.Numeric(name)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		if !math.IsNaN(v) {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if lo <= hi {
		ft.Min, ft.Max = &lo, &hi
	}
	return ft, nil
}

// Names returns the feature names in schema order.
func (s Schema) Names() []string {
	out := make([]string, len(s.Features))
	for i, f := range s.Features {
		out[i] = f.Name
	}
	return out
}

// Feature returns the feature called name.
func (s Schema) Feature(name string) (Feature, bool) {
	for _, f := range s.Features {
		if f.Name == name {
			return f, true
		}
	}
	return Feature{}, false
}

// check validates the schema itself (as loaded from a file).
func (s Schema) check() error {
	if len(s.Features) == 0 {
		return fmt.Errorf("model: schema has no features")
	}
	seen := map[string]bool{}
	for i, f := range s.Features {
		if f.Name == "" {
			return fmt.Errorf("model: schema feature %d has no name", i)
		}
		if seen[f.Name] {
			return fmt.Errorf("model: schema lists feature %q twice", f.Name)
		}
		seen[f.Name] = true
		if f.Type != TypeNumeric && f.Type != TypeCategorical {
			return fmt.Errorf("model: schema feature %q has type %q, want %q or %q", f.Name, f.Type, TypeNumeric, TypeCategorical)
		}
	}
	if seen[s.Target] {
		return fmt.Errorf("model: target %q is also a feature", s.Target)
	}
	return nil
}

// FieldError says why one field of a record was refused (or, from Warnings,
// looks unlike the training data).
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func (e FieldError) Error() string { return fmt.Sprintf("field %q: %s", e.Field, e.Reason) }

// Validate checks one raw record (as decoded from JSON) against the schema
// and returns every failing field: unknown fields (the target is tolerated
// and ignored), missing or null values of features that are not nullable,
// wrong JSON types and non-finite numbers. An empty result means Predict
// will accept the record. Unknown categories and out-of-range numbers are
// not failures (the model handles them); Warnings reports those.
func (s Schema) Validate(rec map[string]any) []FieldError {
	var errs []FieldError
	for _, f := range s.Features {
		v, present := rec[f.Name]
		if isMissingValue(v) {
			if !f.Nullable {
				reason := "is required"
				if present {
					reason = "is missing and the model cannot fill it"
				}
				errs = append(errs, FieldError{f.Name, reason})
			}
			continue
		}
		if f.Type == TypeNumeric {
			if _, err := toNumber(v); err != nil {
				errs = append(errs, FieldError{f.Name, err.Error()})
			}
		} else if _, ok := v.(string); !ok {
			errs = append(errs, FieldError{f.Name, fmt.Sprintf("want a string, got %s", describeValue(v))})
		}
	}
	var unknown []string
	for k := range rec {
		if _, ok := s.Feature(k); !ok && k != s.Target {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		errs = append(errs, FieldError{k, "is not a feature of this model"})
	}
	return errs
}

// Warnings reports the fields of a valid record that lie outside what the
// model saw in training: numbers outside the observed range and unseen
// categories (encoded as all zeros).
func (s Schema) Warnings(rec map[string]any) []FieldError {
	var out []FieldError
	for _, f := range s.Features {
		v, ok := rec[f.Name]
		if !ok || isMissingValue(v) {
			continue
		}
		switch f.Type {
		case TypeNumeric:
			x, err := toNumber(v)
			if err == nil && f.Min != nil && f.Max != nil && (x < *f.Min || x > *f.Max) {
				out = append(out, FieldError{f.Name, fmt.Sprintf("%v is outside the training range [%v, %v]", x, *f.Min, *f.Max)})
			}
		case TypeCategorical:
			str, _ := v.(string)
			if _, found := slices.BinarySearch(f.Categories, str); !found {
				out = append(out, FieldError{f.Name, fmt.Sprintf("unknown category %q (known: %s)", str, strings.Join(f.Categories, ", "))})
			}
		}
	}
	return out
}

// isMissingValue: absent, JSON null and "" all mean missing.
func isMissingValue(v any) bool {
	if v == nil {
		return true
	}
	str, ok := v.(string)
	return ok && str == ""
}

// toNumber accepts the Go types a JSON decoder produces for numbers.
func toNumber(v any) (float64, error) {
	var x float64
	switch n := v.(type) {
	case float64:
		x = n
	case float32:
		x = float64(n)
	case int:
		x = float64(n)
	case int64:
		x = float64(n)
	case int32:
		x = float64(n)
	case json.Number:
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", string(n))
		}
		x = f
	default:
		return 0, fmt.Errorf("want a number, got %s", describeValue(v))
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, fmt.Errorf("%v is not a finite number", x)
	}
	return x, nil
}

func describeValue(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("string %q", x)
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}

// Frame builds a frame with one column per schema feature from raw records
// (missing, null and "" become missing values). Values of the wrong type are
// an error naming the record and field; call Validate first to get all of
// them at once.
func (s Schema) Frame(recs []map[string]any) (*frame.Frame, error) {
	f := frame.New()
	for _, ft := range s.Features {
		var err error
		if ft.Type == TypeNumeric {
			col := make([]float64, len(recs))
			for i, rec := range recs {
				col[i] = math.NaN()
				if v := rec[ft.Name]; !isMissingValue(v) {
					if col[i], err = toNumber(v); err != nil {
						return nil, fmt.Errorf("model: record %d: field %q: %w", i, ft.Name, err)
					}
				}
			}
			err = f.AddNumeric(ft.Name, col)
		} else {
			col := make([]string, len(recs))
			for i, rec := range recs {
				if v := rec[ft.Name]; !isMissingValue(v) {
					str, ok := v.(string)
					if !ok {
						return nil, fmt.Errorf("model: record %d: field %q: want a string, got %s", i, ft.Name, describeValue(v))
					}
					col[i] = str
				}
			}
			err = f.AddCategorical(ft.Name, col)
		}
		if err != nil {
			return nil, fmt.Errorf("model: %w", err)
		}
	}
	return f, nil
}
