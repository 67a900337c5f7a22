package mlflow

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/blob"
	"github.com/housing-mlops/mlops/sqlite"
)

// testServer is our handler over a real SQLite store and a memory blob
// store.
type testServer struct {
	t     *testing.T
	srv   *httptest.Server
	store mlops.Store
	art   mlops.ArtifactStore
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "mlops.db"))
	if err != nil {
		t.Fatal(err)
	}
	art, err := blob.Open(ctx, "mem://")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(db, art, Options{}))
	t.Cleanup(func() {
		srv.Close()
		_ = art.Close()
		_ = db.Close()
	})
	return &testServer{t: t, srv: srv, store: db, art: art}
}

// call sends a JSON call (GET: body is url.Values) and decodes the answer
// into a generic map.
func (s *testServer) call(method, endpoint string, body any) (int, map[string]any) {
	s.t.Helper()
	u := s.srv.URL + APIPrefix + endpoint
	var rd io.Reader
	if q, ok := body.(url.Values); ok {
		u += "?" + q.Encode()
	} else if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		s.t.Fatalf("%s %s: Content-Type %q, body %s", method, endpoint, ct, data)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		s.t.Fatalf("%s %s: body is not a JSON object: %s", method, endpoint, data)
	}
	return resp.StatusCode, m
}

// ok sends a call that must succeed.
func (s *testServer) ok(method, endpoint string, body any) map[string]any {
	s.t.Helper()
	status, m := s.call(method, endpoint, body)
	if status != http.StatusOK {
		s.t.Fatalf("%s %s: status %d, body %v", method, endpoint, status, m)
	}
	return m
}

// fails sends a call that must fail with status and MLflow error code.
func (s *testServer) fails(method, endpoint string, body any, status int, code string) string {
	s.t.Helper()
	got, m := s.call(method, endpoint, body)
	if got != status || m["error_code"] != code {
		s.t.Fatalf("%s %s: got %d %v, want %d %s", method, endpoint, got, m, status, code)
	}
	msg, _ := m["message"].(string)
	if msg == "" {
		s.t.Fatalf("%s %s: error without message: %v", method, endpoint, m)
	}
	return msg
}

// get walks a decoded JSON value by keys and indexes.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// kv flattens MLflow's [{key, value}] list.
func kv(v any) map[string]any {
	out := map[string]any{}
	l, _ := v.([]any)
	for _, e := range l {
		m := e.(map[string]any)
		out[m["key"].(string)] = m["value"]
	}
	return out
}

