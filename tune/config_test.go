package tune

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestParseOriginalSweepConfig(t *testing.T) {
	data, err := os.ReadFile("spaces/random_forest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseSweepConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Method != MethodBayes || cfg.Metric.Name != "wmape" || cfg.Metric.Goal != GoalMinimize {
		t.Errorf("header %+v", cfg)
	}
	if cfg.Name != "housing-rf-sweep-improved" || cfg.Program != "main.py" || !strings.Contains(cfg.Description, "wmape") {
		t.Errorf("names %q %q %q", cfg.Name, cfg.Program, cfg.Description)
	}
	want := []string{"max_depth", "max_features", "min_samples_leaf", "min_samples_split", "n_estimators"}
	if got := cfg.ParamNames(); !slices.Equal(got, want) {
		t.Fatalf("params %v", got)
	}
	ne := cfg.Parameters["n_estimators"]
	if ne.Distribution != DistIntUniform || ne.Min != 50 || ne.Max != 500 {
		t.Errorf("n_estimators %+v", ne)
	}
	mf := cfg.Parameters["max_features"]
	if mf.Distribution != DistCategorical || !slices.Equal(mf.Values, []any{"sqrt", "log2"}) {
		t.Errorf("max_features %+v", mf)
	}
	et := cfg.EarlyTerminate
	if et == nil || et.MinIter != 10 || et.Eta != 3 || et.S != 2 {
		t.Fatalf("early_terminate %+v", et)
	}
	// W&B ignores s when min_iter is given: bands are 10·3^k.
	if got := et.Bands(500); !slices.Equal(got, []int{10, 30, 90, 270}) {
		t.Errorf("bands below 500: %v", got)
	}
}

func TestParseInference(t *testing.T) {
	cfg, err := ParseSweepConfig([]byte(`
method: random
metric: {name: rmse}
parameters:
  a: {min: 0, max: 1}
  b: {min: 0.0, max: 1.0}
  c: {distribution: log_uniform_values, min: 1, max: 100}
  d: {distribution: q_uniform, min: 0, max: 10, q: 2}
  e: {distribution: q_uniform, min: 0, max: 1, q: 0.25}
  f: {value: 7}
  g: {distribution: log_uniform, min: -2, max: 2}
`))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Parameters
	checks := []struct {
		name, dist string
		intValued  bool
	}{
		{"a", DistIntUniform, true}, {"b", DistUniform, false}, {"c", DistLogUniformValues, true},
		{"d", DistQUniform, true}, {"e", DistQUniform, false}, {"f", DistConstant, false}, {"g", DistLogUniform, true},
	}
	for _, c := range checks {
		if p[c.name].Distribution != c.dist || p[c.name].IntValued != c.intValued {
			t.Errorf("%s: %+v, want %s int=%v", c.name, p[c.name], c.dist, c.intValued)
		}
	}
	if cfg.Metric.Goal != GoalMinimize {
		t.Errorf("default goal %q", cfg.Metric.Goal)
	}
}

