package monitor

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"text/tabwriter"
)

// WriteText writes the report as an aligned table followed by the dataset
// verdict, for terminals and logs.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FEATURE\tTYPE\tPSI\tPSI BAND\tTEST\tSTATISTIC\tP-VALUE\tTHRESHOLD\tDRIFT")
	for _, f := range r.Features {
		fmt.Fprintf(tw, "%s\t%s\t%.4f\t%s\t%s\t%s\t%s\t%g\t%s\n",
			f.Name, f.Type, f.PSI, f.PSIBand, f.Test, formatStat(f.Statistic), formatP(f.PValue), f.Threshold, yesNo(f.Drifted))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%s\n", r.Summary())
	return err
}

// Summary is the one-line dataset verdict.
func (r *Report) Summary() string {
	verdict := "no dataset drift"
	if r.DatasetDrift {
		verdict = "DATASET DRIFT"
	}
	return fmt.Sprintf("%s: %d of %d features drifted (%.0f%%, threshold %.0f%%); reference %d rows, current %d rows",
		verdict, r.DriftedFeatures, len(r.Features), 100*r.DriftShare, 100*r.DriftShareThreshold, r.ReferenceRows, r.CurrentRows)
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func formatStat(v float64) string {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}

func formatP(p *float64) string {
	if p == nil {
		return "-"
	}
	if *p != 0 && *p < 1e-4 {
		return strconv.FormatFloat(*p, 'e', 2, 64)
	}
	return strconv.FormatFloat(*p, 'f', 4, 64)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

//go:embed report.html.tmpl
var reportTemplateText string

// reportTemplate is parsed once; it is read-only afterwards.
var reportTemplate = template.Must(template.New("report").Parse(reportTemplateText))

// Chart geometry of the per-feature histograms, in SVG user units.
const (
	chartWidth  = 520.0
	chartHeight = 160.0
	chartBottom = 72.0 // room for the rotated bin labels
	chartLeft   = 48.0 // room for labels rotated leftwards and the scale
)

type htmlReport struct {
	Title    string
	Summary  string
	Report   *Report
	Features []htmlFeature
}

type htmlFeature struct {
	FeatureResult
	Stat, P string
	Bars    []htmlBar
	Width   float64
	Height  float64
	Base    float64
	Left    float64
	PlotW   float64
	// TopShare labels the y scale: the share drawn at full bar height.
	TopShare string
}

type htmlBar struct {
	Label                string
	X, W, LabelX, LabelY float64
	RefY, RefH, CurY     float64
	CurH                 float64
	RefShare, CurShare   string
	RefX, CurX, BarWidth float64
}

// WriteHTML writes a self-contained HTML page (inline CSS and SVG, no
// external resources) with the summary, the per-feature table and one
// reference-vs-current histogram per feature.
func (r *Report) WriteHTML(w io.Writer, title string) error {
	view := htmlReport{Title: title, Summary: r.Summary(), Report: r}
	for _, f := range r.Features {
		view.Features = append(view.Features, htmlFeature{
			FeatureResult: f, Stat: formatStat(f.Statistic), P: formatP(f.PValue),
			Bars: histogramBars(f.Histogram), Width: chartWidth + chartLeft, Height: chartHeight + chartBottom, Base: chartHeight,
			Left: chartLeft, PlotW: chartWidth, TopShare: strconv.FormatFloat(100*topShare(f.Histogram), 'f', 1, 64),
		})
	}
	return reportTemplate.Execute(w, view)
}

// topShare is the largest share in either sample (1 when all are 0).
func topShare(h Histogram) float64 {
	top := 0.0
	for i := range h.Labels {
		top = max(top, h.Reference[i], h.Current[i])
	}
	if top == 0 {
		top = 1
	}
	return top
}

// histogramBars lays out paired bars, scaled to the largest share.
func histogramBars(h Histogram) []htmlBar {
	top := topShare(h)
	slot := chartWidth / float64(len(h.Labels))
	bw := slot * 0.4
	bars := make([]htmlBar, len(h.Labels))
	for i, label := range h.Labels {
		x := float64(i) * slot
		rh := (chartHeight - 10) * h.Reference[i] / top
		ch := (chartHeight - 10) * h.Current[i] / top
		bars[i] = htmlBar{
			Label: label, X: x, W: slot, LabelX: x + slot/2, LabelY: chartHeight + 12,
			RefX: x + slot*0.1, CurX: x + slot*0.5, BarWidth: bw,
			RefY: chartHeight - rh, RefH: rh, CurY: chartHeight - ch, CurH: ch,
			RefShare: strconv.FormatFloat(100*h.Reference[i], 'f', 1, 64),
			CurShare: strconv.FormatFloat(100*h.Current[i], 'f', 1, 64),
		}
	}
	return bars
}
