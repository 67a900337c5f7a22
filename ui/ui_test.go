package ui

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/housing-mlops/mlops"
)

// externalRef finds references that would make the browser fetch
// something from elsewhere.
var externalRef = regexp.MustCompile(`(?i)(src|href|action)\s*=\s*["']?\s*(https?:)?//|url\(\s*["']?(https?:)?//|@import`)

func checkPage(t *testing.T, rec *httptest.ResponseRecorder, status int, wants ...string) string {
	t.Helper()
	body := rec.Body.String()
	if rec.Code != status {
		t.Fatalf("status %d, want %d; body:\n%.600s", rec.Code, status, body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("Content-Type %q", ct)
	}
	if len(body) >= 100<<10 {
		t.Errorf("page is %d bytes, want < 100 KB", len(body))
	}
	if m := externalRef.FindString(body); m != "" {
		t.Errorf("page refers to another origin: %q", m)
	}
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	return body
}

func TestEveryPageRenders(t *testing.T) {
	fx := newFixture(t, "")
	cases := []struct {
		path  string
		wants []string
	}{
		{"/ui/predict", []string{`<label for="f-latitude">latitude`, `value="37.88"`, `<option selected>NEAR BAY</option>`, `data-max="41.95"`, "version <strong id=\"model-version\">2</strong>"}},
		{"/ui/map", []string{"4 training districts", "2 KMeans cluster centres", `class="dots"`, `class="centre"`}},
		{"/ui/map?lon=-122.23&lat=37.88&value=416630", []string{`id="marker"`, "$416,630"}},
		{"/ui/runs", []string{"pipeline-1", "pipeline-2", `name="run"`}},
		{"/ui/runs/" + fx.pipeline[1], []string{"01_download", "04_features", "06_sweep", "sweep trials", "elbow", "config.seed", "model_version"}},
		{"/ui/runs/compare?run=" + fx.pipeline[0] + "&run=" + fx.pipeline[1], []string{"04_features / silhouette", "&#43;0.1", `class="differs"`}},
		{"/ui/models", []string{"housing", "Production: v1"}},
		{"/ui/models/housing", []string{"Version 2", `data-testid="stage-1">Production`, "Promote to Production…", "Transition history", "first"}},
		{"/ui/sweeps", []string{"06_sweep", ">8<"}},
		{"/ui/sweeps/" + fx.sweep, []string{"trial-004", "stopped early", `class="chart parallel"`, "Best rmse so far"}},
		{"/ui/monitoring", []string{`data-poll="/ui/monitoring.json"`, "DATASET DRIFT", `class="chart psi"`, "median_income"}},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			checkPage(t, fx.get(t, c.path), http.StatusOK, c.wants...)
		})
	}
}

func TestRedirectsAndNotFound(t *testing.T) {
	fx := newFixture(t, "")
	for _, p := range []string{"/ui/", "/ui"} {
		rec := fx.get(t, p)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/ui/predict" {
			t.Errorf("%s: %d %q, want 303 to /ui/predict", p, rec.Code, rec.Header().Get("Location"))
		}
	}
	checkPage(t, fx.get(t, "/ui/nope"), http.StatusNotFound, "No such page")
	checkPage(t, fx.get(t, "/ui/runs/does-not-exist"), http.StatusNotFound)
	checkPage(t, fx.get(t, "/ui/runs/compare?run=a"), http.StatusBadRequest, "exactly two runs")
}

func TestMissingDependenciesSayNotConfigured(t *testing.T) {
	h, err := New(Deps{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/ui/predict", "/ui/map", "/ui/runs", "/ui/models", "/ui/sweeps", "/ui/monitoring"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "not configured") {
			t.Errorf("%s: %d, want 503 saying not configured", p, rec.Code)
		}
	}
}

