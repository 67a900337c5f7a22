// Package tune searches hyperparameters: W&B-style sweep definitions, grid,
// random and Tree-structured Parzen Estimator (TPE) samplers, Hyperband early
// termination on a growing budget (trees), and a parallel, deterministic
// runner. It replaces the original pipeline's W&B sweep (step 06).
//
// Determinism: trials are sampled and run in batches of `parallelism`. A
// trial's parameters depend only on the seed, its index and the results of
// earlier batches; inside a batch, trials advance band by band in lockstep,
// so Hyperband's cut at each band sees the same set of values whatever the
// scheduling. Hence the same seed and parallelism give identical results on
// any machine and GOMAXPROCS (timings aside).
package tune

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Search methods accepted in SweepConfig.Method.
const (
	MethodGrid   = "grid"
	MethodRandom = "random"
	MethodBayes  = "bayes" // TPE here; W&B used a Gaussian process
)

// Metric goals.
const (
	GoalMinimize = "minimize"
	GoalMaximize = "maximize"
)

// Distribution names (W&B's spelling).
const (
	DistConstant          = "constant"
	DistCategorical       = "categorical"
	DistUniform           = "uniform"
	DistIntUniform        = "int_uniform"
	DistQUniform          = "q_uniform"
	DistLogUniform        = "log_uniform"        // W&B: min/max are natural-log exponents
	DistLogUniformValues  = "log_uniform_values" // min/max are the values themselves
	DistQLogUniformValues = "q_log_uniform_values"
)

// SweepConfig is a sweep definition in the shape of W&B's sweep_config.yaml.
type SweepConfig struct {
	Name           string
	Description    string
	Program        string // kept for compatibility; the runner calls an Objective instead
	Method         string
	Metric         Metric
	Parameters     map[string]ParamSpec
	EarlyTerminate *Hyperband // nil = no early termination
}

// Metric names the value a sweep optimises and its direction.
type Metric struct {
	Name string
	Goal string // GoalMinimize (default) or GoalMaximize
}

// ParamSpec is one parameter's search domain. Exactly one of Value (constant),
// Values (categorical) or Min/Max (numeric) is meaningful, by Distribution.
type ParamSpec struct {
	Distribution string
	Min, Max     float64
	Q            float64 // step for q_ distributions
	IntValued    bool    // q_ distributions: produce ints (set when min, max and q are YAML integers)
	Values       []any
	Value        any
}

// Hyperband is W&B's early_terminate section. Bands are MinIter·Eta^k, or,
// when MaxIter is set, MaxIter/Eta^k for k = 1..S (W&B's two forms).
type Hyperband struct {
	MinIter int
	MaxIter int
	S       int
	Eta     float64 // default 3
}

