package deploy_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/housing-mlops/mlops/config"
	mlopshttp "github.com/housing-mlops/mlops/http"
)

// root is the module root, seen from this package's directory.
const root = ".."

// yamlFiles lists every .yaml/.yml file under deploy/ and .github/, plus
// docker-compose.yaml.
func yamlFiles(t *testing.T) []string {
	t.Helper()
	files := []string{filepath.Join(root, "docker-compose.yaml")}
	for _, dir := range []string{"deploy", ".github"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if ext := filepath.Ext(p); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("walking %s: %v", dir, err)
		}
	}
	return files
}

// docs decodes every YAML document of a file.
func docs(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var out []map[string]any
	for i := 0; ; i++ {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", path, i, err)
		}
		if m != nil {
			out = append(out, m)
		}
	}
	return out
}

func TestEveryYAMLParses(t *testing.T) {
	files := yamlFiles(t)
	// The five workflows, seven manifests and the compose file at least.
	if len(files) < 13 {
		t.Fatalf("found %d YAML files, want at least 13: %v", len(files), files)
	}
	for _, f := range files {
		if len(docs(t, f)) == 0 {
			t.Errorf("%s: no YAML document", f)
		}
	}
}

// manifests indexes the Kubernetes objects by kind and name.
func manifests(t *testing.T) map[string]map[string]any {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(root, "deploy", "kubernetes", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, p := range paths {
		for _, d := range docs(t, p) {
			kind, _ := d["kind"].(string)
			name, _ := get(d, "metadata", "name").(string)
			if kind == "" || (name == "" && kind != "Kustomization") {
				t.Errorf("%s: object without kind or metadata.name", p)
				continue
			}
			out[kind+"/"+name] = d
		}
	}
	return out
}

// get walks nested maps and lists: string keys index maps, ints lists.
func get(v any, path ...any) any {
	for _, k := range path {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func TestKubernetesObjectsPresent(t *testing.T) {
	m := manifests(t)
	for _, want := range []string{
		"Deployment/mlops-api", "Service/mlops-api", "HorizontalPodAutoscaler/mlops-api",
		"Job/mlops-pipeline", "Job/mlops-sweep-agents", "ConfigMap/mlops-config", "Kustomization/",
	} {
		if m[want] == nil {
			t.Errorf("deploy/kubernetes has no %s", want)
		}
	}
	if n := len(m); n != 7 {
		t.Errorf("%d objects, want 7 (one per file): %v", n, keys(m))
	}
	for k := range m {
		if strings.HasPrefix(k, "Secret/") {
			t.Errorf("%s: secrets are referenced, never committed", k)
		}
	}
	if got := get(m["Job/mlops-sweep-agents"], "spec", "completionMode"); got != "Indexed" {
		t.Errorf("sweep agents completionMode %v, want Indexed", got)
	}
	if got := get(m["HorizontalPodAutoscaler/mlops-api"], "spec", "scaleTargetRef", "name"); got != "mlops-api" {
		t.Errorf("HPA targets %v, want the mlops-api Deployment", got)
	}
}

func keys(m map[string]map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// servedGET is the set of GET paths the API server registers.
func servedGET(t *testing.T) map[string]bool {
	t.Helper()
	srv := mlopshttp.New(mlopshttp.Config{}, mlopshttp.Deps{})
	out := map[string]bool{}
	for _, r := range srv.Routes() {
		if r[0] == "GET" {
			out[r[1]] = true
		}
	}
	return out
}

func TestDeploymentProbesHitServedPaths(t *testing.T) {
	served := servedGET(t)
	dep := manifests(t)["Deployment/mlops-api"]
	c := get(dep, "spec", "template", "spec", "containers", 0)
	if c == nil {
		t.Fatal("Deployment/mlops-api has no container")
	}
	for probe, want := range map[string]string{
		"readinessProbe": "/health/ready",
		"livenessProbe":  "/health",
		"startupProbe":   "/health",
	} {
		got, _ := get(c, probe, "httpGet", "path").(string)
		if got != want {
			t.Errorf("%s path %q, want %q", probe, got, want)
		}
		if !served[got] {
			t.Errorf("%s path %q is not a GET route of the server (%v)", probe, got, served)
		}
		if port := get(c, probe, "httpGet", "port"); port != get(c, "ports", 0, "name") {
			t.Errorf("%s port %v is not the container port %v", probe, port, get(c, "ports", 0, "name"))
		}
	}
}

func TestPodsRunNonRootReadOnly(t *testing.T) {
	m := manifests(t)
	for _, k := range []string{"Deployment/mlops-api", "Job/mlops-pipeline", "Job/mlops-sweep-agents"} {
		pod := get(m[k], "spec", "template", "spec")
		if get(pod, "securityContext", "runAsNonRoot") != true {
			t.Errorf("%s: runAsNonRoot is not true", k)
		}
		c := get(pod, "containers", 0)
		if get(c, "securityContext", "readOnlyRootFilesystem") != true {
			t.Errorf("%s: readOnlyRootFilesystem is not true", k)
		}
		if get(c, "resources", "limits", "memory") == nil || get(c, "resources", "requests", "cpu") == nil {
			t.Errorf("%s: resources need requests.cpu and limits.memory", k)
		}
		home := envValue(c, "MLOPS_HOME")
		if home == "" || !mountedEmptyDir(pod, c, home) {
			t.Errorf("%s: MLOPS_HOME %q is not an emptyDir mount (the root filesystem is read-only)", k, home)
		}
		for _, e := range asList(get(c, "env")) {
			if v, ok := get(e, "value").(string); ok && secretLike.MatchString(get(e, "name").(string)) && v != "" {
				t.Errorf("%s: %v has a literal value; take it from a secretKeyRef", k, get(e, "name"))
			}
		}
	}
}

// secretLike matches environment variable names that hold credentials.
var secretLike = regexp.MustCompile(`(?i)(PASSWORD|SECRET|TOKEN|KEY|_URI|DSN)`)

func asList(v any) []any { l, _ := v.([]any); return l }

func envValue(c any, name string) string {
	for _, e := range asList(get(c, "env")) {
		if get(e, "name") == name {
			v, _ := get(e, "value").(string)
			return v
		}
	}
	return ""
}

// fromSecret reports whether container c sets name from a required
// secretKeyRef.
func fromSecret(c any, name string) bool {
	for _, e := range asList(get(c, "env")) {
		if get(e, "name") == name {
			ref := get(e, "valueFrom", "secretKeyRef")
			return ref != nil && get(ref, "optional") != true
		}
	}
	return false
}

func mountedEmptyDir(pod, c any, path string) bool {
	for _, vm := range asList(get(c, "volumeMounts")) {
		if get(vm, "mountPath") != path {
			continue
		}
		for _, v := range asList(get(pod, "volumes")) {
			if get(v, "name") == get(vm, "name") {
				_, ok := get(v, "emptyDir").(map[string]any)
				return ok
			}
		}
	}
	return false
}

// The ConfigMap's config.yaml must load with the real loader: a renamed or
// misspelt key fails here rather than in a cluster.
func TestConfigMapLoads(t *testing.T) {
	cm := manifests(t)["ConfigMap/mlops-config"]
	text, _ := get(cm, "data", "config.yaml").(string)
	if text == "" {
		t.Fatal("ConfigMap mlops-config has no config.yaml")
	}
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"MLOPS_HOME":         "/var/lib/mlops",
		"MLOPS_TRACKING_URI": "postgres://u@db:5432/mlops",
		"MLOPS_ARTIFACTS":    "s3://bucket?region=eu-west-1",
	}
	// Validation asks the process environment for the backends' secrets;
	// placeholders stand in for what the pods take from mlops-secrets.
	for _, k := range []string{"PGPASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		t.Setenv(k, "placeholder")
	}
	cfg, err := config.LoadEnv(p, nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("ConfigMap config.yaml: %v", err)
	}
	need := cfg.RequiredSecrets()
	if len(need) == 0 {
		t.Fatal("a Postgres + S3 configuration needs secrets, RequiredSecrets found none")
	}
	m := manifests(t)
	for _, k := range []string{"Deployment/mlops-api", "Job/mlops-pipeline", "Job/mlops-sweep-agents"} {
		c := get(m[k], "spec", "template", "spec", "containers", 0)
		for _, sec := range need {
			if !fromSecret(c, sec.Env) {
				t.Errorf("%s: %s (needed by %s: %s) is not taken from a secretKeyRef", k, sec.Env, sec.Key, sec.Why)
			}
		}
	}
	if cfg.Tracking.URI != env["MLOPS_TRACKING_URI"] || cfg.Tracking.ArtifactsURL != env["MLOPS_ARTIFACTS"] {
		t.Errorf("tracking %q / %q: want the values from the environment", cfg.Tracking.URI, cfg.Tracking.ArtifactsURL)
	}
	if cfg.Main.OutputDir != "/var/lib/mlops/out" {
		t.Errorf("main.output_dir %q, want under the emptyDir", cfg.Main.OutputDir)
	}
}

func TestComposeServices(t *testing.T) {
	d := docs(t, filepath.Join(root, "docker-compose.yaml"))[0]
	for _, s := range []string{"api", "pipeline", "postgres", "minio"} {
		if get(d, "services", s) == nil {
			t.Errorf("docker-compose.yaml has no %s service", s)
		}
	}
	nets, _ := get(d, "networks").(map[string]any)
	if len(nets) != 1 {
		t.Errorf("networks %v, want exactly one", nets)
	}
	test := asList(get(d, "services", "api", "healthcheck", "test"))
	if !slices.Contains(test, "/mlops") || !slices.Contains(test, "health") {
		t.Errorf("api healthcheck %v does not use the binary's health command", test)
	}
	if get(d, "services", "api", "restart") == nil {
		t.Error("api has no restart policy")
	}
	for _, prof := range []string{"postgres", "minio"} {
		if !slices.Contains(asList(get(d, "services", prof, "profiles")), "team") {
			t.Errorf("%s is not in the team profile", prof)
		}
	}
	// Every credential-looking value is an interpolation from .env.
	for name, svc := range get(d, "services").(map[string]any) {
		env, _ := get(svc, "environment").(map[string]any)
		for k, v := range env {
			s, _ := v.(string)
			if secretLike.MatchString(k) && s != "" && !strings.HasPrefix(s, "${") {
				t.Errorf("service %s: %s=%q is a literal; take it from .env", name, k, s)
			}
		}
	}
}

// TestComposeAPIReadOnly: the api service mounts the pipeline's volume
// read-only, opens its SQLite registry read-only, and writes only to a
// tmpfs (its root filesystem is read-only too).
func TestComposeAPIReadOnly(t *testing.T) {
	d := docs(t, filepath.Join(root, "docker-compose.yaml"))[0]
	api := get(d, "services", "api")
	if get(api, "read_only") != true {
		t.Error("api: read_only (root filesystem) is not true")
	}
	pipelineVolumes := map[string]bool{}
	for _, v := range asList(get(d, "services", "pipeline", "volumes")) {
		if s, ok := v.(string); ok {
			pipelineVolumes[strings.SplitN(s, ":", 2)[0]] = true
		}
	}
	mounts := asList(get(api, "volumes"))
	if len(mounts) == 0 {
		t.Fatal("api mounts no volume: where does the local registry come from?")
	}
	for _, v := range mounts {
		s, ok := v.(string)
		if !ok {
			if get(v, "read_only") != true {
				t.Errorf("api volume %v is not read_only", v)
			}
			continue
		}
		parts := strings.Split(s, ":")
		if !pipelineVolumes[parts[0]] {
			t.Errorf("api volume %q is not the pipeline's", s)
		}
		if len(parts) != 3 || !slices.Contains(strings.Split(parts[2], ","), "ro") {
			t.Errorf("api volume %q is not mounted read-only (:ro)", s)
		}
	}
	if env, _ := get(api, "environment").(map[string]any); env["MLOPS_STORE_READ_ONLY"] != "true" {
		t.Errorf("api MLOPS_STORE_READ_ONLY = %v, want \"true\" (a SQLite registry on a :ro volume must open read-only)", env["MLOPS_STORE_READ_ONLY"])
	}
	cmd := asList(get(api, "command"))
	i := slices.Index(cmd, any("--prediction-log"))
	if i < 0 || i+1 >= len(cmd) {
		t.Fatalf("api command %v: no --prediction-log (the default is under the read-only MLOPS_HOME)", cmd)
	}
	logDir, _ := cmd[i+1].(string)
	onTmpfs := false
	for _, tmp := range asList(get(api, "tmpfs")) {
		if p, _ := tmp.(string); p != "" && (logDir == p || strings.HasPrefix(logDir, strings.TrimSuffix(p, "/")+"/")) {
			onTmpfs = true
		}
	}
	if !onTmpfs {
		t.Errorf("api --prediction-log %q is not on a tmpfs %v", logDir, get(api, "tmpfs"))
	}
}

// TestDeploymentVolumesReadOnly: in Kubernetes the API pod's only writable
// volumes are its own emptyDirs; any other volume (a shared claim, a
// ConfigMap) is mounted readOnly.
func TestDeploymentVolumesReadOnly(t *testing.T) {
	pod := get(manifests(t)["Deployment/mlops-api"], "spec", "template", "spec")
	emptyDirs := map[any]bool{}
	for _, v := range asList(get(pod, "volumes")) {
		if _, ok := get(v, "emptyDir").(map[string]any); ok {
			emptyDirs[get(v, "name")] = true
		}
	}
	for _, c := range asList(get(pod, "containers")) {
		for _, vm := range asList(get(c, "volumeMounts")) {
			if !emptyDirs[get(vm, "name")] && get(vm, "readOnly") != true {
				t.Errorf("Deployment/mlops-api mounts volume %v read-write at %v", get(vm, "name"), get(vm, "mountPath"))
			}
		}
	}
}

// usesPinned matches a step's uses: owner/repo@vN[.N[.N]].
var usesPinned = regexp.MustCompile(`^[\w.-]+/[\w./-]+@v\d+(\.\d+){0,2}$`)

func TestWorkflows(t *testing.T) {
	want := []string{"deploy.yaml", "docker.yaml", "pipeline.yaml", "pr.yaml", "retrain.yaml"}
	for _, name := range want {
		p := filepath.Join(root, ".github", "workflows", name)
		w := docs(t, p)[0]
		if w["on"] == nil || w["jobs"] == nil {
			t.Errorf("%s: needs on: and jobs:", name)
		}
		for job, j := range w["jobs"].(map[string]any) {
			for i, st := range asList(get(j, "steps")) {
				if u, ok := get(st, "uses").(string); ok && !usesPinned.MatchString(u) {
					t.Errorf("%s: job %s step %d uses %q, want an action pinned by version tag", name, job, i, u)
				}
			}
		}
	}
	if got := get(docs(t, filepath.Join(root, ".github", "workflows", "deploy.yaml"))[0], "jobs", "deploy", "environment"); got != "production" {
		t.Errorf("deploy job environment %v, want production (manual approval)", got)
	}
}
