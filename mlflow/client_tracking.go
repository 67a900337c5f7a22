package mlflow

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/housing-mlops/mlops"
)

// clientPage is the page size the client asks for when it lists
// everything.
const clientPage = 1000

func experimentIn(w wireExperiment) *mlops.Experiment {
	return &mlops.Experiment{
		ID: w.ExperimentID, Name: w.Name, ArtifactLocation: w.ArtifactLocation, LifecycleStage: w.LifecycleStage,
		Tags: tagsIn(w.Tags), CreatedAt: fromMs(w.CreationTime), UpdatedAt: fromMs(w.LastUpdateTime),
	}
}

func runIn(w wireRun) *mlops.Run {
	tags := tagsIn(w.Data.Tags)
	r := &mlops.Run{
		ID: w.Info.RunID, ExperimentID: w.Info.ExperimentID, Name: w.Info.RunName,
		ParentID: tags[tagParentRunID], Status: mlops.RunStatus(w.Info.Status),
		StartTime: fromMs(w.Info.StartTime), EndTime: fromMs(w.Info.EndTime),
		ArtifactURI: w.Info.ArtifactURI, LifecycleStage: w.Info.LifecycleStage,
		Params: tagsIn(w.Data.Params), Tags: tags,
	}
	if r.ID == "" {
		r.ID = w.Info.RunUUID
	}
	if r.Name == "" {
		r.Name = tags[tagRunName]
	}
	for _, m := range w.Data.Metrics {
		r.Metrics = append(r.Metrics, mlops.Metric{Key: m.Key, Value: float64(m.Value), Timestamp: fromMs(m.Timestamp), Step: int64(m.Step)})
	}
	sort.Slice(r.Metrics, func(i, j int) bool { return r.Metrics[i].Key < r.Metrics[j].Key })
	return r
}

// CreateExperiment creates an experiment and reads it back.
func (c *Client) CreateExperiment(ctx context.Context, name, artifactLocation string, tags map[string]string) (*mlops.Experiment, error) {
	req := map[string]any{"name": name, "tags": tagsOut(tags)}
	if artifactLocation != "" {
		req["artifact_location"] = artifactLocation
	}
	var resp struct {
		ExperimentID string `json:"experiment_id"`
	}
	if err := c.api(ctx, http.MethodPost, "experiments/create", false, req, &resp); err != nil {
		return nil, err
	}
	return c.GetExperiment(ctx, resp.ExperimentID)
}

// GetExperiment reads an experiment by id.
func (c *Client) GetExperiment(ctx context.Context, id string) (*mlops.Experiment, error) {
	var resp struct {
		Experiment wireExperiment `json:"experiment"`
	}
	if err := c.api(ctx, http.MethodGet, "experiments/get", true, url.Values{"experiment_id": {id}}, &resp); err != nil {
		return nil, err
	}
	return experimentIn(resp.Experiment), nil
}

// GetExperimentByName reads an experiment by name.
func (c *Client) GetExperimentByName(ctx context.Context, name string) (*mlops.Experiment, error) {
	var resp struct {
		Experiment wireExperiment `json:"experiment"`
	}
	if err := c.api(ctx, http.MethodGet, "experiments/get-by-name", true, url.Values{"experiment_name": {name}}, &resp); err != nil {
		return nil, err
	}
	return experimentIn(resp.Experiment), nil
}

// SearchExperiments lists every experiment (active, or all), page by page.
func (c *Client) SearchExperiments(ctx context.Context, viewDeleted bool) ([]*mlops.Experiment, error) {
	view := "ACTIVE_ONLY"
	if viewDeleted {
		view = "ALL"
	}
	var out []*mlops.Experiment
	token := ""
	for {
		req := map[string]any{"max_results": clientPage, "view_type": view}
		if token != "" {
			req["page_token"] = token
		}
		var resp struct {
			Experiments   []wireExperiment `json:"experiments"`
			NextPageToken string           `json:"next_page_token"`
		}
		if err := c.api(ctx, http.MethodPost, "experiments/search", true, req, &resp); err != nil {
			return nil, err
		}
		for _, e := range resp.Experiments {
			out = append(out, experimentIn(e))
		}
		if resp.NextPageToken == "" || resp.NextPageToken == token {
			sortExperiments(out)
			return out, nil
		}
		token = resp.NextPageToken
	}
}

// sortExperiments orders by numeric id, as the SQL stores list them.
func sortExperiments(es []*mlops.Experiment) {
	sort.SliceStable(es, func(i, j int) bool {
		a, errA := strconv.ParseInt(es[i].ID, 10, 64)
		b, errB := strconv.ParseInt(es[j].ID, 10, 64)
		if errA != nil || errB != nil {
			return es[i].ID < es[j].ID
		}
		return a < b
	})
}

