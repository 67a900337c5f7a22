package mlflow

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/search"
)

// MLflow's log-batch limits.
const (
	maxBatchEntities = 1000
	maxBatchParams   = 100
	maxBatchTags     = 100
)

// artifactScheme is the URI scheme of proxied artifacts.
const artifactScheme = "mlflow-artifacts:"

// experimentOut converts an experiment; with the artifact proxy an
// experiment without its own location reports mlflow-artifacts:/<id>.
func (h *handler) experimentOut(e *mlops.Experiment) wireExperiment {
	loc := e.ArtifactLocation
	if loc == "" && h.art != nil {
		loc = artifactScheme + "/" + e.ID
	}
	return wireExperiment{
		ExperimentID: e.ID, Name: e.Name, ArtifactLocation: loc, LifecycleStage: e.LifecycleStage,
		CreationTime: toMs(e.CreatedAt), LastUpdateTime: toMs(e.UpdatedAt), Tags: tagsOut(e.Tags),
	}
}

func (h *handler) runInfoOut(r *mlops.Run) wireRunInfo {
	uri := r.ArtifactURI
	if uri == "" && h.art != nil {
		uri = artifactScheme + "/" + r.ExperimentID + "/" + r.ID + "/artifacts"
	}
	return wireRunInfo{
		RunID: r.ID, RunUUID: r.ID, RunName: r.Name, ExperimentID: r.ExperimentID,
		UserID: r.Tags[tagUser], Status: string(r.Status),
		StartTime: toMs(r.StartTime), EndTime: toMs(r.EndTime),
		ArtifactURI: uri, LifecycleStage: r.LifecycleStage,
	}
}

// runOut converts a run; dataset inputs kept in mlops.input.* tags are
// shown as inputs, not as tags.
func (h *handler) runOut(r *mlops.Run) wireRun {
	out := wireRun{Info: h.runInfoOut(r)}
	for _, m := range r.Metrics {
		out.Data.Metrics = append(out.Data.Metrics, metricOut(m))
	}
	out.Data.Params = tagsOut(r.Params)
	tags := map[string]string{}
	var inputKeys []string
	for k, v := range r.Tags {
		if strings.HasPrefix(k, tagInputPrefix) {
			inputKeys = append(inputKeys, k)
			continue
		}
		tags[k] = v
	}
	sort.Strings(inputKeys)
	for _, k := range inputKeys {
		var in wireDatasetInput
		if json.Unmarshal([]byte(r.Tags[k]), &in) == nil {
			out.Inputs.DatasetInputs = append(out.Inputs.DatasetInputs, in)
		}
	}
	out.Data.Tags = tagsOut(tags)
	return out
}

func metricOut(m mlops.Metric) wireMetric {
	return wireMetric{Key: m.Key, Value: jsonFloat(m.Value), Timestamp: toMs(m.Timestamp), Step: jsonInt(m.Step)}
}

func (h *handler) createExperiment(r *http.Request) (any, error) {
	var req struct {
		Name             string    `json:"name"`
		ArtifactLocation string    `json:"artifact_location"`
		Tags             []wireTag `json:"tags"`
	}
	if err := h.decode(r, &req); err != nil {
		return nil, err
	}
	if err := required("name", req.Name); err != nil {
		return nil, err
	}
	e, err := h.store.CreateExperiment(r.Context(), req.Name, req.ArtifactLocation, tagsIn(req.Tags))
	if err != nil {
		return nil, err
	}
	return map[string]string{"experiment_id": e.ID}, nil
}

type experimentIDReq struct {
	ExperimentID string `json:"experiment_id"`
}

func (h *handler) experimentID(r *http.Request) (string, error) {
	var req experimentIDReq
	if err := h.decode(r, &req); err != nil {
		return "", err
	}
	return req.ExperimentID, required("experiment_id", req.ExperimentID)
}

func (h *handler) getExperiment(r *http.Request) (any, error) {
	id, err := h.experimentID(r)
	if err != nil {
		return nil, err
	}
	e, err := h.store.GetExperiment(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"experiment": h.experimentOut(e)}, nil
}

