package http

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// FuzzPredict feeds arbitrary bodies to the predict and infer routes: no
// input may panic or produce a 500, and every answer is JSON. The seeds run
// in plain `go test`; `go test -fuzz FuzzPredict ./http` explores further.
func FuzzPredict(f *testing.F) {
	one, _ := json.Marshal(validInstance())
	for _, seed := range []string{
		`{"instances":[` + string(one) + `]}`,
		`{"instances":[` + string(one) + `,` + string(one) + `]}`,
		`{"instances":[{"longitude":1e999}]}`,
		`{"instances":[{"ocean_proximity":"\ud800"}]}`,
		`{"instances":[{"latitude":"12"}],"instances":null}`,
		`{"instances":[[1,2],{},null,true,"x"]}`,
		`{"instances":[{"longitude":-0,"latitude":-90,"housing_median_age":0,"total_rooms":0,"total_bedrooms":0,"population":0,"households":0,"median_income":0,"ocean_proximity":" island "}]}`,
		`{"inputs":[{"name":"longitude","shape":[1],"datatype":"FP64","data":[[[[1]]]]}]}`,
		`{"inputs":[{"name":"ocean_proximity","shape":[-1],"datatype":"BYTES","data":[1]}]}`,
		`{"inputs":[{"name":"latitude","shape":[9223372036854775807],"datatype":"FP64","data":[]}]}`,
		`[]`, `null`, `{`, ``, "\x00", `{"instances":{}}`, `"\u0000"`,
	} {
		f.Add([]byte(seed))
	}
	m := newFake(f, "1", 0)
	s := newServer(f, Config{MaxBatch: 4, MaxBodyBytes: 8 << 10}, Deps{Observer: &nopObserver{}}, m)
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{"/api/v1/predict", "/v2/models/housing/infer"} {
			rec := postJSON(h, path, body)
			if rec.Code >= 500 {
				t.Fatalf("%s answered %d to %q: %s", path, rec.Code, body, rec.Body)
			}
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s answered non-JSON to %q: %s", path, body, rec.Body)
			}
		}
	})
}

type nopObserver struct{}

func (nopObserver) Observe(PredictionEvent) {}

// TestReloadUnderLoad swaps models while clients predict: no request fails,
// and every answer comes wholly from one of the models (its version and its
// predictions agree).
func TestReloadUnderLoad(t *testing.T) {
	const versions, clients, perClient = 20, 8, 40
	models := make([]*fakeModel, versions)
	for i := range models {
		models[i] = newFake(t, "v"+strconv.Itoa(i), float64(i)*1e6)
	}
	s := newServer(t, Config{}, Deps{}, models[0])
	body := mustJSON(t, map[string]any{"instances": []any{validInstance(), validInstance()}})
	// Expected prediction per version, computed by the fake's formula on
	// the same validated batch.
	b, errs, msg := decodeInstances(models[0].schema, body, 100)
	if msg != "" || len(errs) > 0 {
		t.Fatal(msg, errs)
	}
	want := map[string]float64{}
	for i, m := range models {
		want[m.info.Version] = fakePredict(b, float64(i)*1e6)[0].Value
	}

	var wg sync.WaitGroup
	failures := make(chan string, clients*perClient)
	start := make(chan struct{})
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range perClient {
				rec := postJSON(s.Handler(), "/api/v1/predict", body)
				if rec.Code != 200 {
					failures <- fmt.Sprintf("status %d: %s", rec.Code, rec.Body)
					continue
				}
				var got predictResp
				if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
					failures <- err.Error()
					continue
				}
				w, ok := want[got.ModelVersion]
				if !ok || got.Predictions[0].PredictedPrice != w || got.Predictions[1].PredictedPrice != w {
					failures <- fmt.Sprintf("version %q answered %v", got.ModelVersion, got.Predictions)
				}
			}
		}()
	}
	close(start)
	for _, m := range models[1:] {
		s.SetModel(m, "registry")
	}
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
	if info, _ := s.ModelInfo(); info.Version != "v19" {
		t.Fatalf("final model %q", info.Version)
	}
}

