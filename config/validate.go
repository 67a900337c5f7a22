package config

import (
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
)

// KnownFamilies returns the model families step 05 can build.
func KnownFamilies() []string {
	return []string{"random_forest", "gradient_boosting", "ridge", "lasso", "decision_tree"}
}

// KnownImputers returns the strategies step 02 can compare.
func KnownImputers() []string { return []string{"median", "mean", "knn", "iterative"} }

// Validate checks values that types alone cannot: ranges, names that must
// exist, and secrets when a remote backend is configured.
func (c *Config) Validate() error {
	checks := []func() error{c.validateData, c.validateSteps, c.validateRanges, c.validateModels, c.validateSecrets}
	for _, f := range checks {
		if err := f(); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	return nil
}

func (c *Config) validateData() error {
	if c.Data.Target == "" {
		return fmt.Errorf("data.target: must name the target column")
	}
	if len(c.Data.Numeric)+len(c.Data.Categorical) == 0 {
		return fmt.Errorf("data.numeric, data.categorical: no feature columns")
	}
	for _, g := range c.Data.Geo {
		if !slices.Contains(c.Data.Numeric, g) {
			return fmt.Errorf("data.geo: %q is not among data.numeric", g)
		}
	}
	if col := c.Preprocessing.ImputeColumn; col != "" && !slices.Contains(c.Data.Numeric, col) {
		return fmt.Errorf("preprocessing.impute_column: %q is not among data.numeric", col)
	}
	return nil
}

// validateSteps only checks the shape; the pipeline knows the step names.
func (c *Config) validateSteps() error {
	for _, s := range c.Main.Steps {
		if strings.TrimSpace(s) == "" {
			return fmt.Errorf("main.steps: empty step name")
		}
	}
	return nil
}

func (c *Config) validateRanges() error {
	for _, f := range []func() error{c.validateIngest, c.validateFeatures, c.validateSearch} {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

// validateIngest checks the download and imputation sections.
func (c *Config) validateIngest() error {
	p := c.Preprocessing
	switch {
	case c.Download.Retries < 0:
		return fmt.Errorf("download_data.retries: must be >= 0, got %d", c.Download.Retries)
	case p.TestSize <= 0 || p.TestSize >= 1:
		return fmt.Errorf("preprocessing.test_size: must be in (0, 1), got %v", p.TestSize)
	case p.Strategy != "auto" && !slices.Contains(KnownImputers(), p.Strategy):
		return fmt.Errorf("preprocessing.imputation_strategy: want auto or one of %v, got %q", KnownImputers(), p.Strategy)
	}
	for _, st := range p.Strategies {
		if !slices.Contains(KnownImputers(), st) {
			return fmt.Errorf("preprocessing.strategies: unknown strategy %q (known: %v)", st, KnownImputers())
		}
	}
	return nil
}

// validateFeatures checks the clustering and split sections.
func (c *Config) validateFeatures() error {
	f, s := c.FeatureEngineering, c.Segregation
	switch {
	case f.KMin < 2 || f.KMax < f.KMin:
		return fmt.Errorf("feature_engineering: want 2 <= k_min <= k_max, got k_min=%d k_max=%d", f.KMin, f.KMax)
	case !f.Optimize && f.NClusters < 1:
		return fmt.Errorf("feature_engineering.n_clusters: must be >= 1, got %d", f.NClusters)
	case f.NInit < 1:
		return fmt.Errorf("feature_engineering.n_init: must be >= 1, got %d", f.NInit)
	case s.TestSize <= 0 || s.TestSize >= 1:
		return fmt.Errorf("segregation.test_size: must be in (0, 1), got %v", s.TestSize)
	}
	return nil
}

// validateSearch checks the model selection and sweep sections.
func (c *Config) validateSearch() error {
	switch {
	case c.ModelSelection.CVFolds < 2:
		return fmt.Errorf("model_selection.cv_folds: must be >= 2, got %d", c.ModelSelection.CVFolds)
	case c.Sweep.Trials < 1:
		return fmt.Errorf("sweep.trials: must be >= 1, got %d", c.Sweep.Trials)
	case c.Sweep.Parallelism < 0:
		return fmt.Errorf("sweep.parallelism: must be >= 0, got %d", c.Sweep.Parallelism)
	case c.Sweep.Goal != "minimize" && c.Sweep.Goal != "maximize":
		return fmt.Errorf("sweep.goal: want minimize or maximize, got %q", c.Sweep.Goal)
	case !slices.Contains([]string{"tpe", "bayes", "random", "grid"}, c.Sweep.Method):
		return fmt.Errorf("sweep.method: want tpe, random or grid, got %q", c.Sweep.Method)
	}
	if c.Sweep.Config != "" {
		if _, err := os.Stat(c.Sweep.Config); err != nil {
			return fmt.Errorf("sweep.config: %w", err)
		}
	}
	return nil
}

func (c *Config) validateModels() error {
	if len(c.ModelSelection.Families) == 0 {
		return fmt.Errorf("model_selection.families: empty")
	}
	for _, fam := range c.ModelSelection.Families {
		if !slices.Contains(KnownFamilies(), fam) {
			return fmt.Errorf("model_selection.families: unknown family %q (known: %v)", fam, KnownFamilies())
		}
	}
	for fam, g := range c.ModelSelection.Grids {
		if !slices.Contains(KnownFamilies(), fam) {
			return fmt.Errorf("unknown key model_selection.grids.%s (known families: %v)", fam, KnownFamilies())
		}
		for name, vals := range g {
			if len(vals) == 0 {
				return fmt.Errorf("model_selection.grids.%s.%s: no values", fam, name)
			}
		}
	}
	switch strings.ToLower(c.Registration.ModelStage) {
	case "none", "staging", "production", "archived":
	default:
		return fmt.Errorf("registration.model_stage: want None, Staging, Production or Archived, got %q", c.Registration.ModelStage)
	}
	if c.Registration.RegisteredModelName == "" {
		return fmt.Errorf("registration.registered_model_name: empty")
	}
	return nil
}

// validateSecrets fails fast when a remote backend is configured without the
// credentials it cannot work without; local backends need none. Optional
// secrets are not enforced (S3 and GCS also work anonymously or with the
// platform's ambient credentials), but half an S3 key pair is an error,
// since requests would then be sent unsigned by surprise.
func (c *Config) validateSecrets() error {
	for _, need := range c.RequiredSecrets() {
		if !need.Optional && os.Getenv(need.Env) == "" {
			return fmt.Errorf("%s needs environment variable %s (%s)", need.Key, need.Env, need.Why)
		}
	}
	id, secret := os.Getenv("AWS_ACCESS_KEY_ID") != "", os.Getenv("AWS_SECRET_ACCESS_KEY") != ""
	if strings.HasPrefix(c.Tracking.ArtifactsURL, "s3:") && id != secret {
		return fmt.Errorf("tracking.artifacts_url: set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither for unsigned requests")
	}
	return nil
}

// Secret is an environment variable a configured backend reads.
type Secret struct {
	Key, Env, Why string
	// Optional secrets have a fallback (anonymous access, the cloud
	// metadata server): validation does not demand them, but deployment
	// manifests are expected to supply them.
	Optional bool
}

// RequiredSecrets lists the secrets the configured backends read.
func (c *Config) RequiredSecrets() []Secret {
	var out []Secret
	if u, err := url.Parse(c.Tracking.URI); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		if _, hasPw := u.User.Password(); !hasPw {
			out = append(out, Secret{Key: "tracking.uri", Env: "PGPASSWORD", Why: "PostgreSQL password, not in the URI"})
		}
	}
	if u, err := url.Parse(c.Tracking.ArtifactsURL); err == nil {
		switch u.Scheme {
		case "s3":
			why := "S3 credentials (without both, requests are unsigned)"
			out = append(out, Secret{Key: "tracking.artifacts_url", Env: "AWS_ACCESS_KEY_ID", Why: why, Optional: true},
				Secret{Key: "tracking.artifacts_url", Env: "AWS_SECRET_ACCESS_KEY", Why: why, Optional: true})
		case "gs":
			out = append(out, Secret{Key: "tracking.artifacts_url", Env: "GOOGLE_APPLICATION_CREDENTIALS",
				Why: "path of a GCS service-account key (else GOOGLE_OAUTH_ACCESS_TOKEN or the metadata server)", Optional: true})
		}
	}
	return out
}
