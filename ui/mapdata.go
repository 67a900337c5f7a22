package ui

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/housing-mlops/mlops/chart"
	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/cluster"
	"github.com/housing-mlops/mlops/ml/model"
	"github.com/housing-mlops/mlops/ml/preprocess"
)

// District is one training district on the map.
type District struct{ Lon, Lat, Value float64 }

// Centre is one KMeans cluster centre in longitude/latitude.
type Centre struct{ Lon, Lat float64 }

// MapData is what the map page draws.
type MapData struct {
	Districts []District
	Centres   []Centre
	// ValueName labels the colour scale ("median_house_value").
	ValueName string
	// Source says where the points come from, shown under the map.
	Source string
}

// MapSource provides the map's points.
type MapSource interface {
	MapData(ctx context.Context) (MapData, error)
}

// StaticMap is a MapSource of data loaded once (see LoadDistricts and
// GeoCentres).
type StaticMap MapData

// MapData implements MapSource.
func (m StaticMap) MapData(context.Context) (MapData, error) { return MapData(m), nil }

// ModelMap is a MapSource with fixed districts and cluster centres looked
// up on every request, so the map follows the model being served (for
// instance Centres returns GeoCentres of the current artifact). Centres
// may be nil; an error from it leaves the centres out of the map.
type ModelMap struct {
	Base    MapData
	Centres func(ctx context.Context) ([]Centre, error)
}

// MapData implements MapSource.
func (m ModelMap) MapData(ctx context.Context) (MapData, error) {
	d := m.Base
	if m.Centres == nil {
		return d, nil
	}
	cs, err := m.Centres(ctx)
	if err != nil {
		return d, nil //nolint:nilerr // a map without centres beats no map
	}
	d.Centres = cs
	return d, nil
}

// DefaultMapPoints is how many districts the map draws: enough to see the
// coast and the price gradient, small enough to keep the page under 100 KB.
const DefaultMapPoints = 2500

// LoadDistricts reads longitude, latitude and valueColumn from a CSV with a
// header (the training data file) and keeps at most max rows, taking every
// k-th row so the sample is deterministic and spread over the file. Rows
// with a missing or non-numeric value are skipped.
func LoadDistricts(r io.Reader, valueColumn string, max int) ([]District, error) {
	if max <= 0 {
		max = DefaultMapPoints
	}
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("reading districts: %w", err)
	}
	if len(rows) < 2 {
		return nil, errors.New("reading districts: no data rows")
	}
	idx := map[string]int{}
	for i, n := range rows[0] {
		idx[strings.TrimSpace(n)] = i
	}
	cols := []string{"longitude", "latitude", valueColumn}
	var at [3]int
	for k, c := range cols {
		i, ok := idx[c]
		if !ok {
			return nil, fmt.Errorf("reading districts: no %q column", c)
		}
		at[k] = i
	}
	data := rows[1:]
	step := (len(data) + max - 1) / max
	var out []District
	for i := 0; i < len(data); i += step {
		var v [3]float64
		ok := true
		for k := range at {
			x, err := strconv.ParseFloat(strings.TrimSpace(data[i][at[k]]), 64)
			if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
				ok = false
				break
			}
			v[k] = x
		}
		if ok {
			out = append(out, District{Lon: v[0], Lat: v[1], Value: v[2]})
		}
	}
	return out, nil
}

// GeoCentres returns the cluster centres of a model's geo block (the KMeans
// fitted on longitude and latitude), mapped back to degrees when the block
// scaled its columns before clustering. It returns nil, nil for a model
// without such a block.
func GeoCentres(a *model.Artifact) ([]Centre, error) {
	if a == nil || a.Preprocessor == nil {
		return nil, nil
	}
	for _, b := range a.Preprocessor.Blocks() {
		km, ok := b.Clusterer.(*cluster.KMeans)
		if !ok || km == nil {
			continue
		}
		lon, lat := slices.Index(b.Columns, "longitude"), slices.Index(b.Columns, "latitude")
		if lon < 0 || lat < 0 || km.Dim != len(b.Columns) || km.Dim == 0 {
			continue
		}
		X := ml.NewMatrix(len(km.Centers)/km.Dim, km.Dim)
		copy(X.Data, km.Centers)
		X, err := unscale(b.Steps, X)
		if err != nil {
			return nil, fmt.Errorf("geo centres: %w", err)
		}
		out := make([]Centre, X.Rows)
		for i := range out {
			out[i] = Centre{Lon: X.At(i, lon), Lat: X.At(i, lat)}
		}
		return out, nil
	}
	return nil, nil
}

// unscale undoes the scalers among steps, last first; imputers leave
// present values alone and need no inverse.
func unscale(steps []ml.Transformer, X *ml.Matrix) (*ml.Matrix, error) {
	for i := len(steps) - 1; i >= 0; i-- {
		if s, ok := steps[i].(*preprocess.StandardScaler); ok {
			var err error
			if X, err = s.InverseTransform(X); err != nil {
				return nil, err
			}
		}
	}
	return X, nil
}

// marker is the district just predicted.
type marker struct {
	Lon, Lat, Value float64
	Valid           bool
}

func parseMarker(q map[string][]string) marker {
	get := func(k string) (float64, bool) {
		v := q[k]
		if len(v) == 0 {
			return 0, false
		}
		x, err := strconv.ParseFloat(v[0], 64)
		return x, err == nil && !math.IsNaN(x) && !math.IsInf(x, 0)
	}
	lon, ok1 := get("lon")
	lat, ok2 := get("lat")
	val, _ := get("value")
	return marker{Lon: lon, Lat: lat, Value: val, Valid: ok1 && ok2 && lon >= -180 && lon <= 180 && lat >= -90 && lat <= 90}
}

