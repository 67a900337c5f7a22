package tune

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/housing-mlops/mlops/ml"
)

// This file exposes the sweep machinery one trial at a time, for runners
// that keep the sweep's state elsewhere (package sweep keeps it in a
// sweep.Queue, which package postgres implements, and lets several
// processes work one sweep). Run does not use it; the two share the
// samplers and the Hyperband rule.

// Sampler proposes the parameters of one trial at a time with the sweep's
// method (grid, random or TPE), so a trial can be created whenever a worker
// asks for one rather than in Run's batches.
type Sampler struct {
	cfg  *SweepConfig
	seed uint64
	s    sampler
	grid int // number of grid points; 0 for random and TPE
}

// NewSampler validates cfg and returns its sampler seeded by seed.
func NewSampler(cfg *SweepConfig, seed uint64) (*Sampler, error) {
	if cfg == nil {
		return nil, errors.New("tune: nil sweep config")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Sampler{cfg: cfg, seed: seed}
	ds := dims(cfg)
	switch cfg.Method {
	case MethodGrid:
		points, err := cfg.GridPoints()
		if err != nil {
			return nil, err
		}
		s.s, s.grid = gridSampler{points: points}, len(points)
	case MethodRandom:
		s.s = randomSampler{dims: ds}
	default:
		s.s = newTPE(ds)
	}
	return s, nil
}

// GridSize is the number of grid points of a grid sweep (its natural trial
// count) and 0 for random and TPE sweeps, which have none.
func (s *Sampler) GridSize() int { return s.grid }

// Sample proposes trial index's parameters given the trials finished so far.
// Failed trials (Err set or NaN metric) are ignored, as in Run. The result
// depends only on the seed, the index and the set of finished trials (the
// samplers order history by trial index), so any process holding the same
// history proposes the same parameters. With history = every earlier trial
// it reproduces Run with parallelism 1.
func (s *Sampler) Sample(index int, history []TrialResult) (map[string]any, error) {
	if index < 0 {
		return nil, fmt.Errorf("tune: trial index %d is negative", index)
	}
	if s.grid > 0 && index >= s.grid {
		return nil, fmt.Errorf("tune: trial index %d is past the grid's %d points", index, s.grid)
	}
	obs := make([]observation, 0, len(history))
	for _, t := range history {
		if t.Err != nil || math.IsNaN(t.Metric) {
			continue
		}
		obs = append(obs, observation{index: t.Index, params: t.Params, loss: s.cfg.Loss(t.Metric),
			stopped: t.StoppedEarly, budget: t.Budget})
	}
	// Run appends history batch by batch in index order; sorting here makes
	// the finish order across processes irrelevant.
	slices.SortStableFunc(obs, func(a, b observation) int { return a.index - b.index })
	return s.s.sample(index, obs, ml.NewRand(s.seed, uint64(index))), nil
}

// Loss turns a metric of this sweep into "lower is better" (the metric
// negated when the goal is maximize), the scale Hyperband cuts on.
func (c *SweepConfig) Loss(metric float64) float64 {
	if c.Metric.Goal == GoalMaximize {
		return -metric
	}
	return metric
}

// ShouldStop is W&B's Hyperband rule for one trial at one band: given every
// loss reported at that band so far (reported, which includes this trial's
// own loss), the threshold is the value at position floor(n/eta) of the
// sorted list, and the trial stops when its loss is above it. With fewer
// than eta reports the threshold is the best loss, so the first trials at a
// band already compete; Run applies the same rule per batch.
func (h *Hyperband) ShouldStop(loss float64, reported []float64) bool {
	if len(reported) == 0 || math.IsNaN(loss) {
		return math.IsNaN(loss)
	}
	eta := h.Eta
	if eta <= 1 {
		eta = 3
	}
	sorted := slices.Clone(reported)
	sort.Float64s(sorted)
	k := min(int(float64(len(sorted))/eta), len(sorted)-1)
	return loss > sorted[k]
}

// Milestones lists the budgets a trial advances to, as Run does: the
// Hyperband bands below the trial's maximum budget, then the maximum;
// a non-iterative trial (not Budgeted, or MaxBudget 0) advances once to 0.
func (c *SweepConfig) Milestones(t Trial) []int {
	b, ok := t.(Budgeted)
	if !ok || b.MaxBudget() <= 0 {
		return []int{0}
	}
	limit := b.MaxBudget()
	var out []int
	if c.EarlyTerminate != nil {
		out = c.EarlyTerminate.Bands(limit)
	}
	return append(out, limit)
}

// NormalizeParams restores the Go types the samplers produce (int for
// integer domains, float64 for real ones, the listed value itself for
// categorical ones) after a round trip through JSON, where every number
// decodes as float64. It fails on a missing, unknown or out-of-domain
// parameter, naming it.
func (c *SweepConfig) NormalizeParams(p map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(p))
	for k := range p {
		if _, ok := c.Parameters[k]; !ok {
			return nil, fmt.Errorf("tune: parameter %q is not in the sweep", k)
		}
	}
	for _, d := range dims(c) {
		v, ok := p[d.name]
		if !ok {
			return nil, fmt.Errorf("tune: parameter %q is missing", d.name)
		}
		nv, err := d.normalize(v)
		if err != nil {
			return nil, fmt.Errorf("tune: parameter %q: %w", d.name, err)
		}
		out[d.name] = nv
	}
	return out, nil
}

