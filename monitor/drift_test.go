package monitor

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func repeat(pairs ...any) []string {
	var out []string
	for i := 0; i < len(pairs); i += 2 {
		for range pairs[i+1].(int) {
			out = append(out, pairs[i].(string))
		}
	}
	return out
}

func shift(x []float64, by float64) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v + by
	}
	return out
}

func feature(t *testing.T, r *Report, name string) FeatureResult {
	t.Helper()
	for _, f := range r.Features {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no feature %q in report", name)
	return FeatureResult{}
}

func TestCompareSmallReferenceUsesPValueTests(t *testing.T) {
	ref := &Table{
		Numeric: map[string][]float64{
			"x":     seq(100, phi1, 1, 0),
			"rooms": seq(100, phi2, 1, 0), // replaced below by a 3-valued column
		},
		Categorical: map[string][]string{
			"ocean": repeat("A", 50, "B", 30, "C", 20),
			"flag":  repeat("no", 60, "yes", 40),
		},
	}
	ref.Numeric["rooms"] = make([]float64, 100)
	for i := range ref.Numeric["rooms"] {
		ref.Numeric["rooms"][i] = float64(i % 3)
	}
	cur := &Table{
		Numeric: map[string][]float64{"x": seq(100, phi2, 1, 0.2), "rooms": ref.Numeric["rooms"]},
		Categorical: map[string][]string{
			"ocean": repeat("A", 30, "B", 40, "C", 30),
			"flag":  repeat("no", 55, "yes", 45),
		},
	}
	rep, err := Compare(ref, cur, Options{})
	if err != nil {
		t.Fatal(err)
	}
	x := feature(t, rep, "x")
	d, p := KS2Samp(ref.Numeric["x"], cur.Numeric["x"])
	if x.Test != TestKS || x.Statistic != d || x.PValue == nil || *x.PValue != p || x.Drifted != (p < 0.05) {
		t.Errorf("x: %+v, want KS D=%v p=%v", x, d, p)
	}
	// Evidently's chi_stat_test: chisquare([30, 40, 30], [50, 30, 20]·100/100)
	// = (16.333333333333336, 0.0002839629839032563) in scipy 1.10.1.
	o := feature(t, rep, "ocean")
	if o.Test != TestChiSquare || o.PValue == nil || !o.Drifted || o.Threshold != 0.05 {
		t.Fatalf("ocean: %+v", o)
	}
	near(t, "ocean chi2", o.Statistic, 16.333333333333336, 1e-12)
	near(t, "ocean p", *o.PValue, 0.0002839629839032563, 1e-12)
	f := feature(t, rep, "flag")
	if f.Test != TestZ || f.Drifted {
		t.Errorf("flag: %+v, want an undrifted z-test", f)
	}
	// A numeric column with ≤ 5 distinct values is tested as categories.
	r := feature(t, rep, "rooms")
	if r.Type != TypeNumeric || r.Test != TestChiSquare || *r.PValue != 1 || r.PSI != 0 {
		t.Errorf("rooms: %+v, want chi-square with p=1, PSI 0", r)
	}
	if rep.ReferenceRows != 100 || rep.CurrentRows != 100 || len(rep.Features) != 4 {
		t.Errorf("report shape: %+v", rep)
	}
}

func TestCompareLargeReferenceUsesDistances(t *testing.T) {
	ref := &Table{
		Numeric:     map[string][]float64{"x": seq(1050, phi1, 1, 0)},
		Categorical: map[string][]string{"ocean": repeat("A", 600, "B", 300, "C", 150)},
	}
	cur := &Table{
		Numeric:     map[string][]float64{"x": seq(260, phi2, 1, 0)},
		Categorical: map[string][]string{"ocean": repeat("A", 100, "B", 100, "C", 50, "D", 10)},
	}
	rep, err := Compare(ref, cur, Options{})
	if err != nil {
		t.Fatal(err)
	}
	x := feature(t, rep, "x")
	if x.Test != TestWasserstein || x.PValue != nil || x.Threshold != 0.1 || x.Drifted {
		t.Errorf("x: %+v, want an undrifted normed Wasserstein", x)
	}
	// stats.wasserstein_distance(a, b) / max(np.std(a), 0.001)
	near(t, "x wasserstein", x.Statistic, 0.006338461257389874, 1e-12)
	// distance.jensenshannon([600,300,150,0]/1050, [100,100,50,10]/260, 2)
	// = 0.20101019338431153 in scipy 1.10.1.
	o := feature(t, rep, "ocean")
	if o.Test != TestJensenShannon || !o.Drifted {
		t.Errorf("ocean: %+v, want drifted Jensen–Shannon", o)
	}
	near(t, "ocean js", o.Statistic, 0.20101019338431153, 1e-12)
	if rep.DriftedFeatures != 1 || rep.DriftShare != 0.5 || !rep.DatasetDrift {
		t.Errorf("1 of 2 drifted must be dataset drift at the 50%% share: %+v", rep)
	}
}

func TestCompareIdenticalAndShifted(t *testing.T) {
	base := &Table{Numeric: map[string][]float64{
		"a": seq(2000, phi1, 10, 0), "b": seq(2000, phi2, 5, 1), "c": seq(2000, 0.5698402909980532, 1, 0),
	}}
	rep, err := Compare(base, base, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Features {
		if f.Drifted || f.PSI != 0 || f.Statistic != 0 || f.PSIBand != BandNone {
			t.Errorf("identical data, %s: %+v", f.Name, f)
		}
	}
	if rep.DatasetDrift {
		t.Error("identical data flagged as dataset drift")
	}
	shifted := &Table{Numeric: map[string][]float64{
		"a": shift(base.Numeric["a"], 3), "b": base.Numeric["b"], "c": shift(base.Numeric["c"], 0.5),
	}}
	rep, err = Compare(base, shifted, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !feature(t, rep, "a").Drifted || feature(t, rep, "b").Drifted || !feature(t, rep, "c").Drifted {
		t.Errorf("shifted a and c only: %+v", rep.Features)
	}
	if a := feature(t, rep, "a"); a.PSIBand != BandSignificant {
		t.Errorf("a shifted by 30%% of its range: PSI %v band %s", a.PSI, a.PSIBand)
	}
	if !rep.DatasetDrift || rep.DriftedFeatures != 2 {
		t.Errorf("2 of 3 drifted: %+v", rep)
	}
}

func TestCompareColumnsAndErrors(t *testing.T) {
	ref := &Table{Numeric: map[string][]float64{"a": {1, 2, 3}, "b": {1, 2, 3}}, Categorical: map[string][]string{"c": {"x", "y", "x"}}}
	cur := &Table{Numeric: map[string][]float64{"a": {1, 2, 4}, "c": {1, 2, 3}}}
	rep, err := Compare(ref, cur, Options{Columns: []string{"a"}})
	if err != nil || len(rep.Features) != 1 || rep.Features[0].Name != "a" {
		t.Fatalf("Columns [a]: %+v, %v", rep, err)
	}
	for _, c := range []struct {
		opts Options
		cur  *Table
		want string
	}{
		{Options{Columns: []string{"b"}}, cur, `column "b" not in current data`},
		{Options{Columns: []string{"zz"}}, cur, `column "zz" not in reference data`},
		{Options{Columns: []string{"c"}}, cur, `column "c" is categorical in reference but numeric in current data`},
		{Options{Columns: []string{"a", "a"}}, cur, `column "a" requested twice`},
		{Options{}, &Table{Numeric: map[string][]float64{"q": {1}}}, "no column in common"},
		{Options{}, &Table{Numeric: map[string][]float64{"a": {math.NaN(), math.NaN()}}}, `column "a" has no non-missing value in current data`},
		{Options{}, &Table{Numeric: map[string][]float64{"a": {1, 2}, "b": {1}}}, `column "b" has 1 rows, want 2`},
	} {
		_, err := Compare(ref, c.cur, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.opts, err, c.want)
		}
	}
}

func TestCompareIgnoresMissing(t *testing.T) {
	a := seq(300, phi1, 1, 0)
	withNaN := append([]float64{math.NaN(), math.Inf(1)}, a...)
	ref := &Table{Numeric: map[string][]float64{"a": a}, Categorical: map[string][]string{"c": repeat("x", 100, "y", 200)}}
	cur := &Table{Numeric: map[string][]float64{"a": withNaN}, Categorical: map[string][]string{"c": append(repeat("x", 100, "y", 200), "", "")}}
	rep, err := Compare(ref, cur, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Features {
		if f.Drifted || f.PSI != 0 || f.CurrentCount != 300 {
			t.Errorf("%s: %+v, want identical after dropping missing", f.Name, f)
		}
	}
}

func TestReportOutputs(t *testing.T) {
	ref := &Table{Numeric: map[string][]float64{"income": seq(500, phi1, 8, 1)}, Categorical: map[string][]string{"ocean": repeat("INLAND", 200, "NEAR BAY", 300)}}
	cur := &Table{Numeric: map[string][]float64{"income": seq(200, phi2, 8, 3)}, Categorical: map[string][]string{"ocean": repeat("INLAND", 20, "NEAR BAY", 20, "<ISLAND>", 160)}}
	rep, err := Compare(ref, cur, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(text.String(), "\n")
	if !strings.HasPrefix(lines[0], "FEATURE") || !strings.HasPrefix(lines[1], "income") || !strings.Contains(text.String(), "DATASET DRIFT: 2 of 2") {
		t.Errorf("text report:\n%s", text.String())
	}
	// Aligned: the TYPE column starts at the same offset on every row.
	col := strings.Index(lines[0], "TYPE")
	if lines[1][col:col+len("numeric")] != "numeric" || lines[2][col:col+len("categorical")] != "categorical" {
		t.Errorf("columns not aligned:\n%s", text.String())
	}

	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		DatasetDrift bool `json:"dataset_drift"`
		Features     []struct {
			Name      string   `json:"name"`
			PSIBand   string   `json:"psi_band"`
			Statistic *float64 `json:"statistic"`
			PValue    *float64 `json:"p_value"`
		} `json:"features"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("JSON does not parse: %v\n%s", err, js.String())
	}
	// ocean saw a category the reference never had: chi-square is +Inf,
	// written as null, with p-value 0.
	oc := back.Features[1]
	if !back.DatasetDrift || oc.Name != "ocean" || oc.Statistic != nil || oc.PValue == nil || *oc.PValue != 0 {
		t.Errorf("JSON round trip: %+v", back)
	}

	var page bytes.Buffer
	if err := rep.WriteHTML(&page, "Drift <report>"); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	for _, want := range []string{"<title>Drift &lt;report&gt;</title>", "<svg", "&lt;ISLAND&gt;", "income", "DATASET DRIFT"} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	for _, banned := range []string{"http://cdn", "https://", "<script src", "<link"} {
		if strings.Contains(html, banned) {
			t.Errorf("HTML refers to an external resource (%q)", banned)
		}
	}
	if n := strings.Count(html, "<svg"); n != 2 {
		t.Errorf("%d charts, want one per feature", n)
	}
}

func TestBinLabels(t *testing.T) {
	got := binLabels([]float64{1.5, 107200, 2.5e6})
	want := []string{"< 1.5", "[1.5, 107.2k)", "[107.2k, 2.5M)", "≥ 2.5M"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("binLabels = %q, want %q", got, want)
	}
	if got := binLabels(nil); len(got) != 1 {
		t.Errorf("no edges: %q, want one bin", got)
	}
}
