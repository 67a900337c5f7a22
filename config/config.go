// Package config is the schema of config.yaml: one struct per section, the
// built-in defaults, Hydra-style overrides (section.key=value), ${ENV}
// interpolation and validation that names the offending key before any work
// starts.
//
// The housing column names appear only here, as defaults: every other package
// reads them from a *Config.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole effective configuration of a pipeline run.
type Config struct {
	Main               Main               `yaml:"main" json:"main"`
	Data               Data               `yaml:"data" json:"data"`
	Download           Download           `yaml:"download_data" json:"download_data"`
	Preprocessing      Preprocessing      `yaml:"preprocessing" json:"preprocessing"`
	FeatureEngineering FeatureEngineering `yaml:"feature_engineering" json:"feature_engineering"`
	Segregation        Segregation        `yaml:"segregation" json:"segregation"`
	ModelSelection     ModelSelection     `yaml:"model_selection" json:"model_selection"`
	Sweep              Sweep              `yaml:"sweep" json:"sweep"`
	Registration       Registration       `yaml:"registration" json:"registration"`
	Tracking           Tracking           `yaml:"tracking" json:"tracking"`
}

// Main names the project and selects the steps to run.
type Main struct {
	ProjectName    string `yaml:"project_name" json:"project_name"`
	ExperimentName string `yaml:"experiment_name" json:"experiment_name"`
	// Steps is "all" or a list of step numbers or names ("03", "05_model_selection").
	Steps StepList `yaml:"steps" json:"steps"`
	// OutputDir receives best_params.yaml and model_config.yaml, the
	// human-readable files meant to be committed next to the code.
	OutputDir string `yaml:"output_dir" json:"output_dir"`
}

// Data is the schema of the raw table: which column is the target and what
// kind each feature column is.
type Data struct {
	Target      string   `yaml:"target" json:"target"`
	Numeric     []string `yaml:"numeric" json:"numeric"`
	Categorical []string `yaml:"categorical" json:"categorical"`
	Geo         []string `yaml:"geo" json:"geo"`
}

// Download configures step 01.
type Download struct {
	FileURL string   `yaml:"file_url" json:"file_url"`
	SHA256  string   `yaml:"sha256" json:"sha256"`
	Retries int      `yaml:"retries" json:"retries"`
	Timeout Duration `yaml:"timeout" json:"timeout"`
}

// Preprocessing configures step 02 (imputation).
type Preprocessing struct {
	ImputeColumn string `yaml:"impute_column" json:"impute_column"`
	// Strategies are compared with the masked-validation protocol.
	Strategies []string `yaml:"strategies" json:"strategies"`
	// Strategy is "auto" (lowest RMSE wins) or one of the strategies.
	Strategy     string  `yaml:"imputation_strategy" json:"imputation_strategy"`
	TestSize     float64 `yaml:"test_size" json:"test_size"`
	RandomState  int64   `yaml:"random_state" json:"random_state"`
	KNNNeighbors int     `yaml:"knn_neighbors" json:"knn_neighbors"`
}

// FeatureEngineering configures step 03 (geo clustering + preprocessing).
type FeatureEngineering struct {
	// NClusters is used as is when Optimize is false.
	NClusters   int   `yaml:"n_clusters" json:"n_clusters"`
	Optimize    bool  `yaml:"optimize_hyperparams" json:"optimize_hyperparams"`
	KMin        int   `yaml:"k_min" json:"k_min"`
	KMax        int   `yaml:"k_max" json:"k_max"`
	NInit       int   `yaml:"n_init" json:"n_init"`
	RandomState int64 `yaml:"random_state" json:"random_state"`
	// SilhouetteSample bounds the rows used for silhouette (0 = all rows):
	// silhouette is quadratic in rows.
	SilhouetteSample int `yaml:"silhouette_sample" json:"silhouette_sample"`
}

