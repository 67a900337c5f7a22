package mlflow

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/housing-mlops/mlops"
)

// modelIn converts a registered model; the transition-log tags are not
// shown as tags.
func modelIn(w wireRegisteredModel) *mlops.RegisteredModel {
	tags := tagsIn(w.Tags)
	for k := range tags {
		if strings.HasPrefix(k, TagTransitionPrefix) {
			delete(tags, k)
		}
	}
	if len(tags) == 0 {
		tags = nil
	}
	m := &mlops.RegisteredModel{
		Name: w.Name, Description: w.Description, Tags: tags,
		CreatedAt: fromMs(w.CreationTimestamp), UpdatedAt: fromMs(w.LastUpdatedTimestamp),
	}
	for _, a := range w.Aliases {
		if v, err := strconv.Atoi(string(a.Version)); err == nil {
			if m.Aliases == nil {
				m.Aliases = map[string]int{}
			}
			m.Aliases[a.Alias] = v
		}
	}
	return m
}

func versionIn(w wireModelVersion) (*mlops.ModelVersion, error) {
	v, err := strconv.Atoi(string(w.Version))
	if err != nil {
		return nil, mlops.Errorf(mlops.EINTERNAL, "MLflow answered model version %q of %s: not a number", string(w.Version), w.Name)
	}
	tags := tagsIn(w.Tags)
	sha := tags[TagSHA256]
	delete(tags, TagSHA256)
	if len(tags) == 0 {
		tags = nil
	}
	mv := &mlops.ModelVersion{
		Name: w.Name, Version: v, Source: w.Source, SHA256: sha, RunID: w.RunID,
		Stage: mlops.Stage(w.CurrentStage), Description: w.Description, Tags: tags,
		Aliases:   w.Aliases,
		CreatedAt: fromMs(w.CreationTimestamp), UpdatedAt: fromMs(w.LastUpdatedTimestamp),
	}
	if mv.Stage == "" {
		mv.Stage = mlops.StageNone
	}
	return mv, nil
}

type modelResp struct {
	RegisteredModel wireRegisteredModel `json:"registered_model"`
}

type versionResponse struct {
	ModelVersion wireModelVersion `json:"model_version"`
}

// CreateRegisteredModel creates a registered model.
func (c *Client) CreateRegisteredModel(ctx context.Context, name, description string, tags map[string]string) (*mlops.RegisteredModel, error) {
	var resp modelResp
	req := map[string]any{"name": name, "description": description, "tags": tagsOut(tags)}
	if err := c.api(ctx, http.MethodPost, "registered-models/create", false, req, &resp); err != nil {
		return nil, err
	}
	return modelIn(resp.RegisteredModel), nil
}

// GetRegisteredModel reads a registered model with its tags and aliases.
func (c *Client) GetRegisteredModel(ctx context.Context, name string) (*mlops.RegisteredModel, error) {
	w, err := c.getModel(ctx, name)
	if err != nil {
		return nil, err
	}
	return modelIn(w), nil
}

func (c *Client) getModel(ctx context.Context, name string) (wireRegisteredModel, error) {
	var resp modelResp
	err := c.api(ctx, http.MethodGet, "registered-models/get", true, url.Values{"name": {name}}, &resp)
	return resp.RegisteredModel, err
}

// SearchRegisteredModels lists the models whose name matches the SQL LIKE
// pattern nameLike ("" lists all), page by page.
func (c *Client) SearchRegisteredModels(ctx context.Context, nameLike string) ([]*mlops.RegisteredModel, error) {
	filter := ""
	if nameLike != "" {
		q, err := quote(nameLike)
		if err != nil {
			return nil, err
		}
		filter = "name LIKE " + q
	}
	var out []*mlops.RegisteredModel
	token := ""
	for {
		q := url.Values{"max_results": {strconv.Itoa(maxModelResults)}}
		if filter != "" {
			q.Set("filter", filter)
		}
		if token != "" {
			q.Set("page_token", token)
		}
		var resp struct {
			RegisteredModels []wireRegisteredModel `json:"registered_models"`
			NextPageToken    string                `json:"next_page_token"`
		}
		if err := c.api(ctx, http.MethodGet, "registered-models/search", true, q, &resp); err != nil {
			return nil, err
		}
		for _, m := range resp.RegisteredModels {
			out = append(out, modelIn(m))
		}
		if resp.NextPageToken == "" || resp.NextPageToken == token {
			return out, nil
		}
		token = resp.NextPageToken
	}
}