func TestStaticAssetsAreEmbeddedAndLocal(t *testing.T) {
	fx := newFixture(t, "")
	for _, p := range []string{"/ui/static/app.css", "/ui/static/app.js"} {
		rec := fx.get(t, p)
		if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
			t.Fatalf("%s: %d", p, rec.Code)
		}
		if m := externalRef.FindString(rec.Body.String()); m != "" {
			t.Errorf("%s refers to another origin: %q", p, m)
		}
	}
	// The templates carry no absolute URL but the SVG namespace.
	err := fs.WalkDir(templateFS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := fs.ReadFile(templateFS, p)
		if strings.Contains(string(b), "http://") || strings.Contains(string(b), "https://") {
			t.Errorf("%s holds an absolute URL", p)
		}
		return nil
	})
	must(t, err)
	csp := fx.get(t, "/ui/predict").Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
}

func postForm(path string, v url.Values, accept string) *http.Request {
	req := httptest.NewRequest("POST", path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	return req
}

func exampleForm() url.Values {
	v := url.Values{}
	for k, x := range exampleRecord {
		v.Set(k, x)
	}
	return v
}

func TestPredictFormJSON(t *testing.T) {
	fx := newFixture(t, "")
	rec := fx.do(t, postForm("/ui/predict", exampleForm(), "application/json"))
	var out predictJSON
	must(t, json.Unmarshal(rec.Body.Bytes(), &out))
	if rec.Code != 200 || !out.OK || out.Prediction == nil {
		t.Fatalf("%d %+v", rec.Code, out)
	}
	if want := fmtMoney(expectedPrice(8.3252)); out.Prediction.Value != want {
		t.Errorf("price %q, want %q", out.Prediction.Value, want)
	}
	if out.Prediction.Lower != fmtMoney(0.8*expectedPrice(8.3252)) || out.Prediction.Version != "2" || out.Prediction.Level != "90 %" {
		t.Errorf("interval/version: %+v", out.Prediction)
	}
	if !strings.Contains(out.Prediction.MapURL, "lat=37.88") {
		t.Errorf("map url %q", out.Prediction.MapURL)
	}
}

func TestPredictFormFieldErrors(t *testing.T) {
	fx := newFixture(t, "")
	form := exampleForm()
	form.Set("latitude", "95")
	form.Set("population", "many")
	// Not a number: refused by the form itself, before the model.
	rec := fx.do(t, postForm("/ui/predict", form, "application/json"))
	var out predictJSON
	must(t, json.Unmarshal(rec.Body.Bytes(), &out))
	if rec.Code != 400 || out.OK || !strings.Contains(out.Errors["population"], "must be a finite number") {
		t.Fatalf("%d %+v", rec.Code, out)
	}
	// A number out of range: refused by the predictor, shown by field.
	form.Set("population", "322")
	rec = fx.do(t, postForm("/ui/predict", form, "application/json"))
	out = predictJSON{}
	must(t, json.Unmarshal(rec.Body.Bytes(), &out))
	if rec.Code != 400 || out.Errors["latitude"] != "must be <= 41.95, got 95" || len(out.Errors) != 1 {
		t.Fatalf("%d %+v", rec.Code, out)
	}
	// Without JavaScript the page comes back with the error in the
	// latitude's own slot and the typed values kept.
	body := checkPage(t, fx.do(t, postForm("/ui/predict", form, "")), http.StatusBadRequest, `value="95"`)
	slot := regexp.MustCompile(`<span id="f-latitude-err"[^>]*>([^<]*)</span>`).FindStringSubmatch(body)
	if slot == nil || slot[1] != "must be &lt;= 41.95, got 95" {
		t.Errorf("latitude error slot: %q", slot)
	}
	if !regexp.MustCompile(`id="f-latitude"[^>]*aria-invalid="true"`).MatchString(body) {
		t.Error("latitude input not marked aria-invalid")
	}
	// A missing required field.
	form.Set("latitude", "37.88")
	form.Del("median_income")
	rec = fx.do(t, postForm("/ui/predict", form, "application/json"))
	out = predictJSON{}
	must(t, json.Unmarshal(rec.Body.Bytes(), &out))
	if out.Errors["median_income"] != "is required" {
		t.Errorf("%+v", out)
	}
}

func TestPredictFormWithoutJavaScript(t *testing.T) {
	fx := newFixture(t, "")
	body := checkPage(t, fx.do(t, postForm("/ui/predict", exampleForm(), "")), http.StatusOK)
	if !strings.Contains(body, `<p class="price" id="price">`+fmtMoney(expectedPrice(8.3252))+`</p>`) {
		t.Errorf("no price in the page")
	}
}

func csvUpload(t *testing.T, content, accept string) *http.Request {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	fw, err := w.CreateFormFile("file", "districts.csv")
	must(t, err)
	_, _ = fw.Write([]byte(content))
	must(t, w.Close())
	req := httptest.NewRequest("POST", "/ui/predict/csv", &b)
	req.Header.Set("Content-Type", w.FormDataContentType())
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	return req
}

const csvHeader = "id,longitude,latitude,housing_median_age,total_rooms,total_bedrooms,population,households,median_income,ocean_proximity\n"

func TestPredictCSVDownload(t *testing.T) {
	fx := newFixture(t, "")
	in := csvHeader + "a,-122.23,37.88,41,880,129,322,126,8.3252,NEAR BAY\nb,-118.3,34.2,20,1000,,500,200,2.5,<1H OCEAN\n"
	rec := fx.do(t, csvUpload(t, in, ""))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/csv") ||
		!strings.Contains(rec.Header().Get("Content-Disposition"), "predictions.csv") {
		t.Fatalf("%d %v\n%s", rec.Code, rec.Header(), rec.Body)
	}
	rows, err := csv.NewReader(rec.Body).ReadAll()
	must(t, err)
	if len(rows) != 3 || rows[0][len(rows[0])-4] != "predicted_price" || rows[2][0] != "b" {
		t.Fatalf("rows %q", rows)
	}
	for i, income := range []float64{8.3252, 2.5} {
		got, _ := strconv.ParseFloat(rows[i+1][len(rows[0])-4], 64)
		if want := expectedPrice(income); got != want {
			t.Errorf("row %d price %v, want %v", i+1, got, want)
		}
		if rows[i+1][len(rows[0])-1] != "2" {
			t.Errorf("row %d model_version %q", i+1, rows[i+1][len(rows[0])-1])
		}
	}
	// The script's JSON form carries a preview and the same file.
	rec = fx.do(t, csvUpload(t, in, "application/json"))
	var out csvJSON
	must(t, json.Unmarshal(rec.Body.Bytes(), &out))
	if !out.OK || out.Rows != 2 || len(out.Preview) != 2 || !strings.Contains(out.CSV, "predicted_price") {
		t.Errorf("%+v", out)
	}
}

func TestPredictCSVErrorsByRow(t *testing.T) {
	fx := newFixture(t, "")
	calls := fx.pred.count()
	in := csvHeader + "a,-122.23,37.88,41,880,129,322,126,8.3252,NEAR BAY\nb,-122.23,95,41,880,129,322,126,8.3252,NEAR BAY\nc,-122.23,37.88,41,880,129,lots,126,8.3252,NEAR BAY\n"
	rec := fx.do(t, csvUpload(t, in, "application/json"))
	var out csvJSON
	must(t, json.Unmarshal(rec.Body.Bytes(), &out))
	// Row 3's number is refused while reading, before the model is asked.
	if rec.Code != 400 || out.OK || len(out.Errors) != 1 || out.Errors[0] != (csvErrorJSON{Row: 3, Line: 4, Field: "population", Reason: `must be a finite number, got "lots"`}) {
		t.Fatalf("%d %+v", rec.Code, out)
	}
	if fx.pred.count() != calls {
		t.Error("the predictor was called for a file with unreadable values")
	}
	// With row 3 fixed, the predictor refuses row 2's latitude.
	in = strings.Replace(in, "lots", "322", 1)
	body := checkPage(t, fx.do(t, csvUpload(t, in, "")), http.StatusBadRequest, "Errors by row",
		"<tr><td>2</td><td>3</td><td>latitude</td><td>must be &lt;= 41.95, got 95</td></tr>")
	_ = body
	for _, c := range []struct{ in, want string }{
		{"", "the file is empty"},
		{"longitude,latitude\n-122,37\n", "lacks required column(s) housing_median_age"},
		{csvHeader, "no rows"},
		{csvHeader + "\"a,1\n", "line 2"},
	} {
		rec := fx.do(t, csvUpload(t, c.in, "application/json"))
		out := csvJSON{}
		must(t, json.Unmarshal(rec.Body.Bytes(), &out))
		if rec.Code != 400 || !strings.Contains(out.Message, c.want) {
			t.Errorf("%q: %d %q, want %q", c.in, rec.Code, out.Message, c.want)
		}
	}
}

func TestPredictCSVLimits(t *testing.T) {
	fx := newFixture(t, "")
	var b strings.Builder
	b.WriteString(csvHeader)
	for i := 0; i < 101; i++ {
		b.WriteString("a,-122.23,37.88,41,880,129,322,126,8.3252,NEAR BAY\n")
	}
	rec := fx.do(t, csvUpload(t, b.String(), "application/json"))
	var out csvJSON
	must(t, json.Unmarshal(rec.Body.Bytes(), &out))
	if rec.Code != 400 || !strings.Contains(out.Message, "too many instances") {
		t.Errorf("%d %+v", rec.Code, out)
	}
	h, err := New(Deps{Predictor: fx.pred, MaxUploadBytes: 100})
	must(t, err)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, csvUpload(t, b.String(), "application/json"))
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized upload: %d %s", rec.Code, rec.Body)
	}
}

