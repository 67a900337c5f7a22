// Package pipeline runs the training pipeline: an ordered list of steps that
// exchange artifacts by key, each tracked as a child run of one pipeline run
// and skipped when a finished run of it with the same cache key exists.
//
// The framework depends only on the domain interfaces (mlops.Tracker,
// mlops.Registry, mlops.ArtifactStore); cmd/mlops wires the stores. The seven
// steps of the housing pipeline live in this package, one file each, and read
// every name and number from a *config.Config.
package pipeline

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Step is one stage of the pipeline.
type Step interface {
	// Name is "NN_word", e.g. "01_download"; the number orders and selects.
	Name() string
	// Inputs are the artifact keys the step reads (produced by earlier steps).
	Inputs() []string
	// Outputs are the artifact keys the step must write.
	Outputs() []string
	// Params are everything besides the inputs that changes the outputs;
	// they are logged as run params and enter the cache key. JSON-encodable.
	Params() map[string]any
	// Run does the work, reading inputs and writing outputs through sc.
	Run(ctx context.Context, sc *StepContext) error
}

// Select returns the steps named by sel, in pipeline order. An empty sel
// selects all. A selector is a number ("3", "03"), a full name
// ("03_feature_engineering") or the part after the number.
func Select(steps []Step, sel []string) ([]Step, error) {
	if len(sel) == 0 {
		return steps, nil
	}
	want := make([]bool, len(steps))
	for _, s := range sel {
		i := matchStep(steps, s)
		if i < 0 {
			return nil, fmt.Errorf("unknown step %q: known steps are %s", s, stepNames(steps))
		}
		want[i] = true
	}
	var out []Step
	for i, st := range steps {
		if want[i] {
			out = append(out, st)
		}
	}
	return out, nil
}

func matchStep(steps []Step, s string) int {
	s = strings.TrimSpace(s)
	n, numErr := strconv.Atoi(s)
	for i, st := range steps {
		num, word, _ := strings.Cut(st.Name(), "_")
		stepNum, _ := strconv.Atoi(num)
		if st.Name() == s || word == s || (numErr == nil && n == stepNum) {
			return i
		}
	}
	return -1
}

func stepNames(steps []Step) string {
	names := make([]string, len(steps))
	for i, s := range steps {
		names[i] = s.Name()
	}
	return strings.Join(names, ", ")
}
