package main

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"go/build"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// staticBuild is the build command of the Dockerfile and `make build`:
// CGO_ENABLED=0 go build -trimpath -ldflags "-s -w". The test below builds
// exactly this and checks the Dockerfile still says it.
var staticBuild = []string{"build", "-trimpath", "-ldflags", "-s -w"}

// maxBinaryBytes is the size budget of the static binary, which is almost
// all of the scratch image (the rest is the CA bundle, ~0.2 MB, and a
// passwd line). The delivery goal is an image of at most 30 MB; the binary
// is ~26.6 MB (25.4 MiB) since the cloud SDKs and plot fonts were replaced,
// and 28 MiB (29.4 MB) keeps the image under 30 MB.
const maxBinaryBytes = 28 << 20

// goTool finds the go command that runs this test.
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(build.Default.GOROOT, "bin", "go")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no go command on PATH or at %s", p)
	}
	return p
}

// deadline returns a context that ends a little before the test binary's
// own -timeout, so a slow build fails with its output instead of a panic.
func deadline(t *testing.T, fallback time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), fallback)
	if d, ok := t.Deadline(); ok {
		ctx, cancel = context.WithDeadline(context.Background(), d.Add(-30*time.Second))
	}
	t.Cleanup(cancel)
	return ctx
}

// buildStatic builds ./cmd/mlops as the Dockerfile does into a temp dir.
func buildStatic(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mlops")
	args := append(append([]string{}, staticBuild...), "-o", bin, ".")
	cmd := exec.CommandContext(deadline(t, 20*time.Minute), goTool(t), args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}

func TestDockerfileBuildsTheStaticBinary(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	want := `go build -trimpath -ldflags "-s -w"`
	if strings.Join(staticBuild, " ") != `build -trimpath -ldflags -s -w` || !strings.Contains(df, want) {
		t.Errorf("Dockerfile does not run %q (the command this test builds)", want)
	}
	for _, s := range []string{"CGO_ENABLED=0", "FROM scratch", "USER 65532", "HEALTHCHECK", `"/mlops", "health"`, "ENV PORT="} {
		if !strings.Contains(df, s) {
			t.Errorf("Dockerfile lacks %q", s)
		}
	}
}

// TestStaticBinaryRoles builds the container's binary and runs its roles.
func TestStaticBinaryRoles(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the image is Linux; the static-link check reads ELF")
	}
	bin := buildStatic(t)
	t.Run("static", func(t *testing.T) { checkStatic(t, bin) })
	t.Run("version", func(t *testing.T) {
		out, err := exec.Command(bin, "version").Output()
		if err != nil {
			t.Fatalf("mlops version: %v", err)
		}
		if !strings.HasPrefix(string(out), "mlops ") {
			t.Errorf("mlops version printed %q, want \"mlops REVISION\"", out)
		}
	})
	t.Run("run-help", func(t *testing.T) {
		// The pipeline role exists and parses its flags; running it is the
		// job of scripts/two-commands.sh.
		out, err := exec.Command(bin, "run", "-h").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "usage: mlops run") {
			t.Errorf("mlops run -h: %v\n%s", err, out)
		}
	})
	t.Run("sweep-agent-usage", func(t *testing.T) {
		// The sweep agent role is in the binary; without a SWEEP_ID it is a
		// usage error (exit 2) that names what is missing.
		out, err := exec.Command(bin, "sweep", "agent").CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "SWEEP_ID") {
			t.Errorf("mlops sweep agent: %v, want exit 2 naming SWEEP_ID\n%s", err, out)
		}
	})
	t.Run("serve-health-sigterm", func(t *testing.T) { checkServe(t, bin) })
}

// checkStatic asserts what CGO_ENABLED=0 and -s -w promise: no dynamic
// loader, no shared libraries, no symbol table, no DWARF, and a size that
// fits the image budget.
func checkStatic(t *testing.T, bin string) {
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("program header %v: the binary is dynamically linked", p.Type)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil || len(libs) > 0 {
		t.Errorf("DT_NEEDED libraries %v (err %v), want none", libs, err)
	}
	for _, s := range []string{".symtab", ".debug_info"} {
		if f.Section(s) != nil {
			t.Errorf("section %s present: -ldflags \"-s -w\" was not applied", s)
		}
	}
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("static binary: %.1f MB", float64(st.Size())/(1<<20))
	if st.Size() > maxBinaryBytes {
		t.Errorf("binary is %d bytes, over the %d-byte budget", st.Size(), maxBinaryBytes)
	}
}

// freePort asks the kernel for an unused loopback port.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// checkServe starts `mlops serve` as the container does (PORT in the
// environment, a fresh MLOPS_HOME, no model yet), waits until /health
// answers, runs the HEALTHCHECK command, and stops it with SIGTERM.
func checkServe(t *testing.T, bin string) {
	cmds := commands()
	if _, ok := cmds["serve"]; !ok {
		t.Fatal("no serve command")
	}
	port := freePort(t)
	base := "http://127.0.0.1:" + port
	var stderr bytes.Buffer
	srv := exec.Command(bin, "serve", "--poll", "0", "--load-timeout", "2s")
	srv.Env = append(cleanEnv(), "PORT="+port, "MLOPS_HOME="+t.TempDir())
	srv.Stderr = &stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			_ = srv.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("serve stderr:\n%s", stderr.String())
		}
	}()

	if err := waitHealthy(base+"/health", exited, 90*time.Second); err != nil {
		stopped = errors.Is(err, errExited)
		t.Fatal(err)
	}
	// The image's HEALTHCHECK: exit 0 when /health answers 2xx ...
	if out, err := exec.Command(bin, "health", "--url", base+"/health").CombinedOutput(); err != nil {
		t.Errorf("mlops health --url %s/health: %v\n%s", base, err, out)
	}
	// ... and it derives the URL from PORT when --url is absent.
	hc := exec.Command(bin, "health", "-q")
	hc.Env = append(cleanEnv(), "PORT="+port)
	if out, err := hc.CombinedOutput(); err != nil {
		t.Errorf("PORT=%s mlops health -q: %v\n%s", port, err, out)
	}
	// No model is registered in the fresh home: not ready, and health says so.
	if out, err := exec.Command(bin, "health", "--url", base+"/health/ready").CombinedOutput(); err == nil {
		t.Errorf("mlops health on /health/ready without a model exited 0:\n%s", out)
	}

	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("serve after SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(40 * time.Second):
		t.Error("serve did not exit within 40 s of SIGTERM")
	}
}

// cleanEnv is the environment without the variables that would point serve
// at another store.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "PORT", "MLOPS_HOME", "MLOPS_TRACKING_URI", "MLOPS_ARTIFACTS", "MLOPS_ADMIN_TOKEN":
			continue
		}
		out = append(out, kv)
	}
	return out
}

var errExited = errors.New("serve exited before it was healthy")

// waitHealthy polls url until it answers 200, the process exits, or the
// time budget is spent.
func waitHealthy(url string, exited <-chan error, budget time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	stop := time.Now().Add(budget)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for time.Now().Before(stop) {
		select {
		case err := <-exited:
			return errors.Join(errExited, err)
		case <-tick.C:
		}
		resp, err := client.Get(url)
		if err != nil {
			last = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = errors.New(resp.Status)
	}
	return errors.Join(errors.New("no 200 from "+url+" within "+budget.String()), last)
}
