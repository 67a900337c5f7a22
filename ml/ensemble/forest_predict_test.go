package ensemble

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops/ml"
)

// referencePredict is the forest's definition written plainly: per-tree
// predictions from the node arrays, summed in tree order, and quantiles from
// a full sort.
func referencePredict(f *RandomForest, X *ml.Matrix, qs []float64) (mean []float64, quantiles [][]float64) {
	quantiles = make([][]float64, len(qs))
	for i := 0; i < X.Rows; i++ {
		per := make([]float64, len(f.Trees))
		sum := 0.0
		for t := range f.Trees {
			per[t] = 0 + f.Trees[t].PredictRow(X.Row(i))
			sum += per[t]
		}
		mean = append(mean, sum/float64(len(f.Trees)))
		slices.Sort(per)
		for k, q := range qs {
			quantiles[k] = append(quantiles[k], quantileSorted(per, q))
		}
	}
	return mean, quantiles
}

// TestForestPredictPathsMatchReference checks every batch size around the
// walks' switch points (one row across trees below eight rows, trees one by
// one with eight rows at a time above) against referencePredict bit for
// bit, for quantiles that select (near the ends) and that sort (middle).
func TestForestPredictPathsMatchReference(t *testing.T) {
	h := loadHousing(t)
	f := NewRandomForest(smallForest())
	if err := f.Fit(h.Xtr, h.ytr); err != nil {
		t.Fatal(err)
	}
	qs := []float64{0.05, 0.95, 0, 1, 0.5, 0.3}
	for _, rows := range []int{1, 2, 7, 8, 9, 17, 100} {
		X := h.Xte.SelectRows(seq(rows))
		wantMean, wantQ := referencePredict(f, X, qs)
		got, err := f.Predict(X)
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, "Predict", got, wantMean)
		for _, sel := range [][]float64{qs, qs[:2], qs[2:4]} {
			m, q, err := f.PredictWithQuantiles(X, sel)
			if err != nil {
				t.Fatal(err)
			}
			sameBits(t, "PredictWithQuantiles means", m, wantMean)
			for k := range sel {
				sameBits(t, "quantile", q[k], wantQ[slices.Index(qs, sel[k])])
			}
		}
	}
}

// TestOrderStatsMatchSort compares selection with sorting on awkward
// values: ties, NaN (cmp order puts it first) and
// infinities (both sent to the sort, as the forest does), and counts small
// enough that the ends overlap.
func TestOrderStatsMatchSort(t *testing.T) {
	qs := []float64{0, 0.01, 0.05, 0.1, 0.9, 0.95, 0.99, 1}
	rng := ml.NewRand(7, 0)
	for _, n := range []int{1, 2, 3, 5, 20, 128, 200} {
		for trial := 0; trial < 40; trial++ {
			vals := make([]float64, n)
			odd := trial%2 == 0 // half the trials may hold NaN and infinities
			for i := range vals {
				switch v := rng.IntN(40); {
				case v == 0 && odd:
					vals[i] = math.NaN()
				case v == 1 && odd:
					vals[i] = math.Inf(-1)
				case v < 10:
					vals[i] = float64(v) // ties
				default:
					vals[i] = rng.Float64() * 1e5
				}
			}
			sorted := slices.Clone(vals)
			slices.Sort(sorted)
			s := newOrderStats(n, qs)
			out := make([][]float64, len(qs))
			for k := range out {
				out[k] = make([]float64, 1)
			}
			finite := true
			for _, v := range vals {
				finite = finite && !math.IsNaN(v) && !math.IsInf(v, 0)
			}
			s.quantiles(slices.Clone(vals), out, 0, finite)
			for k, q := range qs {
				want := quantileSorted(sorted, q)
				if math.Float64bits(out[k][0]) != math.Float64bits(want) {
					t.Fatalf("n=%d q=%v (sortAll %v): %v, want %v from %v", n, q, s.sortAll, out[k][0], want, sorted)
				}
			}
		}
	}
	if s := newOrderStats(128, []float64{0.05, 0.95}); s.sortAll || s.low != 8 || s.high != 8 {
		t.Errorf("90 %% interval of 128 trees: low %d high %d sortAll %v, want 8, 8, selection", s.low, s.high, s.sortAll)
	}
}