// Segregation configures step 04 (train/test split).
type Segregation struct {
	TestSize    float64 `yaml:"test_size" json:"test_size"`
	RandomState int64   `yaml:"random_state" json:"random_state"`
	// StratifyColumn ("" = no stratification) is cut into StratifyBins.
	StratifyColumn string    `yaml:"stratify_column" json:"stratify_column"`
	StratifyBins   []float64 `yaml:"stratify_bins" json:"stratify_bins"`
}

// Grid maps a hyperparameter name to the values to try (null = no limit).
type Grid map[string][]any

// ModelSelection configures step 05.
type ModelSelection struct {
	Families    []string        `yaml:"families" json:"families"`
	Grids       map[string]Grid `yaml:"grids" json:"grids"`
	CVFolds     int             `yaml:"cv_folds" json:"cv_folds"`
	Scoring     string          `yaml:"scoring" json:"scoring"`
	RandomState int64           `yaml:"random_state" json:"random_state"`
	// Parallelism bounds concurrent fits (0 = all cores).
	Parallelism int `yaml:"parallelism" json:"parallelism"`
}

// Sweep configures step 06.
type Sweep struct {
	Trials int `yaml:"trials" json:"trials"`
	// Parallelism is the number of trials per batch (0 = GOMAXPROCS, which
	// makes results machine-dependent).
	Parallelism int    `yaml:"parallelism" json:"parallelism"`
	Method      string `yaml:"method" json:"method"`
	// Config is the path of a sweep_config.yaml (W&B shape); "" uses the
	// built-in search space of the chosen family.
	Config      string `yaml:"config" json:"config"`
	Metric      string `yaml:"metric" json:"metric"`
	Goal        string `yaml:"goal" json:"goal"`
	RandomState int64  `yaml:"random_state" json:"random_state"`
}

// Registration configures step 07.
type Registration struct {
	RegisteredModelName string `yaml:"registered_model_name" json:"registered_model_name"`
	ModelStage          string `yaml:"model_stage" json:"model_stage"`
	ArchiveExisting     bool   `yaml:"archive_existing" json:"archive_existing"`
}

// Tracking says where runs, models and artifacts are stored.
type Tracking struct {
	URI          string `yaml:"uri" json:"uri"`
	ArtifactsURL string `yaml:"artifacts_url" json:"artifacts_url"`
}

// Duration is a time.Duration written as "30s" in YAML.
type Duration time.Duration

// UnmarshalYAML accepts a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a duration like 30s, got a %s", kindName(n))
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("want a duration like 30s, got %q", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// MarshalJSON writes the duration as a string (for Hash).
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// StepList is the list of selected steps; nil means all.
type StepList []string

// UnmarshalYAML accepts "all", "03,05" or a YAML list of numbers or names.
func (s *StepList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" || strings.EqualFold(n.Value, "all") || n.Value == "" {
			*s = nil
			return nil
		}
		*s = splitSteps(n.Value)
	case yaml.SequenceNode:
		out := StepList{}
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return fmt.Errorf("want a step number or name, got a %s", kindName(c))
			}
			out = append(out, c.Value)
		}
		*s = out
	default:
		return fmt.Errorf(`want "all" or a list of steps, got a %s`, kindName(n))
	}
	return nil
}

// MarshalYAML writes nil as "all".
func (s StepList) MarshalYAML() (any, error) {
	if s == nil {
		return "all", nil
	}
	return []string(s), nil
}

func splitSteps(v string) StepList {
	var out StepList
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Hash is the SHA-256 of the effective configuration (canonical JSON), logged
// with every run so two runs can be compared at a glance.
func (c *Config) Hash() string {
	b, err := json.Marshal(c)
	if err != nil {
		// Every field is JSON-encodable; this cannot happen.
		return "unhashable:" + err.Error()
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// YAML returns the effective configuration as YAML.
func (c *Config) YAML() ([]byte, error) { return yaml.Marshal(c) }