func stageOf(t *testing.T, fx *fixture, v int) mlops.Stage {
	t.Helper()
	mv, err := fx.store.GetModelVersion(context.Background(), "housing", v)
	must(t, err)
	return mv.Stage
}

func TestPromoteNeedsConfirmationAndToken(t *testing.T) {
	fx := newFixture(t, "s3cret")
	// The confirmation page changes nothing.
	checkPage(t, fx.get(t, "/ui/models/housing/confirm?action=promote&version=2&stage=Production"), http.StatusOK,
		"Promote version 2 of housing to Production?", "Version 1 now holds Production and will be archived.", `name="token"`)
	if stageOf(t, fx, 2) != mlops.StageNone {
		t.Fatal("GET changed the stage")
	}
	form := url.Values{"action": {"promote"}, "version": {"2"}, "stage": {"Production"}}
	// Not confirmed.
	checkPage(t, fx.do(t, postForm("/ui/models/housing/action", form, "")), http.StatusBadRequest, "please confirm")
	// Confirmed, no token, then a wrong token.
	form.Set("confirm", "yes")
	checkPage(t, fx.do(t, postForm("/ui/models/housing/action", form, "")), http.StatusForbidden, "admin token is missing or wrong")
	form.Set("token", "guess")
	checkPage(t, fx.do(t, postForm("/ui/models/housing/action", form, "")), http.StatusForbidden)
	if stageOf(t, fx, 2) != mlops.StageNone || len(fx.changed) != 0 {
		t.Fatal("refused actions changed the registry")
	}
	form.Set("token", "s3cret")
	form.Set("reason", "better rmse")
	rec := fx.do(t, postForm("/ui/models/housing/action", form, ""))
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if stageOf(t, fx, 2) != mlops.StageProduction || stageOf(t, fx, 1) != mlops.StageArchived {
		t.Errorf("stages after promote: v1 %s, v2 %s", stageOf(t, fx, 1), stageOf(t, fx, 2))
	}
	if len(fx.changed) != 1 || fx.changed[0] != "housing" {
		t.Errorf("AfterRegistryChange calls %q", fx.changed)
	}
	checkPage(t, fx.get(t, rec.Header().Get("Location")), http.StatusOK, "Version 2 is now in Production.", "better rmse", `data-testid="stage-2">Production`)
	// Roll back: version 1 holds Production again.
	rb := url.Values{"action": {"rollback"}, "stage": {"Production"}, "confirm": {"yes"}, "token": {"s3cret"}}
	rec = fx.do(t, postForm("/ui/models/housing/action", rb, ""))
	if rec.Code != http.StatusSeeOther || stageOf(t, fx, 1) != mlops.StageProduction {
		t.Fatalf("rollback: %d, v1 %s", rec.Code, stageOf(t, fx, 1))
	}
	// Archive.
	ar := url.Values{"action": {"archive"}, "version": {"1"}, "confirm": {"yes"}, "token": {"s3cret"}}
	rec = fx.do(t, postForm("/ui/models/housing/action", ar, ""))
	if rec.Code != http.StatusSeeOther || stageOf(t, fx, 1) != mlops.StageArchived {
		t.Fatalf("archive: %d, v1 %s", rec.Code, stageOf(t, fx, 1))
	}
}