// RenameRegisteredModel renames a model.
func (c *Client) RenameRegisteredModel(ctx context.Context, name, newName string) (*mlops.RegisteredModel, error) {
	var resp modelResp
	if err := c.api(ctx, http.MethodPost, "registered-models/rename", false, map[string]string{"name": name, "new_name": newName}, &resp); err != nil {
		return nil, err
	}
	return modelIn(resp.RegisteredModel), nil
}

// UpdateRegisteredModel sets a model's description.
func (c *Client) UpdateRegisteredModel(ctx context.Context, name, description string) (*mlops.RegisteredModel, error) {
	var resp modelResp
	if err := c.api(ctx, http.MethodPatch, "registered-models/update", true, map[string]string{"name": name, "description": description}, &resp); err != nil {
		return nil, err
	}
	return modelIn(resp.RegisteredModel), nil
}

// DeleteRegisteredModel deletes a model with its versions.
func (c *Client) DeleteRegisteredModel(ctx context.Context, name string) error {
	return c.api(ctx, http.MethodDelete, "registered-models/delete", true, map[string]string{"name": name}, nil)
}

// SetRegisteredModelTag sets a model tag.
func (c *Client) SetRegisteredModelTag(ctx context.Context, name, key, value string) error {
	return c.api(ctx, http.MethodPost, "registered-models/set-tag", true, map[string]string{"name": name, "key": key, "value": value}, nil)
}

// DeleteRegisteredModelTag removes a model tag.
func (c *Client) DeleteRegisteredModelTag(ctx context.Context, name, key string) error {
	return c.api(ctx, http.MethodDelete, "registered-models/delete-tag", true, map[string]string{"name": name, "key": key}, nil)
}

// CreateModelVersion creates the model if needed, then registers a version.
// The digest travels as the mlops.sha256 tag. A version MLflow registers
// asynchronously is awaited until READY.
func (c *Client) CreateModelVersion(ctx context.Context, mc mlops.ModelVersionCreate) (*mlops.ModelVersion, error) {
	if _, err := c.CreateRegisteredModel(ctx, mc.Name, "", nil); err != nil && !isCode(err, mlops.EEXISTS) {
		return nil, err
	}
	tags := cloneMap(mc.Tags)
	if mc.SHA256 != "" {
		tags[TagSHA256] = mc.SHA256
	}
	req := map[string]any{"name": mc.Name, "source": mc.Source, "tags": tagsOut(tags), "description": mc.Description}
	if mc.RunID != "" {
		req["run_id"] = mc.RunID
	}
	var resp versionResponse
	if err := c.api(ctx, http.MethodPost, "model-versions/create", false, req, &resp); err != nil {
		return nil, err
	}
	return c.awaitReady(ctx, resp.ModelVersion)
}

// awaitReady polls a version registered as PENDING_REGISTRATION.
func (c *Client) awaitReady(ctx context.Context, w wireModelVersion) (*mlops.ModelVersion, error) {
	wait := c.opts.Backoff
	for i := 0; ; i++ {
		switch w.Status {
		case "", ModelVersionStatusReady:
			return versionIn(w)
		case "FAILED_REGISTRATION":
			return nil, mlops.Errorf(mlops.EINTERNAL, "MLflow failed to register %s version %s: %s", w.Name, string(w.Version), w.StatusMessage)
		}
		if i == 20 {
			return nil, mlops.Errorf(mlops.EINTERNAL, "%s version %s still %s after %d polls", w.Name, string(w.Version), w.Status, i)
		}
		if err := sleepCtx(ctx, wait); err != nil {
			return nil, err
		}
		wait = min(2*wait, 5*time.Second)
		var resp versionResponse
		q := url.Values{"name": {w.Name}, "version": {string(w.Version)}}
		if err := c.api(ctx, http.MethodGet, "model-versions/get", true, q, &resp); err != nil {
			return nil, err
		}
		w = resp.ModelVersion
	}
}

