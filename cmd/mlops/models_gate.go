package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/config"
	"github.com/housing-mlops/mlops/ml/frame"
	"github.com/housing-mlops/mlops/ml/metrics"
	"github.com/housing-mlops/mlops/ml/model"
)

// Tags the pipeline runner writes on each step's run for its outputs
// (pipeline/runner.go tagOutURI, tagOutSHA) and the test split's key.
const (
	tagOutURIPrefix = "mlops.out.uri."
	tagOutSHAPrefix = "mlops.out.sha256."
	testSplitKey    = "test.csv"
)

// exitNotBetter is the exit code of a promotion refused by --if-better.
const exitNotBetter = 3

// exitError is an error with its own exit code.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

// ExitCode is the process exit code execute uses for this error.
func (e exitError) ExitCode() int { return e.code }

// gateFlags are the --if-better options of models promote.
type gateFlags struct {
	enabled              bool
	metric, data, target string
	artifacts            string
}

func (g *gateFlags) add(fs *flag.FlagSet) {
	fs.BoolVar(&g.enabled, "if-better", false, "promote only if the version beats the stage's current holder on --metric")
	fs.StringVar(&g.metric, "metric", "wmape", "metric compared by --if-better (see ml/metrics: mae, rmse, r2, mape, wmape, ...)")
	fs.StringVar(&g.data, "data", "", "CSV both versions are evaluated on (default: the candidate pipeline run's test split)")
	fs.StringVar(&g.target, "target", config.Default().Data.Target, "target column of the evaluation data")
	fs.StringVar(&g.artifacts, "artifacts", "", "artifact store URL (default $MLOPS_ARTIFACTS or file://$MLOPS_HOME/artifacts)")
}

func (g *gateFlags) check(stage bool) error {
	if !g.enabled {
		return nil
	}
	if !stage {
		return usagef("--if-better needs --stage")
	}
	if _, _, err := metrics.ByName(g.metric); err != nil {
		return usagef("--metric: %v", err)
	}
	if g.target == "" {
		return usagef("--target is empty")
	}
	return nil
}

// run evaluates the candidate and the current holder of stage on the same
// rows and returns nil when the candidate should be promoted: it is
// strictly better, or nobody holds the stage. Otherwise it returns an
// exitError (code 3) and the caller records nothing.
func (g *gateFlags) run(ctx context.Context, w io.Writer, st mlops.Store, name string, version int, stage mlops.Stage) error {
	holders, err := st.LatestVersions(ctx, name, stage)
	if err != nil {
		return err
	}
	holder := stageHolder(holders, stage, version)
	if holder == nil {
		fmt.Fprintf(w, "no version of %s is in %s: promoting v%d without comparison\n", name, stage, version)
		return nil
	}
	cand, err := st.GetModelVersion(ctx, name, version)
	if err != nil {
		return err
	}
	arts, err := openArtifacts(ctx, g.artifacts)
	if err != nil {
		return err
	}
	defer arts.Close()
	f, where, err := g.evalFrame(ctx, st, arts, cand)
	if err != nil {
		return err
	}
	y, err := f.Numeric(g.target)
	if err != nil {
		return fmt.Errorf("evaluation data %s: %w", where, err)
	}
	fn, higher, _ := metrics.ByName(g.metric)
	cs, err := scoreVersion(ctx, arts, cand, f, y, fn)
	if err != nil {
		return err
	}
	ps, err := scoreVersion(ctx, arts, holder, f, y, fn)
	if err != nil {
		return err
	}
	if better, op := compareScores(cs, ps, higher); !better {
		return exitError{code: exitNotBetter, msg: fmt.Sprintf("kept in %s: candidate %s %.6g %s %s %.6g (v%d vs v%d on %d rows of %s)",
			cand.Stage, g.metric, cs, op, lowerStage(stage), ps, version, holder.Version, len(y), where)}
	}
	fmt.Fprintf(w, "candidate v%d %s %.6g beats %s v%d %.6g on %d rows of %s\n",
		version, g.metric, cs, lowerStage(stage), holder.Version, ps, len(y), where)
	return nil
}

