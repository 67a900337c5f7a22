package pipeline

import (
	"context"
	"fmt"

	"github.com/housing-mlops/mlops/chart"
)

// plotOptions are the options of a chart stored as a step artifact: a
// standalone SVG file at the size the notebooks' figures had.
func plotOptions(title, xlabel, ylabel string) chart.Options {
	return chart.Options{Title: title, XLabel: xlabel, YLabel: ylabel, Width: 800, Height: 500, Standalone: true}
}

// savePlot stores an SVG chart (key ends in .svg) as an extra artifact of
// the step under plots/; err is the error of drawing it. Charts come as
// strings (package chart) or bytes (package tune).
func savePlot[T ~string | ~[]byte](ctx context.Context, sc *StepContext, key string, svg T, err error) error {
	if err != nil {
		return fmt.Errorf("plot %s: %w", key, err)
	}
	_, err = sc.Write(ctx, "plots/"+key, []byte(svg))
	return err
}
