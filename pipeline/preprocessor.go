package pipeline

import (
	"encoding/json"
	"fmt"

	"github.com/housing-mlops/mlops/config"
	"github.com/housing-mlops/mlops/ml/cluster"
	"github.com/housing-mlops/mlops/ml/impute"
	"github.com/housing-mlops/mlops/ml/preprocess"
)

// preprocessorState is the fitted preprocessing of step 03 in the exact
// shape it is built (median imputer + scaler on numeric columns, one-hot on
// categorical ones, KMeans on the geo columns). Steps 05-07 restore it with
// preprocess.Restore, so training and the registered artifact use the very
// objects fitted here; step 07 then saves it inside the model artifact in
// ml/model's generic format.
type preprocessorState struct {
	Numeric     []string                   `json:"numeric"`
	Categorical []string                   `json:"categorical"`
	Geo         []string                   `json:"geo"`
	K           int                        `json:"k"`
	NumImputer  *impute.Simple             `json:"num_imputer"`
	NumScaler   *preprocess.StandardScaler `json:"num_scaler"`
	Encoder     *preprocess.OneHotEncoder  `json:"encoder,omitempty"`
	GeoImputer  *impute.Simple             `json:"geo_imputer"`
	KMeans      *cluster.KMeans            `json:"kmeans"`
}

// newPreprocessor returns the unfitted preprocessing for schema d with K
// geo clusters.
func newPreprocessor(d config.Data, k int, nInit int, seed uint64) (*preprocessorState, error) {
	if k < 1 {
		return nil, fmt.Errorf("preprocessor: K = %d", k)
	}
	km := cluster.NewKMeans(k, seed)
	km.NInit = nInit
	s := &preprocessorState{Numeric: d.Numeric, Categorical: d.Categorical, Geo: d.Geo, K: k,
		NumImputer: impute.NewSimple(impute.StrategyMedian), NumScaler: preprocess.NewStandardScaler(),
		GeoImputer: impute.NewSimple(impute.StrategyMedian), KMeans: km}
	if len(d.Categorical) > 0 {
		s.Encoder = preprocess.NewOneHotEncoder(true)
	}
	return s, nil
}

// blocks lays the components out as column-transformer blocks.
func (s *preprocessorState) blocks() []preprocess.Block {
	var b []preprocess.Block
	if len(s.Numeric) > 0 {
		b = append(b, preprocess.Numeric("num", s.Numeric, s.NumImputer, s.NumScaler))
	}
	if len(s.Categorical) > 0 {
		b = append(b, preprocess.Categorical("cat", s.Categorical, s.Encoder))
	}
	if len(s.Geo) > 0 {
		b = append(b, preprocess.Geo("geo", s.Geo, s.KMeans, s.K, s.GeoImputer))
	}
	return b
}

// transformer returns an unfitted column transformer over the components.
func (s *preprocessorState) transformer() (*preprocess.ColumnTransformer, error) {
	return preprocess.NewColumnTransformer(s.blocks()...)
}

// loadPreprocessor decodes a saved state into a fitted column transformer.
func loadPreprocessor(b []byte) (*preprocess.ColumnTransformer, *preprocessorState, error) {
	var s preprocessorState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, nil, fmt.Errorf("decoding %s: %w", KeyPreprocessor, err)
	}
	if s.NumImputer == nil || s.NumScaler == nil || s.GeoImputer == nil || s.KMeans == nil {
		return nil, nil, fmt.Errorf("decoding %s: missing fitted components", KeyPreprocessor)
	}
	ct, err := preprocess.Restore(s.blocks()...)
	if err != nil {
		return nil, nil, fmt.Errorf("restoring %s: %w", KeyPreprocessor, err)
	}
	return ct, &s, nil
}
