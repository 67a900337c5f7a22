package preprocess

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/frame"
)

// Clusterer is what a geo block needs from a clustering model (satisfied by
// *cluster.KMeans): learn clusters, then label rows.
type Clusterer interface {
	Fit(X *ml.Matrix) error
	Predict(X *ml.Matrix) ([]int, error)
}

// BlockKind says what a block does with its columns.
type BlockKind string

// The three block kinds.
const (
	// NumericBlock runs numeric columns through a chain of transformers
	// (e.g. median imputer then scaler); one output per input column.
	NumericBlock BlockKind = "numeric"
	// CategoricalBlock one-hot encodes categorical columns.
	CategoricalBlock BlockKind = "categorical"
	// GeoBlock clusters numeric columns (after an optional chain of
	// transformers) and outputs the cluster as K indicator columns, or as one
	// label column when Labels is set.
	GeoBlock BlockKind = "geo"
)

// Block is one named group of input columns and what is done with them. Its
// Name prefixes its output feature names ("num__longitude").
type Block struct {
	Name    string
	Kind    BlockKind
	Columns []string

	// Steps (numeric and geo blocks) run in order on the block's columns;
	// each must keep the number of columns.
	Steps []ml.Transformer
	// Encoder (categorical blocks).
	Encoder *OneHotEncoder
	// Clusterer (geo blocks), its number of clusters K, and whether to
	// output the label itself instead of K indicator columns.
	Clusterer Clusterer
	K         int
	Labels    bool
}

// Numeric returns a numeric block.
func Numeric(name string, columns []string, steps ...ml.Transformer) Block {
	return Block{Name: name, Kind: NumericBlock, Columns: columns, Steps: steps}
}

// Categorical returns a categorical block encoded by enc.
func Categorical(name string, columns []string, enc *OneHotEncoder) Block {
	return Block{Name: name, Kind: CategoricalBlock, Columns: columns, Encoder: enc}
}

// Geo returns a geo block clustering columns into k clusters with c, output
// as k indicator columns; steps run on the columns before clustering.
func Geo(name string, columns []string, c Clusterer, k int, steps ...ml.Transformer) Block {
	return Block{Name: name, Kind: GeoBlock, Columns: columns, Clusterer: c, K: k, Steps: steps}
}

// ColumnTransformer applies its blocks to a frame and concatenates their
// outputs in block order. Columns no block names are dropped (scikit-learn's
// remainder="drop"). Once fitted, Transform is safe for concurrent use.
type ColumnTransformer struct {
	blocks []Block
	fitted bool
}

// NewColumnTransformer validates the blocks' structure and returns an
// unfitted transformer.
func NewColumnTransformer(blocks ...Block) (*ColumnTransformer, error) {
	if len(blocks) == 0 {
		return nil, errors.New("column transformer: no blocks")
	}
	names := map[string]bool{}
	for i, b := range blocks {
		if err := b.validate(); err != nil {
			return nil, fmt.Errorf("column transformer: block %d: %w", i, err)
		}
		if names[b.Name] {
			return nil, fmt.Errorf("column transformer: two blocks are named %q", b.Name)
		}
		names[b.Name] = true
	}
	return &ColumnTransformer{blocks: slices.Clone(blocks)}, nil
}

// Restore returns a fitted transformer from blocks whose components already
// hold fitted state (as decoded from a saved artifact). It checks what can be
// checked without data: structure, and sorted one-hot categories.
func Restore(blocks ...Block) (*ColumnTransformer, error) {
	ct, err := NewColumnTransformer(blocks...)
	if err != nil {
		return nil, err
	}
	for _, b := range blocks {
		if b.Kind != CategoricalBlock {
			continue
		}
		if len(b.Encoder.Categories) != len(b.Columns) {
			return nil, fmt.Errorf("column transformer: block %q: encoder has %d columns of categories, block has %d columns",
				b.Name, len(b.Encoder.Categories), len(b.Columns))
		}
		for j, cats := range b.Encoder.Categories {
			for k := 1; k < len(cats); k++ {
				if cats[k-1] >= cats[k] {
					return nil, fmt.Errorf("column transformer: block %q column %q: categories not sorted and unique", b.Name, b.Columns[j])
				}
			}
		}
	}
	ct.fitted = true
	return ct, nil
}

func (b Block) validate() error {
	if b.Name == "" {
		return errors.New("block has no name")
	}
	if len(b.Columns) == 0 {
		return fmt.Errorf("block %q has no columns", b.Name)
	}
	seen := map[string]bool{}
	for _, c := range b.Columns {
		if seen[c] {
			return fmt.Errorf("block %q names column %q twice", b.Name, c)
		}
		seen[c] = true
	}
	for i, s := range b.Steps {
		if s == nil {
			return fmt.Errorf("block %q step %d is nil", b.Name, i)
		}
	}
	switch b.Kind {
	case NumericBlock:
	case CategoricalBlock:
		if b.Encoder == nil {
			return fmt.Errorf("categorical block %q has no encoder", b.Name)
		}
		if len(b.Steps) > 0 {
			return fmt.Errorf("categorical block %q cannot have numeric steps", b.Name)
		}
	case GeoBlock:
		if b.Clusterer == nil {
			return fmt.Errorf("geo block %q has no clusterer", b.Name)
		}
		if b.K < 1 {
			return fmt.Errorf("geo block %q: K is %d, want >= 1", b.Name, b.K)
		}
	default:
		return fmt.Errorf("block %q has unknown kind %q", b.Name, b.Kind)
	}
	return nil
}

