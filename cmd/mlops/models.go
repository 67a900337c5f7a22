package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/housing-mlops/mlops"
)

const modelsUsage = `usage: mlops models list [--json]
       mlops models show NAME [VERSION] [--json]
       mlops models promote NAME VERSION (--stage STAGE | --alias ALIAS) [--reason R] [--no-archive] [--by WHO]
                            [--if-better [--metric wmape] [--data CSV --target T] [--artifacts URL]]
       mlops models rollback NAME [--stage Production] [--reason R] [--by WHO]
       mlops models history NAME [--json]

Stages: None, Staging, Production, Archived. Promoting to Staging or
Production archives the version that held the stage unless --no-archive.
With --if-better the version is promoted only when it beats the current
holder of the stage on --metric, both evaluated on the same rows: --data
(with --target), else the test split recorded by the candidate's pipeline
run. When it does not, nothing is recorded and the exit code is 3.
Every subcommand takes --store URI (default $MLOPS_TRACKING_URI or $MLOPS_HOME/mlops.db).`

// modelsCommand lists, shows, promotes and rolls back registered models.
func modelsCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("missing subcommand\n%s", modelsUsage)
	}
	sub := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"list":     modelsList,
		"ls":       modelsList,
		"show":     modelsShow,
		"promote":  modelsPromote,
		"rollback": modelsRollback,
		"history":  modelsHistory,
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, modelsUsage)
		return nil
	}
	fn, ok := sub[args[0]]
	if !ok {
		return usagef("unknown subcommand %q\n%s", args[0], modelsUsage)
	}
	return fn(ctx, args[1:], stdout, stderr)
}

// actor names who makes a registry change: --by, else $USER, else "cli".
func actor(by, reason string) mlops.Actor {
	if by == "" {
		by = os.Getenv("USER")
	}
	if by == "" {
		by = "cli"
	}
	return mlops.Actor{By: by, Reason: reason}
}

// modelSummary is one line of models list.
type modelSummary struct {
	*mlops.RegisteredModel
	LatestVersion int                 `json:"latest_version"`
	Stages        map[mlops.Stage]int `json:"stages,omitempty"` // stage -> newest version in it
}

func modelsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("models list", stderr)
	sf := addStoreFlags(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("models list takes no arguments, got %q", pos)
	}
	st, err := openStore(ctx, sf.store)
	if err != nil {
		return err
	}
	defer st.Close()
	models, err := st.SearchRegisteredModels(ctx, "")
	if err != nil {
		return err
	}
	out := make([]modelSummary, 0, len(models))
	for _, m := range models {
		vs, err := st.SearchModelVersions(ctx, m.Name)
		if err != nil {
			return err
		}
		s := modelSummary{RegisteredModel: m, Stages: map[mlops.Stage]int{}}
		for _, v := range vs {
			s.LatestVersion = max(s.LatestVersion, v.Version)
			s.Stages[v.Stage] = max(s.Stages[v.Stage], v.Version)
		}
		out = append(out, s)
	}
	if sf.json {
		return emitJSON(stdout, out)
	}
	if len(out) == 0 {
		fmt.Fprintln(stdout, "no registered models")
		return nil
	}
	tw := newTable(stdout)
	row(tw, "NAME", "LATEST", "PRODUCTION", "STAGING", "ALIASES", "UPDATED")
	for _, s := range out {
		row(tw, s.Name, versionOrDash(s.LatestVersion), versionOrDash(s.Stages[mlops.StageProduction]),
			versionOrDash(s.Stages[mlops.StageStaging]), aliasList(s.Aliases), fmtTime(s.UpdatedAt))
	}
	return tw.Flush()
}

func versionOrDash(v int) string {
	if v == 0 {
		return "-"
	}
	return "v" + strconv.Itoa(v)
}

// aliasList shows aliases as name@vN, sorted.
func aliasList(aliases map[string]int) string {
	if len(aliases) == 0 {
		return "-"
	}
	names := make([]string, 0, len(aliases))
	for a := range aliases {
		names = append(names, a)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, a := range names {
		parts = append(parts, fmt.Sprintf("%s@v%d", a, aliases[a]))
	}
	return strings.Join(parts, ",")
}

// parseVersion reads a version number given as 3 or v3.
func parseVersion(s string) (int, error) {
	v, err := strconv.Atoi(strings.TrimPrefix(strings.ToLower(s), "v"))
	if err != nil || v <= 0 {
		return 0, usagef("invalid version %q: want a positive number like 3", s)
	}
	return v, nil
}

func modelsShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("models show", stderr)
	sf := addStoreFlags(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usagef("models show takes NAME [VERSION], got %d arguments", len(pos))
	}
	version := 0
	if len(pos) == 2 {
		if version, err = parseVersion(pos[1]); err != nil {
			return err
		}
	}
	st, err := openStore(ctx, sf.store)
	if err != nil {
		return err
	}
	defer st.Close()
	m, err := st.GetRegisteredModel(ctx, pos[0])
	if err != nil {
		return err
	}
	if version != 0 {
		v, err := st.GetModelVersion(ctx, m.Name, version)
		if err != nil {
			return err
		}
		if sf.json {
			return emitJSON(stdout, v)
		}
		return printVersion(stdout, v)
	}
	vs, err := st.SearchModelVersions(ctx, m.Name)
	if err != nil {
		return err
	}
	if sf.json {
		return emitJSON(stdout, struct {
			*mlops.RegisteredModel
			Versions []*mlops.ModelVersion `json:"versions"`
		}{m, vs})
	}
	return printModel(stdout, m, vs)
}

