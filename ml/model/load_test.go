package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops/ml/ensemble"
)

// forestFile trains a small forest artifact and returns its file.
func forestFile(t testing.TB) []byte {
	t.Helper()
	tr, _ := data(t)
	a := train(t, tr, ensemble.NewRandomForest(ensemble.ForestParams{NEstimators: 8, Bootstrap: true, MaxDepth: 10, Seed: 5}))
	var buf bytes.Buffer
	if err := a.Save(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withPayload rebuilds an artifact file around payload p with a matching
// checksum, as a writer with another JSON layout would.
func withPayload(p []byte) []byte {
	sum := sha256.Sum256(p)
	env, _ := json.Marshal(envelope{Magic: Magic, FormatVersion: FormatVersion, SHA256: hex.EncodeToString(sum[:])})
	// Marshal compacts RawMessage payloads; splice p in verbatim instead.
	env = append(bytes.TrimSuffix(env, []byte(`,"payload":null}`)), `,"payload":`...)
	return append(append(env, p...), "}\n"...)
}

func payloadOf(t *testing.T, file []byte) []byte {
	t.Helper()
	env, ok := splitEnvelope(file)
	if !ok {
		t.Fatal("not Save's envelope layout")
	}
	return env.Payload
}

func resave(t *testing.T, a *Artifact) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := a.Save(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestLoadedForestKeepsOnlyTheBytesAroundItsTrees checks that a loaded
// forest artifact does not hold its file's tree bytes (the forest holds the
// trees) and still saves the file back byte for byte, also after the
// caller reuses the buffer it decoded from.
func TestLoadedForestKeepsOnlyTheBytesAroundItsTrees(t *testing.T) {
	file := forestFile(t)
	orig := bytes.Clone(file)
	a, err := Decode(file)
	if err != nil {
		t.Fatal(err)
	}
	if a.payload != nil || len(a.head)+len(a.tail) > len(file)/10 {
		t.Fatalf("loaded forest keeps %d payload bytes and %d around the state, of a %d-byte file",
			len(a.payload), len(a.head)+len(a.tail), len(file))
	}
	clear(file)
	if got := resave(t, a); !bytes.Equal(got, orig) {
		t.Fatal("re-saved forest file differs from the loaded one")
	}
}

// TestLoadOtherPayloadLayout loads a valid artifact whose payload is not in
// Save's layout (indented): it goes through encoding/json, keeps its bytes
// and saves them back unchanged.
func TestLoadOtherPayloadLayout(t *testing.T) {
	var indented bytes.Buffer
	if err := json.Indent(&indented, payloadOf(t, forestFile(t)), "", " "); err != nil {
		t.Fatal(err)
	}
	file := withPayload(indented.Bytes())
	a, err := Decode(file)
	if err != nil {
		t.Fatal(err)
	}
	if a.payload == nil {
		t.Error("an indented payload was not kept; Save cannot re-create its layout")
	}
	if got := resave(t, a); !bytes.Equal(got, file) {
		t.Errorf("re-saved file differs:\n%.200s\nwant\n%.200s", got, file)
	}
}

// TestSaveRefusesAModifiedLoadedForest: the loaded artifact's identity is
// its checksum, so saving a forest changed after Load must fail rather
// than write other trees under the old checksum.
func TestSaveRefusesAModifiedLoadedForest(t *testing.T) {
	a, err := Decode(forestFile(t))
	if err != nil {
		t.Fatal(err)
	}
	rf := a.Regressor.(*ensemble.RandomForest)
	rf.Trees[0].Value[0]++
	err = a.Save(new(bytes.Buffer))
	if err == nil || !strings.Contains(err.Error(), "modified after Load") {
		t.Errorf("Save after modifying the forest: err = %v", err)
	}
}

// TestLoadRejectsDamagedForest damages the tree block of a payload whose
// checksum still matches (as a buggy writer would): each is a clear error.
func TestLoadRejectsDamagedForest(t *testing.T) {
	file := forestFile(t)
	p := string(payloadOf(t, file))
	i := strings.Index(p, `"threshold":"`) + len(`"threshold":"`)
	cases := map[string]struct{ file, want string }{
		"truncated file":    {string(file[:len(file)*2/3]), "truncated or malformed"},
		"bad base64":        {string(withPayload([]byte(p[:i] + "!" + p[i+1:]))), "illegal base64"},
		"short array":       {string(withPayload([]byte(p[:i] + p[i+32:]))), "node arrays disagree in length"},
		"unterminated tree": {string(withPayload([]byte(p[:i+10]))), "decode payload"},
	}
	for name, c := range cases {
		_, err := Decode([]byte(c.file))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, c.want)
		}
	}
}

// BenchmarkDecodeForest decodes a 64-tree artifact (the tuned forest's
// depth), the serving start-up cost.
func BenchmarkDecodeForest(b *testing.B) {
	tr, _ := data(b)
	a := train(b, tr, ensemble.NewRandomForest(ensemble.ForestParams{NEstimators: 64, Bootstrap: true,
		MaxDepth: 23, MinSamplesSplit: 9, MinSamplesLeaf: 9, MaxFeatures: "log2", Seed: 42}))
	var buf bytes.Buffer
	if err := a.Save(&buf); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(buf.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}
