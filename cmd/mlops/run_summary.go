package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/housing-mlops/mlops/config"
	"github.com/housing-mlops/mlops/pipeline"
)

// writeOutputs copies best_params.yaml and model_config.yaml, the files meant
// for review and commit, from this run's artifacts (run or cached) into
// main.output_dir.
func writeOutputs(ctx context.Context, cfg *config.Config, rep *pipeline.Report) ([]string, error) {
	arts, err := openArtifacts(ctx, cfg.Tracking.ArtifactsURL)
	if err != nil {
		return nil, err
	}
	defer arts.Close()
	var written []string
	for _, s := range rep.Steps {
		for _, key := range []string{pipeline.KeyBestParams, pipeline.KeyModelConfig} {
			info, ok := s.Outputs[key]
			if !ok || s.Status == pipeline.StatusFailed {
				continue
			}
			b, err := arts.Get(ctx, info.URI, info.SHA256)
			if err != nil {
				return written, fmt.Errorf("reading %s: %w", key, err)
			}
			if err := os.MkdirAll(cfg.Main.OutputDir, 0o755); err != nil {
				return written, err
			}
			path := filepath.Join(cfg.Main.OutputDir, key)
			if err := os.WriteFile(path, b, 0o644); err != nil {
				return written, fmt.Errorf("writing %s: %w", path, err)
			}
			written = append(written, path)
		}
	}
	return written, nil
}

// printSummary prints per-step timings and the headline results.
func printSummary(w io.Writer, cfg *config.Config, rep *pipeline.Report, files []string, runErr error) {
	status := "FINISHED"
	if runErr != nil {
		status = "FAILED"
	}
	fmt.Fprintf(w, "pipeline run %s (experiment %s): %s in %.1fs\n\n", rep.RunID, cfg.Main.ExperimentName, status, rep.Duration.Seconds())
	tw := newTable(w)
	row(tw, "STEP", "STATUS", "SECONDS", "CPU SECONDS")
	summary, metrics := map[string]string{}, map[string]float64{}
	for _, s := range rep.Steps {
		row(tw, s.Name, s.Status, fmt.Sprintf("%.1f", s.Duration.Seconds()), fmt.Sprintf("%.1f", s.CPU.Seconds()))
		for k, v := range s.Summary {
			summary[k] = v
		}
		if s.Name == "07_registration" {
			metrics = s.Metrics
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, kv := range [][2]string{{"data source", "data_source"}, {"imputer", "imputer"}, {"clusters (K)", "k"},
		{"model family", "model_family"}, {"sweep best", "sweep_best_" + cfg.Sweep.Metric}} {
		if v, ok := summary[kv[1]]; ok {
			fmt.Fprintf(w, "%-14s %s\n", kv[0]+":", v)
		}
	}
	if len(metrics) > 0 {
		fmt.Fprintf(w, "%-14s %s\n", "test metrics:", testMetrics(metrics))
	}
	if name, ok := summary["registered_model"]; ok {
		fmt.Fprintf(w, "%-14s %s v%s (%s) sha256 %s\n", "registered:", name, summary["model_version"], summary["model_stage"], summary["model_sha256"])
	}
	if len(files) > 0 {
		fmt.Fprintf(w, "%-14s %s\n", "wrote:", strings.Join(files, ", "))
	}
}

func testMetrics(m map[string]float64) string {
	var keys []string
	for k := range m {
		if strings.HasPrefix(k, "test_") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%s", strings.TrimPrefix(k, "test_"), fmtFloat(m[k]))
	}
	return strings.Join(parts, " ")
}