func printModel(w io.Writer, m *mlops.RegisteredModel, vs []*mlops.ModelVersion) error {
	tw := newTable(w)
	row(tw, "Name:", m.Name)
	row(tw, "Description:", orDash(m.Description))
	row(tw, "Aliases:", aliasList(m.Aliases))
	row(tw, "Created:", fmtTime(m.CreatedAt))
	row(tw, "Updated:", fmtTime(m.UpdatedAt))
	if len(m.Tags) > 0 {
		var tags []string
		for _, k := range sortedMapKeys(m.Tags) {
			tags = append(tags, k+"="+m.Tags[k])
		}
		row(tw, "Tags:", strings.Join(tags, " "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(vs) == 0 {
		fmt.Fprintln(w, "\nno versions")
		return nil
	}
	fmt.Fprintln(w, "\nVersions:")
	tw = newTable(w)
	row(tw, "  VERSION", "STAGE", "ALIASES", "RUN ID", "SHA256", "CREATED", "SOURCE")
	for i := len(vs) - 1; i >= 0; i-- {
		v := vs[i]
		row(tw, "  v"+strconv.Itoa(v.Version), string(v.Stage), orDash(strings.Join(v.Aliases, ",")),
			orDash(shortID(v.RunID)), orDash(shortID(v.SHA256)), fmtTime(v.CreatedAt), v.Source)
	}
	return tw.Flush()
}

func printVersion(w io.Writer, v *mlops.ModelVersion) error {
	tw := newTable(w)
	for _, kv := range [][2]string{
		{"Model", v.Name}, {"Version", strconv.Itoa(v.Version)}, {"Stage", string(v.Stage)},
		{"Aliases", orDash(strings.Join(v.Aliases, ", "))}, {"Run ID", orDash(v.RunID)},
		{"Source", v.Source}, {"SHA256", orDash(v.SHA256)}, {"Description", orDash(v.Description)},
		{"Created", fmtTime(v.CreatedAt)}, {"Updated", fmtTime(v.UpdatedAt)},
	} {
		row(tw, kv[0]+":", kv[1])
	}
	for _, k := range sortedMapKeys(v.Tags) {
		row(tw, "Tag "+k+":", v.Tags[k])
	}
	return tw.Flush()
}

// promoteOpts is the parsed command line of models promote.
type promoteOpts struct {
	name, stageFlag, alias string
	version                int
	stage                  mlops.Stage
	archive                bool
	actor                  mlops.Actor
}

func modelsPromote(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("models promote", stderr)
	sf := addStoreFlags(fs)
	stageFlag := fs.String("stage", "", "move the version to this stage (None, Staging, Production, Archived)")
	alias := fs.String("alias", "", "point this alias at the version instead")
	reason := fs.String("reason", "", "why, for the transition log")
	noArchive := fs.Bool("no-archive", false, "keep other versions in the target stage")
	by := fs.String("by", "", "who promotes (default $USER)")
	var gate gateFlags
	gate.add(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	o := promoteOpts{stageFlag: *stageFlag, alias: *alias, archive: !*noArchive}
	if err := o.parse(pos, &gate); err != nil {
		return err
	}
	st, err := openStore(ctx, sf.store)
	if err != nil {
		return err
	}
	defer st.Close()
	o.actor = actor(*by, *reason)
	if o.alias != "" {
		return promoteAlias(ctx, stdout, st, o.name, o.alias, o.version, o.actor, sf.json)
	}
	return promoteStage(ctx, stdout, st, o, &gate, sf.json)
}

// parse checks the positional arguments and the flag combination, and
// resolves the version number and the target stage.
func (o *promoteOpts) parse(pos []string, gate *gateFlags) error {
	if len(pos) != 2 {
		return usagef("models promote takes NAME VERSION, got %d arguments", len(pos))
	}
	if (o.stageFlag == "") == (o.alias == "") {
		return usagef("models promote needs exactly one of --stage or --alias")
	}
	if err := gate.check(o.stageFlag != ""); err != nil {
		return err
	}
	version, err := parseVersion(pos[1])
	if err != nil {
		return err
	}
	o.name, o.version = pos[0], version
	if o.stageFlag != "" {
		if o.stage, err = mlops.ParseStage(o.stageFlag); err != nil {
			return usagef("%v", err)
		}
	}
	return nil
}

// promoteStage moves a version to o.stage (after the gate, when enabled)
// and reports which versions the move archived.
func promoteStage(ctx context.Context, stdout io.Writer, st mlops.Store, o promoteOpts, gate *gateFlags, asJSON bool) error {
	before, err := st.SearchModelVersions(ctx, o.name)
	if err != nil {
		return err
	}
	if len(before) == 0 {
		if _, err := st.GetRegisteredModel(ctx, o.name); err != nil {
			return err
		}
	}
	if gate.enabled {
		if err := gate.run(ctx, stdout, st, o.name, o.version, o.stage); err != nil {
			return err
		}
	}
	v, err := st.TransitionStage(ctx, o.name, o.version, o.stage, o.archive, o.actor)
	if err != nil {
		return err
	}
	archived := archivedBy(ctx, st, o, before)
	if asJSON {
		return emitJSON(stdout, struct {
			*mlops.ModelVersion
			Archived []string `json:"archived"`
		}{v, archived})
	}
	fmt.Fprintf(stdout, "%s v%d is now in %s\n", o.name, v.Version, v.Stage)
	if len(archived) > 0 {
		fmt.Fprintf(stdout, "archived: %s\n", strings.Join(archived, ", "))
	}
	return nil
}

// archivedBy lists ("vN") the versions that were in o.stage before the
// transition and are archived now, i.e. the ones the promotion displaced.
func archivedBy(ctx context.Context, st mlops.Store, o promoteOpts, before []*mlops.ModelVersion) []string {
	var archived []string
	for _, b := range before {
		if b.Version == o.version || b.Stage != o.stage || o.stage == mlops.StageArchived {
			continue
		}
		if now, err := st.GetModelVersion(ctx, o.name, b.Version); err == nil && now.Stage == mlops.StageArchived {
			archived = append(archived, "v"+strconv.Itoa(b.Version))
		}
	}
	return archived
}

func promoteAlias(ctx context.Context, w io.Writer, st mlops.Store, name, alias string, version int, a mlops.Actor, asJSON bool) error {
	prev := 0
	if v, err := st.GetModelVersionByAlias(ctx, name, alias); err == nil {
		prev = v.Version
	}
	if err := st.SetAlias(ctx, name, alias, version, a); err != nil {
		return err
	}
	if asJSON {
		return emitJSON(w, struct {
			Name    string `json:"name"`
			Alias   string `json:"alias"`
			Version int    `json:"version"`
			From    int    `json:"from,omitempty"`
		}{name, alias, version, prev})
	}
	if prev != 0 && prev != version {
		fmt.Fprintf(w, "%s@%s moved from v%d to v%d\n", name, alias, prev, version)
		return nil
	}
	fmt.Fprintf(w, "%s@%s now points at v%d\n", name, alias, version)
	return nil
}

func modelsRollback(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("models rollback", stderr)
	sf := addStoreFlags(fs)
	stageFlag := fs.String("stage", string(mlops.StageProduction), "stage to give back to its previous holder")
	reason := fs.String("reason", "", "why, for the transition log")
	by := fs.String("by", "", "who rolls back (default $USER)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("models rollback takes NAME, got %d arguments", len(pos))
	}
	stage, err := mlops.ParseStage(*stageFlag)
	if err != nil {
		return usagef("%v", err)
	}
	st, err := openStore(ctx, sf.store)
	if err != nil {
		return err
	}
	defer st.Close()
	name := pos[0]
	prev := 0
	if vs, err := st.LatestVersions(ctx, name, stage); err == nil && len(vs) > 0 {
		prev = vs[0].Version
	}
	v, err := st.Rollback(ctx, name, stage, actor(*by, *reason))
	if err != nil {
		return err
	}
	if sf.json {
		return emitJSON(stdout, struct {
			*mlops.ModelVersion
			RolledBackFrom int `json:"rolled_back_from"`
		}{v, prev})
	}
	fmt.Fprintf(stdout, "%s %s rolled back: v%d -> v%d\n", name, stage, prev, v.Version)
	return nil
}

func modelsHistory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("models history", stderr)
	sf := addStoreFlags(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("models history takes NAME, got %d arguments", len(pos))
	}
	st, err := openStore(ctx, sf.store)
	if err != nil {
		return err
	}
	defer st.Close()
	log, err := st.Transitions(ctx, pos[0])
	if err != nil {
		return err
	}
	if sf.json {
		if log == nil {
			log = []mlops.Transition{}
		}
		return emitJSON(stdout, log)
	}
	if len(log) == 0 {
		fmt.Fprintf(stdout, "no transitions for %s\n", pos[0])
		return nil
	}
	tw := newTable(stdout)
	row(tw, "AT", "KIND", "VERSION", "ALIAS", "FROM", "TO", "BY", "REASON")
	for _, t := range log {
		from, to := t.From, t.To
		if t.Kind == mlops.TransitionAlias {
			from, to = aliasEnd(from), aliasEnd(to)
		}
		row(tw, fmtTime(t.At), t.Kind, "v"+strconv.Itoa(t.Version), orDash(t.Alias), orDash(from), orDash(to), orDash(t.By), orDash(t.Reason))
	}
	return tw.Flush()
}

// aliasEnd shows a version number of an alias move as vN.
func aliasEnd(v string) string {
	if v == "" {
		return ""
	}
	return "v" + v
}
