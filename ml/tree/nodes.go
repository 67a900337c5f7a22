package tree

import (
	"fmt"

	"github.com/housing-mlops/mlops/ml"
)

// Leaf marks a node without a split in Nodes.Feature.
const Leaf = -1

// Nodes is a fitted binary regression tree in struct-of-arrays layout: node i
// splits on Feature[i] at Threshold[i] (rows with x <= Threshold go to
// Left[i], others to Right[i]) or, when Feature[i] == Leaf, predicts Value[i].
// Node 0 is the root. The layout keeps a 128-tree forest compact on disk (the
// packed ml types marshal as base64) and cache-friendly at predict time.
type Nodes struct {
	Feature   ml.Int32s   `json:"feature"`
	Threshold ml.Float64s `json:"threshold"`
	Left      ml.Int32s   `json:"left"`
	Right     ml.Int32s   `json:"right"`
	Value     ml.Float64s `json:"value"`
}

// Len returns the number of nodes.
func (t *Nodes) Len() int { return len(t.Feature) }

// Add appends a node and returns its index. Split nodes get their children
// later through SetChildren.
func (t *Nodes) Add(feature int, threshold, value float64) int {
	t.Feature = append(t.Feature, int32(feature))
	t.Threshold = append(t.Threshold, threshold)
	t.Left = append(t.Left, Leaf)
	t.Right = append(t.Right, Leaf)
	t.Value = append(t.Value, value)
	return len(t.Feature) - 1
}

// SetChildren links node i to its children.
func (t *Nodes) SetChildren(i, left, right int) {
	t.Left[i], t.Right[i] = int32(left), int32(right)
}

// PredictRow returns the value of the leaf that row x falls into. It does not
// allocate, so serving can call it per row at high rates.
func (t *Nodes) PredictRow(x []float64) float64 {
	i := int32(0)
	for {
		f := t.Feature[i]
		if f < 0 {
			return t.Value[i]
		}
		if x[f] <= t.Threshold[i] {
			i = t.Left[i]
		} else {
			i = t.Right[i]
		}
	}
}

// Depth returns the number of edges on the longest root-to-leaf path (a
// single leaf has depth 0, as in scikit-learn).
func (t *Nodes) Depth() int {
	if t.Len() == 0 {
		return 0
	}
	best := 0
	type item struct{ node, depth int32 }
	stack := []item{{0, 0}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if int(it.depth) > best {
			best = int(it.depth)
		}
		if t.Feature[it.node] != Leaf {
			stack = append(stack, item{t.Left[it.node], it.depth + 1}, item{t.Right[it.node], it.depth + 1})
		}
	}
	return best
}

// Leaves returns the number of leaf nodes.
func (t *Nodes) Leaves() int {
	n := 0
	for _, f := range t.Feature {
		if f == Leaf {
			n++
		}
	}
	return n
}

// Validate checks that the arrays agree in length and every link and feature
// index is in range, so a corrupted or hand-edited model file fails at load
// time instead of panicking (or looping) at predict time.
func (t *Nodes) Validate(nFeatures int) error {
	n := len(t.Feature)
	if n == 0 {
		return fmt.Errorf("tree: no nodes")
	}
	if len(t.Threshold) != n || len(t.Left) != n || len(t.Right) != n || len(t.Value) != n {
		return fmt.Errorf("tree: node arrays disagree in length (feature %d, threshold %d, left %d, right %d, value %d)",
			n, len(t.Threshold), len(t.Left), len(t.Right), len(t.Value))
	}
	for i := 0; i < n; i++ {
		f := t.Feature[i]
		if f == Leaf {
			continue
		}
		if f < 0 || int(f) >= nFeatures {
			return fmt.Errorf("tree: node %d splits on feature %d, want 0..%d", i, f, nFeatures-1)
		}
		// Children always come after their parent, which also rules out cycles.
		for _, c := range []int32{t.Left[i], t.Right[i]} {
			if int(c) <= i || int(c) >= n {
				return fmt.Errorf("tree: node %d has child %d, want %d..%d", i, c, i+1, n-1)
			}
		}
	}
	return nil
}