// GetModelVersion reads one version.
func (c *Client) GetModelVersion(ctx context.Context, name string, version int) (*mlops.ModelVersion, error) {
	var resp versionResponse
	q := url.Values{"name": {name}, "version": {strconv.Itoa(version)}}
	if err := c.api(ctx, http.MethodGet, "model-versions/get", true, q, &resp); err != nil {
		return nil, err
	}
	return versionIn(resp.ModelVersion)
}

// SearchModelVersions lists a model's versions, oldest first.
func (c *Client) SearchModelVersions(ctx context.Context, name string) ([]*mlops.ModelVersion, error) {
	qn, err := quote(name)
	if err != nil {
		return nil, err
	}
	var out []*mlops.ModelVersion
	token := ""
	for {
		q := url.Values{"filter": {"name = " + qn}, "max_results": {strconv.Itoa(clientPage)}}
		if token != "" {
			q.Set("page_token", token)
		}
		var resp struct {
			ModelVersions []wireModelVersion `json:"model_versions"`
			NextPageToken string             `json:"next_page_token"`
		}
		if err := c.api(ctx, http.MethodGet, "model-versions/search", true, q, &resp); err != nil {
			return nil, err
		}
		for _, w := range resp.ModelVersions {
			v, err := versionIn(w)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		if resp.NextPageToken == "" || resp.NextPageToken == token {
			break
		}
		token = resp.NextPageToken
	}
	if len(out) == 0 {
		// MLflow answers an empty list for an unknown model; the domain
		// says ENOTFOUND.
		if _, err := c.GetRegisteredModel(ctx, name); err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// UpdateModelVersion sets a version's description.
func (c *Client) UpdateModelVersion(ctx context.Context, name string, version int, description string) (*mlops.ModelVersion, error) {
	var resp versionResponse
	req := map[string]string{"name": name, "version": strconv.Itoa(version), "description": description}
	if err := c.api(ctx, http.MethodPatch, "model-versions/update", true, req, &resp); err != nil {
		return nil, err
	}
	return versionIn(resp.ModelVersion)
}

// DeleteModelVersion deletes one version.
func (c *Client) DeleteModelVersion(ctx context.Context, name string, version int) error {
	return c.api(ctx, http.MethodDelete, "model-versions/delete", true, map[string]string{"name": name, "version": strconv.Itoa(version)}, nil)
}

// SetModelVersionTag sets a version tag.
func (c *Client) SetModelVersionTag(ctx context.Context, name string, version int, key, value string) error {
	req := map[string]string{"name": name, "version": strconv.Itoa(version), "key": key, "value": value}
	return c.api(ctx, http.MethodPost, "model-versions/set-tag", true, req, nil)
}

// DeleteModelVersionTag removes a version tag.
func (c *Client) DeleteModelVersionTag(ctx context.Context, name string, version int, key string) error {
	req := map[string]string{"name": name, "version": strconv.Itoa(version), "key": key}
	return c.api(ctx, http.MethodDelete, "model-versions/delete-tag", true, req, nil)
}

// TransitionStage moves a version to stage with MLflow's
// transition-stage, then appends the change (after the versions it
// archived, as the SQL stores order them) to the transition log kept in
// the model's tags.
func (c *Client) TransitionStage(ctx context.Context, name string, version int, stage mlops.Stage, archiveExisting bool, a mlops.Actor) (*mlops.ModelVersion, error) {
	stage, err := mlops.ParseStage(string(stage))
	if err != nil {
		return nil, err
	}
	before, err := c.SearchModelVersions(ctx, name)
	if err != nil {
		return nil, err
	}
	mv, err := c.setStage(ctx, name, version, stage, archiveExisting)
	if err != nil {
		return nil, err
	}
	var archived, moved []logEntry
	for _, v := range before {
		switch {
		case v.Version == version && v.Stage != stage:
			moved = append(moved, logEntry{Version: version, Kind: mlops.TransitionStage, From: string(v.Stage), To: string(stage)})
		case v.Version != version && archiveExisting && v.Stage == stage && stage != mlops.StageNone && stage != mlops.StageArchived:
			archived = append(archived, logEntry{Version: v.Version, Kind: mlops.TransitionStage, From: string(stage), To: string(mlops.StageArchived)})
		}
	}
	return mv, c.appendLog(ctx, name, a, append(archived, moved...)...)
}

// setStage calls transition-stage alone.
func (c *Client) setStage(ctx context.Context, name string, version int, stage mlops.Stage, archiveExisting bool) (*mlops.ModelVersion, error) {
	var resp versionResponse
	req := map[string]any{"name": name, "version": strconv.Itoa(version), "stage": string(stage), "archive_existing_versions": archiveExisting}
	if err := c.api(ctx, http.MethodPost, "model-versions/transition-stage", true, req, &resp); err != nil {
		return nil, err
	}
	return versionIn(resp.ModelVersion)
}

// logEntry is one transition as stored in a registered-model tag.
type logEntry struct {
	Version  int    `json:"version"`
	Kind     string `json:"kind"`
	Alias    string `json:"alias,omitempty"`
	From     string `json:"from"`
	To       string `json:"to"`
	At       int64  `json:"at"`
	By       string `json:"by,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Rollback bool   `json:"rollback,omitempty"`
}

// appendLog writes entries as mlops.transition.NNNNNNNN tags numbered
// after the existing ones. Two writers racing may both pick a number and
// one entry is lost: the log is best effort on an MLflow backend.
func (c *Client) appendLog(ctx context.Context, name string, a mlops.Actor, entries ...logEntry) error {
	if len(entries) == 0 {
		return nil
	}
	log, err := c.readLog(ctx, name)
	if err != nil {
		return err
	}
	next := len(log) + 1
	now := time.Now().UnixMilli()
	for _, e := range entries {
		e.At, e.By, e.Reason = now, a.By, a.Reason
		key := fmt.Sprintf("%s%08d", TagTransitionPrefix, next)
		if err := c.SetRegisteredModelTag(ctx, name, key, compactJSON(e)); err != nil {
			return fmt.Errorf("record transition of %s in the model's tags: %w", name, err)
		}
		next++
	}
	return nil
}

// readLog returns the transition log in order, with each entry's id.
func (c *Client) readLog(ctx context.Context, name string) ([]mlops.Transition, error) {
	w, err := c.getModel(ctx, name)
	if err != nil {
		return nil, err
	}
	return parseLog(name, tagsIn(w.Tags))
}

// parseLog decodes the log tags in order; which entries were rollbacks is
// told by rollbackIDs, since mlops.Transition has no such field.
func parseLog(name string, tags map[string]string) ([]mlops.Transition, error) {
	var keys []string
	for k := range tags {
		if strings.HasPrefix(k, TagTransitionPrefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([]mlops.Transition, 0, len(keys))
	for _, k := range keys {
		var e logEntry
		if err := json.Unmarshal([]byte(tags[k]), &e); err != nil {
			return nil, mlops.Errorf(mlops.EINTERNAL, "model %s: transition tag %s is not valid JSON: %v", name, k, err)
		}
		id, _ := strconv.ParseInt(strings.TrimPrefix(k, TagTransitionPrefix), 10, 64)
		out = append(out, mlops.Transition{
			ID: id, Name: name, Version: e.Version, Kind: e.Kind, Alias: e.Alias, From: e.From, To: e.To,
			At: time.UnixMilli(e.At).UTC(), By: e.By, Reason: e.Reason,
		})
	}
	return out, nil
}

// rollbackIDs returns the ids of the log entries Rollback wrote.
func rollbackIDs(tags map[string]string) map[int64]bool {
	out := map[int64]bool{}
	for k, v := range tags {
		if !strings.HasPrefix(k, TagTransitionPrefix) {
			continue
		}
		var e logEntry
		if json.Unmarshal([]byte(v), &e) == nil && e.Rollback {
			id, _ := strconv.ParseInt(strings.TrimPrefix(k, TagTransitionPrefix), 10, 64)
			out[id] = true
		}
	}
	return out
}

// Transitions returns the log the client keeps in the model's tags. It
// holds only the changes made through this client: an MLflow server keeps
// no history of its own.
func (c *Client) Transitions(ctx context.Context, name string) ([]mlops.Transition, error) {
	return c.readLog(ctx, name)
}

// Rollback gives stage back to the version that held it before the
// current holder, according to the log in the model's tags, with the SQL
// stores' semantics: the log replays into a stack of holders (a move into
// stage pushes, a rollback's move out pops), every current holder is
// archived and the previous one restored, each change logged as a
// rollback. No holder is ENOTFOUND; no earlier holder is ECONFLICT. The
// steps are separate MLflow calls, not one transaction.
func (c *Client) Rollback(ctx context.Context, name string, stage mlops.Stage, a mlops.Actor) (*mlops.ModelVersion, error) {
	stage, err := mlops.ParseStage(string(stage))
	if err != nil {
		return nil, err
	}
	if stage == mlops.StageNone || stage == mlops.StageArchived {
		return nil, mlops.Errorf(mlops.EINVALID, "cannot roll back stage %s: only Staging and Production", stage)
	}
	w, err := c.getModel(ctx, name)
	if err != nil {
		return nil, err
	}
	versions, err := c.SearchModelVersions(ctx, name)
	if err != nil {
		return nil, err
	}
	byVersion := map[int]*mlops.ModelVersion{}
	var holders []*mlops.ModelVersion
	for _, v := range versions {
		byVersion[v.Version] = v
		if v.Stage == stage {
			holders = append(holders, v)
		}
	}
	if len(holders) == 0 {
		return nil, mlops.Errorf(mlops.ENOTFOUND, "nothing to roll back: no version of model %q is in stage %s", name, stage)
	}
	tags := tagsIn(w.Tags)
	log, err := parseLog(name, tags)
	if err != nil {
		return nil, err
	}
	prev, err := previousHolder(name, stage, holderStack(log, rollbackIDs(tags), stage), holders, byVersion)
	if err != nil {
		return nil, err
	}
	return c.restore(ctx, name, stage, holders, prev, a)
}

// previousHolder walks the stack down from below the current holder,
// skipping deleted versions.
func previousHolder(name string, stage mlops.Stage, stack []int, holders []*mlops.ModelVersion, byVersion map[int]*mlops.ModelVersion) (*mlops.ModelVersion, error) {
	current := currentHolder(holders, stack)
	for i := len(stack) - 1; i >= 0; i-- {
		if v := byVersion[stack[i]]; v != nil && stack[i] != current {
			return v, nil
		}
	}
	return nil, mlops.Errorf(mlops.ECONFLICT, "nothing to roll back to: no version of model %q held stage %s before version %d", name, stage, current)
}

// restore archives the holders and gives stage back to prev, logging each
// change as a rollback.
func (c *Client) restore(ctx context.Context, name string, stage mlops.Stage, holders []*mlops.ModelVersion, prev *mlops.ModelVersion, a mlops.Actor) (*mlops.ModelVersion, error) {
	var entries []logEntry
	for _, h := range holders {
		if _, err := c.setStage(ctx, name, h.Version, mlops.StageArchived, false); err != nil {
			return nil, err
		}
		entries = append(entries, logEntry{Version: h.Version, Kind: mlops.TransitionStage, From: string(stage), To: string(mlops.StageArchived), Rollback: true})
	}
	mv, err := c.setStage(ctx, name, prev.Version, stage, false)
	if err != nil {
		return nil, err
	}
	entries = append(entries, logEntry{Version: prev.Version, Kind: mlops.TransitionStage, From: string(prev.Stage), To: string(stage), Rollback: true})
	return mv, c.appendLog(ctx, name, a, entries...)
}

// holderStack replays the log into the versions that were given stage,
// most recent last; a rollback's move out of stage pops.
func holderStack(log []mlops.Transition, rollback map[int64]bool, stage mlops.Stage) []int {
	var stack []int
	remove := func(v int) { stack = slices.DeleteFunc(stack, func(x int) bool { return x == v }) }
	for _, t := range log {
		switch {
		case t.Kind != mlops.TransitionStage:
		case t.To == string(stage) && !rollback[t.ID]:
			remove(t.Version)
			stack = append(stack, t.Version)
		case t.From == string(stage) && rollback[t.ID]:
			remove(t.Version)
		}
	}
	return stack
}

// currentHolder is the holder most recently moved into the stage, or the
// highest-numbered holder when the log does not say.
func currentHolder(holders []*mlops.ModelVersion, stack []int) int {
	held := map[int]bool{}
	best := 0
	for _, h := range holders {
		held[h.Version] = true
		best = max(best, h.Version)
	}
	for i := len(stack) - 1; i >= 0; i-- {
		if held[stack[i]] {
			return stack[i]
		}
	}
	return best
}

// SetAlias points alias at version and logs the move.
func (c *Client) SetAlias(ctx context.Context, name, alias string, version int, a mlops.Actor) error {
	m, err := c.GetRegisteredModel(ctx, name)
	if err != nil {
		return err
	}
	req := map[string]string{"name": name, "alias": alias, "version": strconv.Itoa(version)}
	if err := c.api(ctx, http.MethodPost, "registered-models/alias", true, req, nil); err != nil {
		return err
	}
	from := ""
	if v, ok := m.Aliases[alias]; ok {
		if v == version {
			return nil
		}
		from = strconv.Itoa(v)
	}
	return c.appendLog(ctx, name, a, logEntry{Version: version, Kind: mlops.TransitionAlias, Alias: alias, From: from, To: strconv.Itoa(version)})
}

// DeleteAlias removes alias and logs it.
func (c *Client) DeleteAlias(ctx context.Context, name, alias string, a mlops.Actor) error {
	m, err := c.GetRegisteredModel(ctx, name)
	if err != nil {
		return err
	}
	v, ok := m.Aliases[alias]
	if !ok {
		return mlops.Errorf(mlops.ENOTFOUND, "model %s has no alias %q", name, alias)
	}
	if err := c.api(ctx, http.MethodDelete, "registered-models/alias", true, map[string]string{"name": name, "alias": alias}, nil); err != nil {
		return err
	}
	return c.appendLog(ctx, name, a, logEntry{Version: v, Kind: mlops.TransitionAlias, Alias: alias, From: strconv.Itoa(v), To: ""})
}

// GetModelVersionByAlias resolves models:/NAME@ALIAS.
func (c *Client) GetModelVersionByAlias(ctx context.Context, name, alias string) (*mlops.ModelVersion, error) {
	var resp versionResponse
	if err := c.api(ctx, http.MethodGet, "registered-models/alias", true, url.Values{"name": {name}, "alias": {alias}}, &resp); err != nil {
		// MLflow answers an unknown alias with INVALID_PARAMETER_VALUE;
		// the domain says ENOTFOUND.
		if isCode(err, mlops.EINVALID) && strings.Contains(strings.ToLower(err.Error()), "not found") {
			return nil, mlops.Errorf(mlops.ENOTFOUND, "%s", err.Error())
		}
		return nil, err
	}
	return versionIn(resp.ModelVersion)
}

// LatestVersions returns the newest version in each stage asked for.
func (c *Client) LatestVersions(ctx context.Context, name string, stages ...mlops.Stage) ([]*mlops.ModelVersion, error) {
	req := map[string]any{"name": name}
	if len(stages) > 0 {
		ss := make([]string, len(stages))
		for i, s := range stages {
			ss[i] = string(s)
		}
		req["stages"] = ss
	}
	var resp struct {
		ModelVersions []wireModelVersion `json:"model_versions"`
	}
	if err := c.api(ctx, http.MethodPost, "registered-models/get-latest-versions", true, req, &resp); err != nil {
		return nil, err
	}
	out := make([]*mlops.ModelVersion, 0, len(resp.ModelVersions))
	for _, w := range resp.ModelVersions {
		v, err := versionIn(w)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// ModelDownloadURI asks the server where a version's files are.
func (c *Client) ModelDownloadURI(ctx context.Context, name string, version int) (string, error) {
	var resp struct {
		ArtifactURI string `json:"artifact_uri"`
	}
	q := url.Values{"name": {name}, "version": {strconv.Itoa(version)}}
	if err := c.api(ctx, http.MethodGet, "model-versions/get-download-uri", true, q, &resp); err != nil {
		return "", err
	}
	return resp.ArtifactURI, nil
}