func (d dim) normalize(v any) (any, error) {
	switch d.kind {
	case dimConst:
		return d.spec.Value, nil
	case dimCat:
		// indexOf also matches 3.0 (from JSON) with a listed 3.
		if i := indexOf(d.spec.Values, v); i >= 0 {
			return d.spec.Values[i], nil
		}
		return nil, fmt.Errorf("value %v is not one of %v", v, d.spec.Values)
	}
	f, ok := toFloat(v)
	if !ok {
		return nil, fmt.Errorf("value %v (%T) is not a number", v, v)
	}
	if f < d.lo || f > d.hi {
		return nil, fmt.Errorf("value %v is outside [%v, %v]", f, d.lo, d.hi)
	}
	if d.asInt {
		if f != math.Trunc(f) {
			return nil, fmt.Errorf("value %v is not an integer", f)
		}
		return int(f), nil
	}
	return f, nil
}

// YAML renders the config as a sweep_config.yaml that ParseSweepConfig
// reads back to an equal config: distributions are written explicitly and
// numbers keep their int or float type (a float is written with a decimal
// point), since the type decides int-valued domains and categorical values.
// A sweep stored by text can then be rebuilt exactly by another process.
func (c *SweepConfig) YAML() ([]byte, error) {
	root := mapNode()
	for _, kv := range [][2]string{{"name", c.Name}, {"description", c.Description}, {"program", c.Program}, {"method", c.Method}} {
		if kv[1] != "" {
			addPair(root, kv[0], strNode(kv[1]))
		}
	}
	metric := mapNode()
	addPair(metric, "name", strNode(c.Metric.Name))
	if c.Metric.Goal != "" {
		addPair(metric, "goal", strNode(c.Metric.Goal))
	}
	addPair(root, "metric", metric)
	params := mapNode()
	for _, name := range c.ParamNames() {
		n, err := paramNode(c.Parameters[name])
		if err != nil {
			return nil, fmt.Errorf("tune: parameters.%s: %w", name, err)
		}
		addPair(params, name, n)
	}
	addPair(root, "parameters", params)
	if h := c.EarlyTerminate; h != nil {
		et := mapNode()
		addPair(et, "type", strNode("hyperband"))
		for _, kv := range []struct {
			k string
			v int
		}{{"min_iter", h.MinIter}, {"max_iter", h.MaxIter}, {"s", h.S}} {
			if kv.v != 0 {
				addPair(et, kv.k, scalarNode(kv.v))
			}
		}
		if h.Eta != 0 {
			addPair(et, "eta", scalarNode(h.Eta))
		}
		addPair(root, "early_terminate", et)
	}
	out, err := yaml.Marshal(root)
	if err != nil {
		return nil, fmt.Errorf("tune: sweep config yaml: %w", err)
	}
	return out, nil
}

func paramNode(p ParamSpec) (*yaml.Node, error) {
	n := mapNode()
	addPair(n, "distribution", strNode(p.Distribution))
	switch p.Distribution {
	case DistConstant:
		v, err := valueNode(p.Value)
		if err != nil {
			return nil, err
		}
		addPair(n, "value", v)
		return n, nil
	case DistCategorical:
		seq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, x := range p.Values {
			v, err := valueNode(x)
			if err != nil {
				return nil, err
			}
			seq.Content = append(seq.Content, v)
		}
		addPair(n, "values", seq)
		return n, nil
	}
	// Integers only when the domain is integer-valued, so parsing infers
	// the same IntValued flag.
	num := func(f float64) *yaml.Node {
		if (p.IntValued || p.Distribution == DistIntUniform) && f == math.Trunc(f) {
			return scalarNode(int64(f))
		}
		return scalarNode(f)
	}
	addPair(n, "min", num(p.Min))
	addPair(n, "max", num(p.Max))
	if isQ(p.Distribution) {
		addPair(n, "q", num(p.Q))
	}
	return n, nil
}

func mapNode() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode} }

func addPair(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, strNode(key), v)
}

func strNode(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

// scalarNode writes an int or float64 with an explicit tag; floats always
// carry a decimal point or exponent so they read back as floats.
func scalarNode(v any) *yaml.Node {
	switch x := v.(type) {
	case int:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(x)}
	case int64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(x, 10)}
	}
	f := v.(float64)
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEIN") {
		s += ".0"
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: s}
}

// valueNode writes a categorical or constant value of the types YAML
// parsing produces.
func valueNode(v any) (*yaml.Node, error) {
	switch x := v.(type) {
	case string:
		return strNode(x), nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(x)}, nil
	case int, int64, float64:
		return scalarNode(x), nil
	}
	return nil, fmt.Errorf("value %v of type %T cannot be written as YAML", v, v)
}