// TestShutdownDrains starts a slow request, begins shutdown while it is in
// flight, checks new connections are refused, then lets the request finish:
// it must complete with 200 and Serve must return nil.
func TestShutdownDrains(t *testing.T) {
	m := newFake(t, "1", 0)
	m.entered, m.release = make(chan struct{}, 1), make(chan struct{})
	s := newServer(t, Config{PollInterval: -1}, Deps{}, m)
	shutdownBegan := make(chan struct{})
	s.onShutdown = func() { close(shutdownBegan) }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()

	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		body := mustJSON(t, map[string]any{"instances": []any{validInstance()}})
		resp, err := http.Post("http://"+addr+"/api/v1/predict", "application/json", bytes.NewReader(body))
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- result{resp.StatusCode, string(b), err}
	}()
	<-m.entered // the request is inside the model
	cancel()
	<-shutdownBegan
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("new connection accepted after shutdown began")
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned (%v) before the in-flight request finished", err)
	default:
	}
	close(m.release)
	r := <-done
	if r.err != nil || r.status != 200 || !strings.Contains(r.body, `"model_version":"1"`) {
		t.Fatalf("in-flight request: %d %q %v", r.status, r.body, r.err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// FuzzFastPath checks the fast decoder against encoding/json: whenever the
// fast path accepts a body, the slow path accepts it too and builds the
// same batch, bit for bit.
func FuzzFastPath(f *testing.F) {
	one, _ := json.Marshal(validInstance())
	for _, seed := range []string{
		`{"instances":[` + string(one) + `]}`,
		` { "instances" : [ ` + string(one) + ` , ` + string(one) + ` ] } `,
		`{"instances":[{"longitude":-0,"latitude":-9e1,"housing_median_age":0.0,"total_rooms":1E2,"total_bedrooms":null,"population":0,"households":0,"median_income":1e-7,"ocean_proximity":"near  bay"}]}`,
		`{"instances":[{"longitude":01}]}`, `{"instances":[{"latitude":1.}]}`, `{"INSTANCES":[]}`,
		`{"instances":[` + string(one) + `]}x`, `{"instances":[` + string(one) + `,]}`,
	} {
		f.Add([]byte(seed))
	}
	fl := housingFields()
	fl[4].Optional = true
	schema := mustSchema(f, fl)
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := fastDecode(schema, body, 4)
		if !ok {
			return
		}
		slow, errs, msg := slowDecodeInstances(schema, body, 4)
		if msg != "" || len(errs) > 0 {
			t.Fatalf("fast path accepted %q; slow path: %s %v", body, msg, errs)
		}
		if fast.Rows != slow.Rows {
			t.Fatalf("rows %d vs %d", fast.Rows, slow.Rows)
		}
		for i := range fast.Columns {
			for r := 0; r < fast.Rows; r++ {
				if fast.Columns[i].Num != nil && math.Float64bits(fast.Columns[i].Num[r]) != math.Float64bits(slow.Columns[i].Num[r]) ||
					fast.Columns[i].Cat != nil && fast.Columns[i].Cat[r] != slow.Columns[i].Cat[r] {
					t.Fatalf("%q: column %d row %d differs", body, i, r)
				}
			}
		}
	})
}

// TestShutdownDrainTimeout: a request that never finishes cannot hold the
// process forever; Serve reports the failed drain.
func TestShutdownDrainTimeout(t *testing.T) {
	m := newFake(t, "1", 0)
	m.entered, m.release = make(chan struct{}, 1), make(chan struct{})
	defer close(m.release)
	s := newServer(t, Config{PollInterval: -1, ShutdownTimeout: 50 * time.Millisecond}, Deps{}, m)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	go func() {
		body := mustJSON(t, map[string]any{"instances": []any{validInstance()}})
		resp, err := http.Post("http://"+ln.Addr().String()+"/api/v1/predict", "application/json", bytes.NewReader(body))
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-m.entered
	cancel()
	if err := <-served; err == nil || !strings.Contains(err.Error(), "shutdown") {
		t.Fatalf("Serve returned %v, want a shutdown timeout error", err)
	}
}

// TestFastPathFieldOrderGuess checks that the fast decoder finds a key
// from the field the previous instance had in that position, without the
// name index, and still needs the index for a key in another position.
func TestFastPathFieldOrderGuess(t *testing.T) {
	schema := mustSchema(t, housingFields())
	p := fastParser{order: make([]int, schema.Len())}
	i, ok := p.field(schema, []byte("latitude"), 0)
	if !ok || i != schema.index["latitude"] {
		t.Fatalf("latitude: %d %v, want %d", i, ok, schema.index["latitude"])
	}
	noIndex := *schema
	noIndex.index = nil
	if j, ok := p.field(&noIndex, []byte("latitude"), 0); !ok || j != i {
		t.Errorf("first key latitude again: %d %v, want %d from the last instance's order", j, ok, i)
	}
	if _, ok := p.field(&noIndex, []byte("longitude"), 0); ok {
		t.Error("longitude found without the index, though the last instance began with latitude")
	}
}

// TestFastPathMixedKeyOrdersAndBatchBound decodes instances whose keys come
// in different orders, as the slow path does, and leaves a body over the
// batch limit to the slow path (which reports it).
func TestFastPathMixedKeyOrdersAndBatchBound(t *testing.T) {
	schema := mustSchema(t, housingFields())
	inst := validInstance()
	keys := make([]string, 0, len(inst))
	for _, f := range schema.fields {
		keys = append(keys, f.Name)
	}
	object := func(order []string) string {
		parts := make([]string, len(order))
		for k, name := range order {
			v, _ := json.Marshal(inst[name])
			parts[k] = fmt.Sprintf("%q:%s", name, v)
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	reversed := slices.Clone(keys)
	slices.Reverse(reversed)
	body := []byte(`{"instances":[` + object(keys) + "," + object(reversed) + "," + object(keys) + `]}`)
	fast, ok := fastDecode(schema, body, 3)
	if !ok || fast.Rows != 3 {
		t.Fatalf("fast path: ok %v, rows %v; want 3 rows", ok, fast)
	}
	slow, errs, msg := slowDecodeInstances(schema, body, 3)
	if msg != "" || len(errs) > 0 {
		t.Fatalf("slow path: %s %v", msg, errs)
	}
	for i := range fast.Columns {
		if !slices.Equal(fast.Columns[i].Num, slow.Columns[i].Num) || !slices.Equal(fast.Columns[i].Cat, slow.Columns[i].Cat) {
			t.Errorf("column %d: fast %v %v, slow %v %v", i, fast.Columns[i].Num, fast.Columns[i].Cat, slow.Columns[i].Num, slow.Columns[i].Cat)
		}
	}
	if _, ok := fastDecode(schema, body, 2); ok {
		t.Error("fast path accepted 3 instances with a batch limit of 2")
	}
}
