package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/sqlite"
)

// seedRuns fills a store with n finished runs of 8 params and 8 metrics.
func seedRuns(b *testing.B, n int) (*sqlite.DB, string) {
	b.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	e, err := db.CreateExperiment(ctx, "bench", "", nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		r, err := db.CreateRun(ctx, mlops.RunCreate{ExperimentID: e.ID, Name: fmt.Sprintf("trial-%d", i)})
		if err != nil {
			b.Fatal(err)
		}
		var ms []mlops.Metric
		var ps []mlops.Param
		for k := 0; k < 8; k++ {
			ms = append(ms, mlops.Metric{Key: fmt.Sprintf("m%d", k), Value: float64(i*k%997) + 0.5})
			ps = append(ps, mlops.Param{Key: fmt.Sprintf("p%d", k), Value: fmt.Sprint(i % (k + 2))})
		}
		if err := db.LogBatch(ctx, r.ID, ms, ps, nil); err != nil {
			b.Fatal(err)
		}
	}
	return db, e.ID
}

// BenchmarkSearchRuns1000 is one filtered, ordered search over 1000 runs:
// the coarse SQL load plus the in-Go filter and sort.
func BenchmarkSearchRuns1000(b *testing.B) {
	db, exp := seedRuns(b, 1000)
	ctx := context.Background()
	f := mlops.RunFilter{ExperimentIDs: []string{exp}, Filter: "metrics.m3 < 500 AND params.p1 = '1'", OrderBy: []string{"metrics.m3 ASC"}, MaxResults: 50}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runs, _, err := db.SearchRuns(ctx, f)
		if err != nil || len(runs) == 0 {
			b.Fatal(err, len(runs))
		}
	}
}

// BenchmarkLogBatch is one transaction of 8 metrics, 8 params and a tag.
func BenchmarkLogBatch(b *testing.B) {
	db, exp := seedRuns(b, 1)
	ctx := context.Background()
	r, err := db.CreateRun(ctx, mlops.RunCreate{ExperimentID: exp})
	if err != nil {
		b.Fatal(err)
	}
	ps := []mlops.Param{{Key: "a", Value: "1"}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var ms []mlops.Metric
		for k := 0; k < 8; k++ {
			ms = append(ms, mlops.Metric{Key: fmt.Sprintf("m%d", k), Value: float64(i), Step: int64(i)})
		}
		if err := db.LogBatch(ctx, r.ID, ms, ps, []mlops.Tag{{Key: "t", Value: fmt.Sprint(i)}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateModelVersion measures registering one version.
func BenchmarkCreateModelVersion(b *testing.B) {
	db, _ := seedRuns(b, 0)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := db.CreateModelVersion(ctx, mlops.ModelVersionCreate{Name: "m", Source: "s"}); err != nil {
			b.Fatal(err)
		}
	}
}
