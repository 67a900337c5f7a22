package tree

import (
	"fmt"
	"sync"
	"unsafe"
)

// Flat is a prediction-only copy of one or more trees, laid out for speed:
// each node is one 16-byte record (so a step down the tree touches one cache
// line instead of one per array of Nodes), and the two children of a node
// are adjacent, so a record needs only the left child's position. Children
// are placed depth-first, keeping a subtree's upper nodes close together.
//
// Predictions are bit-identical to Nodes.PredictRow, including for NaN
// inputs (which go right). A Flat is immutable (but for its scratch pools)
// and safe for concurrent use.
type Flat struct {
	nodes []flatNode
	roots []uint32 // byte offset of each tree's root in nodes
	// cols is the fewest columns a row must have: the highest feature any
	// tree splits on, plus one.
	cols int
	// blockPool and valsPool hold the walks' per-call buffers
	// (*[]float64): row blocks, and ForEachRow's per-tree values.
	blockPool, valsPool sync.Pool
}

// flatNode is one node. Positions are byte offsets rather than indices so
// the walk's inner step needs no multiplications: the child is at
// nodes+left, and a split feature's values for the eight lanes of a row
// block (see blocks) start at block+feat.
type flatNode struct {
	v    float64 // threshold, or the value of a leaf
	feat uint32  // split feature × laneBytes, or leafFeat
	left uint32  // byte offset of the left child; the right child follows it
}

const (
	// lanes is how many root-to-leaf walks walk8 interleaves.
	lanes = 8
	// nodeBytes is the size of a flatNode.
	nodeBytes = uint32(unsafe.Sizeof(flatNode{}))
	// laneBytes is the size of one feature's values in a row block.
	laneBytes = lanes * 8
	// leafFeat marks a leaf in flatNode.feat.
	leafFeat = ^uint32(0)
)

// Flatten builds the prediction layout of trees (which must be valid, see
// Nodes.Validate). It panics if the trees have more nodes than byte offsets
// can address (268 million).
func Flatten(trees []Nodes) *Flat {
	total := 0
	for i := range trees {
		total += trees[i].Len()
	}
	if uint64(total)*uint64(nodeBytes) >= uint64(leafFeat) {
		panic(fmt.Sprintf("tree: %d nodes are too many to flatten", total))
	}
	f := &Flat{nodes: make([]flatNode, 0, total), roots: make([]uint32, len(trees))}
	type move struct{ src, dst int32 }
	var stack []move
	for t := range trees {
		src := &trees[t]
		root := int32(len(f.nodes))
		f.roots[t] = uint32(root) * nodeBytes
		f.nodes = append(f.nodes, flatNode{})
		stack = append(stack[:0], move{0, root})
		for len(stack) > 0 {
			m := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			feat := src.Feature[m.src]
			if feat == Leaf {
				f.nodes[m.dst] = flatNode{v: src.Value[m.src], feat: leafFeat}
				continue
			}
			f.cols = max(f.cols, int(feat)+1)
			k := int32(len(f.nodes))
			f.nodes = append(f.nodes, flatNode{}, flatNode{})
			f.nodes[m.dst] = flatNode{v: src.Threshold[m.src], feat: uint32(feat) * laneBytes, left: uint32(k) * nodeBytes}
			// Left is pushed last so its subtree is laid out first.
			stack = append(stack, move{src.Right[m.src], k + 1}, move{src.Left[m.src], k})
		}
	}
	return f
}

// Trees returns the number of trees.
func (f *Flat) Trees() int { return len(f.roots) }

// at returns the node at byte offset off.
func (f *Flat) at(off uint32) *flatNode { return &f.nodes[off/nodeBytes] }

// PredictRow returns tree t's prediction for row x.
func (f *Flat) PredictRow(t int, x []float64) float64 {
	n := f.at(f.roots[t])
	for n.feat != leafFeat {
		next := n.left
		if !(x[n.feat/laneBytes] <= n.v) {
			next += nodeBytes
		}
		n = f.at(next)
	}
	return n.v
}