func TestModelActionValidation(t *testing.T) {
	fx := newFixture(t, "")
	for _, c := range []struct {
		form   url.Values
		status int
	}{
		{url.Values{"action": {"delete"}, "version": {"1"}, "confirm": {"yes"}}, 400},
		{url.Values{"action": {"promote"}, "version": {"x"}, "stage": {"Production"}, "confirm": {"yes"}}, 400},
		{url.Values{"action": {"promote"}, "version": {"1"}, "stage": {"Archived"}, "confirm": {"yes"}}, 400},
		{url.Values{"action": {"promote"}, "version": {"9"}, "stage": {"Production"}, "confirm": {"yes"}}, 404},
	} {
		checkPage(t, fx.do(t, postForm("/ui/models/housing/action", c.form, "")), c.status)
	}
	// Without a configured token, a confirmed action needs none.
	rec := fx.do(t, postForm("/ui/models/housing/action", url.Values{"action": {"promote"}, "version": {"2"}, "stage": {"Staging"}, "confirm": {"yes"}}, ""))
	if rec.Code != http.StatusSeeOther || stageOf(t, fx, 2) != mlops.StageStaging {
		t.Errorf("%d %s", rec.Code, stageOf(t, fx, 2))
	}
	// A cross-site form post is refused whatever the token.
	req := postForm("/ui/models/housing/action", url.Values{"action": {"archive"}, "version": {"2"}, "confirm": {"yes"}}, "")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if rec := fx.do(t, req); rec.Code != http.StatusForbidden || stageOf(t, fx, 2) != mlops.StageStaging {
		t.Errorf("cross-site post: %d, stage %s", rec.Code, stageOf(t, fx, 2))
	}
}

