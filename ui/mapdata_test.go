package ui

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops/ml/cluster"
	"github.com/housing-mlops/mlops/ml/frame"
	"github.com/housing-mlops/mlops/ml/linear"
	"github.com/housing-mlops/mlops/ml/model"
	"github.com/housing-mlops/mlops/ml/preprocess"
)

func TestLoadDistricts(t *testing.T) {
	in := "longitude,latitude,median_house_value,x\n-122,37,100,a\n-121,38,,b\n-120,36,300,c\n-119,35,400,d\n-118,34,500,e\n"
	ds, err := LoadDistricts(strings.NewReader(in), "median_house_value", 3)
	must(t, err)
	// Every 2nd row of 5 (ceil(5/3)): rows 1, 3, 5; none is missing a value.
	want := []District{{-122, 37, 100}, {-120, 36, 300}, {-118, 34, 500}}
	if len(ds) != len(want) {
		t.Fatalf("got %v, want %v", ds, want)
	}
	for i := range want {
		if ds[i] != want[i] {
			t.Errorf("district %d: %v, want %v", i, ds[i], want[i])
		}
	}
	// The row with no value is skipped rather than drawn as 0.
	ds, err = LoadDistricts(strings.NewReader(in), "median_house_value", 10)
	must(t, err)
	if len(ds) != 4 {
		t.Errorf("%d districts, want 4 (one has no value)", len(ds))
	}
	if _, err := LoadDistricts(strings.NewReader("longitude,latitude\n1,2\n"), "median_house_value", 10); err == nil || !strings.Contains(err.Error(), `"median_house_value"`) {
		t.Errorf("missing column: %v", err)
	}
}

// TestGeoCentres fits a geo block that scales before clustering and checks
// that the centres come back in degrees, near the mean position of the
// districts KMeans assigns to each.
func TestGeoCentres(t *testing.T) {
	full, err := frame.ReadCSVFile("../testdata/housing.csv", frame.CSVOptions{})
	must(t, err)
	var rows []int
	for i := 0; i < full.NumRows(); i += 10 {
		rows = append(rows, i)
	}
	f := full.Select(rows)
	km := cluster.NewKMeans(4, 7)
	pre, err := preprocess.NewColumnTransformer(
		preprocess.Numeric("num", []string{"median_income"}),
		preprocess.Geo("geo", []string{"longitude", "latitude"}, km, 4, preprocess.NewStandardScaler()))
	must(t, err)
	X, err := pre.FitTransform(f)
	must(t, err)
	y, err := f.Numeric("median_house_value")
	must(t, err)
	reg := linear.NewRidge(1)
	must(t, reg.Fit(X, y))
	schema, err := model.SchemaFromFrame(f, []string{"longitude", "latitude", "median_income"}, "median_house_value")
	must(t, err)
	a, err := model.New(schema, pre, reg, model.Meta{})
	must(t, err)
	cs, err := GeoCentres(a)
	must(t, err)
	if len(cs) != 4 {
		t.Fatalf("%d centres, want 4", len(cs))
	}
	lon, _ := f.Numeric("longitude")
	lat, _ := f.Numeric("latitude")
	labels := km.Labels()
	for k, c := range cs {
		var sx, sy, n float64
		for i, l := range labels {
			if l == k {
				sx, sy, n = sx+lon[i], sy+lat[i], n+1
			}
		}
		// KMeans labels come from a last assignment after the last centre
		// update, so the mean is close but not equal.
		if math.Abs(c.Lon-sx/n) > 0.05 || math.Abs(c.Lat-sy/n) > 0.05 {
			t.Errorf("centre %d = (%v, %v), want near the mean of its districts (%v, %v)", k, c.Lon, c.Lat, sx/n, sy/n)
		}
		// Exactly: the fitted centre in scaled units, times the scale, plus
		// the mean.
		sc := pre.Blocks()[1].Steps[0].(*preprocess.StandardScaler)
		wantLon := km.Centers[2*k]*sc.Scale[0] + sc.Mean[0]
		wantLat := km.Centers[2*k+1]*sc.Scale[1] + sc.Mean[1]
		if math.Abs(c.Lon-wantLon) > 1e-9 || math.Abs(c.Lat-wantLat) > 1e-9 {
			t.Errorf("centre %d = (%v, %v), want (%v, %v)", k, c.Lon, c.Lat, wantLon, wantLat)
		}
	}
	if cs, err := GeoCentres(nil); cs != nil || err != nil {
		t.Errorf("nil artifact: %v %v", cs, err)
	}
}

func TestModelMapFollowsTheModel(t *testing.T) {
	centres := []Centre{{-122, 37}}
	var fail error
	m := ModelMap{Base: MapData{Districts: []District{{-120, 36, 1}}, ValueName: "v"},
		Centres: func(context.Context) ([]Centre, error) { return centres, fail }}
	d, err := m.MapData(context.Background())
	must(t, err)
	if len(d.Districts) != 1 || len(d.Centres) != 1 || d.Centres[0] != centres[0] {
		t.Errorf("%+v", d)
	}
	centres = []Centre{{-118, 34}, {-117, 33}}
	if d, _ := m.MapData(context.Background()); len(d.Centres) != 2 {
		t.Errorf("centres did not follow: %+v", d.Centres)
	}
	fail = errors.New("no model")
	if d, err := m.MapData(context.Background()); err != nil || d.Centres != nil || len(d.Districts) != 1 {
		t.Errorf("failing centres: %+v %v", d, err)
	}
}