// AddTrees adds the prediction of every tree, in tree order, to out (one
// slot per row) for the rows of the row-major matrix data (cols columns).
// Trees are the outer loop, so each tree's nodes stay in cache while the
// rows go down it eight at a time (see walk8). Each slot ends as adding
// PredictRow of tree 0, 1, ... in turn would leave it.
func (f *Flat) AddTrees(data []float64, cols int, out []float64) {
	rows := len(out)
	if rows == 0 || len(f.roots) == 0 {
		return
	}
	buf := f.blocks(data, rows, cols)
	for t := range f.roots {
		f.addTree(t, *buf, cols, out, 1, rows)
	}
	f.blockPool.Put(buf)
}

// addTree adds tree t's prediction for the rows rows of the row blocks
// (see blocks) to out, row r's to out[r*stride].
func (f *Flat) addTree(t int, blocks []float64, cols int, out []float64, stride, rows int) {
	root := f.roots[t]
	starts := [lanes]uint32{root, root, root, root, root, root, root, root}
	for k := 0; k < rows; k += lanes {
		block := blocks[k*cols : (k+lanes)*cols]
		leaves := f.walk8(starts, block)
		for j, off := range leaves[:min(lanes, rows-k)] {
			out[(k+j)*stride] += f.at(off).v
		}
	}
}

// blocks copies the rows rows of data (cols columns, at least f.cols) into
// row blocks of eight, transposed so that each feature's eight values are
// adjacent: row k*8+j's feature c is at k*8*cols + c*8 + j. A short last
// block repeats its last row in the spare lanes. The buffer is pooled;
// callers return it with blockPool.Put.
func (f *Flat) blocks(data []float64, rows, cols int) *[]float64 {
	if cols < f.cols || len(data) < rows*cols {
		panic(fmt.Sprintf("tree: %d rows of %d columns in %d values, trees need %d columns", rows, cols, len(data), f.cols))
	}
	nb := (rows + lanes - 1) / lanes
	buf := scratch(&f.blockPool, nb*lanes*cols)
	for k := 0; k < nb; k++ {
		block := (*buf)[k*lanes*cols : (k+1)*lanes*cols]
		for j := 0; j < lanes; j++ {
			row := data[min(k*lanes+j, rows-1)*cols:][:cols]
			for c, v := range row {
				block[c*lanes+j] = v
			}
		}
	}
	return buf
}

// PredictTrees sets dst[t] to 0 + tree t's prediction for row x, for every
// tree t (adding the zero makes a -0 leaf +0, exactly as AddTrees into a
// cleared slot does). It walks eight trees down together (see walk8): the
// overlap a single row allows.
func (f *Flat) PredictTrees(x []float64, dst []float64) {
	if len(f.roots) == 0 {
		return
	}
	buf := f.blocks(x, 1, len(x))
	f.predictTrees(*buf, dst)
	f.blockPool.Put(buf)
}

// predictTrees is PredictTrees for a row block holding one row in every
// lane.
func (f *Flat) predictTrees(block []float64, dst []float64) {
	T := len(f.roots)
	dst = dst[:T]
	for t := 0; t < T; t += lanes {
		m := min(lanes, T-t)
		// A short last group repeats its last tree in the spare lanes.
		var starts [lanes]uint32
		for j := range starts {
			starts[j] = f.roots[t+min(j, m-1)]
		}
		leaves := f.walk8(starts, block)
		for j, off := range leaves[:m] {
			dst[t+j] = 0 + f.at(off).v
		}
	}
}