// RenameExperiment renames an experiment.
func (c *Client) RenameExperiment(ctx context.Context, id, name string) error {
	return c.api(ctx, http.MethodPost, "experiments/update", true, map[string]string{"experiment_id": id, "new_name": name}, nil)
}

// DeleteExperiment soft-deletes an experiment.
func (c *Client) DeleteExperiment(ctx context.Context, id string) error {
	return c.api(ctx, http.MethodPost, "experiments/delete", true, map[string]string{"experiment_id": id}, nil)
}

// RestoreExperiment undoes DeleteExperiment.
func (c *Client) RestoreExperiment(ctx context.Context, id string) error {
	return c.api(ctx, http.MethodPost, "experiments/restore", true, map[string]string{"experiment_id": id}, nil)
}

// SetExperimentTag sets (overwrites) an experiment tag.
func (c *Client) SetExperimentTag(ctx context.Context, id, key, value string) error {
	return c.api(ctx, http.MethodPost, "experiments/set-experiment-tag", true, map[string]string{"experiment_id": id, "key": key, "value": value}, nil)
}

// CreateRun starts a run. The parent is recorded as MLflow's
// mlflow.parentRunId tag; it must exist (MLflow itself does not check).
func (c *Client) CreateRun(ctx context.Context, rc mlops.RunCreate) (*mlops.Run, error) {
	exp := rc.ExperimentID
	if exp == "" {
		exp = "0"
	}
	tags := cloneMap(rc.Tags)
	if rc.ParentID != "" {
		if _, err := c.GetRun(ctx, rc.ParentID); err != nil {
			if isCode(err, mlops.ENOTFOUND) {
				return nil, mlops.Errorf(mlops.ENOTFOUND, "parent run %q not found", rc.ParentID)
			}
			return nil, err
		}
		tags[tagParentRunID] = rc.ParentID
	}
	if rc.Name != "" {
		tags[tagRunName] = rc.Name
	}
	req := map[string]any{"experiment_id": exp, "tags": tagsOut(tags)}
	if rc.Name != "" {
		req["run_name"] = rc.Name
	}
	if !rc.StartTime.IsZero() {
		req["start_time"] = toMs(rc.StartTime)
	}
	var resp struct {
		Run wireRun `json:"run"`
	}
	if err := c.api(ctx, http.MethodPost, "runs/create", false, req, &resp); err != nil {
		return nil, err
	}
	return runIn(resp.Run), nil
}

// GetRun reads a run with its params, tags and latest metrics.
func (c *Client) GetRun(ctx context.Context, id string) (*mlops.Run, error) {
	var resp struct {
		Run wireRun `json:"run"`
	}
	if err := c.api(ctx, http.MethodGet, "runs/get", true, url.Values{"run_id": {id}}, &resp); err != nil {
		return nil, err
	}
	return runIn(resp.Run), nil
}

// UpdateRun changes status, end time or name, then reads the run back.
func (c *Client) UpdateRun(ctx context.Context, id string, u mlops.RunUpdate) (*mlops.Run, error) {
	req := map[string]any{"run_id": id, "run_uuid": id}
	if u.Status != "" {
		req["status"] = string(u.Status)
	}
	if !u.EndTime.IsZero() {
		req["end_time"] = toMs(u.EndTime)
	}
	if u.Name != "" {
		req["run_name"] = u.Name
	}
	if err := c.api(ctx, http.MethodPost, "runs/update", true, req, nil); err != nil {
		return nil, err
	}
	return c.GetRun(ctx, id)
}

// DeleteRun soft-deletes a run.
func (c *Client) DeleteRun(ctx context.Context, id string) error {
	return c.api(ctx, http.MethodPost, "runs/delete", true, map[string]string{"run_id": id}, nil)
}

// RestoreRun undoes DeleteRun.
func (c *Client) RestoreRun(ctx context.Context, id string) error {
	return c.api(ctx, http.MethodPost, "runs/restore", true, map[string]string{"run_id": id}, nil)
}

