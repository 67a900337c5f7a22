package selection

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestBinMatchesPandasCutRightClosed(t *testing.T) {
	edges := []float64{1.5, 3, 4.5, 6}
	values := []float64{0, 1.5, 1.6, 3, 4.4, 4.5, 6, 6.01, 15, math.NaN()}
	want := []int{0, 0, 1, 1, 2, 2, 3, 4, 4, -1}
	if got := Bin(values, edges); !slices.Equal(got, want) {
		t.Fatalf("Bin = %v, want %v", got, want)
	}
}

// checkPartition fails unless train and test are disjoint and cover 0..n-1.
func checkPartition(t *testing.T, n int, train, test []int) {
	t.Helper()
	seen := make([]int, n)
	for _, side := range [][]int{train, test} {
		for _, i := range side {
			if i < 0 || i >= n {
				t.Fatalf("index %d out of range %d", i, n)
			}
			seen[i]++
		}
	}
	for i, c := range seen {
		if c != 1 {
			t.Fatalf("row %d appears %d times", i, c)
		}
	}
}

func TestTrainTestSplitSizesMatchScikitLearn(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/reference/split_random_state_42.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		TestSize  float64 `json:"test_size"`
		TrainRows []int   `json:"train_rows"`
		TestRows  []int   `json:"test_rows"`
	}
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	n := len(ref.TrainRows) + len(ref.TestRows)
	train, test, err := TrainTestSplit(n, ref.TestSize, 42, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(train) != len(ref.TrainRows) || len(test) != len(ref.TestRows) {
		t.Fatalf("sizes %d/%d, scikit-learn %d/%d", len(train), len(test), len(ref.TrainRows), len(ref.TestRows))
	}
	checkPartition(t, n, train, test)
}

func TestTrainTestSplitRoundsTestUp(t *testing.T) {
	// ceil(0.25*10) = 3 as in scikit-learn.
	train, test, err := TrainTestSplit(10, 0.25, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(test) != 3 || len(train) != 7 {
		t.Fatalf("got %d/%d, want 7/3", len(train), len(test))
	}
}

func TestTrainTestSplitSeeded(t *testing.T) {
	a1, b1, _ := TrainTestSplit(500, 0.2, 7, nil)
	a2, b2, _ := TrainTestSplit(500, 0.2, 7, nil)
	c1, _, _ := TrainTestSplit(500, 0.2, 8, nil)
	if !slices.Equal(a1, a2) || !slices.Equal(b1, b2) {
		t.Fatal("same seed gave different splits")
	}
	if slices.Equal(a1, c1) {
		t.Fatal("different seeds gave the same split")
	}
	sorted := slices.Sorted(slices.Values(b1))
	if slices.Equal(sorted, b1) {
		t.Fatal("test rows are not shuffled")
	}
}

func TestTrainTestSplitStratifiedKeepsProportions(t *testing.T) {
	// Unequal classes: 7 %, 23 %, 40 %, 30 % of 1000 rows, interleaved.
	sizes := map[int]int{3: 70, 0: 230, 1: 400, 2: 300}
	var strata []int
	for c := 0; c < 4; c++ {
		for k := 0; k < sizes[c]; k++ {
			strata = append(strata, c)
		}
	}
	// Deterministic interleave so classes are not contiguous.
	mixed := make([]int, len(strata))
	for i := range strata {
		mixed[(i*389)%len(strata)] = strata[i]
	}
	train, test, err := TrainTestSplit(len(mixed), 0.2, 42, mixed)
	if err != nil {
		t.Fatal(err)
	}
	checkPartition(t, len(mixed), train, test)
	if len(test) != 200 {
		t.Fatalf("test size %d, want 200", len(test))
	}
	count := map[int]int{}
	for _, i := range test {
		count[mixed[i]]++
	}
	for c, size := range sizes {
		want := float64(size) * 0.2
		if math.Abs(float64(count[c])-want) > 1 {
			t.Errorf("class %d: %d test rows, want %.1f±1", c, count[c], want)
		}
	}
}

func TestTrainTestSplitStratifiedRemainderGoesToLargestFraction(t *testing.T) {
	// 3 classes of 5 rows, test 0.5 → ceil(7.5)=8 test rows, 2.67 each; the
	// two extra rows go to the lowest labels on the tie.
	strata := []int{2, 1, 0, 2, 1, 0, 2, 1, 0, 2, 1, 0, 2, 1, 0}
	_, test, err := TrainTestSplit(15, 0.5, 3, strata)
	if err != nil {
		t.Fatal(err)
	}
	count := map[int]int{}
	for _, i := range test {
		count[strata[i]]++
	}
	if count[0] != 3 || count[1] != 3 || count[2] != 2 {
		t.Fatalf("test counts by class %v, want 3/3/2", count)
	}
}

func TestTrainTestSplitErrors(t *testing.T) {
	cases := []struct {
		name   string
		n      int
		size   float64
		strata []int
		want   string
	}{
		{"zero", 10, 0, nil, "must be in (0, 1)"},
		{"one", 10, 1, nil, "must be in (0, 1)"},
		{"negative", 10, -0.2, nil, "must be in (0, 1)"},
		{"nan", 10, math.NaN(), nil, "must be in (0, 1)"},
		{"tiny", 1, 0.5, nil, "at least 2 rows"},
		{"no train", 3, 0.9, nil, "leaves no training rows"},
		{"labels", 4, 0.5, []int{0, 1, 0}, "3 strata labels for 4 rows"},
		{"singleton", 5, 0.4, []int{0, 0, 1, 0, 0}, "stratum 1 has 1 row"},
		{"too many strata", 6, 0.2, []int{0, 0, 1, 1, 2, 2}, "cannot cover 3 strata"},
	}
	for _, c := range cases {
		_, _, err := TrainTestSplit(c.n, c.size, 1, c.strata)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want containing %q", c.name, err, c.want)
		}
	}
}

