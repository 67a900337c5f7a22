package pipeline

import "github.com/housing-mlops/mlops/config"

// Steps returns the seven steps of the training pipeline, in order, all
// reading cfg. codeVersion is recorded in the registered artifact.
func Steps(cfg *config.Config, codeVersion string) []Step {
	return []Step{
		&Download{Cfg: cfg},
		&Imputation{Cfg: cfg},
		&Features{Cfg: cfg},
		&Segregation{Cfg: cfg},
		&Selection{Cfg: cfg},
		&Sweep{Cfg: cfg},
		&Registration{Cfg: cfg, CodeVersion: codeVersion},
	}
}
