package http

import (
	"bytes"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
)

// benchModelData is the artifact the benchmarks serve: the file named by
// MLOPS_BENCH_MODEL (e.g. the 128-tree forest `mlops bench serve
// --save-model` writes) when set, else the small test forest.
func benchModelData(b *testing.B) []byte {
	data, _, _ := realArtifact(b)
	if path := os.Getenv("MLOPS_BENCH_MODEL"); path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			b.Fatal(err)
		}
	}
	return data
}

// BenchmarkPredictHandler measures the predict route in process (no
// network): decoding, validation, the model and the response. The fake
// model isolates the server's own cost; "artifact" adds the real forest
// (MLOPS_BENCH_MODEL=/tmp/rf128.json serves the tuned 128-tree one).
func BenchmarkPredictHandler(b *testing.B) {
	_, _, test := realArtifact(b)
	data := benchModelData(b)
	real, err := ArtifactDecoder("housing", 0.9)(&Fetched{Data: data})
	if err != nil {
		b.Fatal(err)
	}
	fake := newFake(b, "1", 0)
	fake.schema = real.Schema() // total_bedrooms is optional, as in the artifact
	for _, c := range []struct {
		name string
		m    Model
		n    int
	}{{"fake", fake, 1}, {"fake", fake, 100}, {"artifact", real, 1}, {"artifact", real, 100}} {
		b.Run(c.name+"/"+strconv.Itoa(c.n), func(b *testing.B) {
			s := newServer(b, Config{}, Deps{}, c.m)
			rows := make([]int, c.n)
			for i := range rows {
				rows[i] = i
			}
			body := mustJSON(b, map[string]any{"instances": frameInstances(b, test, rows)})
			h := s.Handler()
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("POST", "/api/v1/predict", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatal(rec.Code, rec.Body)
				}
			}
			b.ReportMetric(float64(c.n)*float64(b.N)/b.Elapsed().Seconds(), "instances/s")
		})
	}
}
