package ml

import (
	"math/rand/v2"
	"runtime"
	"sync"
)

// Workers returns the number of goroutines to use for n independent tasks
// when the caller asked for want (want <= 0 means all cores).
func Workers(want, n int) int {
	if want <= 0 {
		want = runtime.GOMAXPROCS(0)
	}
	if want > n {
		want = n
	}
	if want < 1 {
		want = 1
	}
	return want
}

// ParallelFor runs body(i) for i in [0, n) on up to workers goroutines.
//
// Determinism is the caller's side of the contract: body must write only to
// slot i of pre-allocated outputs and must not depend on the order in which
// indices run. Reductions are done afterwards, in index order, by the caller.
// The first non-nil error is returned (by lowest index) after all tasks end.
func ParallelFor(n, workers int, body func(i int) error) error {
	workers = Workers(workers, n)
	errs := make([]error, n)
	if workers == 1 {
		for i := 0; i < n; i++ {
			errs[i] = body(i)
		}
	} else {
		next := make(chan int)
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					errs[i] = body(i)
				}
			}()
		}
		for i := 0; i < n; i++ {
			next <- i
		}
		close(next)
		wg.Wait()
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// NewRand returns a deterministic generator for (seed, stream). Parallel tasks
// take stream = task index so each gets an independent, reproducible sequence
// whatever goroutine runs it.
func NewRand(seed uint64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream^0x9e3779b97f4a7c15))
}