// stageHolder returns the version other than version that holds stage
// (the last one listed), or nil when there is none.
func stageHolder(holders []*mlops.ModelVersion, stage mlops.Stage, version int) *mlops.ModelVersion {
	var holder *mlops.ModelVersion
	for _, h := range holders {
		if h != nil && h.Stage == stage && h.Version != version {
			holder = h
		}
	}
	return holder
}

// compareScores reports whether the candidate's score cs strictly beats the
// holder's ps, and the operator that shows why it does not ("≥" when lower
// is better, "≤" when higher is).
func compareScores(cs, ps float64, higher bool) (better bool, op string) {
	if higher {
		return cs > ps, "≤"
	}
	return cs < ps, "≥"
}

func lowerStage(s mlops.Stage) string {
	b := []byte(s)
	if len(b) > 0 && b[0] >= 'A' && b[0] <= 'Z' {
		b[0] += 'a' - 'A'
	}
	return string(b)
}

// evalFrame reads --data, or the test split of the candidate's pipeline
// run: the sibling step run (same parent) that recorded test.csv.
func (g *gateFlags) evalFrame(ctx context.Context, st mlops.Store, arts mlops.ArtifactStore, cand *mlops.ModelVersion) (*frame.Frame, string, error) {
	if g.data != "" {
		f, err := frame.ReadCSVFile(g.data, frame.CSVOptions{})
		if err != nil {
			return nil, "", err
		}
		return f, g.data, nil
	}
	need := usagef("v%d has no recorded pipeline test split: give --data CSV and --target", cand.Version)
	b, uri, err := pipelineOutput(ctx, st, arts, cand.RunID, testSplitKey)
	if err != nil {
		return nil, "", err
	}
	if b == nil {
		return nil, "", need
	}
	f, err := frame.ReadCSV(bytes.NewReader(b), uri, frame.CSVOptions{})
	if err != nil {
		return nil, "", err
	}
	return f, "the test split " + uri, nil
}

// pipelineOutput reads the output key (e.g. test.csv) recorded by the
// pipeline run that runID belongs to: runID's own step run or one of its
// siblings under the same pipeline run. It returns nil data when no run
// recorded it.
func pipelineOutput(ctx context.Context, st mlops.Store, arts mlops.ArtifactStore, runID, key string) ([]byte, string, error) {
	if runID == "" {
		return nil, "", nil
	}
	run, err := st.GetRun(ctx, runID)
	if err != nil {
		return nil, "", fmt.Errorf("run %s: %w", runID, err)
	}
	runs := []*mlops.Run{run}
	if run.ParentID != "" {
		sib, _, err := st.SearchRuns(ctx, mlops.RunFilter{ExperimentIDs: []string{run.ExperimentID}, ParentID: run.ParentID, MaxResults: 1000})
		if err != nil {
			return nil, "", err
		}
		runs = append(runs, sib...)
	}
	for _, r := range runs {
		uri, sha := r.Tags[tagOutURIPrefix+key], r.Tags[tagOutSHAPrefix+key]
		if uri == "" {
			continue
		}
		b, err := arts.Get(ctx, uri, sha)
		if err != nil {
			return nil, "", fmt.Errorf("%s of run %s: %w", key, r.ID, err)
		}
		return b, uri, nil
	}
	return nil, "", nil
}

// scoreVersion loads a version's artifact (its SHA-256 verified against the
// registry) and scores its predictions on f.
func scoreVersion(ctx context.Context, arts mlops.ArtifactStore, mv *mlops.ModelVersion, f *frame.Frame, y []float64, fn metrics.Func) (float64, error) {
	b, err := arts.Get(ctx, mv.Source, mv.SHA256)
	if err != nil {
		return 0, fmt.Errorf("v%d artifact: %w", mv.Version, err)
	}
	a, err := model.Load(bytes.NewReader(b))
	if err != nil {
		return 0, fmt.Errorf("v%d: %w", mv.Version, err)
	}
	pred, err := a.Predict(f)
	if err != nil {
		return 0, fmt.Errorf("v%d predict: %w", mv.Version, err)
	}
	s, err := fn(y, pred)
	if err != nil {
		return 0, fmt.Errorf("v%d: %w", mv.Version, err)
	}
	return s, nil
}
