package mlflow

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/housing-mlops/mlops"
)

// fakeMLflow is a protocol double written from MLflow's published REST
// API reference: each route checks the request's shape and answers a
// spec-shaped message. It records every call.
type fakeMLflow struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	calls  []fakeCall
	routes map[string]func(c fakeCall) (int, any)
}

type fakeCall struct {
	method, path string
	query        url.Values
	body         map[string]any
	raw          []byte
	header       http.Header
}

func newFake(t *testing.T) *fakeMLflow {
	f := &fakeMLflow{t: t, routes: map[string]func(fakeCall) (int, any){}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// on registers the answer to "METHOD /path".
func (f *fakeMLflow) on(route string, fn func(c fakeCall) (int, any)) { f.routes[route] = fn }

func (f *fakeMLflow) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	c := fakeCall{method: r.Method, path: r.URL.Path, query: r.URL.Query(), raw: raw, header: r.Header.Clone()}
	if len(raw) > 0 && strings.HasPrefix(r.URL.Path, APIPrefix) {
		if r.Method == http.MethodGet {
			f.t.Errorf("GET %s with a body", r.URL.Path)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			f.t.Errorf("%s %s: Content-Type %q", r.Method, r.URL.Path, ct)
		}
		if err := json.Unmarshal(raw, &c.body); err != nil {
			f.t.Errorf("%s %s: body is not a JSON object: %s", r.Method, r.URL.Path, raw)
		}
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	fn, ok := f.routes[r.Method+" "+r.URL.Path]
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(404)
		_, _ = io.WriteString(w, `{"error_code":"ENDPOINT_NOT_FOUND","message":"no such endpoint"}`)
		return
	}
	status, resp := fn(c)
	if b, ok := resp.([]byte); ok {
		w.WriteHeader(status)
		_, _ = w.Write(b)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(resp)
}

func (f *fakeMLflow) callsTo(method, path string) []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeCall
	for _, c := range f.calls {
		if c.method == method && c.path == path {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeMLflow) client(opts ClientOptions) *Client {
	f.t.Helper()
	if opts.Backoff == 0 {
		opts.Backoff = time.Millisecond
	}
	c, err := NewClient(f.srv.URL, opts)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func mlflowErr(code, msg string) map[string]string {
	return map[string]string{"error_code": code, "message": msg}
}

// A run as MLflow's reference shows it, with int64 fields as strings (as
// older servers send them) and a NaN metric.
var specRun = map[string]any{
	"info": map[string]any{
		"run_id": "r1", "run_uuid": "r1", "run_name": "train", "experiment_id": "7", "user_id": "u",
		"status": "FINISHED", "start_time": "1700000000000", "end_time": 1700000005000,
		"artifact_uri": "mlflow-artifacts:/7/r1/artifacts", "lifecycle_stage": "active",
	},
	"data": map[string]any{
		"metrics": []any{
			map[string]any{"key": "rmse", "value": 0.5, "timestamp": 1700000001000, "step": "2"},
			map[string]any{"key": "odd", "value": "NaN", "timestamp": 1700000001000, "step": 0},
		},
		"params": []any{map[string]any{"key": "alpha", "value": "0.1"}},
		"tags":   []any{map[string]any{"key": "mlflow.parentRunId", "value": "p0"}, map[string]any{"key": "mlflow.runName", "value": "train"}},
	},
	"inputs": map[string]any{},
}

func TestClientRequestShapes(t *testing.T) {
	f := newFake(t)
	f.on("GET "+APIPrefix+"runs/get", func(c fakeCall) (int, any) {
		if id := c.query.Get("run_id"); id != "r1" && id != "p0" {
			return 404, mlflowErr("RESOURCE_DOES_NOT_EXIST", "Run '"+id+"' not found")
		}
		return 200, map[string]any{"run": specRun}
	})
	f.on("POST "+APIPrefix+"runs/create", func(c fakeCall) (int, any) {
		if c.body["experiment_id"] != "7" || c.body["run_name"] != "train" || c.body["start_time"] != 1700000000000.0 {
			t.Errorf("runs/create body %s", c.raw)
		}
		tags := kv(c.body["tags"])
		if tags["mlflow.parentRunId"] != "p0" || tags["mlflow.runName"] != "train" || tags["git"] != "abc" {
			t.Errorf("runs/create tags %v", tags)
		}
		return 200, map[string]any{"run": specRun}
	})
	f.on("POST "+APIPrefix+"runs/log-batch", func(c fakeCall) (int, any) {
		if c.body["run_id"] != "r1" {
			t.Errorf("log-batch run_id %v", c.body["run_id"])
		}
		return 200, map[string]any{}
	})
	f.on("POST "+APIPrefix+"experiments/search", func(c fakeCall) (int, any) {
		if c.body["view_type"] != "ACTIVE_ONLY" {
			t.Errorf("experiments/search view_type %v", c.body["view_type"])
		}
		if c.body["page_token"] == nil {
			return 200, map[string]any{"experiments": []any{map[string]any{"experiment_id": "0", "name": "Default"}}, "next_page_token": "p2"}
		}
		return 200, map[string]any{"experiments": []any{map[string]any{"experiment_id": "7", "name": "e", "creation_time": "1700000000000"}}}
	})
	f.on("POST "+APIPrefix+"runs/search", func(c fakeCall) (int, any) {
		return 200, map[string]any{"runs": []any{specRun}, "next_page_token": "tok2"}
	})
	c := f.client(ClientOptions{})
	ctx := context.Background()

	r, err := c.CreateRun(ctx, mlops.RunCreate{ExperimentID: "7", Name: "train", ParentID: "p0", StartTime: time.UnixMilli(1700000000000), Tags: map[string]string{"git": "abc"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "r1" || r.ParentID != "p0" || r.Status != mlops.RunFinished || r.StartTime.UnixMilli() != 1700000000000 ||
		r.EndTime.UnixMilli() != 1700000005000 || r.Params["alpha"] != "0.1" || len(r.Metrics) != 2 ||
		r.Metrics[0].Key != "odd" || !math.IsNaN(r.Metrics[0].Value) || r.Metrics[1].Step != 2 {
		t.Fatalf("run decoded as %+v", r)
	}
	if _, err := c.CreateRun(ctx, mlops.RunCreate{ExperimentID: "7", ParentID: "ghost"}); mlops.ErrorCode(err) != mlops.ENOTFOUND {
		t.Fatalf("create run with unknown parent: %v", err)
	}

	// 250 params, 150 tags and 1500 metrics need requests within MLflow's
	// limits, params first.
	var params []mlops.Param
	for i := 0; i < 250; i++ {
		params = append(params, mlops.Param{Key: "p" + string(rune('a'+i%26)) + strings.Repeat("x", i/26), Value: "v"})
	}
	var tags []mlops.Tag
	for i := 0; i < 150; i++ {
		tags = append(tags, mlops.Tag{Key: "t" + strings.Repeat("y", i), Value: "v"})
	}
	metrics := make([]mlops.Metric, 1500)
	for i := range metrics {
		metrics[i] = mlops.Metric{Key: "m", Value: float64(i), Timestamp: time.UnixMilli(1700000000000), Step: int64(i)}
	}
	metrics[0].Value = math.Inf(1)
	if err := c.LogBatch(ctx, "r1", metrics, params, tags); err != nil {
		t.Fatal(err)
	}
	var np, nt, nm int
	for i, call := range f.callsTo("POST", APIPrefix+"runs/log-batch") {
		p, tg, m := len(call.body["params"].([]any)), len(call.body["tags"].([]any)), len(call.body["metrics"].([]any))
		if p > 100 || tg > 100 || p+tg+m > 1000 {
			t.Fatalf("log-batch request %d has %d params, %d tags, %d metrics", i, p, tg, m)
		}
		if i == 0 {
			first := call.body["metrics"].([]any)[0].(map[string]any)
			if first["value"] != "Infinity" || first["timestamp"] != 1700000000000.0 {
				t.Fatalf("first metric sent as %v", first)
			}
		}
		np, nt, nm = np+p, nt+tg, nm+m
	}
	if np != 250 || nt != 150 || nm != 1500 {
		t.Fatalf("sent %d params, %d tags, %d metrics", np, nt, nm)
	}

	// No experiment ids: the client lists every experiment (following the
	// page token) and folds ParentID and Tags into the filter.
	runs, next, err := c.SearchRuns(ctx, mlops.RunFilter{ParentID: "p0", Tags: map[string]string{"it's": "x"}, Filter: "metrics.rmse < 1", MaxResults: 5, OrderBy: []string{"metrics.rmse ASC"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || next != "tok2" {
		t.Fatalf("search answered %d runs, token %q", len(runs), next)
	}
	call := f.callsTo("POST", APIPrefix+"runs/search")[0]
	ids, _ := json.Marshal(call.body["experiment_ids"])
	wantFilter := "metrics.rmse < 1 AND tags.`it's` = 'x' AND tags.`mlflow.parentRunId` = 'p0'"
	if string(ids) != `["0","7"]` || call.body["filter"] != wantFilter || call.body["max_results"] != 5.0 || call.body["run_view_type"] != "ACTIVE_ONLY" {
		t.Fatalf("runs/search body %s", call.raw)
	}
}

func TestClientAuthRetriesAndErrors(t *testing.T) {
	f := newFake(t)
	var mu sync.Mutex
	failures := 2
	f.on("GET "+APIPrefix+"experiments/get", func(c fakeCall) (int, any) {
		mu.Lock()
		defer mu.Unlock()
		if failures > 0 {
			failures--
			return 503, []byte("<html>busy</html>")
		}
		return 200, map[string]any{"experiment": map[string]any{"experiment_id": "3", "name": "x", "lifecycle_stage": "active", "creation_time": 1700000000000}}
	})
	f.on("POST "+APIPrefix+"experiments/create", func(c fakeCall) (int, any) {
		return 500, mlflowErr("INTERNAL_ERROR", "db down")
	})
	f.on("GET "+APIPrefix+"experiments/get-by-name", func(c fakeCall) (int, any) {
		return 429, []byte("slow down")
	})
	f.on("POST "+APIPrefix+"experiments/delete", func(c fakeCall) (int, any) {
		return 401, []byte("Unauthorized")
	})
	ctx := context.Background()

	tok := f.client(ClientOptions{Token: "s3cret-token", Retries: 2})
	e, err := tok.GetExperiment(ctx, "3")
	if err != nil || e.ID != "3" || e.CreatedAt.UnixMilli() != 1700000000000 {
		t.Fatalf("GetExperiment after two 503s: %+v, %v", e, err)
	}
	gets := f.callsTo("GET", APIPrefix+"experiments/get")
	if len(gets) != 3 || gets[2].header.Get("Authorization") != "Bearer s3cret-token" || gets[2].query.Get("experiment_id") != "3" {
		t.Fatalf("%d attempts, last header %q", len(gets), gets[len(gets)-1].header.Get("Authorization"))
	}
	// Creating is not idempotent: no retry.
	if _, err := tok.CreateExperiment(ctx, "x", "", nil); mlops.ErrorCode(err) != mlops.EINTERNAL || !strings.Contains(err.Error(), "db down") {
		t.Fatalf("create on 500: %v", err)
	}
	if n := len(f.callsTo("POST", APIPrefix+"experiments/create")); n != 1 {
		t.Fatalf("non-idempotent create sent %d times", n)
	}
	// 429 is retried, then reported.
	if _, err := tok.GetExperimentByName(ctx, "x"); err == nil {
		t.Fatal("429 forever should fail")
	}
	if n := len(f.callsTo("GET", APIPrefix+"experiments/get-by-name")); n != 3 {
		t.Fatalf("429 tried %d times, want 3", n)
	}

	// Basic credentials from the URL's user info, never in messages.
	u, _ := url.Parse(f.srv.URL)
	u.User = url.UserPassword("bob", "hunter2")
	basic, err := NewClient(u.String(), ClientOptions{Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = basic.DeleteExperiment(ctx, "3")
	if mlops.ErrorCode(err) != mlops.EINVALID || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "MLFLOW_TRACKING_TOKEN") {
		t.Fatalf("401: %v", err)
	}
	del := f.callsTo("POST", APIPrefix+"experiments/delete")
	if user, pass, ok := (&http.Request{Header: del[0].header}).BasicAuth(); !ok || user != "bob" || pass != "hunter2" {
		t.Fatalf("basic auth sent as %q", del[0].header.Get("Authorization"))
	}
	if strings.Contains(basic.BaseURL(), "hunter2") {
		t.Fatalf("BaseURL leaks the password: %s", basic.BaseURL())
	}
	if !IsTrackingURI("https://mlflow.example") || IsTrackingURI("sqlite:///h/mlops.db") {
		t.Fatal("IsTrackingURI")
	}
	if _, err := NewClient("ftp://x", ClientOptions{}); mlops.ErrorCode(err) != mlops.EINVALID {
		t.Fatalf("ftp URL: %v", err)
	}
	env := ClientOptionsFromEnv(func(k string) string {
		return map[string]string{EnvTrackingToken: "t", EnvTrackingUsername: "u", EnvTrackingPassword: "p"}[k]
	})
	if env.Token != "t" || env.Username != "u" || env.Password != "p" {
		t.Fatalf("options from env: %+v", env)
	}

	// Unknown endpoints are "not supported", domain codes keep their meaning.
	if err := tok.DeleteTag(ctx, "r", "k"); mlops.ErrorCode(err) != mlops.EINVALID || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("unsupported endpoint: %v", err)
	}
}

func TestClientTimeoutAndConnectionErrors(t *testing.T) {
	f := newFake(t)
	f.on("GET "+APIPrefix+"runs/get", func(c fakeCall) (int, any) {
		return 200, map[string]any{"run": specRun}
	})
	block := make(chan struct{})
	defer close(block)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-block:
		}
	}))
	defer slow.Close()
	c, err := NewClient(slow.URL, ClientOptions{Timeout: 20 * time.Millisecond, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := c.GetRun(context.Background(), "r1"); err == nil {
		t.Fatal("a server that never answers should time out")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timeout took %v", d)
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	addr := dead.URL
	dead.Close()
	c, _ = NewClient(addr, ClientOptions{Retries: 2, Backoff: time.Millisecond})
	if _, err := c.GetRun(context.Background(), "r1"); mlops.ErrorCode(err) != mlops.EINTERNAL {
		t.Fatalf("connection refused: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c = f.client(ClientOptions{})
	if _, err := c.GetRun(ctx, "r1"); !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("cancelled context: %v", err)
	}
}

func TestClientRegistry(t *testing.T) {
	f := newFake(t)
	mv := func(version, status string) map[string]any {
		return map[string]any{
			"name": "housing", "version": version, "creation_timestamp": 1700000000000, "last_updated_timestamp": "1700000000001",
			"current_stage": "None", "source": "mlflow-artifacts:/7/r1/artifacts/model", "run_id": "r1", "status": status,
			"tags": []any{map[string]any{"key": "mlops.sha256", "value": "ab12"}}, "aliases": []any{"champion"},
		}
	}
	f.on("POST "+APIPrefix+"registered-models/create", func(c fakeCall) (int, any) {
		return 400, mlflowErr("RESOURCE_ALREADY_EXISTS", "Registered Model (name=housing) already exists.")
	})
	f.on("POST "+APIPrefix+"model-versions/create", func(c fakeCall) (int, any) {
		if c.body["name"] != "housing" || c.body["source"] != "mlflow-artifacts:/7/r1/artifacts/model" || c.body["run_id"] != "r1" || kv(c.body["tags"])["mlops.sha256"] != "ab12" {
			t.Errorf("model-versions/create body %s", c.raw)
		}
		return 200, map[string]any{"model_version": mv("4", "PENDING_REGISTRATION")}
	})
	polls := 0
	f.on("GET "+APIPrefix+"model-versions/get", func(c fakeCall) (int, any) {
		if c.query.Get("name") != "housing" || c.query.Get("version") != "4" {
			t.Errorf("model-versions/get query %v", c.query)
		}
		polls++
		if polls < 2 {
			return 200, map[string]any{"model_version": mv("4", "PENDING_REGISTRATION")}
		}
		return 200, map[string]any{"model_version": mv("4", "READY")}
	})
	f.on("GET "+APIPrefix+"registered-models/alias", func(c fakeCall) (int, any) {
		if c.query.Get("alias") != "champion" {
			return 400, mlflowErr("INVALID_PARAMETER_VALUE", "Registered model alias "+c.query.Get("alias")+" not found.")
		}
		return 200, map[string]any{"model_version": mv("4", "READY")}
	})
	f.on("GET "+APIPrefix+"model-versions/search", func(c fakeCall) (int, any) {
		if c.query.Get("filter") != "name = 'housing'" {
			t.Errorf("model-versions/search filter %q", c.query.Get("filter"))
		}
		if c.query.Get("page_token") == "" {
			return 200, map[string]any{"model_versions": []any{mv("1", "READY")}, "next_page_token": "n"}
		}
		return 200, map[string]any{"model_versions": []any{mv("4", "READY")}}
	})
	f.on("POST "+APIPrefix+"registered-models/get-latest-versions", func(c fakeCall) (int, any) {
		st, _ := json.Marshal(c.body["stages"])
		if string(st) != `["Production"]` {
			t.Errorf("get-latest-versions stages %s", st)
		}
		return 200, map[string]any{"model_versions": []any{mv("4", "READY")}}
	})
	c := f.client(ClientOptions{})
	ctx := context.Background()
	v, err := c.CreateModelVersion(ctx, mlops.ModelVersionCreate{Name: "housing", Source: "mlflow-artifacts:/7/r1/artifacts/model", SHA256: "ab12", RunID: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Version != 4 || v.SHA256 != "ab12" || v.Stage != mlops.StageNone || v.Tags[TagSHA256] != "" || v.UpdatedAt.UnixMilli() != 1700000000001 || polls != 2 {
		t.Fatalf("version %+v after %d polls", v, polls)
	}
	a, err := c.GetModelVersionByAlias(ctx, "housing", "champion")
	if err != nil || a.Version != 4 || a.Aliases[0] != "champion" {
		t.Fatalf("by alias: %+v %v", a, err)
	}
	// MLflow's 400 for an unknown alias is the domain's ENOTFOUND.
	if _, err := c.GetModelVersionByAlias(ctx, "housing", "gone"); mlops.ErrorCode(err) != mlops.ENOTFOUND {
		t.Fatalf("deleted alias: %v", err)
	}
	vs, err := c.SearchModelVersions(ctx, "housing")
	if err != nil || len(vs) != 2 || vs[0].Version != 1 || vs[1].Version != 4 {
		t.Fatalf("versions: %v %v", vs, err)
	}
	lv, err := c.LatestVersions(ctx, "housing", mlops.StageProduction)
	if err != nil || len(lv) != 1 {
		t.Fatalf("latest: %v %v", lv, err)
	}
}

func TestClientArtifacts(t *testing.T) {
	f := newFake(t)
	stored := map[string][]byte{}
	f.on("PUT "+ArtifactsPrefix+"artifacts/runs/r1/model.json", func(c fakeCall) (int, any) {
		stored["runs/r1/model.json"] = c.raw
		return 200, map[string]any{}
	})
	f.on("GET "+ArtifactsPrefix+"artifacts/runs/r1/model.json", func(c fakeCall) (int, any) {
		return 200, stored["runs/r1/model.json"]
	})
	f.on("GET "+ArtifactsPrefix+"artifacts", func(c fakeCall) (int, any) {
		switch c.query.Get("path") {
		case "runs":
			return 200, map[string]any{"files": []any{map[string]any{"path": "r1", "is_dir": true}, map[string]any{"path": "README", "is_dir": false, "file_size": "5"}}}
		case "runs/r1":
			return 200, map[string]any{"files": []any{map[string]any{"path": "model.json", "is_dir": false, "file_size": 9}, map[string]any{"path": "plots", "is_dir": true}}}
		case "runs/r1/plots":
			return 200, map[string]any{}
		}
		t.Errorf("listing of %q", c.query.Get("path"))
		return 404, mlflowErr("RESOURCE_DOES_NOT_EXIST", "no")
	})
	c := f.client(ClientOptions{})
	ctx := context.Background()
	info, err := c.Put(ctx, "runs/r1/model.json", strings.NewReader(`{"w":[1]}`))
	if err != nil {
		t.Fatal(err)
	}
	if info.URI != "mlflow-artifacts:/runs/r1/model.json" || info.Size != 9 || len(info.SHA256) != 64 {
		t.Fatalf("put: %+v", info)
	}
	if ct := f.callsTo("PUT", ArtifactsPrefix+"artifacts/runs/r1/model.json")[0].header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Fatalf("upload content type %q", ct)
	}
	data, err := c.Get(ctx, info.URI, info.SHA256)
	if err != nil || string(data) != `{"w":[1]}` {
		t.Fatalf("get: %s %v", data, err)
	}
	if _, err := c.Get(ctx, "runs/r1/model.json", strings.Repeat("0", 64)); mlops.ErrorCode(err) != mlops.ECONFLICT {
		t.Fatalf("wrong digest: %v", err)
	}
	if _, err := c.Get(ctx, "s3://elsewhere/x", ""); mlops.ErrorCode(err) != mlops.EINVALID {
		t.Fatalf("foreign URI: %v", err)
	}
	list, err := c.List(ctx, "runs/")
	if err != nil || len(list) != 2 || list[0].Path != "runs/README" || list[0].Size != 5 || list[1].Path != "runs/r1/model.json" || list[1].URI != "mlflow-artifacts:/runs/r1/model.json" {
		t.Fatalf("list: %+v %v", list, err)
	}
}
