package tree

import "sync"

// Flat is a prediction-only copy of one or more trees, laid out for speed:
// each node is one 16-byte record (so a step down the tree touches one cache
// line instead of one per array of Nodes), and the two children of a node
// are adjacent, so a record needs only the left child's index. Children are
// placed depth-first, keeping a subtree's upper nodes close together.
//
// Predictions are bit-identical to Nodes.PredictRow, including for NaN
// inputs (which go right). A Flat is immutable (but for its scratch pool)
// and safe for concurrent use.
type Flat struct {
	nodes []flatNode
	roots []int32
	// scratchPool holds ForEachRow's per-tree buffers (*[]float64).
	scratchPool sync.Pool
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
// data (cols columns) to out (one slot per row). It walks eight rows down
// the tree together (see walk8). Each row's result is exactly PredictRow's.
func (f *Flat) AddTree(t int, data []float64, cols int, out []float64) {
	f.addTree(t, data, cols, out, 1, len(out))
}

// addTree is AddTree for rows rows whose slots are stride apart in out:
// out[r*stride] gets row r's prediction added.
func (f *Flat) addTree(t int, data []float64, cols int, out []float64, stride, rows int) {
	root := f.roots[t]
	starts := [lanes]int32{root, root, root, root, root, root, root, root}
	for k := 0; k < rows; k += lanes {
		m := min(lanes, rows-k)
		// A short last group repeats its last row in the spare lanes.
		var offs [lanes]int32
		for j := range offs {
			offs[j] = int32(min(j, m-1) * cols)
		}
		leaves := f.walk8(starts, data[k*cols:(k+m)*cols], offs)
		for j, i := range leaves[:m] {
			out[(k+j)*stride] += f.nodes[i].v
		}
	}
}

// PredictTrees sets dst[t] to 0 + tree t's prediction for row x, for every
// tree t (adding the zero makes a -0 leaf +0, exactly as AddTree into a
// cleared slot does). It walks eight trees down together (see walk8): the
// overlap a single row allows.
func (f *Flat) PredictTrees(x []float64, dst []float64) {
	T := len(f.roots)
	dst = dst[:T]
	var offs [lanes]int32
	for t := 0; t < T; t += lanes {
		m := min(lanes, T-t)
		// A short last group repeats its last tree in the spare lanes.
		var starts [lanes]int32
		for j := range starts {
			starts[j] = f.roots[t+min(j, m-1)]
		}
		leaves := f.walk8(starts, x, offs)
		for j, i := range leaves[:m] {
			dst[t+j] = 0 + f.nodes[i].v
		}
	}
}

// lanes is how many root-to-leaf walks walk8 interleaves.
const lanes = 8

// walk8 walks eight paths down the trees together, lane j from node
// starts[j] with the row that begins at x[offs[j]], and returns the leaf
// each reaches. A path is a chain of dependent loads (node, then feature,
// then child); eight independent chains let the processor overlap their
// cache misses instead of waiting for each node in turn, which is most of
// the cost of a walk.
// cyclomatic: eight copies of one branch-light step, unrolled so the lanes'
// indices stay in registers.
func (f *Flat) walk8(starts [lanes]int32, x []float64, o [lanes]int32) [lanes]int32 {
	nodes := f.nodes
	i0, i1, i2, i3, i4, i5, i6, i7 := starts[0], starts[1], starts[2], starts[3], starts[4], starts[5], starts[6], starts[7]
	for {
		n0, n1, n2, n3 := &nodes[i0], &nodes[i1], &nodes[i2], &nodes[i3]
		n4, n5, n6, n7 := &nodes[i4], &nodes[i5], &nodes[i6], &nodes[i7]
		live := false
		if n0.feat >= 0 {
			i0 = stepAt(n0, x, o[0])
			live = true
		}
		if n1.feat >= 0 {
			i1 = stepAt(n1, x, o[1])
			live = true
		}
		if n2.feat >= 0 {
			i2 = stepAt(n2, x, o[2])
			live = true
		}
		if n3.feat >= 0 {
			i3 = stepAt(n3, x, o[3])
			live = true
		}
		if n4.feat >= 0 {
			i4 = stepAt(n4, x, o[4])
			live = true
		}
		if n5.feat >= 0 {
			i5 = stepAt(n5, x, o[5])
			live = true
		}
		if n6.feat >= 0 {
			i6 = stepAt(n6, x, o[6])
			live = true
		}
		if n7.feat >= 0 {
			i7 = stepAt(n7, x, o[7])
			live = true
		}
		if !live {
			return [lanes]int32{i0, i1, i2, i3, i4, i5, i6, i7}
		}
	}
}

// ForEachRow calls fn(i, vals) for each of the rows rows of the row-major
// matrix data (cols columns), in order, where vals[t] is 0 + tree t's
// prediction for row i (what PredictTrees gives). Batches are walked tree by
// tree (AddTree), so each tree's nodes stay in cache while every row of the
// batch goes down it; fewer rows than AddTree interleaves are walked
// tree-interleaved (PredictTrees) instead. fn may reorder or overwrite vals, which is
// scratch memory reused after fn returns; the scratch comes from a pool, so
// a serving loop does not allocate it per call.
func (f *Flat) ForEachRow(data []float64, rows, cols int, fn func(i int, vals []float64)) {
	T := len(f.roots)
	if rows < lanes {
		buf := f.scratch(T)
		vals := (*buf)[:T]
		for i := 0; i < rows; i++ {
			f.PredictTrees(data[i*cols:(i+1)*cols], vals)
			fn(i, vals)
		}
		f.scratchPool.Put(buf)
		return
	}
	chunk := min(rows, forEachChunk)
	buf := f.scratch(T * chunk)
	for lo := 0; lo < rows; lo += chunk {
		m := min(chunk, rows-lo)
		// Row-major: row i's values are vals[i*T:(i+1)*T], ready for fn;
		// each tree's pass writes one column.
		vals := (*buf)[:T*m]
		clear(vals)
		block := data[lo*cols : (lo+m)*cols]
		for t := 0; t < T; t++ {
			f.addTree(t, block, cols, vals[t:], T, m)
		}
		for i := 0; i < m; i++ {
			fn(lo+i, vals[i*T:(i+1)*T:(i+1)*T])
		}
	}
	f.scratchPool.Put(buf)
}

// forEachChunk bounds the rows ForEachRow walks per pass, and so its
// scratch memory (trees × rows values).
const forEachChunk = 256

// scratch returns a pooled buffer of at least n values.
func (f *Flat) scratch(n int) *[]float64 {
	if b, ok := f.scratchPool.Get().(*[]float64); ok && cap(*b) >= n {
		return b
	}
	b := make([]float64, n)
	return &b
}

// stepAt returns the child of split node n that the row starting at x[off]
// goes to: the left child when its value is <= the threshold, else (also
// for NaN) the right one, which follows the left.
func stepAt(n *flatNode, x []float64, off int32) int32 {
	var right int32
	if !(x[off+n.feat] <= n.v) {
		right = 1
	}
	return n.left + right
}