// TestForestDecodeCanonical decodes json.Marshal's own bytes through the
// fast path and other valid spellings through encoding/json, and checks
// they give the same forest.
func TestForestDecodeCanonical(t *testing.T) {
	h := loadHousing(t)
	f := NewRandomForest(smallForest())
	if err := f.Fit(h.Xtr, h.ytr); err != nil {
		t.Fatal(err)
	}
	data := marshal(t, f)
	want, _ := f.Predict(h.Xte)
	var fast RandomForest
	canonical, err := fast.DecodeCanonical(data)
	if err != nil || !canonical {
		t.Fatalf("json.Marshal's bytes: canonical %v, err %v", canonical, err)
	}
	if !bytes.Equal(marshal(t, &fast), data) {
		t.Fatal("re-encoding the fast-decoded forest changed its bytes")
	}
	got, _ := fast.Predict(h.Xte)
	sameBits(t, "fast-decoded predictions", got, want)

	var indented bytes.Buffer
	if err := json.Indent(&indented, data, "", "  "); err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(data, []byte(`"feature":"`)) + len(`"feature":"`)
	for name, spelling := range map[string][]byte{
		"indented": indented.Bytes(),
		// A base64 character written as a JSON escape: the same string.
		"escaped": slices.Concat(data[:at], []byte(fmt.Sprintf(`\u%04x`, data[at])), data[at+1:]),
		// A line break inside base64 decodes to the same bytes.
		"line break": bytes.Replace(data, []byte(`"threshold":"`), []byte(`"threshold":"\n`), 1),
		"key order": bytes.Replace(data, []byte(`{"params":`),
			[]byte(fmt.Sprintf(`{"n_features":%d,"params":`, f.NFeatures)), 1),
	} {
		var slow RandomForest
		canonical, err := slow.DecodeCanonical(spelling)
		if err != nil || canonical {
			t.Errorf("%s: canonical %v, err %v", name, canonical, err)
			continue
		}
		if !reflect.DeepEqual(slow.Trees, fast.Trees) || !reflect.DeepEqual(slow.Importances, fast.Importances) || slow.Params != fast.Params {
			t.Errorf("%s: decodes to another forest", name)
		}
	}
}

// TestForestDecodeRejectsDamage cuts and corrupts the encoded forest: each
// damage is an error naming what is wrong, never a panic or a forest.
func TestForestDecodeRejectsDamage(t *testing.T) {
	h := loadHousing(t)
	f := NewRandomForest(smallForest())
	if err := f.Fit(h.Xtr, h.ytr); err != nil {
		t.Fatal(err)
	}
	data := string(marshal(t, f))
	i := strings.Index(data, `"left":"`) + len(`"left":"`)
	cases := map[string]struct{ data, want string }{
		"truncated in a tree":      {data[:i+40], "decode random forest"},
		"truncated at the end":     {data[:len(data)-1], "decode random forest"},
		"bad base64 character":     {data[:i] + "*" + data[i+1:], "decode random forest"},
		"array cut short":          {data[:i] + data[i+16:], "node arrays disagree in length"},
		"child pointing backwards": {data[:i] + "AAAAAA" + data[i+6:], "has child"},
		"empty":                    {"", "decode random forest"},
	}
	for name, c := range cases {
		var g RandomForest
		_, err := g.DecodeCanonical([]byte(c.data))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, c.want)
		}
	}
}

// BenchmarkForestDecode decodes a saved 64-tree tuned forest.
func BenchmarkForestDecode(b *testing.B) {
	h := loadHousing(b)
	p := tunedForest()
	p.NEstimators = 64
	f := NewRandomForest(p)
	if err := f.Fit(h.Xtr, h.ytr); err != nil {
		b.Fatal(err)
	}
	data := marshal(b, f)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var g RandomForest
		if canonical, err := g.DecodeCanonical(data); err != nil || !canonical {
			b.Fatal(canonical, err)
		}
	}
}
