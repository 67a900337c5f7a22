package preprocess

import (
	"fmt"
	"slices"

	"github.com/housing-mlops/mlops/ml"
)

// OneHotEncoder turns string columns into 0/1 indicator columns, one per
// category seen at Fit, in sorted (byte-wise, like numpy's) order.
//
// A category unseen at Fit encodes as all zeros, never an error: serving must
// answer for new values. Missing values ("") also encode as all zeros unless
// FillMissing is set, in which case they take the column's most frequent
// training category (ties go to the smallest, as in scikit-learn's
// SimpleImputer). Normalising case or spelling is the caller's business.
type OneHotEncoder struct {
	FillMissing bool `json:"fill_missing"`
	// Fitted state: the sorted categories of each input column and, with
	// FillMissing, each column's most frequent category.
	Categories [][]string `json:"categories"`
	Fill       []string   `json:"fill,omitempty"`
}

// NewOneHotEncoder returns an unfitted encoder.
func NewOneHotEncoder(fillMissing bool) *OneHotEncoder {
	return &OneHotEncoder{FillMissing: fillMissing}
}

// Kind names the transformer in saved artifacts.
func (e *OneHotEncoder) Kind() string { return "one_hot" }

// Fit learns the categories of each column; cols[j] holds column j's values.
func (e *OneHotEncoder) Fit(cols [][]string) error {
	if len(cols) == 0 {
		return fmt.Errorf("one-hot encoder: no columns to fit")
	}
	cats := make([][]string, len(cols))
	fill := make([]string, len(cols))
	for j, col := range cols {
		if len(col) != len(cols[0]) {
			return fmt.Errorf("one-hot encoder: column %d has %d rows, column 0 has %d", j, len(col), len(cols[0]))
		}
		counts := make(map[string]int)
		for _, v := range col {
			if v != "" {
				counts[v]++
			}
		}
		if len(counts) == 0 {
			return fmt.Errorf("one-hot encoder: column %d has no observed value", j)
		}
		cats[j] = make([]string, 0, len(counts))
		for c := range counts {
			cats[j] = append(cats[j], c)
		}
		slices.Sort(cats[j])
		best := -1
		for _, c := range cats[j] { // sorted, so ties keep the smallest
			if counts[c] > best {
				best, fill[j] = counts[c], c
			}
		}
	}
	e.Categories = cats
	e.Fill = nil
	if e.FillMissing {
		e.Fill = fill
	}
	return nil
}

// NumOutputs returns the number of indicator columns Transform produces.
func (e *OneHotEncoder) NumOutputs() int {
	n := 0
	for _, c := range e.Categories {
		n += len(c)
	}
	return n
}

// Transform encodes cols (same layout as Fit) into a rows×NumOutputs matrix.
func (e *OneHotEncoder) Transform(cols [][]string) (*ml.Matrix, error) {
	if e.Categories == nil {
		return nil, ml.ErrNotFitted
	}
	if len(cols) != len(e.Categories) {
		return nil, fmt.Errorf("one-hot encoder: got %d columns, fitted on %d", len(cols), len(e.Categories))
	}
	if e.FillMissing && len(e.Fill) != len(e.Categories) {
		return nil, fmt.Errorf("one-hot encoder: %d fill values for %d columns", len(e.Fill), len(e.Categories))
	}
	rows := len(cols[0])
	out := ml.NewMatrix(rows, e.NumOutputs())
	off := 0
	for j, col := range cols {
		if len(col) != rows {
			return nil, fmt.Errorf("one-hot encoder: column %d has %d rows, column 0 has %d", j, len(col), rows)
		}
		cats := e.Categories[j]
		for i, v := range col {
			if v == "" && e.FillMissing {
				v = e.Fill[j]
			}
			if k, found := slices.BinarySearch(cats, v); found {
				out.Data[i*out.Cols+off+k] = 1
			}
		}
		off += len(cats)
	}
	return out, nil
}

// FeatureNames returns "<input>_<category>" for every output column, given
// the input column names (scikit-learn's get_feature_names_out).
func (e *OneHotEncoder) FeatureNames(inputs []string) ([]string, error) {
	if len(inputs) != len(e.Categories) {
		return nil, fmt.Errorf("one-hot encoder: %d names for %d columns", len(inputs), len(e.Categories))
	}
	var out []string
	for j, cats := range e.Categories {
		for _, c := range cats {
			out = append(out, inputs[j]+"_"+c)
		}
	}
	return out, nil
}
