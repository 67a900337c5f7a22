package monitor

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
)

// Feature types reported in FeatureResult.Type (the names ml/frame uses).
const (
	TypeNumeric     = "numeric"
	TypeCategorical = "categorical"
)

// Test names reported in FeatureResult.Test.
const (
	TestKS            = "ks"
	TestChiSquare     = "chisquare"
	TestZ             = "z"
	TestWasserstein   = "wasserstein"
	TestJensenShannon = "jensenshannon"
)

// Options tunes Compare. The zero value gives Evidently's defaults.
type Options struct {
	// Columns restricts the comparison to these columns, in this order;
	// each must exist in both tables. Empty means every reference column
	// that the current table also has, sorted by name.
	Columns []string
	// PSIBins is the number of reference-quantile bins for numeric PSI
	// (default 10).
	PSIBins int
	// PValueThreshold: a p-value test flags drift below it (default 0.05).
	PValueThreshold float64
	// DistanceThreshold: a distance flags drift at or above it (default 0.1).
	DistanceThreshold float64
	// DriftShare: the dataset drifts when at least this share of features
	// drift (default 0.5).
	DriftShare float64
	// SmallReference is the largest reference (non-missing rows of the
	// feature) still tested with p-value tests (default 1000).
	SmallReference int
	// JSBase is the logarithm base of the Jensen–Shannon distance
	// (default 2, as current Evidently, so the distance lies in [0, 1];
	// set math.E for older Evidently releases and scipy's default).
	JSBase float64
}

func (o Options) withDefaults() Options {
	if o.PSIBins <= 0 {
		o.PSIBins = 10
	}
	if o.PValueThreshold <= 0 {
		o.PValueThreshold = 0.05
	}
	if o.DistanceThreshold <= 0 {
		o.DistanceThreshold = 0.1
	}
	if o.DriftShare <= 0 {
		o.DriftShare = 0.5
	}
	if o.SmallReference <= 0 {
		o.SmallReference = 1000
	}
	if o.JSBase <= 0 {
		o.JSBase = 2
	}
	return o
}

// FeatureResult is the drift verdict for one feature.
type FeatureResult struct {
	Name string `json:"name"`
	// Type is TypeNumeric or TypeCategorical (the column's type; a numeric
	// column with at most 5 distinct values is still tested as categories).
	Type    string  `json:"type"`
	PSI     float64 `json:"psi"`
	PSIBand string  `json:"psi_band"`
	// Test is one of the Test* names; Statistic is its statistic (KS D,
	// chi-square, z, or the distance itself), +Inf encoded as null.
	Test      string  `json:"test"`
	Statistic float64 `json:"statistic"`
	// PValue is set for p-value tests (KS, chi-square, z) only.
	PValue *float64 `json:"p_value,omitempty"`
	// Threshold is the p-value or distance threshold applied.
	Threshold float64 `json:"threshold"`
	Drifted   bool    `json:"drifted"`
	// ReferenceCount and CurrentCount are the non-missing values compared.
	ReferenceCount int `json:"reference_count"`
	CurrentCount   int `json:"current_count"`
	// Histogram holds reference and current shares per PSI bin/category.
	Histogram Histogram `json:"histogram"`
}

// Histogram is the distribution of one feature in both samples, in the bins
// PSI used (reference-quantile bins, or categories).
type Histogram struct {
	Labels    []string  `json:"labels"`
	Reference []float64 `json:"reference"`
	Current   []float64 `json:"current"`
}

// MarshalJSON writes a non-finite statistic (chi-square with a category the
// reference never saw) as null, which encoding/json cannot otherwise do.
func (f FeatureResult) MarshalJSON() ([]byte, error) {
	type plain FeatureResult
	out := struct {
		plain
		Statistic *float64 `json:"statistic"`
	}{plain: plain(f)}
	if !math.IsInf(f.Statistic, 0) && !math.IsNaN(f.Statistic) {
		out.Statistic = &f.Statistic
	}
	return json.Marshal(out)
}

