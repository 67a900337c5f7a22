package mlflow

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/blob"
	"github.com/housing-mlops/mlops/sqlite"
	"github.com/housing-mlops/mlops/storetest"
)

// openRoundTrip serves a fresh SQLite store through our handler and
// returns our client of it.
func openRoundTrip(t *testing.T) *Client {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mlops.db"))
	if err != nil {
		t.Fatal(err)
	}
	art, err := blob.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(db, art, Options{}))
	c, err := NewClient(srv.URL, ClientOptions{Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Close()
		srv.Close()
		_ = art.Close()
		_ = db.Close()
	})
	return c
}

func TestStoreConformanceOverREST(t *testing.T) {
	storetest.Run(t, func(t *testing.T) mlops.Store { return openRoundTrip(t) })
}

// TestRoundTripScenario is what `mlops run` and serving do against an
// MLflow backend, here our own server: track a run, register its model,
// promote it, alias it, find it again and fetch its artifact.
func TestRoundTripScenario(t *testing.T) {
	c := openRoundTrip(t)
	ctx := context.Background()
	exp, err := c.CreateExperiment(ctx, "housing", "", map[string]string{"team": "ml"})
	if err != nil {
		t.Fatal(err)
	}
	if exp.ArtifactLocation != "mlflow-artifacts:/"+exp.ID || exp.Tags["team"] != "ml" {
		t.Fatalf("experiment %+v", exp)
	}
	start := time.UnixMilli(1700000000000)
	parent, err := c.CreateRun(ctx, mlops.RunCreate{ExperimentID: exp.ID, Name: "pipeline", StartTime: start})
	if err != nil {
		t.Fatal(err)
	}
	var runs []*mlops.Run
	for i, rmse := range []float64{0.52, 0.47} {
		r, err := c.CreateRun(ctx, mlops.RunCreate{ExperimentID: exp.ID, Name: fmt.Sprintf("trial-%d", i), ParentID: parent.ID, StartTime: start.Add(time.Duration(i+1) * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		err = c.LogBatch(ctx, r.ID,
			[]mlops.Metric{{Key: "rmse", Value: rmse + 0.1, Timestamp: start, Step: 0}, {Key: "rmse", Value: rmse, Timestamp: start, Step: 1}},
			[]mlops.Param{{Key: "max_depth", Value: fmt.Sprint(4 + i)}},
			[]mlops.Tag{{Key: "model", Value: "forest"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.UpdateRun(ctx, r.ID, mlops.RunUpdate{Status: mlops.RunFinished, EndTime: start.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, r)
	}
	if err := c.LogBatch(ctx, runs[0].ID, nil, []mlops.Param{{Key: "max_depth", Value: "99"}}, nil); mlops.ErrorCode(err) != mlops.EINVALID {
		t.Fatalf("param overwrite: %v", err)
	}
	best, _, err := c.SearchRuns(ctx, mlops.RunFilter{
		ExperimentIDs: []string{exp.ID}, ParentID: parent.ID, Filter: "metrics.rmse < 0.5 AND params.max_depth = '5'", OrderBy: []string{"metrics.rmse ASC"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(best) != 1 || best[0].ID != runs[1].ID || best[0].Status != mlops.RunFinished || best[0].ParentID != parent.ID ||
		len(best[0].Metrics) != 1 || best[0].Metrics[0].Value != 0.47 || best[0].Params["max_depth"] != "5" {
		t.Fatalf("best run: %+v", best)
	}
	hist, err := c.MetricHistory(ctx, runs[1].ID, "rmse")
	if err != nil || len(hist) != 2 || hist[0].Step != 0 || hist[1].Value != 0.47 {
		t.Fatalf("history: %+v %v", hist, err)
	}

	// The model file goes to the run's artifact location through the proxy.
	run, err := c.GetRun(ctx, runs[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	if run.ArtifactURI != "mlflow-artifacts:/"+exp.ID+"/"+run.ID+"/artifacts" {
		t.Fatalf("artifact uri %q", run.ArtifactURI)
	}
	info, err := c.Put(ctx, run.ArtifactURI+"/model/model.json", strings.NewReader(`{"trees":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	listed, err := c.List(ctx, exp.ID+"/"+run.ID+"/")
	if err != nil || len(listed) != 1 || listed[0].Path != exp.ID+"/"+run.ID+"/artifacts/model/model.json" || listed[0].Size != 12 {
		t.Fatalf("list: %+v %v", listed, err)
	}

	for i, r := range runs {
		v, err := c.CreateModelVersion(ctx, mlops.ModelVersionCreate{Name: "housing", Source: info.URI, SHA256: info.SHA256, RunID: r.ID})
		if err != nil {
			t.Fatal(err)
		}
		if v.Version != i+1 || v.SHA256 != info.SHA256 {
			t.Fatalf("version %+v", v)
		}
	}
	a := mlops.Actor{By: "ci", Reason: "better rmse"}
	if _, err := c.TransitionStage(ctx, "housing", 1, mlops.StageProduction, true, a); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TransitionStage(ctx, "housing", 2, mlops.StageProduction, true, a); err != nil {
		t.Fatal(err)
	}
	if err := c.SetAlias(ctx, "housing", "champion", 2, a); err != nil {
		t.Fatal(err)
	}
	v, err := c.GetModelVersionByAlias(ctx, "housing", "champion")
	if err != nil || v.Version != 2 || v.Stage != mlops.StageProduction || v.RunID != runs[1].ID {
		t.Fatalf("champion: %+v %v", v, err)
	}
	v1, err := c.GetModelVersion(ctx, "housing", 1)
	if err != nil || v1.Stage != mlops.StageArchived {
		t.Fatalf("version 1 after archive_existing: %+v %v", v1, err)
	}
	if uri, err := c.ModelDownloadURI(ctx, "housing", 2); err != nil || uri != info.URI {
		t.Fatalf("download uri %q, %v; want %q", uri, err, info.URI)
	}
	data, err := c.Get(ctx, v.Source, v.SHA256)
	if err != nil || string(data) != `{"trees":[]}` {
		t.Fatalf("model artifact: %s %v", data, err)
	}
	latest, err := c.LatestVersions(ctx, "housing", mlops.StageProduction)
	if err != nil || len(latest) != 1 || latest[0].Version != 2 {
		t.Fatalf("latest production: %+v %v", latest, err)
	}
	models, err := c.SearchRegisteredModels(ctx, "hous%")
	if err != nil || len(models) != 1 || models[0].Aliases["champion"] != 2 || len(models[0].Tags) != 0 {
		t.Fatalf("models: %+v %v", models, err)
	}
	rolled, err := c.Rollback(ctx, "housing", mlops.StageProduction, mlops.Actor{By: "oncall", Reason: "regression"})
	if err != nil || rolled.Version != 1 || rolled.Stage != mlops.StageProduction {
		t.Fatalf("rollback: %+v %v", rolled, err)
	}
	log, err := c.Transitions(ctx, "housing")
	if err != nil || len(log) != 6 || log[len(log)-1].By != "oncall" || log[len(log)-1].Version != 1 {
		t.Fatalf("transition log: %+v %v", log, err)
	}
	if err := c.DeleteAlias(ctx, "housing", "champion", a); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetModelVersionByAlias(ctx, "housing", "champion"); mlops.ErrorCode(err) != mlops.ENOTFOUND {
		t.Fatalf("deleted alias: %v", err)
	}
}
