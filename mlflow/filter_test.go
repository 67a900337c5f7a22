package mlflow

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/housing-mlops/mlops"
)

func TestRegistryFilterGrammar(t *testing.T) {
	rec := record{
		str:  map[string]string{"name": "Housing-Model", "run_id": "abc", "source_path": "s3://b/m", "current_stage": "Production"},
		num:  map[string]float64{"version_number": 3, "creation_timestamp": 1700000000000},
		tags: map[string]string{"team": "ml", "a.b": "x'y"},
	}
	cases := []struct {
		filter string
		want   bool
	}{
		{"name = 'Housing-Model'", true},
		{"name = \"Housing-Model\"", true},
		{"name != 'Housing-Model'", false},
		{"name LIKE 'Housing%'", true},
		{"name LIKE 'housing%'", false},
		{"name ILIKE 'housing%'", true},
		{"name LIKE 'Housing_Model'", true},
		{"attributes.name = 'Housing-Model'", true},
		{"run_id IN ('x', 'abc')", true},
		{"run_id NOT IN ('x', 'abc')", false},
		{"version_number >= 3 AND version_number < 4", true},
		{"version_number > 3", false},
		{"version_number != 2", true},
		{"version_number <= 2.5", false},
		{"creation_timestamp = 1700000000000", true},
		{"tags.team = 'ml' and name LIKE '%Model'", true},
		{"tags.`a.b` = \"x'y\"", true},
		{"tags.\"a.b\" = \"x'y\"", true},
		{"tags.missing != 'z'", false},
		{"source = 's3://b/m' AND stage = 'Production'", true},
		{"", true},
	}
	for _, c := range cases {
		clauses, err := parseFilter(c.filter, versionSpec)
		if err != nil {
			t.Errorf("%q: %v", c.filter, err)
			continue
		}
		if got := match(rec, clauses); got != c.want {
			t.Errorf("%q matched %v, want %v", c.filter, got, c.want)
		}
	}
	for _, bad := range []string{
		"name = 'x' OR name = 'y'", "name =", "name = x", "owner = 'x'", "version_number = 'x'",
		"version_number LIKE 3", "name < 'x'", "name = 'x' AND", "run_id IN 'x'", "run_id IN ('x'",
		"run_id IN (1)", "name = 'unterminated", "tags.`k = 'v'", "= 'x'", "name ~ 'x'", "version_number = 1e",
	} {
		if _, err := parseFilter(bad, versionSpec); mlops.ErrorCode(err) != mlops.EINVALID {
			t.Errorf("%q: error %v, want INVALID_PARAMETER_VALUE", bad, err)
		}
	}
}

func TestPageOrdersAndPages(t *testing.T) {
	items := []int{3, 1, 2, 5, 4}
	toRec := func(v int) record {
		return record{str: map[string]string{"name": string(rune('a' + v))}, num: map[string]float64{"version_number": float64(v)}}
	}
	var got []int
	token := ""
	for i := 0; i < 5; i++ {
		p, next, err := page(items, toRec, versionSpec, "version_number > 1", []string{"version_number DESC"}, nil, 2, 10, 100, token)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p...)
		if token = next; token == "" {
			break
		}
	}
	if len(got) != 4 || got[0] != 5 || got[3] != 2 {
		t.Fatalf("pages gave %v, want [5 4 3 2]", got)
	}
	for _, c := range []struct {
		order []string
		max   int
	}{{[]string{"owner"}, 1}, {[]string{"name SIDEWAYS"}, 1}, {[]string{"name ASC extra"}, 1}, {nil, -1}, {nil, 101}} {
		if _, _, err := page(items, toRec, versionSpec, "", c.order, nil, c.max, 10, 100, ""); mlops.ErrorCode(err) != mlops.EINVALID {
			t.Errorf("order %v max %d: %v", c.order, c.max, err)
		}
	}
}

func TestWireTypes(t *testing.T) {
	var msg struct {
		I  jsonInt    `json:"i"`
		J  jsonInt    `json:"j"`
		F  jsonFloat  `json:"f"`
		G  jsonFloat  `json:"g"`
		S  flexString `json:"s"`
		L  stringList `json:"l"`
		B  flexBool   `json:"b"`
		B2 flexBool   `json:"b2"`
	}
	in := `{"i":"1700000000000","j":12.0,"f":"-Infinity","g":"0.25","s":3,"l":"only","b":"True","b2":false}`
	if err := json.Unmarshal([]byte(in), &msg); err != nil {
		t.Fatal(err)
	}
	if msg.I != 1700000000000 || msg.J != 12 || !math.IsInf(float64(msg.F), -1) || msg.G != 0.25 || msg.S != "3" ||
		len(msg.L) != 1 || msg.L[0] != "only" || !bool(msg.B) || bool(msg.B2) {
		t.Fatalf("decoded %+v", msg)
	}
	for _, bad := range []string{`{"i":"x"}`, `{"i":1.5}`, `{"f":"lots"}`, `{"b":"maybe"}`, `{"l":{}}`} {
		if err := json.Unmarshal([]byte(bad), &msg); err == nil {
			t.Errorf("%s decoded without error", bad)
		}
	}
	out, err := json.Marshal([]jsonFloat{jsonFloat(math.NaN()), jsonFloat(math.Inf(1)), 1.5})
	if err != nil || string(out) != `["NaN","Infinity",1.5]` {
		t.Fatalf("encoded %s %v", out, err)
	}
}