// Report is the outcome of Compare.
type Report struct {
	ReferenceRows int             `json:"reference_rows"`
	CurrentRows   int             `json:"current_rows"`
	Features      []FeatureResult `json:"features"`
	// DriftedFeatures counts features with Drifted set; DriftShare is that
	// count over len(Features).
	DriftedFeatures int     `json:"drifted_features"`
	DriftShare      float64 `json:"drift_share"`
	// DriftShareThreshold is Options.DriftShare; DatasetDrift is
	// DriftShare ≥ DriftShareThreshold.
	DriftShareThreshold float64 `json:"drift_share_threshold"`
	DatasetDrift        bool    `json:"dataset_drift"`
}

// Compare tests every selected feature of current against reference and
// returns the per-feature and dataset verdicts. Errors name the column.
func Compare(reference, current *Table, opts Options) (*Report, error) {
	opts = opts.withDefaults()
	refRows, err := reference.Rows()
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	curRows, err := current.Rows()
	if err != nil {
		return nil, fmt.Errorf("current: %w", err)
	}
	cols, err := selectColumns(reference, current, opts.Columns)
	if err != nil {
		return nil, err
	}
	rep := &Report{ReferenceRows: refRows, CurrentRows: curRows, DriftShareThreshold: opts.DriftShare}
	for _, name := range cols {
		fr, err := compareColumn(reference, current, name, opts)
		if err != nil {
			return nil, err
		}
		rep.Features = append(rep.Features, fr)
		if fr.Drifted {
			rep.DriftedFeatures++
		}
	}
	rep.DriftShare = float64(rep.DriftedFeatures) / float64(len(rep.Features))
	rep.DatasetDrift = float64(rep.DriftedFeatures) >= opts.DriftShare*float64(len(rep.Features))
	return rep, nil
}

// selectColumns resolves Options.Columns against both tables.
func selectColumns(reference, current *Table, want []string) ([]string, error) {
	if len(want) == 0 {
		for _, name := range reference.Columns() {
			if hasColumn(current, name) {
				want = append(want, name)
			}
		}
		if len(want) == 0 {
			return nil, fmt.Errorf("monitor: reference and current data have no column in common (reference: %v, current: %v)",
				reference.Columns(), current.Columns())
		}
		return want, nil
	}
	seen := map[string]bool{}
	for _, name := range want {
		switch {
		case seen[name]:
			return nil, fmt.Errorf("monitor: column %q requested twice", name)
		case !hasColumn(reference, name):
			return nil, fmt.Errorf("monitor: column %q not in reference data", name)
		case !hasColumn(current, name):
			return nil, fmt.Errorf("monitor: column %q not in current data", name)
		}
		seen[name] = true
	}
	return slices.Clone(want), nil
}

func hasColumn(t *Table, name string) bool {
	_, num := t.Numeric[name]
	_, cat := t.Categorical[name]
	return num || cat
}

// compareColumn dispatches on the column type in the reference.
func compareColumn(reference, current *Table, name string, opts Options) (FeatureResult, error) {
	if ref, ok := reference.Numeric[name]; ok {
		cur, ok := current.Numeric[name]
		if !ok {
			return FeatureResult{}, fmt.Errorf("monitor: column %q is numeric in reference but categorical in current data", name)
		}
		return compareNumeric(name, nonMissingNumeric(ref), nonMissingNumeric(cur), opts)
	}
	cur, ok := current.Categorical[name]
	if !ok {
		return FeatureResult{}, fmt.Errorf("monitor: column %q is categorical in reference but numeric in current data", name)
	}
	return compareCategorical(name, nonMissingCategorical(reference.Categorical[name]), nonMissingCategorical(cur), opts)
}

func checkCounts(name string, ref, cur int) error {
	switch {
	case ref == 0:
		return fmt.Errorf("monitor: column %q has no non-missing value in reference data", name)
	case cur == 0:
		return fmt.Errorf("monitor: column %q has no non-missing value in current data", name)
	}
	return nil
}

