package ui

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// The charts are inline SVG written here rather than images: they scale
// with the page, stay selectable and accessible (each has a <title>), and
// need no plotting library in the browser.

// viridis is matplotlib's perceptually uniform colour map at 9 stops, the
// colour scale of the original notebooks' scatter plots.
var viridis = [][3]float64{
	{68, 1, 84}, {71, 44, 122}, {59, 81, 139}, {44, 113, 142}, {33, 144, 141},
	{39, 173, 129}, {92, 200, 99}, {170, 220, 50}, {253, 231, 37},
}

// colour maps t in [0,1] onto viridis.
func colour(t float64) string {
	if math.IsNaN(t) {
		return "#999"
	}
	t = math.Max(0, math.Min(1, t))
	x := t * float64(len(viridis)-1)
	i := int(x)
	if i >= len(viridis)-1 {
		i = len(viridis) - 2
	}
	f := x - float64(i)
	var c [3]int
	for k := range c {
		c[k] = int(math.Round(viridis[i][k]*(1-f) + viridis[i+1][k]*f))
	}
	return fmt.Sprintf("#%02x%02x%02x", c[0], c[1], c[2])
}

// svgw accumulates an SVG document.
type svgw struct{ strings.Builder }

// f formats a coordinate with one decimal: enough on screen, small pages.
func f(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func (s *svgw) open(w, h float64, title, class string) {
	fmt.Fprintf(&s.Builder, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %s %s" width="%s" height="%s" role="img" class="chart %s"><title>%s</title>`,
		f(w), f(h), f(w), f(h), class, html.EscapeString(title))
}

func (s *svgw) close() template.HTML {
	s.WriteString("</svg>")
	return template.HTML(s.String()) // built from escaped text and numbers only
}

func (s *svgw) text(x, y float64, anchor, class, t string) {
	fmt.Fprintf(&s.Builder, `<text x="%s" y="%s" text-anchor="%s" class="%s">%s</text>`, f(x), f(y), anchor, class, html.EscapeString(t))
}

func (s *svgw) line(x1, y1, x2, y2 float64, class string) {
	fmt.Fprintf(&s.Builder, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="%s"/>`, f(x1), f(y1), f(x2), f(y2), class)
}

// niceTicks returns about n round tick values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	if !(hi > lo) || math.IsInf(hi-lo, 0) {
		return []float64{lo}
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		out = append(out, v)
	}
	return out
}

// scale maps [d0,d1] onto [r0,r1]; a flat domain maps to the middle.
func scale(d0, d1, r0, r1 float64) func(float64) float64 {
	if d1 == d0 {
		return func(float64) float64 { return (r0 + r1) / 2 }
	}
	return func(v float64) float64 { return r0 + (v-d0)/(d1-d0)*(r1-r0) }
}

// extent is the min and max of the finite values (NaN, NaN if none).
func extent(vs ...[]float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, v := range vs {
		for _, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				continue
			}
			lo, hi = math.Min(lo, x), math.Max(hi, x)
		}
	}
	if lo > hi {
		return math.NaN(), math.NaN()
	}
	return lo, hi
}

// series is one line of a line chart.
type series struct {
	Name  string
	X, Y  []float64
	Class string // CSS class giving its colour
}

// lineChart draws series against shared axes; points with NaN are skipped.
func lineChart(title, xLabel, yLabel string, ss []series, w, h float64) template.HTML {
	var s svgw
	s.open(w, h, title, "line")
	const ml, mr, mt, mb = 56.0, 12.0, 12.0, 34.0
	var xs, ys [][]float64
	for _, se := range ss {
		xs, ys = append(xs, se.X), append(ys, se.Y)
	}
	x0, x1 := extent(xs...)
	y0, y1 := extent(ys...)
	if math.IsNaN(x0) {
		s.text(w/2, h/2, "middle", "empty", "no data yet")
		return s.close()
	}
	if y0 == y1 {
		y0, y1 = y0-1, y1+1
	}
	if y0 > 0 && y0 < (y1-y0) {
		y0 = 0 // keep zero in view when it is close
	}
	y1 += (y1 - y0) * 0.05 // headroom: the top point is not on the frame
	sx, sy := scale(x0, x1, ml, w-mr), scale(y0, y1, h-mb, mt)
	axes(&s, x0, x1, y0, y1, sx, sy, w, h, ml, mr, mt, mb, xLabel, yLabel)
	for _, se := range ss {
		seriesPath(&s, se, sx, sy)
	}
	legend(&s, ss, ml, w)
	return s.close()
}

// seriesPath draws one series as a path in chart coordinates (sx, sy): a
// line broken at NaN points, or dots when the series asks for points or
// has a single one.
func seriesPath(s *svgw, se series, sx, sy func(float64) float64) {
	var d strings.Builder
	move := true
	dots := strings.Contains(se.Class, "pts") || validPoints(se) == 1
	for i := range se.X {
		if i >= len(se.Y) || math.IsNaN(se.Y[i]) || math.IsNaN(se.X[i]) {
			move = true
			continue
		}
		if move || dots {
			d.WriteString("M")
			move = false
		} else {
			d.WriteString("L")
		}
		d.WriteString(f(sx(se.X[i])) + " " + f(sy(se.Y[i])))
		if dots {
			d.WriteString("h0") // a round-capped dot
		}
	}
	cls := se.Class
	if dots && !strings.Contains(cls, "pts") {
		cls += " pts" // a lone point is drawn as a dot, or it would not show
	}
	fmt.Fprintf(&s.Builder, `<path d="%s" class="series %s"><title>%s</title></path>`, d.String(), cls, html.EscapeString(se.Name))
}

func validPoints(se series) int {
	n := 0
	for i := range se.X {
		if i < len(se.Y) && !math.IsNaN(se.X[i]) && !math.IsNaN(se.Y[i]) {
			n++
		}
	}
	return n
}

func legend(s *svgw, ss []series, ml, w float64) {
	if len(ss) < 2 {
		return
	}
	x := ml + 8
	for _, se := range ss {
		fmt.Fprintf(&s.Builder, `<rect x="%s" y="14" width="10" height="10" class="swatch %s"/>`, f(x), se.Class)
		s.text(x+14, 23, "start", "legend", se.Name)
		x += 18 + 7*float64(len(se.Name))
		if x > w-40 {
			break
		}
	}
}

// axes draws the frame, ticks and labels of a chart.
func axes(s *svgw, x0, x1, y0, y1 float64, sx, sy func(float64) float64, w, h, ml, mr, mt, mb float64, xLabel, yLabel string) {
	for _, t := range niceTicks(y0, y1, 4) {
		y := sy(t)
		s.line(ml, y, w-mr, y, "grid")
		s.text(ml-4, y+4, "end", "tick", fmtNum(t))
	}
	for _, t := range niceTicks(x0, x1, 5) {
		x := sx(t)
		s.line(x, h-mb, x, h-mb+4, "axis")
		s.text(x, h-mb+16, "middle", "tick", fmtNum(t))
	}
	s.line(ml, h-mb, w-mr, h-mb, "axis")
	s.line(ml, mt, ml, h-mb, "axis")
	s.text((ml+w-mr)/2, h-4, "middle", "label", xLabel)
	fmt.Fprintf(&s.Builder, `<text transform="translate(12 %s) rotate(-90)" text-anchor="middle" class="label">%s</text>`, f((mt+h-mb)/2), html.EscapeString(yLabel))
}

// barChart draws a histogram: one bar per labelled bucket.
func barChart(title, xLabel string, labels []string, values []float64, w, h float64) template.HTML {
	var s svgw
	s.open(w, h, title, "bars")
	const ml, mr, mt, mb = 48.0, 8.0, 10.0, 44.0
	_, hi := extent(values)
	if len(values) == 0 || math.IsNaN(hi) || hi <= 0 {
		s.text(w/2, h/2, "middle", "empty", "no data yet")
		return s.close()
	}
	sy := scale(0, hi, h-mb, mt)
	for _, t := range niceTicks(0, hi, 4) {
		s.line(ml, sy(t), w-mr, sy(t), "grid")
		s.text(ml-4, sy(t)+4, "end", "tick", fmtNum(t))
	}
	bw := (w - ml - mr) / float64(len(values))
	every := int(math.Ceil(float64(len(values)) * 60 / (w - ml - mr)))
	for i, v := range values {
		x := ml + float64(i)*bw
		fmt.Fprintf(&s.Builder, `<rect x="%s" y="%s" width="%s" height="%s" class="bar"><title>%s: %s</title></rect>`,
			f(x+1), f(sy(v)), f(math.Max(bw-2, 1)), f(h-mb-sy(v)), html.EscapeString(labels[i]), fmtNum(v))
		if i%every == 0 {
			s.text(x+bw/2, h-mb+14, "middle", "tick", labels[i])
		}
	}
	s.line(ml, h-mb, w-mr, h-mb, "axis")
	s.text((ml+w-mr)/2, h-6, "middle", "label", xLabel)
	return s.close()
}

// psiChart draws one horizontal bar per feature with the 0.1 and 0.2 PSI
// bands behind them, the thresholds of the original system.
func psiChart(names []string, psi []float64, drifted []bool, w float64) template.HTML {
	const ml, mr, mt, row = 150.0, 16.0, 8.0, 22.0
	h := mt + row*float64(len(names)) + 40
	var s svgw
	s.open(w, h, "Population stability index per feature", "psi")
	if len(names) == 0 {
		s.text(w/2, h/2, "middle", "empty", "no drift report yet")
		return s.close()
	}
	_, hi := extent(psi)
	hi = math.Max(0.3, hi*1.05)
	sx := scale(0, hi, ml, w-mr)
	bottom := mt + row*float64(len(names))
	fmt.Fprintf(&s.Builder, `<rect x="%s" y="%s" width="%s" height="%s" class="band-ok"/>`, f(ml), f(mt), f(sx(0.1)-ml), f(bottom-mt))
	fmt.Fprintf(&s.Builder, `<rect x="%s" y="%s" width="%s" height="%s" class="band-warn"/>`, f(sx(0.1)), f(mt), f(sx(0.2)-sx(0.1)), f(bottom-mt))
	fmt.Fprintf(&s.Builder, `<rect x="%s" y="%s" width="%s" height="%s" class="band-alert"/>`, f(sx(0.2)), f(mt), f(w-mr-sx(0.2)), f(bottom-mt))
	for i, n := range names {
		y := mt + row*float64(i)
		cls := "psi-ok"
		switch {
		case psi[i] >= 0.2:
			cls = "psi-alert"
		case psi[i] >= 0.1:
			cls = "psi-warn"
		}
		label := n
		if drifted != nil && drifted[i] {
			label += " ⚑"
		}
		s.text(ml-6, y+row/2+4, "end", "tick", label)
		fmt.Fprintf(&s.Builder, `<rect x="%s" y="%s" width="%s" height="%s" class="%s"><title>%s: PSI %s</title></rect>`,
			f(ml), f(y+4), f(math.Max(sx(psi[i])-ml, 1)), f(row-8), cls, html.EscapeString(n), fmtNum(psi[i]))
	}
	for _, t := range []float64{0, 0.1, 0.2} {
		s.line(sx(t), mt, sx(t), bottom+4, "axis")
		s.text(sx(t), bottom+16, "middle", "tick", fmtNum(t))
	}
	s.text((ml+w-mr)/2, h-4, "middle", "label", "PSI (bands: < 0.1 stable, 0.1–0.2 moderate, ≥ 0.2 significant)")
	return s.close()
}
