package pipeline

import (
	"bytes"
	"context"
	"fmt"

	"github.com/housing-mlops/mlops/config"
	"github.com/housing-mlops/mlops/ml/frame"
)

// csvOptions types the configured columns so every step reads a table the
// same way, whatever its values look like.
func csvOptions(d config.Data) frame.CSVOptions {
	return frame.CSVOptions{Numeric: append(append([]string{}, d.Numeric...), d.Target), Categorical: d.Categorical}
}

// readFrame reads a CSV input artifact.
func readFrame(ctx context.Context, sc *StepContext, key string, d config.Data) (*frame.Frame, error) {
	b, err := sc.Read(ctx, key)
	if err != nil {
		return nil, err
	}
	f, err := frame.ReadCSV(bytes.NewReader(b), key, csvOptions(d))
	if err != nil {
		return nil, err
	}
	return f, nil
}

// writeFrame stores f as a CSV artifact.
func writeFrame(ctx context.Context, sc *StepContext, key string, f *frame.Frame) error {
	var buf bytes.Buffer
	if err := f.WriteCSV(&buf); err != nil {
		return fmt.Errorf("encoding %s: %w", key, err)
	}
	_, err := sc.Write(ctx, key, buf.Bytes())
	return err
}

// target returns a copy of the target column.
func target(f *frame.Frame, d config.Data) ([]float64, error) {
	y, err := f.Numeric(d.Target)
	if err != nil {
		return nil, err
	}
	return append([]float64(nil), y...), nil
}
