package tune

import (
	"embed"
	"fmt"
	"slices"
	"strings"
)

// defaultSpaces are the per-family search spaces shipped with the binary, as
// sweep_config.yaml files so users can copy one and edit it.
//
//go:embed spaces/*.yaml
var defaultSpaces embed.FS

// Families lists the model families with a default search space.
func Families() []string {
	entries, err := defaultSpaces.ReadDir("spaces")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	slices.Sort(out)
	return out
}

// DefaultSpace returns a fresh copy of the default sweep for a model family
// (random_forest, gradient_boosting, ridge, lasso, decision_tree).
func DefaultSpace(family string) (*SweepConfig, error) {
	data, err := DefaultSpaceYAML(family)
	if err != nil {
		return nil, err
	}
	return ParseSweepConfig(data)
}

// DefaultSpaceYAML returns the default sweep file of a family, e.g. to write
// it out for editing.
func DefaultSpaceYAML(family string) ([]byte, error) {
	if strings.ContainsAny(family, "/\\.") {
		return nil, fmt.Errorf("tune: no default search space for %q (have %s)", family, strings.Join(Families(), ", "))
	}
	data, err := defaultSpaces.ReadFile("spaces/" + family + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("tune: no default search space for %q (have %s)", family, strings.Join(Families(), ", "))
	}
	return data, nil
}
