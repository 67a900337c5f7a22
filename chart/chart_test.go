package chart

import (
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
)

// elem is one element of a decoded document, with its direct text.
type elem struct {
	name  string
	attr  map[string]string
	text  string
	depth int
}

// parse decodes doc with encoding/xml, failing the test if it is not
// well-formed, and returns its elements in document order.
func parse(t *testing.T, doc string) []*elem {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(doc))
	var out, stack []*elem
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, doc)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			e := &elem{name: tk.Name.Local, attr: map[string]string{}, depth: len(stack)}
			for _, a := range tk.Attr {
				e.attr[a.Name.Local] = a.Value
			}
			out, stack = append(out, e), append(stack, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(tk)
			}
		}
	}
	if len(out) == 0 || out[0].name != "svg" || out[0].attr["xmlns"] != "http://www.w3.org/2000/svg" {
		t.Fatalf("root is not an SVG element: %s", doc)
	}
	return out
}

// having returns the elements named name whose class list holds every
// class given.
func having(es []*elem, name string, classes ...string) []*elem {
	var out []*elem
	for _, e := range es {
		if e.name != name {
			continue
		}
		have := strings.Fields(e.attr["class"])
		all := true
		for _, c := range classes {
			all = all && contains(have, c)
		}
		if all {
			out = append(out, e)
		}
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// titleOf is the text of an element's <title> child.
func titleOf(es []*elem, e *elem) string {
	for i, x := range es {
		if x == e && i+1 < len(es) && es[i+1].name == "title" && es[i+1].depth == e.depth+1 {
			return es[i+1].text
		}
	}
	return ""
}

func texts(es []*elem, class string) []string {
	var out []string
	for _, e := range having(es, "text", class) {
		out = append(out, e.text)
	}
	return out
}

func opts(title string) Options {
	return Options{Title: title, XLabel: "K", YLabel: "inertia", Width: 640, Height: 300}
}

func TestLineChart(t *testing.T) {
	c := LineChart{Options: opts("Elbow"), IntegerX: true, Series: []Series{
		{Name: "inertia", X: []float64{2, 3, 4, 5, 6}, Y: []float64{900, 500, 300, 250, 240}, Class: "s1", Draw: LinesAndDots},
		{Name: "trials", X: []float64{1, 2, 3}, Y: []float64{700, 650, 100}, Class: "s2", Draw: Dots},
	}}
	svg, err := c.SVG()
	if err != nil {
		t.Fatal(err)
	}
	es := parse(t, svg)
	if vb := es[0].attr["viewBox"]; vb != "0 0 640.0 300.0" {
		t.Errorf("viewBox %q", vb)
	}
	if es[1].name != "title" || es[1].text != "Elbow" {
		t.Errorf("first child %s %q, want the title", es[1].name, es[1].text)
	}
	lines := having(es, "path", "series", "s1")
	if len(lines) != 2 { // the line and its dots
		t.Fatalf("%d s1 paths, want 2", len(lines))
	}
	if got := strings.Count(lines[0].attr["d"], "L"); got != 4 {
		t.Errorf("line has %d segments, want 4: %s", got, lines[0].attr["d"])
	}
	if got := strings.Count(lines[1].attr["d"], "h0"); got != 5 {
		t.Errorf("%d dots on the line, want 5", got)
	}
	dots := having(es, "path", "pts", "s2")
	if len(dots) != 1 || strings.Count(dots[0].attr["d"], "h0") != 3 || strings.Contains(dots[0].attr["d"], "L") {
		t.Errorf("scatter paths %v", dots)
	}
	if got := strings.Join(texts(es, "legend"), ","); got != "inertia,trials" {
		t.Errorf("legend %q", got)
	}
	if got := strings.Join(texts(es, "label"), ","); got != "inertia,K" {
		t.Errorf("axis labels %q", got)
	}
	checkTicks(t, es, true)
}

// checkTicks asserts that every tick label is a short, plain number, and
// with whole that the x ticks (below the frame) are whole numbers.
func checkTicks(t *testing.T, es []*elem, whole bool) {
	t.Helper()
	ticks := having(es, "text", "tick")
	if len(ticks) < 4 {
		t.Fatalf("%d tick labels", len(ticks))
	}
	for _, e := range ticks {
		v, err := strconv.ParseFloat(strings.TrimRight(e.text, "MG"), 64)
		if err != nil || len(e.text) > 8 {
			t.Errorf("tick %q is not a short number", e.text)
		}
		if whole && e.attr["text-anchor"] == "middle" && v != math.Trunc(v) {
			t.Errorf("x tick %q is not whole", e.text)
		}
	}
}

func TestLineChartSkipsNonFinite(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	c := LineChart{Options: opts("gaps"), Series: []Series{
		{Name: "a", X: []float64{1, 2, 3, 4, 5, 6}, Y: []float64{1, 2, nan, 4, inf, 6}, Class: "s1"},
		{Name: "all missing", X: []float64{1, 2}, Y: []float64{nan, nan}, Class: "s2"},
	}}
	svg, err := c.SVG()
	if err != nil {
		t.Fatal(err)
	}
	es := parse(t, svg)
	p := having(es, "path", "series")
	// Runs {1,2}, {4}, {6}: the line is broken at each gap.
	if len(p) != 1 || strings.Count(p[0].attr["d"], "M") != 3 || strings.Count(p[0].attr["d"], "L") != 1 {
		t.Fatalf("paths %v", p)
	}
	if strings.Contains(svg, "NaN") || strings.Contains(svg, "Inf") {
		t.Error("a non-finite value reached the document")
	}
	// The empty series is left out, and with it the legend of one entry.
	if got := having(es, "text", "legend"); len(got) != 0 {
		t.Errorf("legend %v for one drawn series", got)
	}
	// A lone point is drawn as a dot, or it would not show.
	one, err := LineChart{Options: opts("one"), Series: []Series{{Name: "x", X: []float64{3}, Y: []float64{7}}}}.SVG()
	if err != nil {
		t.Fatal(err)
	}
	if d := having(parse(t, one), "path", "pts"); len(d) != 1 || !strings.Contains(d[0].attr["d"], "h0") {
		t.Errorf("lone point: %s", one)
	}
}

func TestLineChartSteps(t *testing.T) {
	svg, err := LineChart{Options: opts("best"), Series: []Series{
		{Name: "best", X: []float64{1, 2, 3, 4}, Y: []float64{5, 3, 3, 1}, Draw: Steps}}}.SVG()
	if err != nil {
		t.Fatal(err)
	}
	d := having(parse(t, svg), "path", "series")[0].attr["d"]
	if n := strings.Count(d, "L"); n != 6 {
		t.Errorf("%d segments, want 6 (across then down at each point): %s", n, d)
	}
}

func TestErrors(t *testing.T) {
	nan := math.NaN()
	for name, draw := range map[string]func() (string, error){
		"no series":     LineChart{Options: opts("a")}.SVG,
		"all NaN":       LineChart{Options: opts("a"), Series: []Series{{X: []float64{1}, Y: []float64{nan}}}}.SVG,
		"no bars":       BarChart{Options: opts("a")}.SVG,
		"NaN bars":      BarChart{Options: opts("a"), Labels: []string{"x"}, Values: []float64{math.Inf(-1)}}.SVG,
		"no lines":      ParallelChart{Options: opts("a"), Axes: []Axis{{Name: "p"}, {Name: "m"}}}.SVG,
		"one-pos lines": ParallelChart{Options: opts("a"), Axes: []Axis{{Name: "p"}, {Name: "m"}}, Lines: []Polyline{{Pos: []float64{nan, 1}}}}.SVG,
	} {
		if _, err := draw(); !errors.Is(err, ErrNoData) || !strings.Contains(err.Error(), `chart "a"`) {
			t.Errorf("%s: %v, want ErrNoData naming the chart", name, err)
		}
	}
	for name, c := range map[string]struct {
		draw func() (string, error)
		want string
	}{
		"lengths":   {LineChart{Options: opts("a"), Series: []Series{{Name: "s", X: []float64{1, 2}, Y: []float64{1}}}}.SVG, `series "s": 2 x values but 1 y values`},
		"labels":    {BarChart{Options: opts("a"), Labels: []string{"x"}, Values: []float64{1, 2}}.SVG, "1 labels but 2 values"},
		"highlight": {BarChart{Options: opts("a"), Labels: []string{"x"}, Values: []float64{1}, Highlight: "y"}.SVG, `highlight "y": no bar`},
		"axes":      {ParallelChart{Options: opts("a"), Axes: []Axis{{Name: "m"}}}.SVG, "1 axes: want at least 2"},
		"positions": {ParallelChart{Options: opts("a"), Axes: []Axis{{}, {}}, Lines: []Polyline{{Name: "t", Pos: []float64{1}}}}.SVG, `line 0 ("t"): 1 positions for 2 axes`},
		"size":      {LineChart{Options: Options{Title: "a", Width: 0, Height: 10}}.SVG, "want a finite width and height"},
		"tiny":      {BarChart{Options: Options{Title: "a", Width: 50, Height: 50}, Labels: []string{"x"}, Values: []float64{1}}.SVG, "no room to plot"},
	} {
		if _, err := c.draw(); err == nil || !strings.Contains(err.Error(), c.want) || errors.Is(err, ErrNoData) {
			t.Errorf("%s: %v, want an error with %q", name, err, c.want)
		}
	}
}

func TestBarChart(t *testing.T) {
	labels := []string{"median", "knn", "iterative", "mean"}
	c := BarChart{Options: opts("Imputation"), Labels: labels, Values: []float64{0.52, 0.48, 0.47, 0.55},
		Highlight: "iterative", HighlightNote: "chosen"}
	svg, err := c.SVG()
	if err != nil {
		t.Fatal(err)
	}
	es := parse(t, svg)
	bars := having(es, "rect", "bar")
	if len(bars) != 4 {
		t.Fatalf("%d bars, want 4", len(bars))
	}
	best := having(es, "rect", "bar", "best")
	if len(best) != 1 || titleOf(es, best[0]) != "iterative: 0.47 (chosen)" {
		t.Fatalf("highlighted bars %v", best)
	}
	if best[0] != bars[2] {
		t.Error("the highlight is not on the third bar")
	}
	// Taller value, taller bar: heights follow the values.
	h := func(e *elem) float64 { v, _ := strconv.ParseFloat(e.attr["height"], 64); return v }
	if !(h(bars[3]) > h(bars[0]) && h(bars[0]) > h(bars[1]) && h(bars[1]) > h(bars[2])) {
		t.Errorf("bar heights %v %v %v %v", h(bars[0]), h(bars[1]), h(bars[2]), h(bars[3]))
	}
	if got := texts(es, "legend"); len(got) != 1 || got[0] != "iterative (chosen)" {
		t.Errorf("legend %q", got)
	}
	for _, l := range labels {
		if !contains(texts(es, "tick"), l) {
			t.Errorf("no label %q under the bars", l)
		}
	}
}

func TestBarChartSignsAndGaps(t *testing.T) {
	svg, err := BarChart{Options: opts("scores"), Labels: []string{"a", "b", "c"}, Values: []float64{2, math.NaN(), -1}}.SVG()
	if err != nil {
		t.Fatal(err)
	}
	es := parse(t, svg)
	bars := having(es, "rect", "bar")
	if len(bars) != 2 || !contains(texts(es, "na"), "n/a") {
		t.Fatalf("bars %d, n/a %q: the NaN bar should be a note", len(bars), texts(es, "na"))
	}
	num := func(e *elem, k string) float64 { v, _ := strconv.ParseFloat(e.attr[k], 64); return v }
	// Both bars stand on the zero line: the positive one ends there, the
	// negative one starts there.
	if zero := num(bars[0], "y") + num(bars[0], "height"); math.Abs(num(bars[1], "y")-zero) > 0.11 {
		t.Errorf("positive bar ends at %v, negative starts at %v", zero, num(bars[1], "y"))
	}
	if len(having(es, "rect", "best")) != 0 || len(having(es, "text", "legend")) != 0 {
		t.Error("no highlight asked, yet one is drawn")
	}
}

func TestEscaping(t *testing.T) {
	nasty := `<script>alert("x")</script> & 'q'` + "\x01"
	c := BarChart{Options: Options{Title: nasty, XLabel: nasty, YLabel: nasty, Width: 640, Height: 300, Standalone: true},
		Labels: []string{nasty, "b"}, Values: []float64{1, 2}, Highlight: nasty}
	svg, err := c.SVG()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(svg, "<script") || strings.Contains(svg, "\x01") {
		t.Fatal("a label reached the document unescaped")
	}
	es := parse(t, svg)
	want := strings.Replace(nasty, "\x01", "\uFFFD", 1) // XML cannot hold the control character
	if es[1].text != want || !contains(texts(es, "heading"), want) || !contains(texts(es, "label"), want) || !contains(texts(es, "tick"), want) {
		t.Errorf("labels did not round-trip: title %q", es[1].text)
	}
	p, err := ParallelChart{Options: opts("p"), Axes: []Axis{{Name: nasty, Ticks: []Tick{{0, nasty}}}, {Name: "m"}},
		Lines: []Polyline{{Name: nasty, Pos: []float64{0, 1}, Colour: 0.5}}}.SVG()
	if err != nil {
		t.Fatal(err)
	}
	if es := parse(t, p); !contains(texts(es, "label"), want) || titleOf(es, having(es, "path", "pc")[0]) != want {
		t.Error("parallel labels did not round-trip")
	}
}

func TestStandalone(t *testing.T) {
	o := opts("Silhouette & K")
	s := []Series{{Name: "s", X: []float64{2, 3}, Y: []float64{0.3, 0.5}}}
	inline, err := LineChart{Options: o, Series: s}.SVG()
	if err != nil {
		t.Fatal(err)
	}
	o.Standalone = true
	file, err := LineChart{Options: o, Series: s}.SVG()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(file, `<?xml version="1.0" encoding="UTF-8"?>`) || !strings.HasSuffix(file, "</svg>\n") {
		t.Errorf("a file should have an XML declaration and end with a newline")
	}
	es := parse(t, file)
	if len(having(es, "style")) != 1 || len(having(es, "rect", "bg")) != 1 || !contains(texts(es, "heading"), "Silhouette & K") {
		t.Error("a standalone chart needs its stylesheet, background and visible title")
	}
	if strings.Contains(inline, "<style") || strings.Contains(inline, "<?xml") || strings.Contains(inline, "heading") {
		t.Error("an inline chart must leave styling and the heading to its page")
	}
}

func TestParallelChart(t *testing.T) {
	nan := math.NaN()
	axes := []Axis{
		{Name: "lr", Ticks: []Tick{{0, "0.01"}, {1, "1"}}},
		{Name: "kind", Ticks: []Tick{{0, "a"}, {0.5, "b"}, {1, "c"}}},
		{Name: "rmse", Ticks: []Tick{{0, "47000"}, {1, "51000"}}},
	}
	lines := []Polyline{
		{Name: "trial 1", Pos: []float64{0.2, 0.5, 1}, Colour: 0},
		{Name: "trial 2", Pos: []float64{0.9, nan, 0}, Colour: 1, Dashed: true},
		{Name: "trial 3", Pos: []float64{nan, nan, 0.5}, Colour: 0.5}, // one position: left out
		{Name: "trial 4", Pos: []float64{1.7, -3, 0.4}, Colour: nan},  // clamped, grey
	}
	svg, err := ParallelChart{Options: opts("Parameters"), Axes: axes, Lines: lines}.SVG()
	if err != nil {
		t.Fatal(err)
	}
	es := parse(t, svg)
	pcs := having(es, "path", "pc")
	if len(pcs) != 3 {
		t.Fatalf("%d lines, want 3", len(pcs))
	}
	if pcs[0].attr["stroke"] != "#440154" || pcs[1].attr["stroke"] != "#fde725" || pcs[2].attr["stroke"] != "#999" {
		t.Errorf("colours %s %s %s", pcs[0].attr["stroke"], pcs[1].attr["stroke"], pcs[2].attr["stroke"])
	}
	if st := having(es, "path", "stopped"); len(st) != 1 || titleOf(es, st[0]) != "trial 2" {
		t.Errorf("dashed lines %v", st)
	}
	if n := strings.Count(pcs[1].attr["d"], "L"); n != 1 {
		t.Errorf("trial 2 should join its two axes across the gap: %s", pcs[1].attr["d"])
	}
	if got := texts(es, "label"); strings.Join(got, ",") != "lr,kind,rmse,inertia" {
		t.Errorf("axis names %q", got)
	}
	if got := len(having(es, "line", "axis")); got != 3 {
		t.Errorf("%d axes drawn, want 3", got)
	}
	if got := len(texts(es, "tick")); got != 7 {
		t.Errorf("%d tick labels, want 7", got)
	}
}

func TestDeterministic(t *testing.T) {
	draw := func() []string {
		var out []string
		for _, f := range []func() (string, error){
			LineChart{Options: opts("l"), Series: []Series{{Name: "a", X: []float64{1, 2, 3}, Y: []float64{0.1, 1.0 / 3, 2e7}, Draw: Steps}}}.SVG,
			BarChart{Options: opts("b"), Labels: []string{"x", "y"}, Values: []float64{1.0 / 7, 3}, Highlight: "y"}.SVG,
			ParallelChart{Options: opts("p"), Axes: []Axis{{Name: "a"}, {Name: "b"}}, Lines: []Polyline{{Pos: []float64{1.0 / 3, 0.7}, Colour: 0.3}}}.SVG,
		} {
			s, err := f()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	a, b := draw(), draw()
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("chart %d differs between two draws of the same input", i)
		}
	}
}

func TestMessage(t *testing.T) {
	es := parse(t, Message(Options{Title: "Rate", Width: 640, Height: 220}, "line", "no data <yet>"))
	if es[0].attr["class"] != "chart line" || !contains(texts(es, "empty"), "no data <yet>") {
		t.Errorf("message chart %v", es[0].attr)
	}
}

func TestTicks(t *testing.T) {
	ticks := Ticks(47000, 51000, 4)
	if len(ticks) != 5 || ticks[0] != 47000 || ticks[4] != 51000 {
		t.Errorf("ticks %v", ticks)
	}
	for _, tk := range Ticks(0.013, 0.97, 5) {
		if tk < 0.013 || tk > 0.97 {
			t.Errorf("tick %v outside the range", tk)
		}
	}
	var labels []string
	for _, tk := range Ticks(0, 0.3, 3) {
		labels = append(labels, Num(tk))
	}
	if strings.Join(labels, " ") != "0 0.1 0.2 0.3" {
		t.Errorf("tick labels %q", labels)
	}
	// About n+1 ticks: an elbow chart's inertia gets six, not three.
	if got := Ticks(0, 2.52e7, 5); len(got) != 6 || got[1] != 5e6 || got[5] != 2.5e7 {
		t.Errorf("Ticks(0, 2.52e7, 5) = %v", got)
	}
	if Ticks(math.NaN(), 1, 4) != nil || Ticks(0, math.Inf(1), 4) != nil || len(Ticks(5, 5, 4)) != 1 {
		t.Error("degenerate ranges")
	}
}

func TestIntTicksAndLabels(t *testing.T) {
	for _, tk := range IntTicks(1, 12, 5) {
		if tk != math.Trunc(tk) {
			t.Errorf("IntTicks gave %v", tk)
		}
	}
	if got := IntTicks(2, 3, 6); len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Errorf("IntTicks(2, 3) = %v, want [2 3]", got)
	}
	for v, want := range map[float64]string{2.5e7: "25M", -1.5e9: "-1.5G", 47000: "47000", 0.25: "0.25"} {
		if got := tickLabel(v); got != want {
			t.Errorf("tickLabel(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestNumAndViridis(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{{0.12345, "0.1235"}, {47000, "47000"}, {1.5, "1.5"}, {math.NaN(), "—"}, {2e-5, "2e-05"}, {3e7, "3e+07"}, {0, "0"}} {
		if got := Num(c.v); got != c.want {
			t.Errorf("Num(%v) = %q, want %q", c.v, got, c.want)
		}
	}
	if Viridis(0) != "#440154" || Viridis(1) != "#fde725" || Viridis(math.NaN()) != "#999" || Viridis(7) != Viridis(1) {
		t.Errorf("colours %s %s", Viridis(0), Viridis(1))
	}
}
