package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/housing-mlops/mlops"
)

type modelRow struct {
	Model    *mlops.RegisteredModel
	Versions int
	ByStage  []kv // stage -> version
}

func (h *handler) modelsPage(w http.ResponseWriter, r *http.Request) {
	if h.deps.Registry == nil {
		h.notConfigured(w, r, "Models", "models", "The model registry")
		return
	}
	ctx := r.Context()
	ms, err := h.deps.Registry.SearchRegisteredModels(ctx, "")
	if err != nil {
		h.failErr(w, r, "listing models", err)
		return
	}
	var rows []modelRow
	for _, m := range ms {
		vs, err := h.deps.Registry.SearchModelVersions(ctx, m.Name)
		if err != nil {
			h.failErr(w, r, "listing versions of "+m.Name, err)
			return
		}
		row := modelRow{Model: m, Versions: len(vs)}
		for _, st := range []mlops.Stage{mlops.StageProduction, mlops.StageStaging} {
			for _, v := range vs {
				if v.Stage == st {
					row.ByStage = append(row.ByStage, kv{string(st), "v" + strconv.Itoa(v.Version)})
				}
			}
		}
		rows = append(rows, row)
	}
	h.render(w, r, http.StatusOK, "models", page{Title: "Models", Nav: "models", Data: rows})
}

type versionRow struct {
	V       *mlops.ModelVersion
	Metrics []kv
	Tags    []kv
}

type modelView struct {
	Model       *mlops.RegisteredModel
	Versions    []versionRow
	Transitions []mlops.Transition
	NeedsToken  bool
}

func (h *handler) modelPage(w http.ResponseWriter, r *http.Request) {
	if h.deps.Registry == nil {
		h.notConfigured(w, r, "Models", "models", "The model registry")
		return
	}
	ctx := r.Context()
	name := r.PathValue("name")
	m, err := h.deps.Registry.GetRegisteredModel(ctx, name)
	if err != nil {
		h.failErr(w, r, "reading model", err)
		return
	}
	vs, err := h.deps.Registry.SearchModelVersions(ctx, name)
	if err != nil {
		h.failErr(w, r, "listing versions", err)
		return
	}
	slices.SortFunc(vs, func(a, b *mlops.ModelVersion) int { return b.Version - a.Version })
	trs, err := h.deps.Registry.Transitions(ctx, name)
	if err != nil {
		h.failErr(w, r, "reading the transition history", err)
		return
	}
	slices.Reverse(trs) // newest first
	v := modelView{Model: m, Transitions: trs, NeedsToken: h.deps.AdminToken != ""}
	for _, mv := range vs {
		v.Versions = append(v.Versions, versionRow{V: mv, Metrics: h.runMetrics(ctx, mv.RunID), Tags: sortedKV(mv.Tags)})
	}
	h.render(w, r, http.StatusOK, "model", page{Title: "Model " + name, Nav: "models", Flash: flash(r.URL.Query()), Data: v})
}

// runMetrics are the metrics of the run that registered a version.
func (h *handler) runMetrics(ctx context.Context, runID string) []kv {
	if h.deps.Tracker == nil || runID == "" {
		return nil
	}
	run, err := h.deps.Tracker.GetRun(ctx, runID)
	if err != nil {
		return nil
	}
	var out []kv
	for _, m := range metricKV(run.Metrics) {
		if m.Key != metricStepSecs && m.Key != "step_cpu_seconds" {
			out = append(out, m)
		}
	}
	return out
}

// flash rebuilds the success message of a redirect from validated query
// values only, so a link cannot make the page say arbitrary things.
func flash(q url.Values) string {
	v, err := strconv.Atoi(q.Get("v"))
	st, serr := mlops.ParseStage(q.Get("stage"))
	if err != nil || serr != nil {
		return ""
	}
	switch q.Get("done") {
	case "promote":
		return fmt.Sprintf("Version %d is now in %s.", v, st)
	case "archive":
		return fmt.Sprintf("Version %d is archived.", v)
	case "rollback":
		return fmt.Sprintf("Rolled back: version %d is in %s again.", v, st)
	}
	return ""
}

// action is a registry change asked for from the UI.
type action struct {
	Kind    string // promote, archive, rollback
	Version int
	Stage   mlops.Stage
	Reason  string
}

// parseAction reads and checks an action from form or query values.
func parseAction(get func(string) string) (action, error) {
	a := action{Kind: get("action"), Reason: strings.TrimSpace(get("reason"))}
	switch a.Kind {
	case "promote", "rollback":
		st, err := mlops.ParseStage(get("stage"))
		if err != nil {
			return a, err
		}
		if st != mlops.StageProduction && st != mlops.StageStaging {
			return a, mlops.Errorf(mlops.EINVALID, "stage must be Production or Staging, got %s", st)
		}
		a.Stage = st
	case "archive":
		a.Stage = mlops.StageArchived
	default:
		return a, mlops.Errorf(mlops.EINVALID, "unknown action %q: want promote, archive or rollback", a.Kind)
	}
	if a.Kind != "rollback" {
		v, err := strconv.Atoi(get("version"))
		if err != nil || v < 1 {
			return a, mlops.Errorf(mlops.EINVALID, "version must be a positive integer, got %q", get("version"))
		}
		a.Version = v
	}
	return a, nil
}

