package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// plotutilGreen marks the winning bar.
var plotutilGreen = color.RGBA{R: 0x2e, G: 0x9e, B: 0x44, A: 0xff}

// barPNG draws one bar per label, highlighting bar best (-1 for none).
func barPNG(title, ylabel string, labels []string, values []float64, best int) ([]byte, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	bars, err := plotter.NewBarChart(plotter.Values(values), vg.Points(28))
	if err != nil {
		return nil, fmt.Errorf("plot %q: %w", title, err)
	}
	bars.Color = plotter.DefaultLineStyle.Color
	p.Add(bars)
	if best >= 0 && best < len(values) {
		hi := make(plotter.Values, len(values))
		hi[best] = values[best]
		hb, err := plotter.NewBarChart(hi, vg.Points(28))
		if err != nil {
			return nil, fmt.Errorf("plot %q: %w", title, err)
		}
		hb.Color = plotutilGreen
		p.Add(hb)
	}
	p.NominalX(labels...)
	return pngBytes(p, title)
}

// linePNG draws y against x with markers.
func linePNG(title, xlabel, ylabel string, xs, ys []float64) ([]byte, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	pts := make(plotter.XYs, len(xs))
	for i := range xs {
		pts[i].X, pts[i].Y = xs[i], ys[i]
	}
	l, s, err := plotter.NewLinePoints(pts)
	if err != nil {
		return nil, fmt.Errorf("plot %q: %w", title, err)
	}
	p.Add(l, s, plotter.NewGrid())
	return pngBytes(p, title)
}

func pngBytes(p *plot.Plot, title string) ([]byte, error) {
	w, err := p.WriterTo(8*vg.Inch, 5*vg.Inch, "png")
	if err != nil {
		return nil, fmt.Errorf("plot %q: %w", title, err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("plot %q: %w", title, err)
	}
	return buf.Bytes(), nil
}

// savePlot stores a PNG as an extra artifact of the step.
func savePlot(ctx context.Context, sc *StepContext, key string, png []byte, err error) error {
	if err != nil {
		return err
	}
	_, err = sc.Write(ctx, "plots/"+key, png)
	return err
}