func TestParseRejectsInvalid(t *testing.T) {
	base := "method: bayes\nmetric: {name: wmape, goal: minimize}\n"
	cases := []struct {
		name, yaml, want string
	}{
		{"min above max", base + "parameters:\n  max_depth: {min: 30, max: 5}\n", "parameters.max_depth: min 30 > max 5"},
		{"min equals max", base + "parameters:\n  x: {min: 3, max: 3}\n", "parameters.x: min 3 = max 3"},
		{"missing method", "metric: {name: m}\nparameters:\n  x: {values: [1]}\n", "method: missing"},
		{"bad method", "method: hyperopt\nmetric: {name: m}\nparameters:\n  x: {values: [1]}\n", `method: "hyperopt" is not one of`},
		{"missing metric", "method: random\nparameters:\n  x: {values: [1]}\n", "metric.name: missing"},
		{"bad goal", "method: random\nmetric: {name: m, goal: lower}\nparameters:\n  x: {values: [1]}\n", `metric.goal: "lower"`},
		{"no parameters", base, "parameters: at least one"},
		{"unknown top key", base + "paramters:\n  x: {values: [1]}\n", "paramters: unknown key"},
		{"unknown param key", base + "parameters:\n  x: {min: 1, max: 2, step: 1}\n", "parameters.x.step: unknown key"},
		{"only min", base + "parameters:\n  x: {min: 1}\n", "parameters.x: min and max must be given together"},
		{"two kinds", base + "parameters:\n  x: {values: [1], min: 0, max: 2}\n", "parameters.x: give exactly one of"},
		{"empty values", base + "parameters:\n  x: {values: []}\n", "parameters.x: values: empty list"},
		{"values not list", base + "parameters:\n  x: {values: 3}\n", "parameters.x.values: want a list"},
		{"non-numeric min", base + "parameters:\n  x: {min: low, max: 2}\n", "parameters.x.min: want a number"},
		{"unknown dist", base + "parameters:\n  x: {distribution: normal, min: 0, max: 1}\n", `parameters.x: distribution "normal" is not supported`},
		{"int with fractions", base + "parameters:\n  x: {distribution: int_uniform, min: 0.5, max: 3}\n", "parameters.x: int_uniform needs integer"},
		{"log non-positive", base + "parameters:\n  x: {distribution: log_uniform_values, min: 0, max: 3}\n", "parameters.x: log_uniform_values needs min > 0"},
		{"q missing", base + "parameters:\n  x: {distribution: q_uniform, min: 0, max: 3}\n", "parameters.x: q_uniform needs q > 0"},
		{"q on uniform", base + "parameters:\n  x: {distribution: uniform, min: 0, max: 3, q: 1}\n", "parameters.x: q is only meaningful"},
		{"values with wrong dist", base + "parameters:\n  x: {distribution: uniform, values: [1, 2]}\n", "parameters.x: values needs distribution categorical"},
		{"nested", base + "parameters:\n  x: {parameters: {y: {values: [1]}}}\n", "parameters.x: nested parameters"},
		{"grid continuous", "method: grid\nmetric: {name: m}\nparameters:\n  x: {min: 0.0, max: 1.0}\n", "parameters.x: grid search needs"},
		{"grid too big", "method: grid\nmetric: {name: m}\nparameters:\n  x: {min: 0, max: 2000}\n  y: {min: 0, max: 2000}\n", "more than 1000000 points"},
		{"et type", base + "parameters:\n  x: {values: [1]}\nearly_terminate: {type: envelope}\n", `early_terminate.type: "envelope" is not supported`},
		{"et no iter", base + "parameters:\n  x: {values: [1]}\nearly_terminate: {type: hyperband}\n", "early_terminate: give min_iter or max_iter"},
		{"et max without s", base + "parameters:\n  x: {values: [1]}\nearly_terminate: {type: hyperband, max_iter: 27}\n", "early_terminate: max_iter needs s"},
		{"et eta", base + "parameters:\n  x: {values: [1]}\nearly_terminate: {type: hyperband, min_iter: 3, eta: 1}\n", "early_terminate: eta 1 must be > 1"},
		{"et float iter", base + "parameters:\n  x: {values: [1]}\nearly_terminate: {type: hyperband, min_iter: 2.5}\n", "early_terminate.min_iter: want an integer"},
		{"not yaml", "method: [", "tune: sweep config"},
		{"empty", "", "empty"},
	}
	for _, c := range cases {
		_, err := ParseSweepConfig([]byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want containing %q", c.name, err, c.want)
		}
	}
}

func TestHyperbandBandsMaxIterForm(t *testing.T) {
	// W&B's docstring example: max_iter 5, eta 2, s 2 → bands 1 and 2.
	hb := &Hyperband{MaxIter: 5, S: 2, Eta: 2}
	if got := hb.Bands(1000); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("bands %v, want [1 2]", got)
	}
	hb = &Hyperband{MaxIter: 270, S: 3, Eta: 3}
	if got := hb.Bands(1000); !slices.Equal(got, []int{10, 30, 90}) {
		t.Errorf("bands %v, want [10 30 90]", got)
	}
	if got := hb.Bands(30); !slices.Equal(got, []int{10}) {
		t.Errorf("bands below 30: %v", got)
	}
}

func TestDefaultSpacesParse(t *testing.T) {
	fams := Families()
	for _, want := range []string{"decision_tree", "gradient_boosting", "lasso", "random_forest", "ridge"} {
		if !slices.Contains(fams, want) {
			t.Errorf("family %s missing from %v", want, fams)
		}
	}
	for _, f := range fams {
		cfg, err := DefaultSpace(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if cfg.Metric.Name != "wmape" || cfg.Metric.Goal != GoalMinimize {
			t.Errorf("%s: metric %+v", f, cfg.Metric)
		}
	}
	gb, _ := DefaultSpace("gradient_boosting")
	if gb.Parameters["learning_rate"].Distribution != DistLogUniformValues {
		t.Errorf("gb learning rate %+v", gb.Parameters["learning_rate"])
	}
	if _, err := DefaultSpace("xgboost"); err == nil || !strings.Contains(err.Error(), "random_forest") {
		t.Errorf("unknown family: %v", err)
	}
	if _, err := DefaultSpace("../config"); err == nil {
		t.Error("path accepted as family")
	}
}

func TestParseRejectsLogCellThroughZero(t *testing.T) {
	_, err := ParseSweepConfig([]byte("method: random\nmetric: {name: m}\nparameters:\n  x: {distribution: q_log_uniform_values, min: 1, max: 100, q: 2}\n"))
	if err == nil || !strings.Contains(err.Error(), "parameters.x: q_log_uniform_values needs q < 2·min") {
		t.Errorf("error %v", err)
	}
}
