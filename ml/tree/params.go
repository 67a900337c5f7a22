package tree

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Params configures a regression tree. Zero values mean scikit-learn's
// defaults, so Params{} is an unlimited-depth exact CART tree.
type Params struct {
	MaxDepth        int    `json:"max_depth"`         // 0 = unlimited
	MinSamplesSplit int    `json:"min_samples_split"` // 0 = 2
	MinSamplesLeaf  int    `json:"min_samples_leaf"`  // 0 = 1
	MaxFeatures     string `json:"max_features"`      // see ResolveMaxFeatures; "" = all
	Seed            uint64 `json:"seed"`              // feature visiting order
}

// withDefaults fills zero fields and rejects impossible values.
func (p Params) withDefaults() (Params, error) {
	if p.MaxDepth < 0 {
		return p, fmt.Errorf("tree: MaxDepth %d must be >= 0 (0 = unlimited)", p.MaxDepth)
	}
	if p.MinSamplesSplit == 0 {
		p.MinSamplesSplit = 2
	}
	if p.MinSamplesSplit < 2 {
		return p, fmt.Errorf("tree: MinSamplesSplit %d must be >= 2", p.MinSamplesSplit)
	}
	if p.MinSamplesLeaf == 0 {
		p.MinSamplesLeaf = 1
	}
	if p.MinSamplesLeaf < 1 {
		return p, fmt.Errorf("tree: MinSamplesLeaf %d must be >= 1", p.MinSamplesLeaf)
	}
	if err := CheckMaxFeatures(p.MaxFeatures); err != nil {
		return p, err
	}
	return p, nil
}

// CheckMaxFeatures reports whether s is a valid MaxFeatures setting without
// knowing the number of features yet (so bad settings fail before any work).
func CheckMaxFeatures(s string) error {
	_, err := ResolveMaxFeatures(s, math.MaxInt32)
	return err
}

// ResolveMaxFeatures turns a MaxFeatures setting into the number of features
// to consider per split, for n features:
//
//	"" or "all"   n
//	"sqrt"        max(1, floor(sqrt(n)))
//	"log2"        max(1, floor(log2(n)))
//	"0.5"         a fraction in (0, 1]: max(1, floor(0.5*n))
//	"4"           a count in 1..n
//
// The rounding follows scikit-learn so the same setting means the same thing.
func ResolveMaxFeatures(s string, n int) (int, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	atLeast1 := func(k int) int { return max(1, min(k, n)) }
	switch s {
	case "", "all", "none", "auto":
		// "auto" meant all features for regressors in scikit-learn <= 1.2.
		return n, nil
	case "sqrt":
		return atLeast1(int(math.Sqrt(float64(n)))), nil
	case "log2":
		return atLeast1(int(math.Log2(float64(n)))), nil
	}
	if k, err := strconv.Atoi(s); err == nil {
		if k < 1 || k > n {
			return 0, fmt.Errorf("tree: MaxFeatures %q: a count must be in 1..%d (the number of features)", s, n)
		}
		return k, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("tree: MaxFeatures %q: want \"all\", \"sqrt\", \"log2\", a fraction like \"0.5\" or a count like \"4\"", s)
	}
	if !(f > 0 && f <= 1) {
		return 0, fmt.Errorf("tree: MaxFeatures %q: a fraction must be in (0, 1]", s)
	}
	return atLeast1(int(f * float64(n))), nil
}
