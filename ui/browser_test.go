package ui

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The browser tests drive the UI in a real headless Chromium. They are
// skipped when no Chromium is installed, unless CI=true, where a missing
// browser is a failure.

func chromiumPath() string {
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// consoleLog collects the page's console errors and exceptions.
type consoleLog struct {
	mu   sync.Mutex
	errs []string
}

func (c *consoleLog) add(s string) {
	c.mu.Lock()
	c.errs = append(c.errs, s)
	c.mu.Unlock()
}

func (c *consoleLog) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.errs
	c.errs = nil
	return out
}

// browser starts a headless Chromium with a fresh profile and no network
// chatter of its own, and returns a tab context and its console log.
func browser(t *testing.T) (context.Context, *consoleLog) {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but no Chromium found (/usr/bin/chromium): install it with apt-get install -y chromium")
		}
		t.Skip("no Chromium found (/usr/bin/chromium); install it with `apt-get install -y chromium` to run the browser tests")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	log := &consoleLog{}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError {
				log.add(m.Source + " " + m.String() + " at " + m.URL)
			}
		}
	}()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx, log
}

// step runs actions with a bound, so a broken page fails instead of hanging.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("reading %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// shoot saves full-page screenshots at desktop and phone widths.
func shoot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	for _, vp := range []struct {
		w, h int64
		tag  string
	}{{1280, 800, "1280"}, {390, 844, "390"}} {
		step(t, ctx, "resizing", chromedp.EmulateViewport(vp.w, vp.h))
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		img, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
		cancel()
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		must(t, os.WriteFile(filepath.Join(dir, name+"-"+vp.tag+".png"), img, 0o644))
		// Nothing may stick out sideways at either width.
		if over := eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth + 1`); over {
			t.Errorf("%s at %s px: the page scrolls sideways", name, vp.tag)
		}
	}
	step(t, ctx, "resizing", chromedp.EmulateViewport(1280, 800))
}

// noConsoleErrors fails on every console error and exception but those
// containing one of allowed.
func noConsoleErrors(t *testing.T, log *consoleLog, page string, allowed ...string) {
	t.Helper()
next:
	for _, e := range log.take() {
		for _, a := range allowed {
			if strings.Contains(e, a) {
				continue next
			}
		}
		t.Errorf("%s: console: %s", page, e)
	}
}

func TestBrowser(t *testing.T) {
	fx := newFixture(t, "s3cret")
	h, err := New(Deps{Tracker: fx.store, Registry: fx.store, Artifacts: fx.art, Predictor: fx.pred, Monitor: &fakeMonitor{},
		Map:        StaticMap(housingMap(t)),
		AdminToken: "s3cret", PollInterval: 200 * time.Millisecond})
	must(t, err)
	fx.handler = h
	ts := newServer(t, h)
	ctx, log := browser(t)
	dir := artifactsDir(t)
	t.Logf("screenshots in %s", dir)

	t.Run("predict", func(t *testing.T) {
		step(t, ctx, "opening the form", chromedp.Navigate(ts+"/ui/predict"), chromedp.WaitVisible(chromedp.CSS("#predict-form")))
		before := eval[[]float64](t, ctx, `[document.querySelector('#csv-h').getBoundingClientRect().top + scrollY, document.querySelector('#predict-form button').getBoundingClientRect().top + scrollY]`)
		step(t, ctx, "submitting", chromedp.Click(chromedp.CSS("#predict-form button[type=submit]")),
			chromedp.Poll[chromedp.Void](`document.querySelector('#price').textContent !== '—'`))
		if got, want := text(t, ctx, "#price"), fmtMoney(expectedPrice(8.3252)); got != want {
			t.Errorf("price %q, want %q", got, want)
		}
		if got := text(t, ctx, "#result-version"); got != "model version 2" {
			t.Errorf("version %q", got)
		}
		if got := text(t, ctx, "#interval"); !strings.Contains(got, fmtMoney(0.8*expectedPrice(8.3252))) {
			t.Errorf("interval %q", got)
		}
		after := eval[[]float64](t, ctx, `[document.querySelector('#csv-h').getBoundingClientRect().top + scrollY, document.querySelector('#predict-form button').getBoundingClientRect().top + scrollY]`)
		if before[0] != after[0] || before[1] != after[1] {
			t.Errorf("layout shifted when the result arrived: %v -> %v", before, after)
		}
		shoot(t, ctx, dir, "predict")
		noConsoleErrors(t, log, "predict")
	})

	t.Run("invalid latitude", func(t *testing.T) {
		step(t, ctx, "opening the form", chromedp.Navigate(ts+"/ui/predict"), chromedp.WaitVisible(chromedp.CSS("#f-latitude")))
		step(t, ctx, "typing", chromedp.Clear(chromedp.CSS("#f-latitude")), chromedp.SendKeys(chromedp.CSS("#f-latitude"), "95"))
		// The hint comes from the schema's range, in the browser.
		if got := text(t, ctx, "#f-latitude-err"); got != "must be <= 41.95, got 95" {
			t.Errorf("client hint %q", got)
		}
		calls := fx.pred.count()
		step(t, ctx, "submitting", chromedp.Click(chromedp.CSS("#predict-form button[type=submit]")),
			chromedp.Poll[chromedp.Void](`document.querySelector('#form-message').textContent !== ''`))
		if fx.pred.count() != calls+1 {
			t.Errorf("the form did not reach the model (%d calls)", fx.pred.count()-calls)
		}
		if got := text(t, ctx, "#f-latitude-err"); got != "must be <= 41.95, got 95" {
			t.Errorf("server error next to latitude: %q", got)
		}
		if got := eval[string](t, ctx, `document.activeElement.id`); got != "f-latitude" {
			t.Errorf("focus on %q, want the invalid field", got)
		}
		if got := text(t, ctx, "#price"); got != "—" {
			t.Errorf("a price was shown for an invalid record: %q", got)
		}
		shoot(t, ctx, dir, "predict-error")
		// The browser logs the refused request itself (a 400 is the right
		// answer to an invalid record); nothing else may appear.
		noConsoleErrors(t, log, "predict error", "network error: Failed to load resource: the server responded with a status of 400 (Bad Request) at "+ts+"/ui/predict")
	})

	t.Run("csv upload", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "districts.csv")
		must(t, os.WriteFile(file, []byte(csvHeader+"a,-122.23,37.88,41,880,129,322,126,8.3252,NEAR BAY\nb,-118.3,34.2,20,1000,,500,200,2.5,<1H OCEAN\n"), 0o644))
		step(t, ctx, "uploading", chromedp.Navigate(ts+"/ui/predict"), chromedp.WaitVisible(chromedp.CSS("#csv-file")),
			chromedp.SetUploadFiles(chromedp.CSS("#csv-file"), []string{file}),
			chromedp.Click(chromedp.CSS("#csv-form button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS("#csv-preview")))
		cells := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#csv-preview tbody tr')).map(r => r.cells[0].textContent + '=' + r.cells[10].textContent)`)
		want := []string{"a=" + formatCSVFloat(expectedPrice(8.3252)), "b=" + formatCSVFloat(expectedPrice(2.5))}
		if strings.Join(cells, ",") != strings.Join(want, ",") {
			t.Errorf("preview %q, want %q", cells, want)
		}
		if got := text(t, ctx, "#csv-download"); !strings.Contains(got, "2 rows") {
			t.Errorf("download link %q", got)
		}
		shoot(t, ctx, dir, "predict-csv")
		noConsoleErrors(t, log, "csv")
	})

	t.Run("promote", func(t *testing.T) {
		step(t, ctx, "opening the model", chromedp.Navigate(ts+"/ui/models/housing"), chromedp.WaitVisible(chromedp.CSS("#promote-prod-2")))
		shoot(t, ctx, dir, "model")
		step(t, ctx, "asking to promote", chromedp.Click(chromedp.CSS("#promote-prod-2")), chromedp.WaitVisible(chromedp.CSS("#confirm-button")))
		if got := text(t, ctx, "#q-h"); got != "Promote version 2 of housing to Production?" {
			t.Errorf("question %q", got)
		}
		shoot(t, ctx, dir, "confirm")
		step(t, ctx, "confirming", chromedp.SendKeys(chromedp.CSS("#token"), "s3cret"), chromedp.Click(chromedp.CSS("#confirm-button")),
			chromedp.WaitVisible(chromedp.CSS(".flash")))
		if got := text(t, ctx, `[data-testid="stage-2"]`); got != "Production" {
			t.Errorf("stage of v2 %q, want Production", got)
		}
		if got := text(t, ctx, `[data-testid="stage-1"]`); got != "Archived" {
			t.Errorf("stage of v1 %q, want Archived", got)
		}
		noConsoleErrors(t, log, "models")
	})

	pages := []struct{ name, path, ready string }{
		{"runs", "/ui/runs", "#runs-table"},
		{"run", "/ui/runs/" + fx.pipeline[1], "#steps-table"},
		{"compare", "/ui/runs/compare?run=" + fx.pipeline[0] + "&run=" + fx.pipeline[1], "#compare-metrics"},
		{"map", "/ui/map?lon=-122.23&lat=37.88&value=416260", "#marker"},
		{"models", "/ui/models", "#models-table"},
		{"sweeps", "/ui/sweeps", "#sweeps-table"},
		{"sweep", "/ui/sweeps/" + fx.sweep, "#trials-table"},
	}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			step(t, ctx, "opening "+p.path, chromedp.Navigate(ts+p.path), chromedp.WaitVisible(chromedp.CSS(p.ready)))
			shoot(t, ctx, dir, p.name)
			noConsoleErrors(t, log, p.name)
		})
	}

	t.Run("sweep sorting by keyboard", func(t *testing.T) {
		step(t, ctx, "opening", chromedp.Navigate(ts+"/ui/sweeps/"+fx.sweep), chromedp.WaitVisible(chromedp.CSS("#trials-table")))
		// Focus the max_depth header link and press Enter.
		step(t, ctx, "sorting", chromedp.Focus(chromedp.CSS(`#trials-table th a[href*="sort=p%3Amax_depth"]`)), chromedp.KeyEvent("\r"),
			chromedp.WaitVisible(chromedp.CSS(`#trials-table th[aria-sort="ascending"] a[href*="max_depth"]`)))
		first := eval[string](t, ctx, `document.querySelector('#trials-table tbody tr td:nth-child(2)').textContent`)
		if first != "trial-001" {
			t.Errorf("first trial by max_depth ascending %q", first)
		}
		noConsoleErrors(t, log, "sweep sort")
	})

	t.Run("monitoring", func(t *testing.T) {
		step(t, ctx, "opening", chromedp.Navigate(ts+"/ui/monitoring"), chromedp.WaitVisible(chromedp.CSS("#chart-psi svg")))
		first := text(t, ctx, `[data-key="requests"]`)
		// The script polls the JSON endpoint and updates the numbers.
		step(t, ctx, "waiting for a refresh", chromedp.Poll[chromedp.Void](`document.querySelector('#monitoring').dataset.updated !== undefined && document.querySelector('[data-key="requests"]').textContent !== `+jsString(first)))
		if got := text(t, ctx, `[data-key="drift"]`); got != "DATASET DRIFT" {
			t.Errorf("drift flag %q", got)
		}
		if !eval[bool](t, ctx, `document.querySelector('#drift-tile').classList.contains('alert')`) {
			t.Error("drift tile not flagged")
		}
		shoot(t, ctx, dir, "monitoring")
		noConsoleErrors(t, log, "monitoring")
	})
}

func jsString(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

func formatCSVFloat(v float64) string {
	b, _ := (&csvBatch{header: []string{"x"}, rows: [][]string{{"x"}}}).output([]Prediction{{Value: v}}, "")
	rows := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Split(rows[1], ",")[1]
}