// confirmView is the confirmation step of a registry change.
type confirmView struct {
	Model      string
	Action     action
	Question   string
	Current    string // who holds the stage now
	NeedsToken bool
}

func (h *handler) confirmView(ctx context.Context, name string, a action) (confirmView, error) {
	v := confirmView{Model: name, Action: a, NeedsToken: h.deps.AdminToken != ""}
	holder := ""
	if a.Stage != mlops.StageArchived {
		lv, err := h.deps.Registry.LatestVersions(ctx, name, a.Stage)
		if err != nil {
			return v, err
		}
		for _, mv := range lv {
			holder = "version " + strconv.Itoa(mv.Version)
		}
	}
	switch a.Kind {
	case "promote":
		if _, err := h.deps.Registry.GetModelVersion(ctx, name, a.Version); err != nil {
			return v, err
		}
		v.Question = fmt.Sprintf("Promote version %d of %s to %s?", a.Version, name, a.Stage)
		if holder != "" {
			v.Current = fmt.Sprintf("%s now holds %s and will be archived.", capitalise(holder), a.Stage)
		}
	case "archive":
		if _, err := h.deps.Registry.GetModelVersion(ctx, name, a.Version); err != nil {
			return v, err
		}
		v.Question = fmt.Sprintf("Archive version %d of %s?", a.Version, name)
	case "rollback":
		v.Question = fmt.Sprintf("Roll %s back to the version that held %s before the current one?", name, a.Stage)
		if holder != "" {
			v.Current = fmt.Sprintf("%s now holds %s.", capitalise(holder), a.Stage)
		}
	}
	return v, nil
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// confirmPage asks before a registry change; nothing changes on GET.
func (h *handler) confirmPage(w http.ResponseWriter, r *http.Request) {
	if h.deps.Registry == nil {
		h.notConfigured(w, r, "Models", "models", "The model registry")
		return
	}
	name := r.PathValue("name")
	a, err := parseAction(r.URL.Query().Get)
	if err != nil {
		h.failErr(w, r, "checking the action", err)
		return
	}
	v, err := h.confirmView(r.Context(), name, a)
	if err != nil {
		h.failErr(w, r, "preparing the action", err)
		return
	}
	h.render(w, r, http.StatusOK, "confirm", page{Title: "Confirm", Nav: "models", Data: v})
}

// modelAction performs a confirmed registry change. Without confirm=yes it
// only shows the confirmation again; with a configured admin token it
// needs that token.
func (h *handler) modelAction(w http.ResponseWriter, r *http.Request) {
	if h.deps.Registry == nil {
		h.notConfigured(w, r, "Models", "models", "The model registry")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, http.StatusBadRequest, "cannot read the form: "+err.Error())
		return
	}
	ctx := r.Context()
	name := r.PathValue("name")
	a, err := parseAction(r.PostForm.Get)
	if err != nil {
		h.failErr(w, r, "checking the action", err)
		return
	}
	v, err := h.confirmView(ctx, name, a)
	if err != nil {
		h.failErr(w, r, "preparing the action", err)
		return
	}
	if r.PostForm.Get("confirm") != "yes" {
		h.render(w, r, http.StatusBadRequest, "confirm", page{Title: "Confirm", Nav: "models", Error: "Nothing was changed: please confirm.", Data: v})
		return
	}
	if !h.tokenOK(r.PostForm.Get("token")) {
		h.render(w, r, http.StatusForbidden, "confirm", page{Title: "Confirm", Nav: "models", Error: "Nothing was changed: the admin token is missing or wrong.", Data: v})
		return
	}
	mv, err := h.apply(ctx, name, a)
	if err != nil {
		h.failErr(w, r, "changing the registry", err)
		return
	}
	if h.deps.AfterRegistryChange != nil {
		h.deps.AfterRegistryChange(ctx, name)
	}
	q := url.Values{"done": {a.Kind}, "v": {strconv.Itoa(mv.Version)}, "stage": {string(mv.Stage)}}
	http.Redirect(w, r, "/ui/models/"+url.PathEscape(name)+"?"+q.Encode(), http.StatusSeeOther)
}

func (h *handler) apply(ctx context.Context, name string, a action) (*mlops.ModelVersion, error) {
	actor := mlops.Actor{By: "ui", Reason: firstNonEmpty(a.Reason, a.Kind+" from the web UI")}
	switch a.Kind {
	case "promote":
		return h.deps.Registry.TransitionStage(ctx, name, a.Version, a.Stage, true, actor)
	case "archive":
		return h.deps.Registry.TransitionStage(ctx, name, a.Version, mlops.StageArchived, false, actor)
	default:
		return h.deps.Registry.Rollback(ctx, name, a.Stage, actor)
	}
}
