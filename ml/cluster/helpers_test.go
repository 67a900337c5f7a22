package cluster

import "github.com/housing-mlops/mlops/internal/mltest"

// The engine's shared test helpers, under the names these tests use.
var (
	loadCSV    = mltest.LoadCSV
	loadJSON   = mltest.LoadJSON
	sameBits   = mltest.SameBits
	relClose   = mltest.RelClose
	mustMatrix = mltest.MustMatrix
	roundTrip  = mltest.RoundTrip
)
