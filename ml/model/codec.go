package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/cluster"
	"github.com/housing-mlops/mlops/ml/ensemble"
	"github.com/housing-mlops/mlops/ml/impute"
	"github.com/housing-mlops/mlops/ml/linear"
	"github.com/housing-mlops/mlops/ml/preprocess"
	"github.com/housing-mlops/mlops/ml/tree"
)

// component is how every fitted piece is saved: its kind and its state, the
// JSON of the component's exported fields.
type component struct {
	Kind  string          `json:"kind"`
	State json.RawMessage `json:"state"`
}

// kinded is implemented by every saveable component.
type kinded interface{ Kind() string }

// The explicit lists of what an artifact can hold. Adding a learner means
// adding a case here; there is no global registry to forget to populate.

func newRegressor(kind string) (ml.Regressor, error) {
	switch kind {
	case "ridge":
		return &linear.Ridge{}, nil
	case "lasso":
		return &linear.Lasso{}, nil
	case "decision_tree":
		return &tree.Regressor{}, nil
	case "random_forest":
		return &ensemble.RandomForest{}, nil
	case "gradient_boosting":
		return &ensemble.GradientBoosting{}, nil
	}
	return nil, fmt.Errorf("model: unknown regressor kind %q", kind)
}

func newTransformer(kind string) (ml.Transformer, error) {
	switch kind {
	case "standard_scaler":
		return &preprocess.StandardScaler{}, nil
	case "simple_imputer":
		return &impute.Simple{}, nil
	case "knn_imputer":
		return &impute.KNN{}, nil
	case "iterative_imputer":
		// Decoding rebuilds the per-column estimators with the default
		// one; encode refuses an imputer built with another.
		return &impute.Iterative{}, nil
	}
	return nil, fmt.Errorf("model: unknown transformer kind %q", kind)
}

func newClusterer(kind string) (preprocess.Clusterer, error) {
	switch kind {
	case "kmeans":
		return &cluster.KMeans{}, nil
	}
	return nil, fmt.Errorf("model: unknown clusterer kind %q", kind)
}

func newEncoder(kind string) (*preprocess.OneHotEncoder, error) {
	if kind != "one_hot" {
		return nil, fmt.Errorf("model: unknown encoder kind %q", kind)
	}
	return &preprocess.OneHotEncoder{}, nil
}

// encode saves v, checking that decoding by its kind gives back its type, so
// an unsaveable component fails at New rather than at Load.
func encode[T any](v T, fresh func(string) (T, error)) (component, error) {
	k, ok := any(v).(kinded)
	if !ok {
		return component{}, fmt.Errorf("model: %T has no Kind method and cannot be saved", v)
	}
	if it, ok := any(v).(*impute.Iterative); ok && it.Estimator != nil {
		return component{}, errors.New("model: an iterative imputer with a custom Estimator cannot be saved (loading rebuilds the default estimator)")
	}
	blank, err := fresh(k.Kind())
	if err != nil {
		return component{}, err
	}
	if reflect.TypeOf(blank) != reflect.TypeOf(v) {
		return component{}, fmt.Errorf("model: %T says it is %q, which loads as %T", v, k.Kind(), blank)
	}
	state, err := json.Marshal(v)
	if err != nil {
		return component{}, fmt.Errorf("model: encode %s: %w", k.Kind(), err)
	}
	return component{Kind: k.Kind(), State: state}, nil
}

func decode[T any](c component, fresh func(string) (T, error)) (T, error) {
	v, err := fresh(c.Kind)
	if err != nil {
		return v, err
	}
	// A component with its own decoder gets the bytes directly:
	// json.Unmarshal would first scan all of them (megabytes for a forest)
	// only to hand them over, and the decoder validates what it parses.
	if u, ok := any(v).(json.Unmarshaler); ok {
		if err := u.UnmarshalJSON(c.State); err != nil {
			return v, fmt.Errorf("model: decode %s: %w", c.Kind, err)
		}
		return v, nil
	}
	if err := json.Unmarshal(c.State, v); err != nil {
		return v, fmt.Errorf("model: decode %s: %w", c.Kind, err)
	}
	return v, nil
}

// canonicalDecoder is implemented by regressors whose decoder can tell that
// the bytes it read are exactly what encoding the result gives (the random
// forest): an artifact then need not keep those bytes to save itself again.
type canonicalDecoder interface {
	DecodeCanonical(data []byte) (canonical bool, err error)
}

// decodeRegressor decodes a regressor component and reports whether its
// state was canonical (see canonicalDecoder).
func decodeRegressor(c component) (ml.Regressor, bool, error) {
	v, err := newRegressor(c.Kind)
	if err != nil {
		return nil, false, err
	}
	cd, ok := v.(canonicalDecoder)
	if !ok {
		v, err = decode(c, newRegressor)
		return v, false, err
	}
	canonical, err := cd.DecodeCanonical(c.State)
	if err != nil {
		return nil, false, fmt.Errorf("model: decode %s: %w", c.Kind, err)
	}
	return v, canonical, nil
}

// blockJSON is the saved form of one preprocess.Block.
type blockJSON struct {
	Name      string      `json:"name"`
	Kind      string      `json:"kind"`
	Columns   []string    `json:"columns"`
	Steps     []component `json:"steps,omitempty"`
	Encoder   *component  `json:"encoder,omitempty"`
	Clusterer *component  `json:"clusterer,omitempty"`
	K         int         `json:"k,omitempty"`
	Labels    bool        `json:"labels,omitempty"`
}

func encodePreprocessor(ct *preprocess.ColumnTransformer) ([]blockJSON, error) {
	var out []blockJSON
	for _, b := range ct.Blocks() {
		bj := blockJSON{Name: b.Name, Kind: string(b.Kind), Columns: b.Columns, K: b.K, Labels: b.Labels}
		for _, s := range b.Steps {
			c, err := encode(s, newTransformer)
			if err != nil {
				return nil, fmt.Errorf("block %q: %w", b.Name, err)
			}
			bj.Steps = append(bj.Steps, c)
		}
		if b.Encoder != nil {
			c, err := encode(b.Encoder, newEncoder)
			if err != nil {
				return nil, fmt.Errorf("block %q: %w", b.Name, err)
			}
			bj.Encoder = &c
		}
		if b.Clusterer != nil {
			c, err := encode(b.Clusterer, newClusterer)
			if err != nil {
				return nil, fmt.Errorf("block %q: %w", b.Name, err)
			}
			bj.Clusterer = &c
		}
		out = append(out, bj)
	}
	return out, nil
}

func decodePreprocessor(blocks []blockJSON) (*preprocess.ColumnTransformer, error) {
	var out []preprocess.Block
	for _, bj := range blocks {
		b := preprocess.Block{Name: bj.Name, Kind: preprocess.BlockKind(bj.Kind), Columns: bj.Columns, K: bj.K, Labels: bj.Labels}
		for _, c := range bj.Steps {
			s, err := decode(c, newTransformer)
			if err != nil {
				return nil, fmt.Errorf("block %q: %w", bj.Name, err)
			}
			b.Steps = append(b.Steps, s)
		}
		if bj.Encoder != nil {
			e, err := decode(*bj.Encoder, newEncoder)
			if err != nil {
				return nil, fmt.Errorf("block %q: %w", bj.Name, err)
			}
			b.Encoder = e
		}
		if bj.Clusterer != nil {
			c, err := decode(*bj.Clusterer, newClusterer)
			if err != nil {
				return nil, fmt.Errorf("block %q: %w", bj.Name, err)
			}
			b.Clusterer = c
		}
		out = append(out, b)
	}
	return preprocess.Restore(out...)
}
