package http

import (
	"math"
	"os"
	"runtime/debug"
	"sync"
)

// Memory limit of a serving process: a fixed allowance for the server
// itself (its live heap without a model is about 6 MiB) plus room for the
// largest model decoded, whose resident size is about its artifact file's
// (a 128-tree forest: 10.8 MB file, 12.7 MB of trees).
const (
	memLimitBase     = 16 << 20
	memLimitPerModel = 1.25 // times the artifact file size
)

// WithMemoryLimit wraps a Decoder so that every model it decodes sets the
// Go runtime's soft memory limit (runtime/debug.SetMemoryLimit) to
// memLimitBase + memLimitPerModel × the largest artifact decoded so far
// (by any wrapped decoder), unless the operator set GOMEMLIMIT. Without a limit the heap grows to
// twice its live size between collections (GOGC=100), so a 13 MB model
// makes a 40 MB resident set under load; with it the collector runs a bit
// more often (each cycle is short: the model's arrays hold no pointers)
// and the process stays near 25 MB. The limit is soft: a reload that
// briefly holds two models only makes the collector work harder.
func WithMemoryLimit(d Decoder) Decoder {
	if os.Getenv("GOMEMLIMIT") != "" {
		return d
	}
	return func(f *Fetched) (Model, error) {
		m, err := d(f)
		if err != nil {
			return nil, err
		}
		raiseMemoryLimit(memoryLimitFor(len(f.Data)))
		return m, nil
	}
}

// limitMu serialises raiseMemoryLimit's read-then-set of the process-wide
// limit across loaders (stable and canary decode concurrently).
var limitMu sync.Mutex

// raiseMemoryLimit sets the soft memory limit to want unless a higher one
// is set: a smaller canary must not squeeze the stable model.
func raiseMemoryLimit(want int64) {
	limitMu.Lock()
	defer limitMu.Unlock()
	if cur := debug.SetMemoryLimit(-1); cur == math.MaxInt64 || want > cur {
		debug.SetMemoryLimit(want)
	}
}

// memoryLimitFor is the soft memory limit for models whose largest
// artifact file has n bytes.
func memoryLimitFor(n int) int64 {
	return memLimitBase + int64(math.Ceil(memLimitPerModel*float64(n)))
}