type mapView struct {
	SVG       template.HTML
	Districts int
	Centres   int
	Source    string
	Marker    marker
}

func (h *handler) mapPage(w http.ResponseWriter, r *http.Request) {
	if h.deps.Map == nil {
		h.notConfigured(w, r, "Map", "map", "Map data")
		return
	}
	d, err := h.deps.Map.MapData(r.Context())
	if err != nil {
		h.failErr(w, r, "reading the map data", err)
		return
	}
	mk := parseMarker(r.URL.Query())
	v := mapView{SVG: mapSVG(d, mk), Districts: len(d.Districts), Centres: len(d.Centres), Source: d.Source, Marker: mk}
	h.render(w, r, http.StatusOK, "map", page{Title: "Map", Nav: "map", Data: v})
}

// mapSVG draws districts as dots coloured by value (one path per colour
// step, each dot a zero-length round-capped segment: about 12 bytes a
// district), the cluster centres as crosses and the marker as a ring.
func mapSVG(d MapData, mk marker) template.HTML {
	const w, pad = 720.0, 36.0
	lons, lats, vals := make([]float64, 0, len(d.Districts)+len(d.Centres)+1), []float64{}, []float64{}
	for _, p := range d.Districts {
		lons, lats, vals = append(lons, p.Lon), append(lats, p.Lat), append(vals, p.Value)
	}
	for _, c := range d.Centres {
		lons, lats = append(lons, c.Lon), append(lats, c.Lat)
	}
	if mk.Valid {
		lons, lats = append(lons, mk.Lon), append(lats, mk.Lat)
	}
	x0, x1 := chart.Extent(lons)
	y0, y1 := chart.Extent(lats)
	if math.IsNaN(x0) || math.IsNaN(y0) {
		return template.HTML(chart.Message(chart.Options{Title: "Map of training districts", Width: w, Height: 300}, "map", "no districts to draw"))
	}
	// Equirectangular with the longitude shrunk by cos(latitude): shapes
	// look right at Californian latitudes without a projection library.
	k := math.Cos((y0 + y1) / 2 * math.Pi / 180)
	span := math.Max((x1-x0)*k, 1e-6)
	pxPerUnit := (w - 2*pad) / span
	h := (y1-y0)*pxPerUnit + 2*pad + 40
	sx := func(lon float64) float64 { return pad + (lon-x0)*k*pxPerUnit }
	sy := func(lat float64) float64 { return pad + (y1-lat)*pxPerUnit }
	s := chart.Open(w, h, "Training districts by longitude and latitude, coloured by "+d.ValueName, "map", false)
	v0, v1 := chart.Extent(vals)
	mapDistricts(s, d.Districts, v0, v1, sx, sy)
	mapCentres(s, d.Centres, sx, sy)
	if mk.Valid {
		x, y := sx(mk.Lon), sy(mk.Lat)
		s.Group("marker", "predicted district: "+fmtMoney(mk.Value))
		s.Circle(x, y, 9, chart.Style{Class: "marker"})
		s.Circle(x, y, 3, chart.Style{Class: "marker-dot"})
		s.End()
	}
	mapLegend(s, w, h, v0, v1, d.ValueName)
	return template.HTML(s.Close())
}

// mapDistricts draws the districts, one path per colour step of their
// value in [v0, v1]; a district without a finite position has no place
// on the map and is left out.
func mapDistricts(s *chart.Doc, ds []District, v0, v1 float64, sx, sy func(float64) float64) {
	const steps = 9
	paths := make([]chart.Path, steps)
	for _, p := range ds {
		if !chart.Finite(p.Lon) || !chart.Finite(p.Lat) {
			continue
		}
		t := 0.0
		if v1 > v0 && chart.Finite(p.Value) {
			t = (p.Value - v0) / (v1 - v0)
		}
		b := min(int(t*steps), steps-1)
		paths[b].Dot(sx(p.Lon), sy(p.Lat))
	}
	for i := range paths {
		if !paths[i].Empty() {
			s.Path(&paths[i], chart.Style{Class: "dots", Stroke: chart.Viridis((float64(i) + 0.5) / steps)})
		}
	}
}

// mapCentres draws the cluster centres as crosses.
func mapCentres(s *chart.Doc, cs []Centre, sx, sy func(float64) float64) {
	for i, c := range cs {
		if !chart.Finite(c.Lon) || !chart.Finite(c.Lat) {
			continue
		}
		x, y := sx(c.Lon), sy(c.Lat)
		var p chart.Path
		p.MoveTo(x-5, y-5)
		p.LineTo(x+5, y+5)
		p.MoveTo(x+5, y-5)
		p.LineTo(x-5, y+5)
		s.Path(&p, chart.Style{Class: "centre", Title: "cluster " + strconv.Itoa(i) + ": " + chart.Num(c.Lon) + ", " + chart.Num(c.Lat)})
	}
}

func mapLegend(s *chart.Doc, w, h, v0, v1 float64, name string) {
	const lw = 240.0
	x := w - lw - 16
	y := h - 30
	for i := 0; i < 24; i++ {
		s.Rect(x+float64(i)*lw/24, y, lw/24+0.5, 10, chart.Style{Fill: chart.Viridis(float64(i) / 23)})
	}
	s.Text(x, y+22, chart.Start, "tick", chart.Num(v0))
	s.Text(x+lw, y+22, chart.End, "tick", chart.Num(v1))
	s.Text(x+lw/2, y-4, chart.Middle, "tick", name)
	s.Text(16, y+10, chart.Start, "tick", "× cluster centre   ◯ predicted district")
}
