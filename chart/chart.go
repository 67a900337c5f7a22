// Package chart draws the project's charts as small SVG documents: line
// charts, bar charts and parallel coordinates, and the drawing primitives
// (Doc, Path) that the web UI also uses for its own figures.
//
// One package serves two readers. The web UI inlines the SVG in its pages
// and colours it with the page's stylesheet through CSS classes; the
// pipeline and the sweeps store charts as .svg artifacts, for which
// Options.Standalone adds what a file needs on its own: an XML
// declaration, an embedded stylesheet, a background and a visible title.
// A plotting library would instead bring fonts and raster back ends that
// weigh megabytes in the binary; SVG needs none of them.
//
// The classes a page styles: grid, axis, tick, label, legend, empty,
// series, pts (dots), swatch, bar, best (the highlighted bar), pc and
// stopped (parallel-coordinate lines), and the series colours s1, s2, s3
// and muted. Stylesheet holds the rules used in standalone files.
//
// Output depends on the input alone, so the same input gives the same
// bytes: coordinates are printed with one decimal, labels with Num, and
// nothing iterates a map or reads a clock. NaN and infinite values are
// skipped as each chart documents; a chart left with nothing to draw
// returns an error wrapping ErrNoData.
package chart

import (
	"errors"
	"fmt"
	"math"
)

// ErrNoData is wrapped by the error of a chart that has no finite value to
// draw; a page shows a note in its place (Message), a file is not written.
var ErrNoData = errors.New("no finite values to draw")

// Options are what every chart has. Width and Height are in SVG user
// units (pixels at 100 % zoom) and fix the viewBox.
type Options struct {
	Title          string
	XLabel, YLabel string
	Width, Height  float64
	// Standalone makes a document to be stored as a file rather than
	// inlined in a page: an XML declaration, the embedded Stylesheet, a
	// white background and the title drawn as text.
	Standalone bool
}

func (o Options) check() error {
	if !(o.Width > 0) || !(o.Height > 0) || math.IsInf(o.Width, 0) || math.IsInf(o.Height, 0) {
		return o.errorf("size %v×%v: want a finite width and height above 0", o.Width, o.Height)
	}
	return nil
}

// errorf names the chart in an error, so a failing artifact is findable.
func (o Options) errorf(format string, args ...any) error {
	return fmt.Errorf("chart %q: "+format, append([]any{o.Title}, args...)...)
}

// open starts the document of a chart of kind (its class on <svg>).
func (o Options) open(kind string) *Doc {
	return Open(o.Width, o.Height, o.Title, kind, o.Standalone)
}

// headroom is the height taken at the top by a standalone chart's title.
func (o Options) headroom() float64 {
	if o.Standalone && o.Title != "" {
		return titleHeight
	}
	return 0
}

const titleHeight = 24

// Message draws an empty chart of kind holding one line of text, for a
// page to show where a chart has nothing to draw yet.
func Message(o Options, kind, text string) string {
	d := o.open(kind)
	d.Text(o.Width/2, (o.Height+o.headroom())/2, Middle, "empty", text)
	return d.Close()
}

// legendItem is one entry of a legend: a swatch of class and its name.
type legendItem struct {
	name, class string
	x, y        float64
}

// layoutLegend places legend entries in rows from left to right within
// [left, right], starting at top; it returns the entries and the height
// taken (0 when there are no entries).
func layoutLegend(names, classes []string, left, right, top float64) ([]legendItem, float64) {
	if len(names) == 0 {
		return nil, 0
	}
	const row = 16.0
	out := make([]legendItem, len(names))
	x, y := left, top
	for i, n := range names {
		w := 14 + textWidth(n) + 14
		if x > left && x+w > right {
			x, y = left, y+row
		}
		out[i] = legendItem{name: n, class: classes[i], x: x, y: y}
		x += w
	}
	return out, y - top + row
}

func drawLegend(d *Doc, items []legendItem) {
	for _, it := range items {
		d.Rect(it.x, it.y, 10, 10, Style{Class: "swatch " + it.class})
		d.Text(it.x+14, it.y+9, Start, "legend", it.name)
	}
}

// textWidth estimates the width of a label at the 11px font of ticks and
// legends; the browser measures nothing for us, so layout uses an average
// glyph width.
func textWidth(s string) float64 {
	return 6.0 * float64(len([]rune(s)))
}