func q(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

func TestExperimentEndpoints(t *testing.T) {
	s := newTestServer(t)
	def := s.ok("GET", "experiments/get", q("experiment_id", "0"))
	if get(def, "experiment", "name") != "Default" || get(def, "experiment", "artifact_location") != "mlflow-artifacts:/0" {
		t.Fatalf("default experiment: %v", def)
	}
	id := s.ok("POST", "experiments/create", map[string]any{"name": "housing", "tags": []map[string]string{{"key": "team", "value": "ml"}}})["experiment_id"].(string)
	if id == "" || id == "0" {
		t.Fatalf("new experiment id %q", id)
	}
	s.fails("POST", "experiments/create", map[string]any{"name": "housing"}, 400, "RESOURCE_ALREADY_EXISTS")
	s.fails("POST", "experiments/create", map[string]any{}, 400, "INVALID_PARAMETER_VALUE")
	e := s.ok("GET", "experiments/get-by-name", q("experiment_name", "housing"))
	if get(e, "experiment", "experiment_id") != id || get(e, "experiment", "artifact_location") != "mlflow-artifacts:/"+id ||
		get(e, "experiment", "lifecycle_stage") != "active" || kv(get(e, "experiment", "tags"))["team"] != "ml" {
		t.Fatalf("get-by-name: %v", e)
	}
	if ct, ok := get(e, "experiment", "creation_time").(float64); !ok || ct < 1.6e12 {
		t.Fatalf("creation_time is not epoch milliseconds: %v", get(e, "experiment", "creation_time"))
	}
	s.fails("GET", "experiments/get-by-name", q("experiment_name", "nope"), 404, "RESOURCE_DOES_NOT_EXIST")
	s.fails("GET", "experiments/get", q("experiment_id", "999"), 404, "RESOURCE_DOES_NOT_EXIST")

	s.ok("POST", "experiments/update", map[string]any{"experiment_id": id, "new_name": "housing-v2"})
	s.ok("POST", "experiments/set-experiment-tag", map[string]any{"experiment_id": id, "key": "team", "value": "mlops"})
	e = s.ok("GET", "experiments/get", q("experiment_id", id))
	if get(e, "experiment", "name") != "housing-v2" || kv(get(e, "experiment", "tags"))["team"] != "mlops" {
		t.Fatalf("after update and tag: %v", e)
	}

	s.ok("POST", "experiments/create", map[string]any{"name": "other"})
	s.ok("POST", "experiments/delete", map[string]any{"experiment_id": id})
	if got := experimentNames(s.ok("POST", "experiments/search", map[string]any{})); !slices.Equal(got, []string{"Default", "other"}) {
		t.Fatalf("active experiments: %v", got)
	}
	if got := experimentNames(s.ok("POST", "experiments/search", map[string]any{"view_type": "DELETED_ONLY"})); !slices.Equal(got, []string{"housing-v2"}) {
		t.Fatalf("deleted experiments: %v", got)
	}
	s.ok("POST", "experiments/restore", map[string]any{"experiment_id": id})
	got := experimentNames(s.ok("POST", "experiments/search", map[string]any{"filter": "name LIKE 'housing%' AND tags.team = 'mlops'"}))
	if !slices.Equal(got, []string{"housing-v2"}) {
		t.Fatalf("filtered experiments: %v", got)
	}
	// Pages of one, ordered by name, visit every experiment exactly once.
	var names []string
	token := ""
	for i := 0; i < 5; i++ {
		req := map[string]any{"max_results": 1, "order_by": []string{"name ASC"}}
		if token != "" {
			req["page_token"] = token
		}
		m := s.ok("POST", "experiments/search", req)
		names = append(names, experimentNames(m)...)
		token, _ = m["next_page_token"].(string)
		if token == "" {
			break
		}
	}
	if !slices.Equal(names, []string{"Default", "housing-v2", "other"}) {
		t.Fatalf("paged experiments: %v", names)
	}
	s.fails("POST", "experiments/search", map[string]any{"filter": "owner = 'x'"}, 400, "INVALID_PARAMETER_VALUE")
}

func experimentNames(m map[string]any) []string {
	var out []string
	l, _ := m["experiments"].([]any)
	for _, e := range l {
		out = append(out, e.(map[string]any)["name"].(string))
	}
	slices.Sort(out)
	return out
}

func (s *testServer) newRun(exp, name string) string {
	s.t.Helper()
	m := s.ok("POST", "runs/create", map[string]any{"experiment_id": exp, "run_name": name, "start_time": 1700000000000})
	return get(m, "run", "info", "run_id").(string)
}

func TestRunEndpoints(t *testing.T) {
	s := newTestServer(t)
	exp := s.ok("POST", "experiments/create", map[string]any{"name": "e"})["experiment_id"].(string)
	m := s.ok("POST", "runs/create", map[string]any{
		"experiment_id": exp, "user_id": "alice", "start_time": 1700000000000, "run_name": "train",
		"tags": []map[string]string{{"key": "git", "value": "abc"}},
	})
	info := get(m, "run", "info").(map[string]any)
	id := info["run_id"].(string)
	if info["run_uuid"] != id || info["run_name"] != "train" || info["status"] != "RUNNING" || info["experiment_id"] != exp ||
		info["start_time"] != 1700000000000.0 || info["user_id"] != "alice" || info["lifecycle_stage"] != "active" ||
		info["artifact_uri"] != "mlflow-artifacts:/"+exp+"/"+id+"/artifacts" {
		t.Fatalf("run info: %v", info)
	}
	if tags := kv(get(m, "run", "data", "tags")); tags["git"] != "abc" || tags["mlflow.runName"] != "train" {
		t.Fatalf("run tags: %v", tags)
	}
	s.fails("POST", "runs/create", map[string]any{"experiment_id": "4242"}, 404, "RESOURCE_DOES_NOT_EXIST")

	// Params are write-once.
	s.ok("POST", "runs/log-parameter", map[string]any{"run_id": id, "key": "alpha", "value": "0.1"})
	s.ok("POST", "runs/log-parameter", map[string]any{"run_uuid": id, "key": "alpha", "value": "0.1"})
	s.fails("POST", "runs/log-parameter", map[string]any{"run_id": id, "key": "alpha", "value": "0.2"}, 400, "INVALID_PARAMETER_VALUE")
	// Metrics append; int64 fields may come as strings, doubles as "NaN".
	s.ok("POST", "runs/log-metric", map[string]any{"run_id": id, "key": "rmse", "value": 0.9, "timestamp": 1700000001000, "step": 0})
	s.ok("POST", "runs/log-metric", map[string]any{"run_id": id, "key": "rmse", "value": 0.7, "timestamp": "1700000002000", "step": "1"})
	s.ok("POST", "runs/log-metric", map[string]any{"run_id": id, "key": "odd", "value": "NaN", "timestamp": 1700000002000, "step": 0})
	// Tags overwrite; mlflow.runName renames.
	s.ok("POST", "runs/set-tag", map[string]any{"run_id": id, "key": "git", "value": "def"})
	s.ok("POST", "runs/set-tag", map[string]any{"run_id": id, "key": "doomed", "value": "x"})
	s.ok("POST", "runs/delete-tag", map[string]any{"run_id": id, "key": "doomed"})
	s.ok("POST", "runs/set-tag", map[string]any{"run_id": id, "key": "mlflow.runName", "value": "train-2"})

	h := s.ok("GET", "metrics/get-history", q("run_id", id, "metric_key", "rmse"))
	if get(h, "metrics", 0, "value") != 0.9 || get(h, "metrics", 1, "value") != 0.7 || get(h, "metrics", 1, "step") != 1.0 ||
		get(h, "metrics", 1, "timestamp") != 1700000002000.0 || get(h, "metrics", 2) != nil {
		t.Fatalf("history: %v", h)
	}
	h1 := s.ok("GET", "metrics/get-history", q("run_id", id, "metric_key", "rmse", "max_results", "1"))
	tok, _ := h1["next_page_token"].(string)
	h2 := s.ok("GET", "metrics/get-history", q("run_id", id, "metric_key", "rmse", "max_results", "1", "page_token", tok))
	if get(h1, "metrics", 0, "value") != 0.9 || get(h2, "metrics", 0, "value") != 0.7 || h2["next_page_token"] != nil {
		t.Fatalf("history pages: %v then %v", h1, h2)
	}

	upd := s.ok("POST", "runs/update", map[string]any{"run_id": id, "status": "FINISHED", "end_time": 1700000009000})
	if get(upd, "run_info", "status") != "FINISHED" || get(upd, "run_info", "end_time") != 1700000009000.0 {
		t.Fatalf("update: %v", upd)
	}
	run := s.ok("GET", "runs/get", q("run_id", id))
	metrics := map[string]any{}
	for _, e := range get(run, "run", "data", "metrics").([]any) {
		metrics[e.(map[string]any)["key"].(string)] = e.(map[string]any)["value"]
	}
	tags := kv(get(run, "run", "data", "tags"))
	if metrics["rmse"] != 0.7 || metrics["odd"] != "NaN" || kv(get(run, "run", "data", "params"))["alpha"] != "0.1" ||
		tags["git"] != "def" || tags["doomed"] != nil || get(run, "run", "info", "run_name") != "train-2" {
		t.Fatalf("run after logging: %v", run)
	}
	s.ok("POST", "runs/delete", map[string]any{"run_id": id})
	if get(s.ok("GET", "runs/get", q("run_id", id)), "run", "info", "lifecycle_stage") != "deleted" {
		t.Fatal("run not deleted")
	}
	s.ok("POST", "runs/restore", map[string]any{"run_id": id})
	s.fails("GET", "runs/get", q("run_id", "0123456789abcdef0123456789abcdef"), 404, "RESOURCE_DOES_NOT_EXIST")
	s.fails("POST", "runs/log-metric", map[string]any{"key": "x", "value": 1}, 400, "INVALID_PARAMETER_VALUE")
	s.fails("POST", "runs/log-batch", []byte("{"), 400, "INVALID_PARAMETER_VALUE")
}

func TestLogBatchAndInputs(t *testing.T) {
	s := newTestServer(t)
	id := s.newRun("0", "batch")
	many := func(n int, kind string) []map[string]any {
		out := make([]map[string]any, n)
		for i := range out {
			out[i] = map[string]any{"key": fmt.Sprintf("%s%d", kind, i), "value": "1"}
			if kind == "m" {
				out[i] = map[string]any{"key": "m", "value": float64(i), "timestamp": 1700000000000 + i, "step": i}
			}
		}
		return out
	}
	s.fails("POST", "runs/log-batch", map[string]any{"run_id": id, "params": many(101, "p")}, 400, "INVALID_PARAMETER_VALUE")
	s.fails("POST", "runs/log-batch", map[string]any{"run_id": id, "tags": many(101, "t")}, 400, "INVALID_PARAMETER_VALUE")
	s.fails("POST", "runs/log-batch", map[string]any{"run_id": id, "metrics": many(1001, "m")}, 400, "INVALID_PARAMETER_VALUE")
	s.fails("POST", "runs/log-batch", map[string]any{"run_id": id, "metrics": many(950, "m"), "params": many(51, "p")}, 400, "INVALID_PARAMETER_VALUE")
	s.ok("POST", "runs/log-batch", map[string]any{"run_id": id, "metrics": many(800, "m"), "params": many(100, "p"), "tags": many(100, "t")})
	run := s.ok("GET", "runs/get", q("run_id", id))
	if n := len(kv(get(run, "run", "data", "params"))); n != 100 {
		t.Fatalf("%d params logged, want 100", n)
	}
	h := s.ok("GET", "metrics/get-history", q("run_id", id, "metric_key", "m"))
	if n := len(h["metrics"].([]any)); n != 800 {
		t.Fatalf("%d metric values logged, want 800", n)
	}
	// A conflicting param rejects the whole batch.
	s.fails("POST", "runs/log-batch", map[string]any{"run_id": id, "params": []map[string]any{{"key": "p0", "value": "2"}}, "tags": []map[string]any{{"key": "late", "value": "x"}}}, 400, "INVALID_PARAMETER_VALUE")
	if kv(get(s.ok("GET", "runs/get", q("run_id", id)), "run", "data", "tags"))["late"] != nil {
		t.Fatal("rejected batch was partly written")
	}

	ds := map[string]any{"dataset": map[string]any{"name": "housing", "digest": "abc123", "source_type": "local", "source": "file:///h.csv"},
		"tags": []map[string]string{{"key": "mlflow.data.context", "value": "training"}}}
	s.ok("POST", "runs/log-inputs", map[string]any{"run_id": id, "datasets": []any{ds}})
	run = s.ok("GET", "runs/get", q("run_id", id))
	if get(run, "run", "inputs", "dataset_inputs", 0, "dataset", "digest") != "abc123" ||
		get(run, "run", "inputs", "dataset_inputs", 0, "tags", 0, "value") != "training" {
		t.Fatalf("inputs: %v", get(run, "run", "inputs"))
	}
	for k := range kv(get(run, "run", "data", "tags")) {
		if strings.HasPrefix(k, tagInputPrefix) {
			t.Fatalf("input tag %s shown as a run tag", k)
		}
	}
	s.ok("POST", "runs/log-model", map[string]any{"run_id": id, "model_json": `{"artifact_path":"model","flavors":{}}`})
	s.ok("POST", "runs/log-model", map[string]any{"run_id": id, "model_json": `{"artifact_path":"model2"}`})
	var hist []map[string]any
	raw := kv(get(s.ok("GET", "runs/get", q("run_id", id)), "run", "data", "tags"))[tagLoggedModel].(string)
	if err := json.Unmarshal([]byte(raw), &hist); err != nil || len(hist) != 2 || hist[1]["artifact_path"] != "model2" {
		t.Fatalf("log-model history %s (%v)", raw, err)
	}
}

func TestSearchRuns(t *testing.T) {
	s := newTestServer(t)
	exp := s.ok("POST", "experiments/create", map[string]any{"name": "sweep"})["experiment_id"].(string)
	ids := map[string]string{}
	for i, sd := range []struct {
		name, alpha, status string
		rmse                float64
	}{{"a", "0.1", "FINISHED", 0.5}, {"b", "0.2", "FINISHED", 0.3}, {"c", "0.1", "FAILED", 0.4}, {"d", "0.3", "FINISHED", 0.6}} {
		m := s.ok("POST", "runs/create", map[string]any{"experiment_id": exp, "run_name": sd.name, "start_time": 1700000000000 + i*1000})
		id := get(m, "run", "info", "run_id").(string)
		ids[sd.name] = id
		s.ok("POST", "runs/log-batch", map[string]any{"run_id": id,
			"metrics": []map[string]any{{"key": "rmse", "value": sd.rmse, "timestamp": 1700000000000, "step": 0}},
			"params":  []map[string]any{{"key": "alpha", "value": sd.alpha}},
			"tags":    []map[string]any{{"key": "family", "value": "linear"}}})
		s.ok("POST", "runs/update", map[string]any{"run_id": id, "status": sd.status})
	}
	search := func(req map[string]any) ([]string, string) {
		t.Helper()
		req["experiment_ids"] = []string{exp}
		m := s.ok("POST", "runs/search", req)
		var names []string
		l, _ := m["runs"].([]any)
		for _, r := range l {
			names = append(names, get(r, "info", "run_name").(string))
		}
		tok, _ := m["next_page_token"].(string)
		return names, tok
	}
	cases := []struct {
		filter string
		order  []string
		want   []string
	}{
		{"metrics.rmse < 0.45", []string{"metrics.rmse ASC"}, []string{"b", "c"}},
		{"params.alpha = '0.1'", []string{"metrics.rmse DESC"}, []string{"a", "c"}},
		{"params.alpha = '0.1' AND attributes.status = 'FINISHED'", nil, []string{"a"}},
		{"tags.family = 'linear' AND metrics.rmse >= 0.5", []string{"metrics.rmse ASC"}, []string{"a", "d"}},
		{"run_id = '" + ids["d"] + "'", nil, []string{"d"}},
		{"", []string{"start_time ASC"}, []string{"a", "b", "c", "d"}},
		{"", nil, []string{"d", "c", "b", "a"}},
	}
	for _, c := range cases {
		req := map[string]any{"filter": c.filter}
		if c.order != nil {
			req["order_by"] = c.order
		}
		if got, _ := search(req); !slices.Equal(got, c.want) {
			t.Errorf("filter %q order %v: got %v, want %v", c.filter, c.order, got, c.want)
		}
	}
	// Pagination visits every run once, in order.
	var all []string
	tok := ""
	for i := 0; i < 4; i++ {
		req := map[string]any{"max_results": 3, "order_by": []string{"metrics.rmse ASC"}}
		if tok != "" {
			req["page_token"] = tok
		}
		var page []string
		page, tok = search(req)
		all = append(all, page...)
		if tok == "" {
			break
		}
	}
	if !slices.Equal(all, []string{"b", "c", "a", "d"}) {
		t.Fatalf("paged search: %v", all)
	}
	s.ok("POST", "runs/delete", map[string]any{"run_id": ids["a"]})
	if got, _ := search(map[string]any{"run_view_type": "DELETED_ONLY"}); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("deleted runs: %v", got)
	}
	if got, _ := search(map[string]any{"run_view_type": "ALL", "order_by": []string{"start_time ASC"}}); len(got) != 4 {
		t.Fatalf("all runs: %v", got)
	}
	s.fails("POST", "runs/search", map[string]any{"experiment_ids": []string{exp}, "filter": "metrics.rmse <"}, 400, "INVALID_PARAMETER_VALUE")
	s.fails("POST", "runs/search", map[string]any{"experiment_ids": []string{exp}, "page_token": "garbage!"}, 400, "INVALID_PARAMETER_VALUE")
}

