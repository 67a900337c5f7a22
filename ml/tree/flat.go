package tree

// Flat is a prediction-only copy of one or more trees, laid out for speed:
// each node is one 16-byte record (so a step down the tree touches one cache
// line instead of one per array of Nodes), and the two children of a node
// are adjacent, so a record needs only the left child's index. Children are
// placed depth-first, keeping a subtree's upper nodes close together.
//
// Predictions are bit-identical to Nodes.PredictRow, including for NaN
// inputs (which go right). A Flat is immutable and safe for concurrent use.
type Flat struct {
	nodes []flatNode
	roots []int32
}

type flatNode struct {
	v    float64 // threshold, or the value of a leaf
	feat int32   // split feature, or Leaf
	left int32   // index of the left child; the right child follows it
}

// Flatten builds the prediction layout of trees (which must be valid, see
// Nodes.Validate).
func Flatten(trees []Nodes) *Flat {
	total := 0
	for i := range trees {
		total += trees[i].Len()
	}
	f := &Flat{nodes: make([]flatNode, 0, total), roots: make([]int32, len(trees))}
	type move struct{ src, dst int32 }
	var stack []move
	for t := range trees {
		src := &trees[t]
		f.roots[t] = int32(len(f.nodes))
		f.nodes = append(f.nodes, flatNode{})
		stack = append(stack[:0], move{0, f.roots[t]})
		for len(stack) > 0 {
			m := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if src.Feature[m.src] == Leaf {
				f.nodes[m.dst] = flatNode{v: src.Value[m.src], feat: Leaf}
				continue
			}
			k := int32(len(f.nodes))
			f.nodes = append(f.nodes, flatNode{}, flatNode{})
			f.nodes[m.dst] = flatNode{v: src.Threshold[m.src], feat: src.Feature[m.src], left: k}
			// Left is pushed last so its subtree is laid out first.
			stack = append(stack, move{src.Right[m.src], k + 1}, move{src.Left[m.src], k})
		}
	}
	return f
}

// Trees returns the number of trees.
func (f *Flat) Trees() int { return len(f.roots) }

// PredictRow returns tree t's prediction for row x.
func (f *Flat) PredictRow(t int, x []float64) float64 {
	nodes := f.nodes
	i := f.roots[t]
	for {
		n := &nodes[i]
		if n.feat < 0 {
			return n.v
		}
		i = n.left
		if !(x[n.feat] <= n.v) {
			i++
		}
	}
}

// AddTree adds tree t's prediction for every row of the row-major matrix
// data (cols columns) to out (one slot per row). It walks four rows down
// the tree together: their paths are independent, so the processor overlaps
// their memory loads instead of waiting for each node in turn. Each row's
// result is exactly PredictRow's.
func (f *Flat) AddTree(t int, data []float64, cols int, out []float64) {
	nodes := f.nodes
	root := f.roots[t]
	n := len(out)
	k := 0
	for ; k+4 <= n; k += 4 {
		x0, x1 := data[k*cols:(k+1)*cols], data[(k+1)*cols:(k+2)*cols]
		x2, x3 := data[(k+2)*cols:(k+3)*cols], data[(k+3)*cols:(k+4)*cols]
		i0, i1, i2, i3 := root, root, root, root
		for {
			n0, n1, n2, n3 := &nodes[i0], &nodes[i1], &nodes[i2], &nodes[i3]
			live := false
			if n0.feat >= 0 {
				i0 = step(n0, x0)
				live = true
			}
			if n1.feat >= 0 {
				i1 = step(n1, x1)
				live = true
			}
			if n2.feat >= 0 {
				i2 = step(n2, x2)
				live = true
			}
			if n3.feat >= 0 {
				i3 = step(n3, x3)
				live = true
			}
			if !live {
				break
			}
		}
		out[k] += nodes[i0].v
		out[k+1] += nodes[i1].v
		out[k+2] += nodes[i2].v
		out[k+3] += nodes[i3].v
	}
	for ; k < n; k++ {
		out[k] += f.PredictRow(t, data[k*cols:(k+1)*cols])
	}
}

// step returns the child of split node n that row x goes to.
func step(n *flatNode, x []float64) int32 {
	var right int32
	if !(x[n.feat] <= n.v) {
		right = 1
	}
	return n.left + right
}
