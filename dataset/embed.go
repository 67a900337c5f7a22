// Package dataset ships the canonical housing archive inside the binary, so
// step 01 works offline and a failed download still yields the exact bytes
// whose SHA-256 the configuration names (see PROVENANCE.md).
package dataset

import _ "embed"

// HousingTGZ is housing.tgz, the California Housing CSV in a gzip'd tar.
//
//go:embed housing.tgz
var HousingTGZ []byte