func TestRunArtifacts(t *testing.T) {
	fx := newFixture(t, "")
	body := fx.get(t, "/ui/runs/"+fx.pipeline[0]).Body.String()
	src := regexp.MustCompile(`<img src="([^"]+elbow\.svg)"`).FindStringSubmatch(body)
	if src == nil {
		t.Fatal("no elbow plot on the run page")
	}
	rec := fx.get(t, src[1])
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "image/svg+xml" || !bytes.Equal(rec.Body.Bytes(), svgBytes(t)) {
		t.Fatalf("%s: %d %q", src[1], rec.Code, rec.Header().Get("Content-Type"))
	}
	// Opened directly, an SVG runs no script and loads nothing.
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "sandbox") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("SVG artifact served with CSP %q", csp)
	}
	// Plots of runs recorded before the SVG charts still show.
	legacy := strings.Replace(src[1], "elbow.svg", "legacy.png", 1)
	if !strings.Contains(body, `<img src="`+legacy+`"`) {
		t.Error("no legacy PNG plot on the run page")
	}
	if rec := fx.get(t, legacy); rec.Code != 200 || rec.Header().Get("Content-Type") != "image/png" || !bytes.Equal(rec.Body.Bytes(), pngBytes(t)) {
		t.Errorf("%s: %d %q", legacy, rec.Code, rec.Header().Get("Content-Type"))
	}
	for _, p := range []string{strings.Replace(src[1], "elbow.svg", "missing.svg", 1), "/ui/runs/x/artifacts/model.json", "/ui/runs/x/artifacts/..%2f..%2fsecret.svg"} {
		if rec := fx.get(t, p); rec.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, rec.Code)
		}
	}
}

