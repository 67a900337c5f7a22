package monitor

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
)

// PSIEpsilon replaces the share of a bin that one sample leaves empty before
// PSI takes its logarithm: ln(0) would make one empty bin dominate (or break)
// the index. 1e-4 is the customary value (Evidently uses it too); it caps a
// single empty bin's contribution at about share·ln(share/1e-4).
const PSIEpsilon = 1e-4

// PSI band names, from the original system: below 0.1 no significant
// change, 0.1 to 0.2 moderate, 0.2 and above significant (retrain).
const (
	BandNone        = "none"
	BandModerate    = "moderate"
	BandSignificant = "significant"
)

// PSIAlertThreshold is the PSI at which a feature counts as significantly
// drifted (the start of BandSignificant) and Window raises an alert.
const PSIAlertThreshold = 0.2

// PSIBand names the band of a PSI value.
func PSIBand(psi float64) string {
	switch {
	case psi >= PSIAlertThreshold:
		return BandSignificant
	case psi >= 0.1:
		return BandModerate
	}
	return BandNone
}

// PSI is the population stability index of current against reference for a
// numeric feature: Σ (c−r)·ln(c/r) over bins cut at the reference's
// quantiles (linear interpolation, as numpy.quantile). The outer bins are
// open-ended so every current value counts even outside the reference
// range (the original numpy code silently dropped those), equal quantiles
// are merged so heavily tied features get fewer, non-empty bins, and empty
// bins get PSIEpsilon. NaNs must be removed by the caller.
func PSI(reference, current []float64, bins int) float64 {
	edges := QuantileEdges(reference, bins)
	return psiFromShares(binShares(reference, edges), binShares(current, edges))
}

// PSICategorical is PSI over the categories seen in either sample.
func PSICategorical(reference, current []string) float64 {
	keys := unionKeys(reference, current)
	return psiFromShares(categoryShares(reference, keys), categoryShares(current, keys))
}

// QuantileEdges returns the distinct interior cut points of bins
// equal-frequency bins of the reference: its quantiles at 1/bins … (bins−1)/bins.
// A value v falls in bin i when edges[i−1] ≤ v < edges[i].
func QuantileEdges(reference []float64, bins int) []float64 {
	return quantileEdgesSorted(sortedCopy(reference), bins)
}

func quantileEdgesSorted(sorted []float64, bins int) []float64 {
	var edges []float64
	for k := 1; k < bins; k++ {
		q := quantileSorted(sorted, float64(k)/float64(bins))
		if len(edges) == 0 || q > edges[len(edges)-1] {
			edges = append(edges, q)
		}
	}
	return edges
}

// quantileSorted is numpy.quantile's default (linear, "type 7") on sorted data.
func quantileSorted(x []float64, q float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	h := float64(len(x)-1) * q
	lo := int(math.Floor(h))
	if lo >= len(x)-1 {
		return x[len(x)-1]
	}
	return x[lo] + (h-float64(lo))*(x[lo+1]-x[lo])
}

// binShares returns the share of values in each of the len(edges)+1 bins.
func binShares(values, edges []float64) []float64 {
	shares := make([]float64, len(edges)+1)
	for _, v := range values {
		shares[sort.Search(len(edges), func(k int) bool { return edges[k] > v })]++
	}
	for i := range shares {
		shares[i] /= float64(len(values))
	}
	return shares
}

// psiFromShares sums (c−r)·ln(c/r) with empty shares raised to PSIEpsilon.
func psiFromShares(ref, cur []float64) float64 {
	var psi float64
	for i := range ref {
		r, c := max(ref[i], PSIEpsilon), max(cur[i], PSIEpsilon)
		psi += (c - r) * math.Log(c/r)
	}
	return psi
}

// unionKeys returns the sorted distinct values of both samples.
func unionKeys(a, b []string) []string {
	seen := map[string]bool{}
	var keys []string
	for _, s := range slices.Concat(a, b) {
		if !seen[s] {
			seen[s] = true
			keys = append(keys, s)
		}
	}
	slices.Sort(keys)
	return keys
}

func categoryCounts(values, keys []string) []float64 {
	index := make(map[string]int, len(keys))
	for i, k := range keys {
		index[k] = i
	}
	counts := make([]float64, len(keys))
	for _, v := range values {
		counts[index[v]]++
	}
	return counts
}

func categoryShares(values, keys []string) []float64 {
	shares := categoryCounts(values, keys)
	for i := range shares {
		shares[i] /= float64(len(values))
	}
	return shares
}

// formatNumber turns a numeric value into a category label, for numeric
// features with so few distinct values that they are tested as categories.
func formatNumber(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// binLabels describes the bins that edges cut, for tables and charts.
func binLabels(edges []float64) []string {
	if len(edges) == 0 {
		return []string{"all"}
	}
	labels := make([]string, len(edges)+1)
	labels[0] = "< " + shortNumber(edges[0])
	for i := 1; i < len(edges); i++ {
		labels[i] = fmt.Sprintf("[%s, %s)", shortNumber(edges[i-1]), shortNumber(edges[i]))
	}
	labels[len(edges)] = "≥ " + shortNumber(edges[len(edges)-1])
	return labels
}

// shortNumber keeps bin labels short enough for a chart axis: 4
// significant digits, with k and M suffixes for large magnitudes.
func shortNumber(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 4, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'g', 4, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}