// ParseSweepConfig reads and validates a sweep_config.yaml. Errors name the
// offending key path and the reason, e.g. "parameters.max_depth: min 30 > max 5".
func ParseSweepConfig(data []byte) (*SweepConfig, error) {
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("tune: sweep config: %w", err)
	}
	if raw == nil {
		return nil, fmt.Errorf("tune: sweep config is empty")
	}
	cfg, err := fromRaw(raw)
	if err != nil {
		return nil, fmt.Errorf("tune: sweep config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// topLevelKeys are the W&B keys we read; the informational ones (program,
// command, project, entity) are accepted so original files parse unchanged.
var topLevelKeys = []string{"program", "command", "project", "entity", "name", "description",
	"method", "metric", "parameters", "early_terminate"}

func fromRaw(raw map[string]any) (*SweepConfig, error) {
	if err := onlyKeys("", raw, topLevelKeys); err != nil {
		return nil, err
	}
	cfg := &SweepConfig{Parameters: map[string]ParamSpec{}}
	var err error
	if cfg.Name, err = optString(raw, "name"); err != nil {
		return nil, err
	}
	if cfg.Description, err = optString(raw, "description"); err != nil {
		return nil, err
	}
	if cfg.Program, err = optString(raw, "program"); err != nil {
		return nil, err
	}
	if cfg.Method, err = optString(raw, "method"); err != nil {
		return nil, err
	}
	if cfg.Metric, err = metricFromRaw(raw["metric"]); err != nil {
		return nil, err
	}
	params, ok := raw["parameters"].(map[string]any)
	if !ok && raw["parameters"] != nil {
		return nil, fmt.Errorf("parameters: want a mapping of parameter names, got %T", raw["parameters"])
	}
	for name, v := range params {
		spec, err := paramFromRaw(name, v)
		if err != nil {
			return nil, err
		}
		cfg.Parameters[name] = spec
	}
	if et, ok := raw["early_terminate"]; ok && et != nil {
		if cfg.EarlyTerminate, err = hyperbandFromRaw(et); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

func metricFromRaw(v any) (Metric, error) {
	if v == nil {
		return Metric{}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return Metric{}, fmt.Errorf("metric: want a mapping with name and goal, got %T", v)
	}
	if err := onlyKeys("metric", m, []string{"name", "goal"}); err != nil {
		return Metric{}, err
	}
	name, err := optString(m, "name")
	if err != nil {
		return Metric{}, fmt.Errorf("metric.%w", err)
	}
	goal, err := optString(m, "goal")
	if err != nil {
		return Metric{}, fmt.Errorf("metric.%w", err)
	}
	return Metric{Name: name, Goal: goal}, nil
}

var paramKeys = []string{"distribution", "min", "max", "q", "values", "value"}

func paramFromRaw(name string, v any) (ParamSpec, error) {
	path := "parameters." + name
	m, ok := v.(map[string]any)
	if !ok {
		return ParamSpec{}, fmt.Errorf("%s: want a mapping (values, value or min/max), got %T", path, v)
	}
	if _, nested := m["parameters"]; nested {
		return ParamSpec{}, fmt.Errorf("%s: nested parameters are not supported", path)
	}
	if err := onlyKeys(path, m, paramKeys); err != nil {
		return ParamSpec{}, err
	}
	var spec ParamSpec
	var err error
	if spec.Distribution, err = optString(m, "distribution"); err != nil {
		return ParamSpec{}, fmt.Errorf("%s.%w", path, err)
	}
	if err := valuesFromRaw(path, m, &spec); err != nil {
		return ParamSpec{}, err
	}
	ints, err := rangeFromRaw(path, m, &spec)
	if err != nil {
		return ParamSpec{}, err
	}
	_, hasMin := m["min"]
	_, hasMax := m["max"]
	if hasMin != hasMax {
		return ParamSpec{}, fmt.Errorf("%s: min and max must be given together", path)
	}
	if hasMin {
		spec.IntValued = ints
	}
	if err := inferDistribution(path, &spec, hasMin, m); err != nil {
		return ParamSpec{}, err
	}
	return spec, nil
}

// valuesFromRaw reads the values list and the constant value of a
// parameter, when given.
func valuesFromRaw(path string, m map[string]any, spec *ParamSpec) error {
	if vals, ok := m["values"]; ok {
		list, isList := vals.([]any)
		if !isList {
			return fmt.Errorf("%s.values: want a list, got %T", path, vals)
		}
		spec.Values = list
	}
	if val, ok := m["value"]; ok {
		spec.Value = val
		if spec.Value == nil {
			return fmt.Errorf("%s.value: must not be null", path)
		}
	}
	return nil
}

// rangeFromRaw reads min, max and q, when given, and reports whether all
// of those given are integers.
func rangeFromRaw(path string, m map[string]any, spec *ParamSpec) (ints bool, err error) {
	ints = true
	// In this order, so the first bad key reported is always the same.
	for _, kd := range []struct {
		key string
		dst *float64
	}{{"min", &spec.Min}, {"max", &spec.Max}, {"q", &spec.Q}} {
		raw, ok := m[kd.key]
		if !ok {
			continue
		}
		f, isInt, isNum := number(raw)
		if !isNum {
			return false, fmt.Errorf("%s.%s: want a number, got %v (%T)", path, kd.key, raw, raw)
		}
		ints = ints && isInt
		*kd.dst = f
	}
	return ints, nil
}

// inferDistribution fills Distribution from the keys present, W&B's way:
// values → categorical, value → constant, integer min/max → int_uniform,
// other min/max → uniform; an explicit distribution must agree with the keys.
func inferDistribution(path string, spec *ParamSpec, hasMinMax bool, m map[string]any) error {
	_, hasValues := m["values"]
	_, hasValue := m["value"]
	_, hasQ := m["q"]
	kinds := 0
	for _, b := range []bool{hasValues, hasValue, hasMinMax} {
		if b {
			kinds++
		}
	}
	if kinds != 1 {
		return fmt.Errorf("%s: give exactly one of values, value or min/max", path)
	}
	if spec.Distribution == "" {
		spec.Distribution = defaultDistribution(hasValues, hasValue, hasQ, spec.IntValued)
	}
	return checkDistribution(path, spec.Distribution, hasValues, hasValue, hasMinMax, hasQ)
}

// defaultDistribution is the distribution implied by the keys given.
func defaultDistribution(hasValues, hasValue, hasQ, intValued bool) string {
	switch {
	case hasValues:
		return DistCategorical
	case hasValue:
		return DistConstant
	case hasQ:
		return DistQUniform
	case intValued:
		return DistIntUniform
	default:
		return DistUniform
	}
}

// checkDistribution rejects an explicit distribution d that disagrees with
// the keys given.
func checkDistribution(path, d string, hasValues, hasValue, hasMinMax, hasQ bool) error {
	switch {
	case hasValues && d != DistCategorical:
		return fmt.Errorf("%s: values needs distribution categorical, not %s", path, d)
	case hasValue && d != DistConstant:
		return fmt.Errorf("%s: value needs distribution constant, not %s", path, d)
	case hasMinMax && (d == DistCategorical || d == DistConstant):
		return fmt.Errorf("%s: distribution %s needs values or value, not min/max", path, d)
	case hasQ && d != DistQUniform && d != DistQLogUniformValues:
		return fmt.Errorf("%s: q is only meaningful for q_uniform and q_log_uniform_values, not %s", path, d)
	}
	return nil
}

func isQ(d string) bool { return d == DistQUniform || d == DistQLogUniformValues }

func hyperbandFromRaw(v any) (*Hyperband, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("early_terminate: want a mapping, got %T", v)
	}
	if err := onlyKeys("early_terminate", m, []string{"type", "min_iter", "max_iter", "s", "eta"}); err != nil {
		return nil, err
	}
	typ, err := optString(m, "type")
	if err != nil {
		return nil, fmt.Errorf("early_terminate.%w", err)
	}
	if typ != "hyperband" {
		return nil, fmt.Errorf("early_terminate.type: %q is not supported (want hyperband)", typ)
	}
	hb := &Hyperband{Eta: 3}
	for key, dst := range map[string]*int{"min_iter": &hb.MinIter, "max_iter": &hb.MaxIter, "s": &hb.S} {
		raw, ok := m[key]
		if !ok {
			continue
		}
		f, isInt, isNum := number(raw)
		if !isNum || !isInt {
			return nil, fmt.Errorf("early_terminate.%s: want an integer, got %v", key, raw)
		}
		*dst = int(f)
	}
	if raw, ok := m["eta"]; ok {
		f, _, isNum := number(raw)
		if !isNum {
			return nil, fmt.Errorf("early_terminate.eta: want a number, got %v", raw)
		}
		hb.Eta = f
	}
	return hb, nil
}

// Validate checks a config built in Go or parsed from YAML, filling the
// defaults (goal minimize, eta 3). Errors name the key path.
func (c *SweepConfig) Validate() error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("tune: sweep config: %w", err)
	}
	return nil
}

func (c *SweepConfig) validate() error {
	if err := c.validateMethodMetric(); err != nil {
		return err
	}
	if err := c.validateParams(); err != nil {
		return err
	}
	if c.EarlyTerminate != nil {
		if err := c.EarlyTerminate.validate(); err != nil {
			return fmt.Errorf("early_terminate: %w", err)
		}
	}
	return nil
}

// validateMethodMetric checks the method and the metric, defaulting the
// goal to minimize.
func (c *SweepConfig) validateMethodMetric() error {
	switch c.Method {
	case MethodGrid, MethodRandom, MethodBayes:
	case "":
		return fmt.Errorf("method: missing (want grid, random or bayes)")
	default:
		return fmt.Errorf("method: %q is not one of grid, random, bayes", c.Method)
	}
	if c.Metric.Name == "" {
		return fmt.Errorf("metric.name: missing")
	}
	switch c.Metric.Goal {
	case "":
		c.Metric.Goal = GoalMinimize
	case GoalMinimize, GoalMaximize:
	default:
		return fmt.Errorf("metric.goal: %q is not minimize or maximize", c.Metric.Goal)
	}
	return nil
}

// validateParams checks every parameter, in name order, and that a grid
// search has a finite grid.
func (c *SweepConfig) validateParams() error {
	if len(c.Parameters) == 0 {
		return fmt.Errorf("parameters: at least one parameter is needed")
	}
	for _, name := range c.ParamNames() {
		if name == "" {
			return fmt.Errorf("parameters: empty parameter name")
		}
		if err := c.Parameters[name].validate(); err != nil {
			return fmt.Errorf("parameters.%s: %w", name, err)
		}
		if c.Method == MethodGrid && !c.Parameters[name].discrete() {
			return fmt.Errorf("parameters.%s: grid search needs values, value, int_uniform or a q_ distribution, not %s",
				name, c.Parameters[name].Distribution)
		}
	}
	if c.Method == MethodGrid {
		if _, err := c.gridSize(); err != nil {
			return err
		}
	}
	return nil
}

// ParamNames returns the parameter names sorted, the order every sampler
// uses so results do not depend on map iteration.
func (c *SweepConfig) ParamNames() []string {
	names := make([]string, 0, len(c.Parameters))
	for n := range c.Parameters {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (p ParamSpec) validate() error {
	switch p.Distribution {
	case DistConstant:
		if p.Value == nil {
			return fmt.Errorf("constant needs a value")
		}
		return nil
	case DistCategorical:
		if len(p.Values) == 0 {
			return fmt.Errorf("values: empty list")
		}
		return nil
	case DistUniform, DistIntUniform, DistQUniform, DistLogUniform, DistLogUniformValues, DistQLogUniformValues:
	default:
		return fmt.Errorf("distribution %q is not supported (want one of %s)", p.Distribution,
			strings.Join([]string{DistConstant, DistCategorical, DistUniform, DistIntUniform, DistQUniform,
				DistLogUniform, DistLogUniformValues, DistQLogUniformValues}, ", "))
	}
	if err := p.validateRange(); err != nil {
		return err
	}
	if isQ(p.Distribution) {
		return p.validateQ()
	}
	return nil
}

// validateRange checks min and max of a numeric distribution.
func (p ParamSpec) validateRange() error {
	if math.IsNaN(p.Min) || math.IsNaN(p.Max) || math.IsInf(p.Min, 0) || math.IsInf(p.Max, 0) {
		return fmt.Errorf("min and max must be finite")
	}
	if p.Min > p.Max {
		return fmt.Errorf("min %v > max %v", p.Min, p.Max)
	}
	if p.Min == p.Max {
		return fmt.Errorf("min %v = max %v; use value for a constant", p.Min, p.Max)
	}
	if p.Distribution == DistIntUniform && (p.Min != math.Trunc(p.Min) || p.Max != math.Trunc(p.Max)) {
		return fmt.Errorf("int_uniform needs integer min and max, got %v and %v", p.Min, p.Max)
	}
	if (p.Distribution == DistLogUniformValues || p.Distribution == DistQLogUniformValues) && p.Min <= 0 {
		return fmt.Errorf("%s needs min > 0, got %v", p.Distribution, p.Min)
	}
	return nil
}

// validateQ checks the step q of a quantised distribution against the range.
func (p ParamSpec) validateQ() error {
	if !(p.Q > 0) {
		return fmt.Errorf("%s needs q > 0, got %v", p.Distribution, p.Q)
	}
	if p.Q > p.Max-p.Min {
		return fmt.Errorf("q %v is wider than the range [%v, %v]", p.Q, p.Min, p.Max)
	}
	if p.Distribution == DistQLogUniformValues && p.Q >= 2*p.Min {
		// The cell around min would reach zero, where the log is undefined.
		return fmt.Errorf("q_log_uniform_values needs q < 2·min, got q %v and min %v", p.Q, p.Min)
	}
	return nil
}

// discrete reports whether the domain is a finite list the grid can walk.
func (p ParamSpec) discrete() bool {
	switch p.Distribution {
	case DistConstant, DistCategorical, DistIntUniform, DistQUniform:
		return true
	}
	return false
}

func (h *Hyperband) validate() error {
	if h.Eta == 0 {
		h.Eta = 3
	}
	if !(h.Eta > 1) {
		return fmt.Errorf("eta %v must be > 1", h.Eta)
	}
	if h.MinIter < 0 || h.MaxIter < 0 || h.S < 0 {
		return fmt.Errorf("min_iter, max_iter and s must not be negative")
	}
	switch {
	case h.MaxIter > 0:
		if h.S < 1 {
			return fmt.Errorf("max_iter needs s >= 1 (the number of bands)")
		}
		if len(h.Bands(math.MaxInt)) == 0 {
			return fmt.Errorf("max_iter %d with eta %v and s %d gives no band >= 1", h.MaxIter, h.Eta, h.S)
		}
	case h.MinIter > 0:
	default:
		return fmt.Errorf("give min_iter or max_iter (positive)")
	}
	return nil
}

// onlyKeys rejects keys outside allowed so typos fail loudly.
func onlyKeys(path string, m map[string]any, allowed []string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			where := k
			if path != "" {
				where = path + "." + k
			}
			return fmt.Errorf("%s: unknown key (allowed: %s)", where, strings.Join(allowed, ", "))
		}
	}
	return nil
}

func optString(m map[string]any, key string) (string, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return "", nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", fmt.Errorf("%s: want a string, got %v (%T)", key, v, v)
	}
	return s, nil
}

// number converts a decoded YAML scalar to float64, telling integers apart
// so integer bounds can yield integer parameters.
func number(v any) (f float64, isInt, ok bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true, true
	case int64:
		return float64(x), true, true
	case uint64:
		return float64(x), true, true
	case float64:
		return x, false, true
	}
	return 0, false, false
}
