package ensemble

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/housing-mlops/mlops/ml"
	"github.com/housing-mlops/mlops/ml/internal/rawjson"
	"github.com/housing-mlops/mlops/ml/tree"
)

// UnmarshalJSON decodes a saved forest and validates every tree, so a
// corrupt model file fails at load time rather than at predict time.
func (f *RandomForest) UnmarshalJSON(data []byte) error {
	_, err := f.DecodeCanonical(data)
	return err
}

// DecodeCanonical is UnmarshalJSON that also reports whether data is
// exactly what json.Marshal writes for the decoded forest, so that a caller
// holding data (a model file) can drop it and re-encode the forest when it
// needs the bytes again. That layout, the one every saved forest has, is
// read by a fast path that decodes the base64 node arrays directly instead
// of scanning them with encoding/json (a 128-tree forest is 10 MB of them);
// any other valid spelling goes through encoding/json and is reported as
// not canonical.
func (f *RandomForest) DecodeCanonical(data []byte) (canonical bool, err error) {
	v, canonical := decodeForestFast(data)
	if !canonical {
		type plain RandomForest // drops this method, avoiding recursion
		var p plain
		if err := json.Unmarshal(data, &p); err != nil {
			return false, fmt.Errorf("ensemble: decode random forest: %w", err)
		}
		v = RandomForest(p)
	}
	if err := v.checkDecoded(); err != nil {
		return false, err
	}
	*f = v
	// Built now rather than on the first prediction: a server loads a
	// model before it answers.
	f.flat = newLazyFlat(f.Trees)
	f.flat.get()
	return canonical, nil
}

// checkDecoded validates the trees and importances of a decoded forest
// (the trees in parallel: a 128-tree forest has 300,000 nodes to check at
// start-up).
func (f *RandomForest) checkDecoded() error {
	if len(f.Importances) != len(f.Trees) {
		return fmt.Errorf("ensemble: %d trees but %d importance vectors", len(f.Trees), len(f.Importances))
	}
	return ml.ParallelFor(len(f.Trees), 0, func(t int) error {
		if err := f.Trees[t].Validate(f.NFeatures); err != nil {
			return fmt.Errorf("ensemble: tree %d: %w", t, err)
		}
		if len(f.Importances[t]) != f.NFeatures {
			return fmt.Errorf("ensemble: tree %d has %d importances for %d features", t, len(f.Importances[t]), f.NFeatures)
		}
		return nil
	})
}

// decodeForestFast reads json.Marshal's encoding of a forest:
//
//	{"params":{…},"n_features":N,"trees":[{"feature":"…","threshold":"…",
//	"left":"…","right":"…","value":"…"},…],"tree_importances":["…",…]}
//
// with an optional ,"oob":{…} before the closing brace. ok is true only
// when data is exactly that layout and re-encoding the result gives data
// back byte for byte (the small parts are checked by re-encoding them, the
// base64 arrays by strict decoding); the caller falls back to
// encoding/json otherwise. A first pass only finds the base64 strings; the
// trees are then decoded in parallel.
func decodeForestFast(data []byte) (f RandomForest, ok bool) {
	c := rawjson.Cursor{Data: data}
	if !c.Lit(`{"params":`) || !canonicalValue(&c, &f.Params) || !c.Lit(`,"n_features":`) {
		return f, false
	}
	n, ok := c.Value()
	if f.NFeatures, _ = strconv.Atoi(string(n)); !ok || strconv.Itoa(f.NFeatures) != string(n) {
		return f, false
	}
	trees, imps, ok := forestStrings(&c)
	if !ok {
		return f, false
	}
	if c.Lit(`,"oob":`) {
		f.OOB = new(OOBResult)
		if !canonicalValue(&c, f.OOB) {
			return f, false
		}
	}
	if !c.Lit("}") || !c.Done() {
		return f, false
	}
	f.Trees, f.Importances = make([]tree.Nodes, len(trees)), make([]ml.Float64s, len(imps))
	err := ml.ParallelFor(len(trees), 0, func(t int) error {
		return decodeTree(trees[t], imps, t, &f)
	})
	return f, err == nil
}

// forestStrings reads ,"trees":[…],"tree_importances":[…] and returns the
// base64 strings of every tree and importance vector, undecoded.
func forestStrings(c *rawjson.Cursor) (trees [][treeArrays][]byte, imps [][]byte, ok bool) {
	if !c.Lit(`,"trees":[`) {
		return nil, nil, false
	}
	for len(trees) == 0 || c.Lit(",") {
		t, ok := treeStrings(c)
		if !ok {
			return nil, nil, false
		}
		trees = append(trees, t)
	}
	if !c.Lit(`],"tree_importances":[`) {
		return nil, nil, false
	}
	for len(imps) == 0 || c.Lit(",") {
		s, ok := c.PlainString()
		if !ok {
			return nil, nil, false
		}
		imps = append(imps, s)
	}
	return trees, imps, c.Lit("]")
}

// treeArrays is the number of node arrays a saved tree has.
const treeArrays = 5

// treeStrings reads one saved tree, {"feature":"…",…,"value":"…"}, and
// returns its base64 strings undecoded.
func treeStrings(c *rawjson.Cursor) (s [treeArrays][]byte, ok bool) {
	for i, key := range [treeArrays]string{`{"feature":`, `,"threshold":`, `,"left":`, `,"right":`, `,"value":`} {
		if !c.Lit(key) {
			return s, false
		}
		if s[i], ok = c.PlainString(); !ok {
			return s, false
		}
	}
	return s, c.Lit("}")
}

// decodeTree decodes tree t's node arrays, and importance vector t when
// there is one, into f.
func decodeTree(s [treeArrays][]byte, imps [][]byte, t int, f *RandomForest) error {
	n := &f.Trees[t]
	var errs [treeArrays + 1]error
	n.Feature, errs[0] = rawjson.Int32s(s[0])
	n.Threshold, errs[1] = rawjson.Float64s(s[1])
	n.Left, errs[2] = rawjson.Int32s(s[2])
	n.Right, errs[3] = rawjson.Int32s(s[3])
	n.Value, errs[4] = rawjson.Float64s(s[4])
	if t < len(imps) {
		f.Importances[t], errs[5] = rawjson.Float64s(imps[t])
	}
	for _, err := range errs {
		if err != nil {
			return errNotCanonical
		}
	}
	return nil
}

// errNotCanonical sends a decode back to encoding/json.
var errNotCanonical = errors.New("ensemble: not json.Marshal's layout")

// canonicalValue decodes the next value into v and reports whether
// json.Marshal(v) spells it exactly so.
func canonicalValue(c *rawjson.Cursor, v any) bool {
	raw, ok := c.Value()
	if !ok || json.Unmarshal(raw, v) != nil {
		return false
	}
	again, err := json.Marshal(v)
	return err == nil && bytes.Equal(again, raw)
}