func TestKFoldSizesAndCoverage(t *testing.T) {
	for _, shuffle := range []bool{false, true} {
		folds, err := KFold{K: 3, Shuffle: shuffle, Seed: 5}.Splits(10)
		if err != nil {
			t.Fatal(err)
		}
		inTest := make([]int, 10)
		for f, fold := range folds {
			if want := []int{4, 3, 3}[f]; len(fold.Test) != want {
				t.Fatalf("fold %d has %d test rows, want %d", f, len(fold.Test), want)
			}
			checkPartition(t, 10, fold.Train, fold.Test)
			if !slices.IsSorted(fold.Train) {
				t.Fatalf("fold %d train not ascending: %v", f, fold.Train)
			}
			for _, i := range fold.Test {
				inTest[i]++
			}
		}
		for i, c := range inTest {
			if c != 1 {
				t.Fatalf("row %d is in %d test folds", i, c)
			}
		}
	}
}

func TestKFoldUnshuffledIsConsecutive(t *testing.T) {
	folds, _ := KFold{K: 2}.Splits(4)
	if !slices.Equal(folds[0].Test, []int{0, 1}) || !slices.Equal(folds[1].Test, []int{2, 3}) {
		t.Fatalf("folds %+v", folds)
	}
}

func TestKFoldShuffleSeeded(t *testing.T) {
	a, _ := KFold{K: 5, Shuffle: true, Seed: 1}.Splits(50)
	b, _ := KFold{K: 5, Shuffle: true, Seed: 1}.Splits(50)
	c, _ := KFold{K: 5, Shuffle: true, Seed: 2}.Splits(50)
	if !slices.Equal(a[0].Test, b[0].Test) {
		t.Fatal("same seed, different folds")
	}
	if slices.Equal(a[0].Test, c[0].Test) {
		t.Fatal("different seeds, same folds")
	}
}

func TestKFoldErrors(t *testing.T) {
	if _, err := (KFold{K: 1}).Splits(10); err == nil || !strings.Contains(err.Error(), "K >= 2") {
		t.Errorf("K=1: %v", err)
	}
	if _, err := (KFold{K: 5}).Splits(4); err == nil || !strings.Contains(err.Error(), "at least 5 rows") {
		t.Errorf("n<K: %v", err)
	}
}