func TestSweepSortAndFilter(t *testing.T) {
	fx := newFixture(t, "")
	body := checkPage(t, fx.get(t, "/ui/sweeps/"+fx.sweep), http.StatusOK)
	names := regexp.MustCompile(`>(trial-\d{3})</a>`).FindAllStringSubmatch(body, -1)
	// rmse = 47000 + 1000·|i−3|: ascending by rmse starts with trial-004.
	if len(names) != fx.trials || names[0][1] != "trial-004" {
		t.Fatalf("order %q", names)
	}
	if got := strings.Count(body, `class="pc stopped"`); got != fx.stopped {
		t.Errorf("%d dashed lines, want %d stopped trials", got, fx.stopped)
	}
	if got := strings.Count(body, `<tr class="stopped">`); got != fx.stopped {
		t.Errorf("%d stopped rows, want %d", got, fx.stopped)
	}
	body = checkPage(t, fx.get(t, "/ui/sweeps/"+fx.sweep+"?sort=p:max_depth&dir=desc&max=48000"), http.StatusOK)
	names = regexp.MustCompile(`>(trial-\d{3})</a>`).FindAllStringSubmatch(body, -1)
	// rmse ≤ 48000: i = 2, 3, 4; max_depth = 4+i descending.
	var got []string
	for _, n := range names {
		got = append(got, n[1])
	}
	if strings.Join(got, ",") != "trial-005,trial-004,trial-003" {
		t.Errorf("filtered order %v", got)
	}
	body = checkPage(t, fx.get(t, "/ui/sweeps/"+fx.sweep+"?metric=r2"), http.StatusOK, "Metric <strong>r2</strong> (maximize)")
	if n := regexp.MustCompile(`>(trial-\d{3})</a>`).FindStringSubmatch(body); n == nil || n[1] != "trial-001" {
		t.Errorf("r2 should sort descending with trial-001 first: %v", n)
	}
}

func TestMonitoringJSON(t *testing.T) {
	fx := newFixture(t, "")
	rec := fx.get(t, "/ui/monitoring.json")
	var out monitorJSON
	must(t, json.Unmarshal(rec.Body.Bytes(), &out))
	if rec.Code != 200 || !out.DatasetDrift || out.Values["requests"] != "10" || out.Values["drift"] != "DATASET DRIFT" {
		t.Fatalf("%d %+v", rec.Code, out.Values)
	}
	for _, id := range []string{"chart-rate", "chart-latency", "chart-predictions", "chart-psi"} {
		if !strings.HasPrefix(string(out.Charts[id]), "<svg") {
			t.Errorf("chart %s missing", id)
		}
	}
	// The cumulative latency histogram puts half the requests under 1 ms.
	if out.Values["p50"] != "1 ms" {
		t.Errorf("p50 %q", out.Values["p50"])
	}
}

func TestRunsWithoutPipelineTagsStillListed(t *testing.T) {
	fx := newFixture(t, "")
	ctx := context.Background()
	exp, err := fx.store.CreateExperiment(ctx, "notebook", "", nil)
	must(t, err)
	_, err = fx.store.CreateRun(ctx, mlops.RunCreate{ExperimentID: exp.ID, Name: "hand-made"})
	must(t, err)
	// Tagged pipeline runs exist, so only they are listed...
	body := checkPage(t, fx.get(t, "/ui/runs"), http.StatusOK, "pipeline-1")
	if strings.Contains(body, "hand-made") || strings.Contains(body, ">06_sweep<") {
		t.Error("untagged or child runs listed next to pipelines")
	}
	// ...and a store without any lists its top-level runs.
	db2 := newFixture(t, "")
	for _, id := range db2.pipeline {
		must(t, db2.store.DeleteTag(ctx, id, tagKind))
	}
	body = checkPage(t, db2.get(t, "/ui/runs"), http.StatusOK, "pipeline-1", "pipeline-2")
	if strings.Contains(body, "trial-001") || strings.Contains(body, "01_download") {
		t.Error("child runs listed as top-level runs")
	}
}