func (h *handler) getExperimentByName(r *http.Request) (any, error) {
	var req struct {
		Name string `json:"experiment_name"`
	}
	if err := h.decode(r, &req); err != nil {
		return nil, err
	}
	if err := required("experiment_name", req.Name); err != nil {
		return nil, err
	}
	e, err := h.store.GetExperimentByName(r.Context(), req.Name)
	if err != nil {
		return nil, err
	}
	return map[string]any{"experiment": h.experimentOut(e)}, nil
}

var experimentSpec = filterSpec{
	what: "experiment",
	strs: []string{"name"},
	nums: []string{"creation_time", "last_update_time", "experiment_id"},
	aliases: map[string]string{
		"created": "creation_time", "last_updated": "last_update_time", "id": "experiment_id",
	},
}

func experimentRecord(e *mlops.Experiment) record {
	id, _ := strconv.ParseFloat(e.ID, 64)
	return record{
		str:  map[string]string{"name": e.Name},
		num:  map[string]float64{"creation_time": float64(toMs(e.CreatedAt)), "last_update_time": float64(toMs(e.UpdatedAt)), "experiment_id": id},
		tags: e.Tags,
	}
}

// viewType maps MLflow's ViewType to "include deleted" and "only deleted".
func viewType(v string) (all, onlyDeleted bool, err error) {
	switch strings.ToUpper(v) {
	case "", "ACTIVE_ONLY", "1":
		return false, false, nil
	case "DELETED_ONLY", "2":
		return true, true, nil
	case "ALL", "3":
		return true, false, nil
	}
	return false, false, mlops.Errorf(mlops.EINVALID, "invalid view type %q: want ACTIVE_ONLY, DELETED_ONLY or ALL", v)
}

func (h *handler) searchExperiments(r *http.Request) (any, error) {
	var req struct {
		MaxResults jsonInt    `json:"max_results"`
		PageToken  string     `json:"page_token"`
		Filter     string     `json:"filter"`
		OrderBy    stringList `json:"order_by"`
		ViewType   string     `json:"view_type"`
	}
	if err := h.decode(r, &req); err != nil {
		return nil, err
	}
	all, onlyDeleted, err := viewType(req.ViewType)
	if err != nil {
		return nil, err
	}
	exps, err := h.store.SearchExperiments(r.Context(), all)
	if err != nil {
		return nil, err
	}
	if onlyDeleted {
		exps = keep(exps, func(e *mlops.Experiment) bool { return e.LifecycleStage == mlops.LifecycleDeleted })
	}
	dflt := []orderKey{{key: "creation_time", num: true, desc: true}, {key: "experiment_id", num: true}}
	got, next, err := page(exps, experimentRecord, experimentSpec, req.Filter, req.OrderBy, dflt, int(req.MaxResults), 1000, 50000, req.PageToken)
	if err != nil {
		return nil, err
	}
	out := make([]wireExperiment, 0, len(got))
	for _, e := range got {
		out = append(out, h.experimentOut(e))
	}
	return searchResp("experiments", out, next), nil
}

// searchResp builds {<key>: items, next_page_token} with the token omitted
// on the last page and the list omitted when empty, as protobuf JSON does.
func searchResp[T any](key string, items []T, next string) map[string]any {
	m := map[string]any{}
	if len(items) > 0 {
		m[key] = items
	}
	if next != "" {
		m["next_page_token"] = next
	}
	return m
}

func keep[T any](in []T, ok func(T) bool) []T {
	var out []T
	for _, v := range in {
		if ok(v) {
			out = append(out, v)
		}
	}
	return out
}

func (h *handler) updateExperiment(r *http.Request) (any, error) {
	var req struct {
		ExperimentID string `json:"experiment_id"`
		NewName      string `json:"new_name"`
	}
	if err := h.decode(r, &req); err != nil {
		return nil, err
	}
	if err := required("experiment_id", req.ExperimentID); err != nil {
		return nil, err
	}
	if req.NewName == "" {
		// MLflow treats an update without a new name as a no-op.
		_, err := h.store.GetExperiment(r.Context(), req.ExperimentID)
		return empty{}, err
	}
	return empty{}, h.store.RenameExperiment(r.Context(), req.ExperimentID, req.NewName)
}

