package monitor

import (
	"testing"

	"github.com/housing-mlops/mlops/ml/frame"
)

// housingSamples reads testdata/housing.csv and returns the full table, a
// reference of every 25th row (826 rows: Evidently's p-value tests) and a
// current sample of rows 9, 19, 29, … (2064 rows) with median_income ×1.3.
func housingSamples(t testing.TB) (full, ref, cur *Table) {
	t.Helper()
	f, err := frame.ReadCSVFile("../testdata/housing.csv", frame.CSVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	full, err = FromFrame(f)
	if err != nil {
		t.Fatal(err)
	}
	pick := func(keep func(int) bool, incomeFactor float64) *Table {
		out := NewTable()
		for name, col := range full.Numeric {
			for j, v := range col {
				if keep(j) {
					if name == "median_income" {
						v *= incomeFactor
					}
					out.Numeric[name] = append(out.Numeric[name], v)
				}
			}
		}
		for name, col := range full.Categorical {
			for j, v := range col {
				if keep(j) {
					out.Categorical[name] = append(out.Categorical[name], v)
				}
			}
		}
		return out
	}
	ref = pick(func(j int) bool { return j%25 == 0 }, 1)
	cur = pick(func(j int) bool { return j%10 == 9 }, 1.3)
	return full, ref, cur
}

// Expected values: scipy 1.10.1 on the same rows read with Python's csv
// module (NaN rows of total_bedrooms dropped):
//
//	stats.ks_2samp(ref[k], cur[k]); stats.wasserstein_distance(full[k], cur[k]) / np.std(full[k])
//	stats.chisquare(cur_counts, ref_counts * len(cur) / len(ref))  # Evidently's chi_stat_test
func TestCompareHousingMatchesScipy(t *testing.T) {
	full, ref, cur := housingSamples(t)
	rep, err := Compare(ref, cur, Options{})
	if err != nil {
		t.Fatal(err)
	}
	inc := feature(t, rep, "median_income")
	near(t, "income D", inc.Statistic, 0.24990849710006194, 1e-12)
	near(t, "income p", *inc.PValue, 7.547027333965543e-33, 1e-12)
	bed := feature(t, rep, "total_bedrooms")
	near(t, "bedrooms D", bed.Statistic, 0.03483868811124694, 1e-12)
	near(t, "bedrooms p", *bed.PValue, 0.4642615467249102, 1e-9)
	oc := feature(t, rep, "ocean_proximity")
	near(t, "ocean chi2", oc.Statistic, 1.0955988645812353, 1e-12)
	near(t, "ocean p", *oc.PValue, 0.7781366401227008, 1e-12)
	if !inc.Drifted || bed.Drifted || oc.Drifted || inc.Test != TestKS || oc.Test != TestChiSquare {
		t.Errorf("verdicts: %+v %+v %+v", inc, bed, oc)
	}

	rep, err = Compare(full, cur, Options{})
	if err != nil {
		t.Fatal(err)
	}
	inc, bed = feature(t, rep, "median_income"), feature(t, rep, "total_bedrooms")
	near(t, "income wasserstein", inc.Statistic, 0.5818822026486912, 1e-12)
	near(t, "bedrooms wasserstein", bed.Statistic, 0.02307837040799758, 1e-12)
	if inc.Test != TestWasserstein || !inc.Drifted || bed.Drifted || inc.PSIBand != BandSignificant {
		t.Errorf("verdicts on the full reference: %+v %+v", inc, bed)
	}
	if rep.DatasetDrift || rep.DriftedFeatures != 1 {
		t.Errorf("one feature of ten drifted: %+v", rep)
	}
}