func TestRegistryEndpoints(t *testing.T) {
	s := newTestServer(t)
	s.fails("POST", "model-versions/create", map[string]any{"name": "housing", "source": "mlflow-artifacts:/0/x/artifacts/model"}, 404, "RESOURCE_DOES_NOT_EXIST")
	m := s.ok("POST", "registered-models/create", map[string]any{"name": "housing", "description": "prices", "tags": []map[string]string{{"key": "k", "value": "v"}}})
	if get(m, "registered_model", "name") != "housing" || get(m, "registered_model", "description") != "prices" {
		t.Fatalf("create model: %v", m)
	}
	s.fails("POST", "registered-models/create", map[string]any{"name": "housing"}, 400, "RESOURCE_ALREADY_EXISTS")
	run := s.newRun("0", "train")
	for i := 1; i <= 3; i++ {
		v := s.ok("POST", "model-versions/create", map[string]any{"name": "housing", "source": fmt.Sprintf("mlflow-artifacts:/0/%s/artifacts/model%d", run, i), "run_id": run})
		mv := v["model_version"].(map[string]any)
		if mv["version"] != fmt.Sprint(i) || mv["status"] != "READY" || mv["current_stage"] != "None" || mv["run_id"] != run {
			t.Fatalf("create version %d: %v", i, mv)
		}
	}
	v := s.ok("GET", "model-versions/get", q("name", "housing", "version", "2"))
	if get(v, "model_version", "source") != "mlflow-artifacts:/0/"+run+"/artifacts/model2" {
		t.Fatalf("get version: %v", v)
	}
	s.fails("GET", "model-versions/get", q("name", "housing", "version", "9"), 404, "RESOURCE_DOES_NOT_EXIST")
	s.fails("GET", "model-versions/get", q("name", "housing", "version", "two"), 400, "INVALID_PARAMETER_VALUE")
	if d := s.ok("GET", "model-versions/get-download-uri", q("name", "housing", "version", "1")); d["artifact_uri"] != "mlflow-artifacts:/0/"+run+"/artifacts/model1" {
		t.Fatalf("download uri: %v", d)
	}
	u := s.ok("PATCH", "model-versions/update", map[string]any{"name": "housing", "version": "1", "description": "first"})
	if get(u, "model_version", "description") != "first" {
		t.Fatalf("update version: %v", u)
	}
	s.ok("POST", "model-versions/set-tag", map[string]any{"name": "housing", "version": "1", "key": "validated", "value": "yes"})
	s.ok("DELETE", "model-versions/delete-tag", map[string]any{"name": "housing", "version": "1", "key": "validated"})
	s.ok("POST", "model-versions/set-tag", map[string]any{"name": "housing", "version": "3", "key": "validated", "value": "yes"})

	// Stages: archive_existing_versions archives the previous holder.
	stageOf := func(version string) string {
		return get(s.ok("GET", "model-versions/get", q("name", "housing", "version", version)), "model_version", "current_stage").(string)
	}
	s.ok("POST", "model-versions/transition-stage", map[string]any{"name": "housing", "version": "1", "stage": "Production", "archive_existing_versions": false})
	s.ok("POST", "model-versions/transition-stage", map[string]any{"name": "housing", "version": "2", "stage": "Production", "archive_existing_versions": false})
	if stageOf("1") != "Production" || stageOf("2") != "Production" {
		t.Fatal("without archive_existing_versions both versions should be in Production")
	}
	tr := s.ok("POST", "model-versions/transition-stage", map[string]any{"name": "housing", "version": "3", "stage": "production", "archive_existing_versions": true})
	if get(tr, "model_version", "current_stage") != "Production" || stageOf("1") != "Archived" || stageOf("2") != "Archived" {
		t.Fatalf("archive existing: %v, v1 %s, v2 %s", tr, stageOf("1"), stageOf("2"))
	}
	s.fails("POST", "model-versions/transition-stage", map[string]any{"name": "housing", "version": "1", "stage": "Canary"}, 400, "INVALID_PARAMETER_VALUE")
	lv := s.ok("POST", "registered-models/get-latest-versions", map[string]any{"name": "housing", "stages": []string{"Production"}})
	if get(lv, "model_versions", 0, "version") != "3" || get(lv, "model_versions", 1) != nil {
		t.Fatalf("latest production: %v", lv)
	}

	// Aliases.
	s.ok("POST", "registered-models/alias", map[string]any{"name": "housing", "alias": "champion", "version": "2"})
	a := s.ok("GET", "registered-models/alias", q("name", "housing", "alias", "champion"))
	if get(a, "model_version", "version") != "2" || get(a, "model_version", "aliases", 0) != "champion" {
		t.Fatalf("by alias: %v", a)
	}
	rm := s.ok("GET", "registered-models/get", q("name", "housing"))
	if get(rm, "registered_model", "aliases", 0, "alias") != "champion" || get(rm, "registered_model", "aliases", 0, "version") != "2" ||
		kv(get(rm, "registered_model", "tags"))["k"] != "v" || get(rm, "registered_model", "latest_versions") == nil {
		t.Fatalf("model with alias: %v", rm)
	}
	s.ok("DELETE", "registered-models/alias", map[string]any{"name": "housing", "alias": "champion"})
	s.fails("GET", "registered-models/alias", q("name", "housing", "alias", "champion"), 400, "INVALID_PARAMETER_VALUE")
	s.fails("GET", "registered-models/alias", q("name", "nope", "alias", "champion"), 404, "RESOURCE_DOES_NOT_EXIST")

	// Version search: the filter grammar and pagination.
	names := func(m map[string]any) []string {
		var out []string
		l, _ := m["model_versions"].([]any)
		for _, e := range l {
			out = append(out, e.(map[string]any)["name"].(string)+"/"+e.(map[string]any)["version"].(string))
		}
		return out
	}
	s.ok("POST", "registered-models/create", map[string]any{"name": "other"})
	s.ok("POST", "model-versions/create", map[string]any{"name": "other", "source": "s3://b/o", "run_id": "r2"})
	if got := names(s.ok("GET", "model-versions/search", q("filter", "name = 'housing'"))); !slices.Equal(got, []string{"housing/3", "housing/2", "housing/1"}) {
		t.Fatalf("versions of housing: %v", got)
	}
	if got := names(s.ok("GET", "model-versions/search", q("filter", "run_id = 'r2'"))); !slices.Equal(got, []string{"other/1"}) {
		t.Fatalf("versions of run r2: %v", got)
	}
	if got := names(s.ok("GET", "model-versions/search", q("filter", "name = 'housing' AND tags.validated = 'yes'"))); !slices.Equal(got, []string{"housing/3"}) {
		t.Fatalf("validated versions: %v", got)
	}
	p1 := s.ok("GET", "model-versions/search", q("max_results", "2", "order_by", "version_number ASC", "filter", "name LIKE 'hous%'"))
	p2 := s.ok("GET", "model-versions/search", q("max_results", "2", "order_by", "version_number ASC", "filter", "name LIKE 'hous%'", "page_token", p1["next_page_token"].(string)))
	if got := append(names(p1), names(p2)...); !slices.Equal(got, []string{"housing/1", "housing/2", "housing/3"}) || p2["next_page_token"] != nil {
		t.Fatalf("paged versions: %v", got)
	}
	s.fails("GET", "model-versions/search", q("filter", "name = housing"), 400, "INVALID_PARAMETER_VALUE")

	// Registered model search, rename, update, tags, delete.
	ms := s.ok("GET", "registered-models/search", q("filter", "name LIKE 'hous%'"))
	if get(ms, "registered_models", 0, "name") != "housing" || get(ms, "registered_models", 1) != nil {
		t.Fatalf("model search: %v", ms)
	}
	pg := s.ok("GET", "registered-models/search", q("max_results", "1"))
	pg2 := s.ok("GET", "registered-models/search", q("max_results", "1", "page_token", pg["next_page_token"].(string)))
	if get(pg, "registered_models", 0, "name") != "housing" || get(pg2, "registered_models", 0, "name") != "other" {
		t.Fatalf("model pages: %v %v", pg, pg2)
	}
	s.ok("POST", "registered-models/set-tag", map[string]any{"name": "other", "key": "t", "value": "1"})
	s.ok("DELETE", "registered-models/delete-tag", map[string]any{"name": "other", "key": "t"})
	if up := s.ok("PATCH", "registered-models/update", map[string]any{"name": "other", "description": "d"}); get(up, "registered_model", "description") != "d" {
		t.Fatalf("update model: %v", up)
	}
	if rn := s.ok("POST", "registered-models/rename", map[string]any{"name": "other", "new_name": "other2"}); get(rn, "registered_model", "name") != "other2" {
		t.Fatalf("rename: %v", rn)
	}
	s.ok("DELETE", "model-versions/delete", map[string]any{"name": "housing", "version": "1"})
	s.fails("GET", "model-versions/get", q("name", "housing", "version", "1"), 404, "RESOURCE_DOES_NOT_EXIST")
	s.ok("DELETE", "registered-models/delete", map[string]any{"name": "other2"})
	s.fails("GET", "registered-models/get", q("name", "other2"), 404, "RESOURCE_DOES_NOT_EXIST")

	// The transition log records who did it.
	log, err := s.store.Transitions(context.Background(), "housing")
	if err != nil || len(log) == 0 || log[0].By != "mlflow-api" {
		t.Fatalf("transition log %v, %v", log, err)
	}
}

