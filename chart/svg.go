package chart

import (
	"encoding/xml"
	"strconv"
	"strings"
)

// Stylesheet styles the classes of the package's charts in a standalone
// document. A page inlining charts styles the same classes itself, with
// its own colours.
const Stylesheet = `svg{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;font-size:11px}` +
	`.bg{fill:#fff}.heading{fill:#1b1f24;font-size:15px;font-weight:600}` +
	`.grid{stroke:#e3e7ec}.axis{stroke:#7b8590}.tick{fill:#4a535d}` +
	`.label{fill:#333;font-size:12px}.legend{fill:#333}.empty{fill:#5b6570;font-size:14px}` +
	`.series{fill:none;stroke-width:2}.series.pts{stroke-width:7;stroke-linecap:round;opacity:.75}` +
	`.s1{stroke:#1f5fbf;fill:#1f5fbf}.s2{stroke:#e08a00;fill:#e08a00}.s3{stroke:#b3261e;fill:#b3261e}` +
	`.muted{stroke:#9aa3ad;fill:#9aa3ad}path.s1,path.s2,path.s3,path.muted{fill:none}.swatch{stroke:none}` +
	`.bar{fill:#1f5fbf}.bar.best,.swatch.best{fill:#1e7b34}` +
	`.pc{fill:none;stroke-width:1.6;opacity:.8}.pc.stopped{stroke-dasharray:5 4;opacity:.55}`

// Anchor is where a text stands relative to its x.
type Anchor string

// The anchors of SVG's text-anchor.
const (
	Start  Anchor = "start"
	Middle Anchor = "middle"
	End    Anchor = "end"
)

// Style is how one element looks: CSS classes for a stylesheet to colour,
// and explicit colours where the colour is data (a colour scale). Title
// becomes the element's tooltip. Empty fields are left out.
type Style struct {
	Class, Stroke, Fill, Title string
}

// Doc accumulates one SVG document. Coordinates passed to it must be
// finite: the charts drop NaN and infinities before drawing.
type Doc struct {
	b          strings.Builder
	standalone bool
}

// Open starts a document w×h in user units. kind joins "chart" in the
// class of the <svg> element so a page can style each kind of chart;
// title is its accessible name. A standalone document is a file of its
// own (see Options.Standalone).
func Open(w, h float64, title, kind string, standalone bool) *Doc {
	d := &Doc{standalone: standalone}
	if standalone {
		d.b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	}
	ws, hs := coord(w), coord(h)
	d.b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ` + ws + " " + hs +
		`" width="` + ws + `" height="` + hs + `" role="img"`)
	d.attr("class", strings.TrimSpace("chart "+kind))
	d.b.WriteString("><title>")
	d.esc(title)
	d.b.WriteString("</title>")
	if standalone {
		d.b.WriteString("<style>" + Stylesheet + "</style>")
		d.Rect(0, 0, w, h, Style{Class: "bg"})
		if title != "" {
			d.Text(w/2, 17, Middle, "heading", title)
		}
	}
	return d
}

// Close ends the document and returns it.
func (d *Doc) Close() string {
	d.b.WriteString("</svg>")
	if d.standalone {
		d.b.WriteString("\n")
	}
	return d.b.String()
}

// Line draws a segment.
func (d *Doc) Line(x1, y1, x2, y2 float64, s Style) {
	d.elem("line", `x1="`+coord(x1)+`" y1="`+coord(y1)+`" x2="`+coord(x2)+`" y2="`+coord(y2)+`"`, s)
}

// Rect draws a rectangle; a negative height or width is drawn as 0.
func (d *Doc) Rect(x, y, w, h float64, s Style) {
	d.elem("rect", `x="`+coord(x)+`" y="`+coord(y)+`" width="`+coord(max(w, 0))+`" height="`+coord(max(h, 0))+`"`, s)
}

// Circle draws a circle.
func (d *Doc) Circle(cx, cy, r float64, s Style) {
	d.elem("circle", `cx="`+coord(cx)+`" cy="`+coord(cy)+`" r="`+coord(r)+`"`, s)
}

// Path draws p.
func (d *Doc) Path(p *Path, s Style) {
	d.elem("path", `d="`+p.String()+`"`, s)
}

// Text writes one line of text with its baseline at y.
func (d *Doc) Text(x, y float64, a Anchor, class, text string) {
	d.b.WriteString(`<text x="` + coord(x) + `" y="` + coord(y) + `"`)
	d.attr("text-anchor", string(a))
	d.attr("class", class)
	d.b.WriteString(">")
	d.esc(text)
	d.b.WriteString("</text>")
}

// VText writes text turned a quarter left and centred on (x, y): the
// label of a vertical axis.
func (d *Doc) VText(x, y float64, class, text string) {
	d.b.WriteString(`<text transform="translate(` + coord(x) + " " + coord(y) + `) rotate(-90)" text-anchor="middle"`)
	d.attr("class", class)
	d.b.WriteString(">")
	d.esc(text)
	d.b.WriteString("</text>")
}

// Group opens a group that End closes; id (if any) lets a page find it.
func (d *Doc) Group(id, title string) {
	d.b.WriteString("<g")
	d.attr("id", id)
	d.b.WriteString(">")
	if title != "" {
		d.b.WriteString("<title>")
		d.esc(title)
		d.b.WriteString("</title>")
	}
}

// End closes the group Group opened.
func (d *Doc) End() { d.b.WriteString("</g>") }

// elem writes an element with its geometry (numbers only, so unescaped),
// its style and its tooltip.
func (d *Doc) elem(name, geometry string, s Style) {
	d.b.WriteString("<" + name + " " + geometry)
	d.attr("class", s.Class)
	d.attr("stroke", s.Stroke)
	d.attr("fill", s.Fill)
	if s.Title == "" {
		d.b.WriteString("/>")
		return
	}
	d.b.WriteString("><title>")
	d.esc(s.Title)
	d.b.WriteString("</title></" + name + ">")
}

func (d *Doc) attr(name, value string) {
	if value == "" {
		return
	}
	d.b.WriteString(" " + name + `="`)
	d.esc(value)
	d.b.WriteString(`"`)
}

// esc writes text escaped for XML text and attribute values alike; bytes
// XML cannot hold (control characters, invalid UTF-8) become U+FFFD.
func (d *Doc) esc(s string) {
	_ = xml.EscapeText(&d.b, []byte(s)) // a strings.Builder does not fail
}

// Path is SVG path data built a command at a time.
type Path struct{ b strings.Builder }

// MoveTo starts a new subpath at (x, y).
func (p *Path) MoveTo(x, y float64) { p.cmd("M", x, y) }

// LineTo draws a segment to (x, y).
func (p *Path) LineTo(x, y float64) { p.cmd("L", x, y) }

// Dot draws a zero-length segment at (x, y), which a round line cap turns
// into a dot: thousands of dots fit in one path, a few bytes each.
func (p *Path) Dot(x, y float64) {
	p.cmd("M", x, y)
	p.b.WriteString("h0")
}

// Empty tells whether nothing was drawn.
func (p *Path) Empty() bool { return p.b.Len() == 0 }

// String is the path data.
func (p *Path) String() string { return p.b.String() }

func (p *Path) cmd(c string, x, y float64) {
	p.b.WriteString(c + coord(x) + " " + coord(y))
}

// coord prints a coordinate with one decimal: a tenth of a pixel is below
// what a screen shows, and a fixed format keeps the output byte-stable.
func coord(v float64) string {
	s := strconv.FormatFloat(v, 'f', 1, 64)
	if s == "-0.0" {
		return "0.0"
	}
	return s
}
