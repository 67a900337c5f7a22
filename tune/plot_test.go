package tune

import (
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlotsWritePNGs(t *testing.T) {
	cfg := mustParse(t, quadSweep+"  c: {values: [a, b]}\n  lr: {distribution: log_uniform_values, min: 0.01, max: 1.0}\n")
	res, err := Run(context.Background(), cfg, 15, 2, 1, quadratic, Callbacks{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, plot := range map[string]func(*Result, string) error{
		"best.png": PlotBestSoFar, "parallel.png": PlotParallelCoordinates,
	} {
		path := filepath.Join(dir, name)
		if err := plot(res, path); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s is not a PNG: %v", name, err)
		}
		if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 200 {
			t.Errorf("%s is %v", name, b)
		}
	}
	if err := PlotBestSoFar(&Result{Config: cfg}, filepath.Join(dir, "x.png")); err == nil || !strings.Contains(err.Error(), "no trials") {
		t.Errorf("empty result: %v", err)
	}
}