func (h *handler) deleteExperiment(r *http.Request) (any, error) {
	id, err := h.experimentID(r)
	if err != nil {
		return nil, err
	}
	return empty{}, h.store.DeleteExperiment(r.Context(), id)
}

func (h *handler) restoreExperiment(r *http.Request) (any, error) {
	id, err := h.experimentID(r)
	if err != nil {
		return nil, err
	}
	return empty{}, h.store.RestoreExperiment(r.Context(), id)
}

func (h *handler) setExperimentTag(r *http.Request) (any, error) {
	var req struct {
		ExperimentID string `json:"experiment_id"`
		Key          string `json:"key"`
		Value        string `json:"value"`
	}
	if err := h.decode(r, &req); err != nil {
		return nil, err
	}
	if err := firstErr(required("experiment_id", req.ExperimentID), required("key", req.Key)); err != nil {
		return nil, err
	}
	return empty{}, h.store.SetExperimentTag(r.Context(), req.ExperimentID, req.Key, req.Value)
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (h *handler) createRun(r *http.Request) (any, error) {
	var req struct {
		ExperimentID string    `json:"experiment_id"`
		UserID       string    `json:"user_id"`
		StartTime    jsonInt   `json:"start_time"`
		Tags         []wireTag `json:"tags"`
		RunName      string    `json:"run_name"`
	}
	if err := h.decode(r, &req); err != nil {
		return nil, err
	}
	tags := tagsIn(req.Tags)
	if tags == nil {
		tags = map[string]string{}
	}
	if req.UserID != "" && tags[tagUser] == "" {
		tags[tagUser] = req.UserID
	}
	name := req.RunName
	if name == "" {
		name = tags[tagRunName]
	}
	parent := tags[tagParentRunID]
	delete(tags, tagRunName)
	delete(tags, tagParentRunID)
	run, err := h.store.CreateRun(r.Context(), mlops.RunCreate{
		ExperimentID: req.ExperimentID, Name: name, ParentID: parent, StartTime: fromMs(req.StartTime), Tags: tags,
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"run": h.runOut(run)}, nil
}

// runIDReq is embedded by run calls: MLflow clients send run_id and the
// deprecated run_uuid.
type runIDReq struct {
	RunID   string `json:"run_id"`
	RunUUID string `json:"run_uuid"`
}

func (q runIDReq) id() (string, error) {
	id := q.RunID
	if id == "" {
		id = q.RunUUID
	}
	return id, required("run_id", id)
}

func (h *handler) updateRun(r *http.Request) (any, error) {
	var req struct {
		runIDReq
		Status  string  `json:"status"`
		EndTime jsonInt `json:"end_time"`
		RunName string  `json:"run_name"`
	}
	if err := h.decode(r, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	run, err := h.store.UpdateRun(r.Context(), id, mlops.RunUpdate{
		Status: mlops.RunStatus(strings.ToUpper(req.Status)), EndTime: fromMs(req.EndTime), Name: req.RunName,
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"run_info": h.runInfoOut(run)}, nil
}

func (h *handler) runID(r *http.Request) (string, error) {
	var req runIDReq
	if err := h.decode(r, &req); err != nil {
		return "", err
	}
	return req.id()
}

func (h *handler) deleteRun(r *http.Request) (any, error) {
	id, err := h.runID(r)
	if err != nil {
		return nil, err
	}
	return empty{}, h.store.DeleteRun(r.Context(), id)
}

func (h *handler) restoreRun(r *http.Request) (any, error) {
	id, err := h.runID(r)
	if err != nil {
		return nil, err
	}
	return empty{}, h.store.RestoreRun(r.Context(), id)
}

func (h *handler) getRun(r *http.Request) (any, error) {
	id, err := h.runID(r)
	if err != nil {
		return nil, err
	}
	run, err := h.store.GetRun(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"run": h.runOut(run)}, nil
}

func (h *handler) searchRuns(r *http.Request) (any, error) {
	var req struct {
		ExperimentIDs stringList `json:"experiment_ids"`
		Filter        string     `json:"filter"`
		RunViewType   string     `json:"run_view_type"`
		MaxResults    jsonInt    `json:"max_results"`
		OrderBy       stringList `json:"order_by"`
		PageToken     string     `json:"page_token"`
	}
	if err := h.decode(r, &req); err != nil {
		return nil, err
	}
	all, onlyDeleted, err := viewType(req.RunViewType)
	if err != nil {
		return nil, err
	}
	filter := req.Filter
	if onlyDeleted {
		filter = joinFilter(filter, "attributes.lifecycle_stage = 'deleted'")
	}
	runs, next, err := h.store.SearchRuns(r.Context(), mlops.RunFilter{
		ExperimentIDs: req.ExperimentIDs, Filter: filter, OrderBy: req.OrderBy,
		MaxResults: int(req.MaxResults), PageToken: req.PageToken, ViewDeleted: all,
	})
	if err != nil {
		return nil, err
	}
	out := make([]wireRun, 0, len(runs))
	for _, run := range runs {
		out = append(out, h.runOut(run))
	}
	return searchResp("runs", out, next), nil
}

func joinFilter(a, b string) string {
	if strings.TrimSpace(a) == "" {
		return b
	}
	return a + " AND " + b
}

func (h *handler) logMetric(r *http.Request) (any, error) {
	var req struct {
		runIDReq
		wireMetric
	}
	if err := h.decode(r, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	if err := required("key", req.Key); err != nil {
		return nil, err
	}
	return empty{}, h.store.LogBatch(r.Context(), id, []mlops.Metric{metricIn(req.wireMetric)}, nil, nil)
}

// metricIn converts a logged metric; a missing timestamp means now.
func metricIn(m wireMetric) mlops.Metric {
	ts := fromMs(m.Timestamp)
	if ts.IsZero() {
		ts = time.Now()
	}
	return mlops.Metric{Key: m.Key, Value: float64(m.Value), Timestamp: ts, Step: int64(m.Step)}
}

type kvReq struct {
	runIDReq
	Key   string `json:"key"`
	Value string `json:"value"`
}

func (h *handler) kv(r *http.Request) (id string, req kvReq, err error) {
	if err := h.decode(r, &req); err != nil {
		return "", req, err
	}
	if id, err = req.id(); err != nil {
		return "", req, err
	}
	return id, req, required("key", req.Key)
}

func (h *handler) logParam(r *http.Request) (any, error) {
	id, req, err := h.kv(r)
	if err != nil {
		return nil, err
	}
	return empty{}, h.store.LogBatch(r.Context(), id, nil, []mlops.Param{{Key: req.Key, Value: req.Value}}, nil)
}

// setTag sets a run tag; mlflow.runName renames the run, as in MLflow.
func (h *handler) setTag(r *http.Request) (any, error) {
	id, req, err := h.kv(r)
	if err != nil {
		return nil, err
	}
	if req.Key == tagRunName && req.Value != "" {
		_, err := h.store.UpdateRun(r.Context(), id, mlops.RunUpdate{Name: req.Value})
		return empty{}, err
	}
	return empty{}, h.store.LogBatch(r.Context(), id, nil, nil, []mlops.Tag{{Key: req.Key, Value: req.Value}})
}

func (h *handler) deleteTag(r *http.Request) (any, error) {
	id, req, err := h.kv(r)
	if err != nil {
		return nil, err
	}
	return empty{}, h.store.DeleteTag(r.Context(), id, req.Key)
}

func (h *handler) logBatch(r *http.Request) (any, error) {
	var req struct {
		runIDReq
		Metrics []wireMetric `json:"metrics"`
		Params  []wireTag    `json:"params"`
		Tags    []wireTag    `json:"tags"`
	}
	if err := h.decode(r, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	if err := batchLimits(len(req.Metrics), len(req.Params), len(req.Tags)); err != nil {
		return nil, err
	}
	metrics := make([]mlops.Metric, 0, len(req.Metrics))
	for _, m := range req.Metrics {
		metrics = append(metrics, metricIn(m))
	}
	params := make([]mlops.Param, 0, len(req.Params))
	for _, p := range req.Params {
		params = append(params, mlops.Param(p))
	}
	tags := make([]mlops.Tag, 0, len(req.Tags))
	for _, t := range req.Tags {
		tags = append(tags, mlops.Tag(t))
	}
	return empty{}, h.store.LogBatch(r.Context(), id, metrics, params, tags)
}

// batchLimits enforces MLflow's log-batch limits.
func batchLimits(metrics, params, tags int) error {
	switch {
	case metrics+params+tags > maxBatchEntities:
		return mlops.Errorf(mlops.EINVALID, "A batch logging request can contain at most %d metrics, params, and tags in total. Got %d.", maxBatchEntities, metrics+params+tags)
	case params > maxBatchParams:
		return mlops.Errorf(mlops.EINVALID, "A batch logging request can contain at most %d params. Got %d.", maxBatchParams, params)
	case tags > maxBatchTags:
		return mlops.Errorf(mlops.EINVALID, "A batch logging request can contain at most %d tags. Got %d.", maxBatchTags, tags)
	}
	return nil
}

// logInputs keeps each dataset input in a run tag mlops.input.<name>.<digest>
// (the domain has no dataset entity); runs/get shows them as inputs.
func (h *handler) logInputs(r *http.Request) (any, error) {
	var req struct {
		runIDReq
		Datasets []wireDatasetInput `json:"datasets"`
	}
	if err := h.decode(r, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	tags := make([]mlops.Tag, 0, len(req.Datasets))
	for i, d := range req.Datasets {
		if d.Dataset.Name == "" || d.Dataset.Digest == "" {
			return nil, mlops.Errorf(mlops.EINVALID, "datasets[%d]: dataset name and digest are required", i)
		}
		tags = append(tags, mlops.Tag{Key: tagInputPrefix + d.Dataset.Name + "." + d.Dataset.Digest, Value: compactJSON(d)})
	}
	return empty{}, h.store.LogBatch(r.Context(), id, nil, nil, tags)
}

// logModel appends the model's metadata to the run's
// mlflow.log-model.history tag, which is where MLflow keeps it too.
func (h *handler) logModel(r *http.Request) (any, error) {
	var req struct {
		runIDReq
		ModelJSON string `json:"model_json"`
	}
	if err := h.decode(r, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	var model any
	if err := json.Unmarshal([]byte(req.ModelJSON), &model); err != nil {
		return nil, mlops.Errorf(mlops.EINVALID, "model_json is not valid JSON: %v", err)
	}
	run, err := h.store.GetRun(r.Context(), id)
	if err != nil {
		return nil, err
	}
	var history []any
	if old := run.Tags[tagLoggedModel]; old != "" {
		_ = json.Unmarshal([]byte(old), &history)
	}
	history = append(history, model)
	return empty{}, h.store.LogBatch(r.Context(), id, nil, nil, []mlops.Tag{{Key: tagLoggedModel, Value: compactJSON(history)}})
}

func (h *handler) metricHistory(r *http.Request) (any, error) {
	var req struct {
		runIDReq
		MetricKey  string  `json:"metric_key"`
		MaxResults jsonInt `json:"max_results"`
		PageToken  string  `json:"page_token"`
	}
	if err := h.decode(r, &req); err != nil {
		return nil, err
	}
	id, err := req.id()
	if err != nil {
		return nil, err
	}
	if err := required("metric_key", req.MetricKey); err != nil {
		return nil, err
	}
	hist, err := h.store.MetricHistory(r.Context(), id, req.MetricKey)
	if err != nil {
		return nil, err
	}
	offset, err := search.DecodePageToken(req.PageToken)
	if err != nil {
		return nil, err
	}
	limit := int(req.MaxResults)
	if limit <= 0 {
		limit = len(hist)
	}
	out := []wireMetric{}
	next := ""
	for i := offset; i < len(hist); i++ {
		if len(out) == limit {
			next = search.EncodePageToken(i)
			break
		}
		out = append(out, metricOut(hist[i]))
	}
	return searchResp("metrics", out, next), nil
}