func compareNumeric(name string, ref, cur []float64, opts Options) (FeatureResult, error) {
	if err := checkCounts(name, len(ref), len(cur)); err != nil {
		return FeatureResult{}, err
	}
	// Sort once: every numeric statistic below walks sorted samples.
	ref, cur = sortedCopy(ref), sortedCopy(cur)
	edges := quantileEdgesSorted(ref, opts.PSIBins)
	fr := FeatureResult{
		Name: name, Type: TypeNumeric, ReferenceCount: len(ref), CurrentCount: len(cur),
		Histogram: Histogram{Labels: binLabels(edges), Reference: binShares(ref, edges), Current: binShares(cur, edges)},
	}
	fr.PSI = psiFromShares(fr.Histogram.Reference, fr.Histogram.Current)
	fr.PSIBand = PSIBand(fr.PSI)
	if distinctAtMost(ref, cur, 5) {
		// Evidently tests a numeric column with at most 5 distinct values
		// as categories.
		applyCategoricalTest(&fr, numberLabels(ref), numberLabels(cur), opts)
		return fr, nil
	}
	if len(ref) <= opts.SmallReference {
		d, p := ksSorted(ref, cur)
		setPValue(&fr, TestKS, d, p, opts.PValueThreshold)
		return fr, nil
	}
	wd := wassersteinSorted(ref, cur) / max(popStd(ref), 0.001)
	setDistance(&fr, TestWasserstein, wd, opts.DistanceThreshold)
	return fr, nil
}

func compareCategorical(name string, ref, cur []string, opts Options) (FeatureResult, error) {
	if err := checkCounts(name, len(ref), len(cur)); err != nil {
		return FeatureResult{}, err
	}
	keys := unionKeys(ref, cur)
	fr := FeatureResult{
		Name: name, Type: TypeCategorical, ReferenceCount: len(ref), CurrentCount: len(cur),
		Histogram: Histogram{Labels: keys, Reference: categoryShares(ref, keys), Current: categoryShares(cur, keys)},
	}
	fr.PSI = psiFromShares(fr.Histogram.Reference, fr.Histogram.Current)
	fr.PSIBand = PSIBand(fr.PSI)
	applyCategoricalTest(&fr, ref, cur, opts)
	return fr, nil
}

// applyCategoricalTest runs Evidently's categorical rule: for a small
// reference, the z-test with two categories or fewer and chi-square
// goodness of fit (current counts against reference proportions) with
// more; for a large reference, the Jensen–Shannon distance of the
// category frequencies.
func applyCategoricalTest(fr *FeatureResult, ref, cur []string, opts Options) {
	keys := unionKeys(ref, cur)
	if len(ref) > opts.SmallReference {
		js := JensenShannon(categoryShares(ref, keys), categoryShares(cur, keys), opts.JSBase)
		setDistance(fr, TestJensenShannon, js, opts.DistanceThreshold)
		return
	}
	refCounts, curCounts := categoryCounts(ref, keys), categoryCounts(cur, keys)
	if len(keys) <= 2 {
		// The first category in sorted order is the "event", as Evidently;
		// the two-sided test does not depend on the choice.
		z, p := ZTestProportions(int(refCounts[0]), len(ref), int(curCounts[0]), len(cur))
		setPValue(fr, TestZ, z, p, opts.PValueThreshold)
		return
	}
	scale := float64(len(cur)) / float64(len(ref))
	expected := make([]float64, len(keys))
	for i := range keys {
		expected[i] = refCounts[i] * scale
	}
	stat, p := ChiSquare(curCounts, expected)
	setPValue(fr, TestChiSquare, stat, p, opts.PValueThreshold)
}

func setPValue(fr *FeatureResult, test string, stat, p, threshold float64) {
	fr.Test, fr.Statistic, fr.Threshold = test, stat, threshold
	fr.PValue = &p
	fr.Drifted = p < threshold
}

func setDistance(fr *FeatureResult, test string, dist, threshold float64) {
	fr.Test, fr.Statistic, fr.Threshold = test, dist, threshold
	fr.Drifted = dist >= threshold
}

// distinctAtMost reports whether the sorted samples a and b hold at most
// limit distinct values together; it stops counting past the limit.
func distinctAtMost(a, b []float64, limit int) bool {
	seen := make([]float64, 0, limit+1)
	for _, x := range [][]float64{a, b} {
		for i, v := range x {
			if i > 0 && v == x[i-1] {
				continue
			}
			if !slices.Contains(seen, v) {
				seen = append(seen, v)
				if len(seen) > limit {
					return false
				}
			}
		}
	}
	return true
}

func numberLabels(v []float64) []string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = formatNumber(x)
	}
	return out
}
