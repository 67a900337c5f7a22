package tune

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops/chart"
)

// svgElems decodes an SVG document, failing on malformed XML, and returns
// each element's name with its class and its text (titles and labels).
func svgElems(t *testing.T, doc []byte) (names, classes, text []string) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(doc))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return names, classes, text
		}
		if err != nil {
			t.Fatalf("not well-formed SVG: %v", err)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			cls := ""
			for _, a := range tk.Attr {
				if a.Name.Local == "class" {
					cls = a.Value
				}
			}
			names, classes, text = append(names, tk.Name.Local), append(classes, cls), append(text, "")
		case xml.CharData:
			if len(text) > 0 {
				text[len(text)-1] += string(tk)
			}
		}
	}
}

// plotResult is a 15-trial sweep with one stopped trial and one failed
// one, to see each drawn its way.
func plotResult(t *testing.T) *Result {
	cfg := mustParse(t, quadSweep+"  c: {values: [a, b]}\n  lr: {distribution: log_uniform_values, min: 0.01, max: 1.0}\n")
	res, err := Run(context.Background(), cfg, 15, 2, 1, quadratic, Callbacks{})
	if err != nil {
		t.Fatal(err)
	}
	res.Trials[3].StoppedEarly = true
	res.Trials[5].Err = errors.New("boom")
	return res
}

func TestBestSoFarSVG(t *testing.T) {
	res := plotResult(t)
	best, err := BestSoFarSVG(res)
	if err != nil {
		t.Fatal(err)
	}
	names, classes, text := svgElems(t, best)
	if names[0] != "svg" {
		t.Fatalf("root %s", names[0])
	}
	var scatters, steps []string
	for i, c := range classes {
		switch {
		case names[i] == "path" && strings.Contains(c, "pts"):
			scatters = append(scatters, c)
		case names[i] == "path" && c == "series s3":
			steps = append(steps, c)
		}
	}
	if len(steps) != 1 || len(scatters) != 2 {
		t.Errorf("want one best-so-far line and two scatters (completed, stopped), got %q and %q", steps, scatters)
	}
	if n := strings.Count(string(best), "h0"); n != 14 {
		t.Errorf("%d trial dots, want 14 (15 trials, one failed)", n)
	}
	if !containsAll(text, "completed", "stopped early (metric at its band)", "best so far", "trial", "loss") {
		t.Errorf("legend and labels missing: %q", text)
	}
	if again, _ := BestSoFarSVG(res); !bytes.Equal(again, best) {
		t.Error("best-so-far chart differs between two draws")
	}
}

func TestParallelCoordinatesSVG(t *testing.T) {
	res := plotResult(t)
	pc, err := ParallelCoordinatesSVG(res)
	if err != nil {
		t.Fatal(err)
	}
	names, classes, text := svgElems(t, pc)
	var lines, dashed int
	last := -1
	for i, c := range classes {
		if names[i] == "path" && strings.HasPrefix(c, "pc") {
			lines, last = lines+1, i
			if strings.Contains(c, "stopped") {
				dashed++
			}
		}
	}
	if lines != 14 || dashed != 1 {
		t.Errorf("%d lines (%d dashed), want 14 (1)", lines, dashed)
	}
	// The best trial is drawn last, on top, in the colour of the best rank.
	if want := "trial " + strconv.Itoa(res.Best+1) + ": loss"; last < 0 || !strings.HasPrefix(text[last+1], want) ||
		!bytes.Contains(pc, []byte(`class="pc" stroke="#fde725"><title>`+want)) {
		t.Errorf("last line %q, want the best %q in yellow", text[last+1], want)
	}
	if !containsAll(text, "x", "c", "lr (log)", "loss", "a", "b", "0.01", "1") {
		t.Errorf("axis names and bounds missing: %q", text)
	}

	if again, _ := ParallelCoordinatesSVG(res); !bytes.Equal(again, pc) {
		t.Error("parallel coordinates differ between two draws")
	}
}

func TestPlotErrors(t *testing.T) {
	res := plotResult(t)
	for _, draw := range []func(*Result) ([]byte, error){BestSoFarSVG, ParallelCoordinatesSVG} {
		if _, err := draw(&Result{Config: res.Config}); err == nil || !strings.Contains(err.Error(), "no trials") {
			t.Errorf("empty result: %v", err)
		}
	}
	for i := range res.Trials {
		res.Trials[i].Err = errors.New("boom")
	}
	if _, err := ParallelCoordinatesSVG(res); err == nil || !strings.Contains(err.Error(), "no successful trial") {
		t.Errorf("all trials failed: %v", err)
	}
	if _, err := BestSoFarSVG(res); !errors.Is(err, chart.ErrNoData) {
		t.Errorf("all trials failed: %v, want chart.ErrNoData", err)
	}
}

func containsAll(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}