// SearchRuns runs one page of MLflow's runs/search. The filter's ParentID
// and Tags become tags.* clauses; no experiment ids means every
// experiment (MLflow requires a list, so the client fetches it).
func (c *Client) SearchRuns(ctx context.Context, f mlops.RunFilter) ([]*mlops.Run, string, error) {
	filter, err := runFilterString(f)
	if err != nil {
		return nil, "", err
	}
	ids := f.ExperimentIDs
	if len(ids) == 0 {
		exps, err := c.SearchExperiments(ctx, f.ViewDeleted)
		if err != nil {
			return nil, "", err
		}
		for _, e := range exps {
			ids = append(ids, e.ID)
		}
	}
	view := "ACTIVE_ONLY"
	if f.ViewDeleted {
		view = "ALL"
	}
	req := map[string]any{"experiment_ids": ids, "filter": filter, "run_view_type": view}
	if f.MaxResults != 0 {
		req["max_results"] = f.MaxResults
	}
	if len(f.OrderBy) > 0 {
		req["order_by"] = f.OrderBy
	}
	if f.PageToken != "" {
		req["page_token"] = f.PageToken
	}
	var resp struct {
		Runs          []wireRun `json:"runs"`
		NextPageToken string    `json:"next_page_token"`
	}
	if err := c.api(ctx, http.MethodPost, "runs/search", true, req, &resp); err != nil {
		return nil, "", err
	}
	runs := make([]*mlops.Run, 0, len(resp.Runs))
	for _, r := range resp.Runs {
		runs = append(runs, runIn(r))
	}
	return runs, resp.NextPageToken, nil
}

// runFilterString folds ParentID and Tags into the filter string.
func runFilterString(f mlops.RunFilter) (string, error) {
	var parts []string
	if s := strings.TrimSpace(f.Filter); s != "" {
		parts = append(parts, s)
	}
	tags := cloneMap(f.Tags)
	if f.ParentID != "" {
		tags[tagParentRunID] = f.ParentID
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		q, err := quote(tags[k])
		if err != nil {
			return "", err
		}
		parts = append(parts, "tags."+backtick(k)+" = "+q)
	}
	return strings.Join(parts, " AND "), nil
}

// LogBatch sends metrics, params and tags with runs/log-batch, split into
// requests within MLflow's limits (1000 entities, 100 params, 100 tags).
// Params go first so that a conflicting param fails before any metric is
// written; a batch split in several requests is not atomic.
func (c *Client) LogBatch(ctx context.Context, runID string, metrics []mlops.Metric, params []mlops.Param, tags []mlops.Tag) error {
	if runID == "" {
		return mlops.Errorf(mlops.EINVALID, "log batch: empty run id")
	}
	for len(metrics)+len(params)+len(tags) > 0 {
		req := map[string]any{"run_id": runID}
		np := min(len(params), maxBatchParams)
		nt := min(len(tags), maxBatchTags)
		nm := min(len(metrics), maxBatchEntities-np-nt)
		ps := make([]wireTag, 0, np)
		for _, p := range params[:np] {
			ps = append(ps, wireTag(p))
		}
		ts := make([]wireTag, 0, nt)
		for _, t := range tags[:nt] {
			ts = append(ts, wireTag(t))
		}
		ms := make([]wireMetric, 0, nm)
		for _, m := range metrics[:nm] {
			ms = append(ms, metricOut(m))
		}
		req["params"], req["tags"], req["metrics"] = ps, ts, ms
		// Params and tags alone are idempotent; metrics append.
		if err := c.api(ctx, http.MethodPost, "runs/log-batch", nm == 0, req, nil); err != nil {
			return err
		}
		params, tags, metrics = params[np:], tags[nt:], metrics[nm:]
	}
	return nil
}

// DeleteTag removes a run tag.
func (c *Client) DeleteTag(ctx context.Context, runID, key string) error {
	return c.api(ctx, http.MethodPost, "runs/delete-tag", true, map[string]string{"run_id": runID, "key": key}, nil)
}

// MetricHistory returns every logged value of a metric, page by page.
func (c *Client) MetricHistory(ctx context.Context, runID, key string) ([]mlops.Metric, error) {
	var out []mlops.Metric
	token := ""
	for {
		q := url.Values{"run_id": {runID}, "metric_key": {key}}
		if token != "" {
			q.Set("page_token", token)
		}
		var resp struct {
			Metrics       []wireMetric `json:"metrics"`
			NextPageToken string       `json:"next_page_token"`
		}
		if err := c.api(ctx, http.MethodGet, "metrics/get-history", true, q, &resp); err != nil {
			return nil, err
		}
		for _, m := range resp.Metrics {
			out = append(out, mlops.Metric{Key: m.Key, Value: float64(m.Value), Timestamp: fromMs(m.Timestamp), Step: int64(m.Step)})
		}
		if resp.NextPageToken == "" || resp.NextPageToken == token {
			return out, nil
		}
		token = resp.NextPageToken
	}
}