// walk8 walks eight paths down the trees together, lane j from the node at
// byte offset starts[j] with the row in lane j of block (a row block, see
// blocks), and returns the offset of the leaf each reaches. A path is a
// chain of dependent loads (node, then feature, then child); eight
// independent chains let the processor overlap their cache misses instead
// of waiting for each node in turn, which is most of the cost of a walk.
//
// The loads use unchecked pointer arithmetic: a bounds check per load
// costs more registers than eight lanes leave, and spills were a third of
// the walk's instructions. It is safe because Flatten builds every child
// offset inside nodes, and blocks refuses rows narrower than f.cols, so
// every feature offset is inside the block.
// cyclomatic: eight copies of one branch-light step, unrolled so the lanes'
// offsets stay in registers.
func (f *Flat) walk8(starts [lanes]uint32, block []float64) [lanes]uint32 {
	nodes := unsafe.Pointer(unsafe.SliceData(f.nodes))
	x := unsafe.Pointer(unsafe.SliceData(block[:f.cols*lanes]))
	o0, o1, o2, o3, o4, o5, o6, o7 := starts[0], starts[1], starts[2], starts[3], starts[4], starts[5], starts[6], starts[7]
	for {
		live := false
		if n := node(nodes, o0); n.feat != leafFeat {
			o0, live = step(n, x, 0), true
		}
		if n := node(nodes, o1); n.feat != leafFeat {
			o1, live = step(n, x, 1), true
		}
		if n := node(nodes, o2); n.feat != leafFeat {
			o2, live = step(n, x, 2), true
		}
		if n := node(nodes, o3); n.feat != leafFeat {
			o3, live = step(n, x, 3), true
		}
		if n := node(nodes, o4); n.feat != leafFeat {
			o4, live = step(n, x, 4), true
		}
		if n := node(nodes, o5); n.feat != leafFeat {
			o5, live = step(n, x, 5), true
		}
		if n := node(nodes, o6); n.feat != leafFeat {
			o6, live = step(n, x, 6), true
		}
		if n := node(nodes, o7); n.feat != leafFeat {
			o7, live = step(n, x, 7), true
		}
		if !live {
			return [lanes]uint32{o0, o1, o2, o3, o4, o5, o6, o7}
		}
	}
}

// node returns the node at byte offset off of nodes.
func node(nodes unsafe.Pointer, off uint32) *flatNode {
	return (*flatNode)(unsafe.Add(nodes, off))
}

// step returns the offset of the child of split node n that lane's row in
// block x goes to: the left child when its value is <= the threshold, else
// (also for NaN) the right one, which follows the left.
func step(n *flatNode, x unsafe.Pointer, lane uint32) uint32 {
	// Written so the compiler emits a flag-to-register move, not a branch:
	// which way a row goes is a coin toss the predictor would lose.
	var right uint32
	if !(*(*float64)(unsafe.Add(x, n.feat+lane*8)) <= n.v) {
		right = 1
	}
	return n.left + right*nodeBytes
}

// ForEachRow calls fn(i, vals) for each of the rows rows of the row-major
// matrix data (cols columns), in order, where vals[t] is 0 + tree t's
// prediction for row i (what PredictTrees gives). Batches are walked tree by
// tree, so each tree's nodes stay in cache while every row of the batch goes
// down it; fewer rows than a walk interleaves are walked tree-interleaved
// (PredictTrees) instead. fn may reorder or overwrite vals, which is scratch
// memory reused after fn returns; the scratch comes from a pool, so a
// serving loop does not allocate it per call.
func (f *Flat) ForEachRow(data []float64, rows, cols int, fn func(i int, vals []float64)) {
	T := len(f.roots)
	if rows == 0 || T == 0 {
		return
	}
	if rows < lanes {
		vbuf := scratch(&f.valsPool, T)
		vals := (*vbuf)[:T]
		for i := 0; i < rows; i++ {
			buf := f.blocks(data[i*cols:], 1, cols)
			f.predictTrees(*buf, vals)
			f.blockPool.Put(buf)
			fn(i, vals)
		}
		f.valsPool.Put(vbuf)
		return
	}
	chunk := min(rows, forEachChunk)
	vbuf := scratch(&f.valsPool, T*chunk)
	for lo := 0; lo < rows; lo += chunk {
		m := min(chunk, rows-lo)
		// Row-major: row i's values are vals[i*T:(i+1)*T], ready for fn;
		// each tree's pass writes one column.
		vals := (*vbuf)[:T*m]
		clear(vals)
		buf := f.blocks(data[lo*cols:], m, cols)
		for t := 0; t < T; t++ {
			f.addTree(t, *buf, cols, vals[t:], T, m)
		}
		f.blockPool.Put(buf)
		for i := 0; i < m; i++ {
			fn(lo+i, vals[i*T:(i+1)*T:(i+1)*T])
		}
	}
	f.valsPool.Put(vbuf)
}

// forEachChunk bounds the rows ForEachRow walks per pass, and so its
// scratch memory (trees × rows values).
const forEachChunk = 256

// scratch returns a buffer of n values from pool.
func scratch(pool *sync.Pool, n int) *[]float64 {
	if b, ok := pool.Get().(*[]float64); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]float64, n)
	return &b
}
