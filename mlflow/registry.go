package mlflow

import (
	"net/http"
	"sort"

	"github.com/housing-mlops/mlops"
)

// Page sizes of MLflow's registry searches.
const (
	defaultModelResults   = 100
	maxModelResults       = 1000
	defaultVersionResults = 10000
	maxVersionResults     = 200000
)

func versionOut(v *mlops.ModelVersion) wireModelVersion {
	tags := v.Tags
	if v.SHA256 != "" && tags[TagSHA256] == "" {
		tags = cloneMap(tags)
		tags[TagSHA256] = v.SHA256
	}
	aliases := append([]string(nil), v.Aliases...)
	sort.Strings(aliases)
	return wireModelVersion{
		Name: v.Name, Version: versionString(v.Version),
		CreationTimestamp: toMs(v.CreatedAt), LastUpdatedTimestamp: toMs(v.UpdatedAt),
		CurrentStage: string(v.Stage), Description: v.Description, Source: v.Source, RunID: v.RunID,
		Status: ModelVersionStatusReady, Tags: tagsOut(tags), Aliases: aliases,
	}
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// modelOut converts a registered model with its latest version per stage.
func (h *handler) modelOut(r *http.Request, m *mlops.RegisteredModel) (wireRegisteredModel, error) {
	out := wireRegisteredModel{
		Name: m.Name, Description: m.Description, Tags: tagsOut(m.Tags),
		CreationTimestamp: toMs(m.CreatedAt), LastUpdatedTimestamp: toMs(m.UpdatedAt),
	}
	latest, err := h.store.LatestVersions(r.Context(), m.Name)
	if err != nil {
		return out, err
	}
	for _, v := range latest {
		out.LatestVersions = append(out.LatestVersions, versionOut(v))
	}
	for a, v := range m.Aliases {
		out.Aliases = append(out.Aliases, wireAlias{Alias: a, Version: versionString(v)})
	}
	sort.Slice(out.Aliases, func(i, j int) bool { return out.Aliases[i].Alias < out.Aliases[j].Alias })
	return out, nil
}

func (h *handler) modelResp(r *http.Request, m *mlops.RegisteredModel, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	out, err := h.modelOut(r, m)
	if err != nil {
		return nil, err
	}
	return map[string]any{"registered_model": out}, nil
}

type nameReq struct {
	Name string `json:"name"`
}

func (h *handler) name(r *http.Request) (string, error) {
	var req nameReq
	if err := h.decode(r, &req); err != nil {
		return "", err
	}
	return req.Name, required("name", req.Name)
}

func (h *handler) createModel(r *http.Request) (any, error) {
	var req struct {
		Name        string    `json:"name"`
		Tags        []wireTag `json:"tags"`
		Description string    `json:"description"`
	}
	if err := h.decode(r, &req); err != nil {
		return nil, err
	}
	if err := required("name", req.Name); err != nil {
		return nil, err
	}
	m, err := h.store.CreateRegisteredModel(r.Context(), req.Name, req.Description, tagsIn(req.Tags))
	return h.modelResp(r, m, err)
}

func (h *handler) getModel(r *http.Request) (any, error) {
	name, err := h.name(r)
	if err != nil {
		return nil, err
	}
	m, err := h.store.GetRegisteredModel(r.Context(), name)
	return h.modelResp(r, m, err)
}

func (h *handler) renameModel(r *http.Request) (any, error) {
	var req struct {
		Name    string `json:"name"`
		NewName string `json:"new_name"`
	}
	if err := h.decode(r, &req); err != nil {
		return nil, err
	}
	if err := firstErr(required("name", req.Name), required("new_name", req.NewName)); err != nil {
		return nil, err
	}
	m, err := h.store.RenameRegisteredModel(r.Context(), req.Name, req.NewName)
	return h.modelResp(r, m, err)
}

func (h *handler) updateModel(r *http.Request) (any, error) {
	var req struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	if err := h.decode(r, &req); err != nil {
		return nil, err
	}
	if err := required("name", req.Name); err != nil {
		return nil, err
	}
	m, err := h.store.UpdateRegisteredModel(r.Context(), req.Name, req.Description)
	return h.modelResp(r, m, err)
}

func (h *handler) deleteModel(r *http.Request) (any, error) {
	name, err := h.name(r)
	if err != nil {
		return nil, err
	}
	return empty{}, h.store.DeleteRegisteredModel(r.Context(), name)
}

var modelSpec = filterSpec{
	what: "registered model",
	strs: []string{"name"},
	nums: []string{"creation_timestamp", "last_updated_timestamp"},
	aliases: map[string]string{
		"timestamp": "last_updated_timestamp", "last_updated": "last_updated_timestamp", "created": "creation_timestamp",
	},
}

func modelRecord(m *mlops.RegisteredModel) record {
	return record{
		str:  map[string]string{"name": m.Name},
		num:  map[string]float64{"creation_timestamp": float64(toMs(m.CreatedAt)), "last_updated_timestamp": float64(toMs(m.UpdatedAt))},
		tags: m.Tags,
	}
}

type searchReq struct {
	Filter     string     `json:"filter"`
	MaxResults jsonInt    `json:"max_results"`
	OrderBy    stringList `json:"order_by"`
	PageToken  string     `json:"page_token"`
}

func (h *handler) searchModels(r *http.Request) (any, error) {
	var req searchReq
	if err := h.decode(r, &req); err != nil {
		return nil, err
	}
	models, err := h.store.SearchRegisteredModels(r.Context(), "")
	if err != nil {
		return nil, err
	}
	got, next, err := page(models, modelRecord, modelSpec, req.Filter, req.OrderBy, []orderKey{{key: "name"}},
		int(req.MaxResults), defaultModelResults, maxModelResults, req.PageToken)
	if err != nil {
		return nil, err
	}
	out := make([]wireRegisteredModel, 0, len(got))
	for _, m := range got {
		w, err := h.modelOut(r, m)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return searchResp("registered_models", out, next), nil
}

func (h *handler) latestVersions(r *http.Request) (any, error) {
	var req struct {
		Name   string     `json:"name"`
		Stages stringList `json:"stages"`
	}
	if err := h.decode(r, &req); err != nil {
		return nil, err
	}
	if err := required("name", req.Name); err != nil {
		return nil, err
	}
	var stages []mlops.Stage
	for _, s := range req.Stages {
		st, err := mlops.ParseStage(s)
		if err != nil {
			return nil, err
		}
		stages = append(stages, st)
	}
	got, err := h.store.LatestVersions(r.Context(), req.Name, stages...)
	if err != nil {
		return nil, err
	}
	out := make([]wireModelVersion, 0, len(got))
	for _, v := range got {
		out = append(out, versionOut(v))
	}
	return searchResp("model_versions", out, ""), nil
}

type modelTagReq struct {
	Name    string     `json:"name"`
	Version flexString `json:"version"`
	Key     string     `json:"key"`
	Value   string     `json:"value"`
	Alias   string     `json:"alias"`
}

func (h *handler) modelTag(r *http.Request) (modelTagReq, error) {
	var req modelTagReq
	if err := h.decode(r, &req); err != nil {
		return req, err
	}
	return req, firstErr(required("name", req.Name), required("key", req.Key))
}

func (h *handler) setModelTag(r *http.Request) (any, error) {
	req, err := h.modelTag(r)
	if err != nil {
		return nil, err
	}
	return empty{}, h.store.SetRegisteredModelTag(r.Context(), req.Name, req.Key, req.Value)
}

func (h *handler) deleteModelTag(r *http.Request) (any, error) {
	req, err := h.modelTag(r)
	if err != nil {
		return nil, err
	}
	return empty{}, h.store.DeleteRegisteredModelTag(r.Context(), req.Name, req.Key)
}

// aliasReq reads name, alias and (when withVersion) version.
func (h *handler) aliasReq(r *http.Request, withVersion bool) (modelTagReq, int, error) {
	var req modelTagReq
	if err := h.decode(r, &req); err != nil {
		return req, 0, err
	}
	if err := firstErr(required("name", req.Name), required("alias", req.Alias)); err != nil {
		return req, 0, err
	}
	if !withVersion {
		return req, 0, nil
	}
	if err := required("version", string(req.Version)); err != nil {
		return req, 0, err
	}
	v, err := parseVersion(req.Version)
	return req, v, err
}

func (h *handler) setAlias(r *http.Request) (any, error) {
	req, v, err := h.aliasReq(r, true)
	if err != nil {
		return nil, err
	}
	return empty{}, h.store.SetAlias(r.Context(), req.Name, req.Alias, v, h.actor(r, ""))
}

func (h *handler) deleteAlias(r *http.Request) (any, error) {
	req, _, err := h.aliasReq(r, false)
	if err != nil {
		return nil, err
	}
	return empty{}, h.store.DeleteAlias(r.Context(), req.Name, req.Alias, h.actor(r, ""))
}

// getByAlias answers a lookup by alias; an unknown alias of an existing
// model is INVALID_PARAMETER_VALUE (400), as in MLflow.
func (h *handler) getByAlias(r *http.Request) (any, error) {
	req, _, err := h.aliasReq(r, false)
	if err != nil {
		return nil, err
	}
	v, err := h.store.GetModelVersionByAlias(r.Context(), req.Name, req.Alias)
	if mlops.ErrorCode(err) == mlops.ENOTFOUND {
		if _, merr := h.store.GetRegisteredModel(r.Context(), req.Name); merr == nil {
			return nil, mlops.Errorf(mlops.EINVALID, "Registered model alias %s not found.", req.Alias)
		}
	}
	return versionResp(v, err)
}

func versionResp(v *mlops.ModelVersion, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return map[string]any{"model_version": versionOut(v)}, nil
}

// createVersion registers a version of an existing model (MLflow answers
// RESOURCE_DOES_NOT_EXIST for an unknown model; the client creates it
// first). A mlops.sha256 tag becomes the version's digest.
func (h *handler) createVersion(r *http.Request) (any, error) {
	var req struct {
		Name        string    `json:"name"`
		Source      string    `json:"source"`
		RunID       string    `json:"run_id"`
		Tags        []wireTag `json:"tags"`
		RunLink     string    `json:"run_link"`
		Description string    `json:"description"`
	}
	if err := h.decode(r, &req); err != nil {
		return nil, err
	}
	if err := firstErr(required("name", req.Name), required("source", req.Source)); err != nil {
		return nil, err
	}
	if _, err := h.store.GetRegisteredModel(r.Context(), req.Name); err != nil {
		return nil, err
	}
	tags := tagsIn(req.Tags)
	v, err := h.store.CreateModelVersion(r.Context(), mlops.ModelVersionCreate{
		Name: req.Name, Source: req.Source, SHA256: tags[TagSHA256], RunID: req.RunID, Description: req.Description, Tags: tags,
	})
	return versionResp(v, err)
}

// versionReq reads name and version (and the other fields of version calls).
func (h *handler) versionReq(r *http.Request, dst *versionFields) (int, error) {
	if err := h.decode(r, dst); err != nil {
		return 0, err
	}
	if err := firstErr(required("name", dst.Name), required("version", string(dst.Version))); err != nil {
		return 0, err
	}
	return parseVersion(dst.Version)
}

type versionFields struct {
	Name                    string     `json:"name"`
	Version                 flexString `json:"version"`
	Description             string     `json:"description"`
	Key                     string     `json:"key"`
	Value                   string     `json:"value"`
	Stage                   string     `json:"stage"`
	ArchiveExistingVersions flexBool   `json:"archive_existing_versions"`
	Comment                 string     `json:"comment"`
}

func (h *handler) getVersion(r *http.Request) (any, error) {
	var req versionFields
	v, err := h.versionReq(r, &req)
	if err != nil {
		return nil, err
	}
	return versionResp(h.store.GetModelVersion(r.Context(), req.Name, v))
}

func (h *handler) updateVersion(r *http.Request) (any, error) {
	var req versionFields
	v, err := h.versionReq(r, &req)
	if err != nil {
		return nil, err
	}
	return versionResp(h.store.UpdateModelVersion(r.Context(), req.Name, v, req.Description))
}

func (h *handler) deleteVersion(r *http.Request) (any, error) {
	var req versionFields
	v, err := h.versionReq(r, &req)
	if err != nil {
		return nil, err
	}
	return empty{}, h.store.DeleteModelVersion(r.Context(), req.Name, v)
}

func (h *handler) downloadURI(r *http.Request) (any, error) {
	var req versionFields
	v, err := h.versionReq(r, &req)
	if err != nil {
		return nil, err
	}
	mv, err := h.store.GetModelVersion(r.Context(), req.Name, v)
	if err != nil {
		return nil, err
	}
	return map[string]string{"artifact_uri": mv.Source}, nil
}

func (h *handler) transitionStage(r *http.Request) (any, error) {
	var req versionFields
	v, err := h.versionReq(r, &req)
	if err != nil {
		return nil, err
	}
	if err := required("stage", req.Stage); err != nil {
		return nil, err
	}
	st, err := mlops.ParseStage(req.Stage)
	if err != nil {
		return nil, err
	}
	return versionResp(h.store.TransitionStage(r.Context(), req.Name, v, st, bool(req.ArchiveExistingVersions), h.actor(r, req.Comment)))
}

func (h *handler) setVersionTag(r *http.Request) (any, error) {
	var req versionFields
	v, err := h.versionReq(r, &req)
	if err != nil {
		return nil, err
	}
	if err := required("key", req.Key); err != nil {
		return nil, err
	}
	return empty{}, h.store.SetModelVersionTag(r.Context(), req.Name, v, req.Key, req.Value)
}

func (h *handler) deleteVersionTag(r *http.Request) (any, error) {
	var req versionFields
	v, err := h.versionReq(r, &req)
	if err != nil {
		return nil, err
	}
	if err := required("key", req.Key); err != nil {
		return nil, err
	}
	return empty{}, h.store.DeleteModelVersionTag(r.Context(), req.Name, v, req.Key)
}

var versionSpec = filterSpec{
	what: "model version",
	strs: []string{"name", "run_id", "source_path", "current_stage"},
	nums: []string{"version_number", "creation_timestamp", "last_updated_timestamp"},
	aliases: map[string]string{
		"source": "source_path", "version": "version_number", "stage": "current_stage", "timestamp": "last_updated_timestamp",
	},
}

func versionRecord(v *mlops.ModelVersion) record {
	return record{
		str: map[string]string{"name": v.Name, "run_id": v.RunID, "source_path": v.Source, "current_stage": string(v.Stage)},
		num: map[string]float64{
			"version_number": float64(v.Version), "creation_timestamp": float64(toMs(v.CreatedAt)), "last_updated_timestamp": float64(toMs(v.UpdatedAt)),
		},
		tags: v.Tags,
	}
}

// searchVersions lists every model's versions and filters them here: the
// domain's SearchModelVersions takes one model name. A filter naming one
// model (name = 'm') reads only that model.
func (h *handler) searchVersions(r *http.Request) (any, error) {
	var req searchReq
	if err := h.decode(r, &req); err != nil {
		return nil, err
	}
	clauses, err := parseFilter(req.Filter, versionSpec)
	if err != nil {
		return nil, err
	}
	names, err := h.versionModels(r, clauses)
	if err != nil {
		return nil, err
	}
	var all []*mlops.ModelVersion
	for _, n := range names {
		vs, err := h.store.SearchModelVersions(r.Context(), n)
		if err != nil && mlops.ErrorCode(err) != mlops.ENOTFOUND {
			return nil, err
		}
		all = append(all, vs...)
	}
	dflt := []orderKey{{key: "name"}, {key: "version_number", num: true, desc: true}}
	got, next, err := page(all, versionRecord, versionSpec, req.Filter, req.OrderBy, dflt,
		int(req.MaxResults), defaultVersionResults, maxVersionResults, req.PageToken)
	if err != nil {
		return nil, err
	}
	out := make([]wireModelVersion, 0, len(got))
	for _, v := range got {
		out = append(out, versionOut(v))
	}
	return searchResp("model_versions", out, next), nil
}

// versionModels returns the models whose versions a search must read.
func (h *handler) versionModels(r *http.Request, clauses []fclause) ([]string, error) {
	for _, c := range clauses {
		if !c.tag && c.key == "name" && c.op == "=" {
			return []string{c.str}, nil
		}
	}
	models, err := h.store.SearchRegisteredModels(r.Context(), "")
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(models))
	for _, m := range models {
		names = append(names, m.Name)
	}
	return names, nil
}
