package pipeline

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"path"
	"slices"
	"strings"
	"testing"
)

// checkPlots asserts that a full run stored every step's plot as a
// well-formed SVG document, and no other plot.
func checkPlots(t *testing.T, h *harness) {
	t.Helper()
	h.art.mu.Lock()
	defer h.art.mu.Unlock()
	var got []string
	for key, b := range h.art.files {
		if !strings.Contains(key, "/plots/") {
			continue
		}
		got = append(got, path.Base(key))
		if err := svgRoot(b); err != nil {
			t.Errorf("%s: %v", key, err)
		}
	}
	slices.Sort(got)
	want := []string{"elbow.svg", "imputation_comparison.svg", "model_comparison.svg", "silhouette.svg",
		"sweep_best_so_far.svg", "sweep_parallel_coordinates.svg"}
	if !slices.Equal(got, want) {
		t.Errorf("plots %q, want %q", got, want)
	}
}

// svgRoot decodes a whole document and checks that its root is <svg>.
func svgRoot(b []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(b))
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		return errors.New("root element " + root + ", want svg")
	}
	return nil
}