func TestArtifactProxy(t *testing.T) {
	s := newTestServer(t)
	do := func(method, p string, body []byte) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, s.srv.URL+ArtifactsPrefix+p, bytes.NewReader(body))
		resp, err := s.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, data
	}
	for p, body := range map[string]string{
		"artifacts/0/r1/artifacts/model/model.json": `{"w":[1,2]}`,
		"artifacts/0/r1/artifacts/model/MLmodel":    "flavors: {}",
		"artifacts/0/r1/artifacts/plot.png":         "PNG",
	} {
		if st, data := do("PUT", p, []byte(body)); st != 200 || strings.TrimSpace(string(data)) != "{}" {
			t.Fatalf("PUT %s: %d %s", p, st, data)
		}
	}
	if st, data := do("GET", "artifacts/0/r1/artifacts/model/model.json", nil); st != 200 || string(data) != `{"w":[1,2]}` {
		t.Fatalf("download: %d %s", st, data)
	}
	st, data := do("GET", "artifacts?path=0/r1/artifacts", nil)
	var list struct {
		Files []struct {
			Path     string `json:"path"`
			IsDir    bool   `json:"is_dir"`
			FileSize int64  `json:"file_size"`
		} `json:"files"`
	}
	if err := json.Unmarshal(data, &list); st != 200 || err != nil || len(list.Files) != 2 ||
		list.Files[0].Path != "model" || !list.Files[0].IsDir || list.Files[1].Path != "plot.png" || list.Files[1].FileSize != 3 {
		t.Fatalf("list: %d %s", st, data)
	}
	if st, data := do("GET", "artifacts?path=0/r1/artifacts/model", nil); st != 200 || !strings.Contains(string(data), `"path":"MLmodel"`) {
		t.Fatalf("list model dir: %d %s", st, data)
	}
	if st, data := do("GET", "artifacts?path=0/none", nil); st != 200 || strings.TrimSpace(string(data)) != "{}" {
		t.Fatalf("list empty dir: %d %s", st, data)
	}
	for _, c := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "artifacts/0/r1/artifacts/missing.txt", 404, "RESOURCE_DOES_NOT_EXIST"},
		{"PUT", "artifacts/0/../../etc/passwd", 400, "INVALID_PARAMETER_VALUE"},
		{"GET", "artifacts?path=../x", 400, "INVALID_PARAMETER_VALUE"},
		{"DELETE", "artifacts/0/r1/artifacts/plot.png", 501, "NOT_IMPLEMENTED"},
		{"POST", "mpu/create/0/x", 501, "NOT_IMPLEMENTED"},
		{"GET", "nothing", 404, "ENDPOINT_NOT_FOUND"},
	} {
		st, data := do(c.method, c.path, nil)
		var e apiError
		if err := json.Unmarshal(data, &e); st != c.status || err != nil || e.ErrorCode != c.code {
			t.Errorf("%s %s: %d %s, want %d %s", c.method, c.path, st, data, c.status, c.code)
		}
	}
}

func TestUnknownEndpoints(t *testing.T) {
	s := newTestServer(t)
	s.fails("GET", "no/such/thing", nil, 404, "ENDPOINT_NOT_FOUND")
	s.fails("GET", "runs/create", nil, 404, "ENDPOINT_NOT_FOUND")
	s.fails("POST", "experiments/delete-experiment-tag", map[string]any{}, 501, "NOT_IMPLEMENTED")
	resp, err := s.srv.Client().Get(s.srv.URL + "/api/2.0/other")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var e apiError
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || resp.StatusCode != 404 || e.ErrorCode != "ENDPOINT_NOT_FOUND" {
		t.Fatalf("outside prefix: %d %v %v", resp.StatusCode, e, err)
	}
}