// Blocks returns the blocks (a copy of the slice; the components are shared),
// for saving a fitted transformer.
func (ct *ColumnTransformer) Blocks() []Block { return slices.Clone(ct.blocks) }

// Fitted reports whether Fit succeeded or the transformer was restored.
func (ct *ColumnTransformer) Fitted() bool { return ct.fitted }

// InputColumns returns every input column name with the kind a block
// requires of it, in block order (a column used by two blocks is listed once,
// where first used).
func (ct *ColumnTransformer) InputColumns() (names []string, kinds []frame.Kind) {
	seen := map[string]bool{}
	for _, b := range ct.blocks {
		k := frame.Numeric
		if b.Kind == CategoricalBlock {
			k = frame.Categorical
		}
		for _, c := range b.Columns {
			if !seen[c] {
				seen[c] = true
				names = append(names, c)
				kinds = append(kinds, k)
			}
		}
	}
	return names, kinds
}

// FeatureNamesOut names every output column "<block>__<feature>":
// num__longitude, cat__ocean_proximity_INLAND, geo__cluster_3 (or
// geo__cluster with Labels). Categorical names need a fitted encoder.
func (ct *ColumnTransformer) FeatureNamesOut() []string {
	var out []string
	for _, b := range ct.blocks {
		out = append(out, b.featureNames()...)
	}
	return out
}

func (b Block) featureNames() []string {
	var names []string
	switch b.Kind {
	case NumericBlock:
		names = slices.Clone(b.Columns)
	case CategoricalBlock:
		names, _ = b.Encoder.FeatureNames(b.Columns) // nil before Fit
	case GeoBlock:
		if b.Labels {
			names = []string{"cluster"}
		} else {
			for k := 0; k < b.K; k++ {
				names = append(names, "cluster_"+strconv.Itoa(k))
			}
		}
	}
	for i := range names {
		names[i] = b.Name + "__" + names[i]
	}
	return names
}

// Fit fits every block on f.
func (ct *ColumnTransformer) Fit(f *frame.Frame) error {
	_, err := ct.run(f, true)
	return err
}

// FitTransform fits every block on f and returns the transformed matrix.
func (ct *ColumnTransformer) FitTransform(f *frame.Frame) (*ml.Matrix, error) {
	return ct.run(f, true)
}

// Transform applies the fitted blocks to f, which must hold every input
// column with the right kind (extra columns are ignored).
func (ct *ColumnTransformer) Transform(f *frame.Frame) (*ml.Matrix, error) {
	if !ct.fitted {
		return nil, ml.ErrNotFitted
	}
	return ct.run(f, false)
}

func (ct *ColumnTransformer) run(f *frame.Frame, fit bool) (*ml.Matrix, error) {
	if f == nil {
		return nil, errors.New("column transformer: frame is nil")
	}
	if fit {
		ct.fitted = false
	}
	outs := make([]*ml.Matrix, len(ct.blocks))
	for i, b := range ct.blocks {
		m, err := b.apply(f, fit)
		if err != nil {
			return nil, fmt.Errorf("column transformer: block %q: %w", b.Name, err)
		}
		outs[i] = m
	}
	X, err := ml.HStack(outs...)
	if err != nil {
		return nil, fmt.Errorf("column transformer: %w", err)
	}
	if fit {
		ct.fitted = true
	}
	return X, nil
}

// apply fits (when fit is set) and transforms one block.
func (b Block) apply(f *frame.Frame, fit bool) (*ml.Matrix, error) {
	if b.Kind == CategoricalBlock {
		cols := make([][]string, len(b.Columns))
		for j, name := range b.Columns {
			v, err := f.Categorical(name)
			if err != nil {
				return nil, err
			}
			cols[j] = v
		}
		if fit {
			if err := b.Encoder.Fit(cols); err != nil {
				return nil, err
			}
		}
		return b.Encoder.Transform(cols)
	}
	X, err := f.Matrix(b.Columns)
	if err != nil {
		return nil, err
	}
	for i, s := range b.Steps {
		if X, err = fitTransform(s, X, fit); err != nil {
			return nil, fmt.Errorf("step %d (%T): %w", i, s, err)
		}
		if X.Cols != len(b.Columns) {
			return nil, fmt.Errorf("step %d (%T) returned %d columns, want %d", i, s, X.Cols, len(b.Columns))
		}
	}
	if b.Kind == NumericBlock {
		return X, nil
	}
	return b.cluster(X, fit)
}

func fitTransform(s ml.Transformer, X *ml.Matrix, fit bool) (*ml.Matrix, error) {
	if fit {
		if err := s.Fit(X); err != nil {
			return nil, err
		}
	}
	return s.Transform(X)
}

// cluster labels the rows of X and encodes the labels.
func (b Block) cluster(X *ml.Matrix, fit bool) (*ml.Matrix, error) {
	if fit {
		if err := b.Clusterer.Fit(X); err != nil {
			return nil, err
		}
	}
	labels, err := b.Clusterer.Predict(X)
	if err != nil {
		return nil, err
	}
	if len(labels) != X.Rows {
		return nil, fmt.Errorf("clusterer returned %d labels for %d rows", len(labels), X.Rows)
	}
	width := b.K
	if b.Labels {
		width = 1
	}
	out := ml.NewMatrix(X.Rows, width)
	for i, l := range labels {
		if l < 0 || l >= b.K {
			return nil, fmt.Errorf("row %d: cluster %d outside [0, %d)", i, l, b.K)
		}
		if b.Labels {
			out.Data[i] = float64(l)
		} else {
			out.Data[i*width+l] = 1
		}
	}
	return out, nil
}
