package ui

import (
	"errors"
	"html/template"
	"math"

	"github.com/housing-mlops/mlops/chart"
)

// The charts are inline SVG drawn by package chart rather than images:
// they scale with the page, stay selectable and accessible (each has a
// <title>), take their colours from the page's stylesheet, and need no
// plotting library in the browser.

// inline puts a chart into a page, or a note in its place when it has
// nothing to draw (empty) or could not be drawn.
func inline(svg string, err error, o chart.Options, kind, empty string) template.HTML {
	if err == nil {
		return template.HTML(svg) // package chart escapes every label
	}
	msg := empty
	if !errors.Is(err, chart.ErrNoData) {
		msg = "cannot draw this chart: " + err.Error()
	}
	return template.HTML(chart.Message(o, kind, msg))
}

// psiChart draws one horizontal bar per feature with the 0.1 and 0.2 PSI
// bands behind them, the thresholds of the original system.
func psiChart(names []string, psi []float64, drifted []bool, w float64) template.HTML {
	const ml, mr, mt, row = 150.0, 16.0, 8.0, 22.0
	h := mt + row*float64(len(names)) + 40
	title := "Population stability index per feature"
	if len(names) == 0 {
		return template.HTML(chart.Message(chart.Options{Title: title, Width: w, Height: h}, "psi", "no drift report yet"))
	}
	d := chart.Open(w, h, title, "psi", false)
	hi := 0.3 // the scale shows all bands even when every feature is stable
	if _, top := chart.Extent(psi); top*1.05 > hi {
		hi = top * 1.05
	}
	sx := chart.Linear(0, hi, ml, w-mr)
	bottom := mt + row*float64(len(names))
	d.Rect(ml, mt, sx(0.1)-ml, bottom-mt, chart.Style{Class: "band-ok"})
	d.Rect(sx(0.1), mt, sx(0.2)-sx(0.1), bottom-mt, chart.Style{Class: "band-warn"})
	d.Rect(sx(0.2), mt, w-mr-sx(0.2), bottom-mt, chart.Style{Class: "band-alert"})
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
		d.Text(ml-6, y+row/2+4, chart.End, "tick", label)
		width := 1.0
		if !math.IsNaN(psi[i]) {
			width = math.Max(sx(math.Min(psi[i], hi))-ml, 1)
		}
		d.Rect(ml, y+4, width, row-8, chart.Style{Class: cls, Title: n + ": PSI " + chart.Num(psi[i])})
	}
	for _, t := range []float64{0, 0.1, 0.2} {
		d.Line(sx(t), mt, sx(t), bottom+4, chart.Style{Class: "axis"})
		d.Text(sx(t), bottom+16, chart.Middle, "tick", chart.Num(t))
	}
	d.Text((ml+w-mr)/2, h-4, chart.Middle, "label", "PSI (bands: < 0.1 stable, 0.1–0.2 moderate, ≥ 0.2 significant)")
	return template.HTML(d.Close())
}
