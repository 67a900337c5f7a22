// housing-mlops UI: progressive enhancement only. Every form also works
// without this script; here we check fields as they are typed, submit
// without reloading (so results appear in reserved space), and poll the
// monitoring endpoint.
"use strict";

(function () {
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  // The same rules as the API: required, finite number, bounds, category.
  function checkField(el) {
    var v = el.value.trim();
    if (v === "") { return el.dataset.required ? "is required" : ""; }
    if (el.dataset.kind !== "number") { return ""; }
    if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v)) { return "must be a number, got \"" + v + "\""; }
    var x = Number(v);
    if (!isFinite(x)) { return "must be a finite number"; }
    if (el.dataset.min !== undefined && x < Number(el.dataset.min)) { return "must be >= " + el.dataset.min + ", got " + v; }
    if (el.dataset.max !== undefined && x > Number(el.dataset.max)) { return "must be <= " + el.dataset.max + ", got " + v; }
    return "";
  }

  function showError(form, name, msg) {
    var slot = $('.field-error[data-field="' + name + '"]', form);
    var input = form.elements[name];
    if (slot) { slot.textContent = msg || ""; }
    if (input) {
      if (msg) { input.setAttribute("aria-invalid", "true"); } else { input.removeAttribute("aria-invalid"); }
    }
  }

  function initPredict() {
    var form = $("#predict-form");
    if (!form) { return; }
    $all("[data-kind]", form).forEach(function (el) {
      el.addEventListener("input", function () { showError(form, el.name, checkField(el)); });
    });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var body = new URLSearchParams(new FormData(form));
      var button = $("button[type=submit]", form);
      button.disabled = true;
      $("#form-message").textContent = "";
      fetch(form.action, { method: "POST", body: body, headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (d) { showPrediction(form, d); })
        .catch(function () { $("#form-message").textContent = "The server did not answer; try again."; })
        .then(function () { button.disabled = false; });
    });
  }

  function showPrediction(form, d) {
    $all(".field-error", form).forEach(function (s) { showError(form, s.dataset.field, ""); });
    var errors = d.errors || {};
    var first = null;
    Object.keys(errors).forEach(function (name) {
      showError(form, name, errors[name]);
      if (!first && form.elements[name]) { first = form.elements[name]; }
    });
    $("#form-message").textContent = d.message || "";
    if (first) { first.focus(); }
    if (!d.ok || !d.prediction) { return; }
    var p = d.prediction;
    $("#price").textContent = p.Value;
    $("#interval").textContent = p.Level + " interval: " + p.Lower + " – " + p.Upper;
    $("#result-version").textContent = "model version " + p.Version;
    if (p.MapURL) { $("#map-link").setAttribute("href", p.MapURL); }
    // On a narrow screen the result is below the form: bring it into view.
    var box = $("#result").getBoundingClientRect();
    if (box.top > window.innerHeight || box.bottom < 0) { $("#result").scrollIntoView({ block: "nearest" }); }
  }

  function cell(tag, text) { var c = document.createElement(tag); c.textContent = text; return c; }

  function table(id, caption, header, rows) {
    var t = document.createElement("table");
    t.id = id;
    t.className = "data";
    t.appendChild(cell("caption", caption));
    var head = t.createTHead().insertRow();
    header.forEach(function (h) { var th = cell("th", h); th.scope = "col"; head.appendChild(th); });
    var body = t.createTBody();
    rows.forEach(function (r) {
      var tr = body.insertRow();
      r.forEach(function (v) { tr.appendChild(cell("td", v)); });
    });
    var wrap = document.createElement("div");
    wrap.className = "table-wrap";
    wrap.appendChild(t);
    return wrap;
  }

  function initCSV() {
    var form = $("#csv-form");
    if (!form) { return; }
    var out = $("#csv-result");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var button = $("button[type=submit]", form);
      button.disabled = true;
      fetch(form.action, { method: "POST", body: new FormData(form), headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (d) { showCSV(out, d); })
        .catch(function () { out.textContent = "The server did not answer; try again."; })
        .then(function () { button.disabled = false; });
    });
  }

  function showCSV(out, d) {
    out.textContent = "";
    if (d.message) { var m = cell("p", d.message); m.className = "form-message"; m.setAttribute("role", "alert"); out.appendChild(m); }
    if (d.errors && d.errors.length) {
      out.appendChild(table("csv-errors", "Errors by row", ["Row", "Line", "Field", "Reason"],
        d.errors.map(function (e) { return [String(e.row), String(e.line), e.field, e.reason]; })));
    }
    if (!d.ok) { return; }
    var url = URL.createObjectURL(new Blob([d.csv], { type: "text/csv" }));
    var p = document.createElement("p");
    var a = cell("a", "Download predictions.csv (" + d.rows + " rows)");
    a.href = url;
    a.download = "predictions.csv";
    a.id = "csv-download";
    p.appendChild(a);
    out.appendChild(p);
    out.appendChild(table("csv-preview", "First rows", d.header, d.preview));
  }

  function initMonitoring() {
    var root = $("#monitoring");
    if (!root) { return; }
    var every = Number(root.dataset.interval) || 5000;
    function apply(d) {
      Object.keys(d.values || {}).forEach(function (k) {
        $all('[data-key="' + k + '"]', root).forEach(function (el) { el.textContent = d.values[k]; });
      });
      $all('[data-key="at"]', root).forEach(function (el) { el.textContent = d.at; });
      Object.keys(d.charts || {}).forEach(function (id) {
        var box = document.getElementById(id);
        if (box) { box.innerHTML = d.charts[id]; }
      });
      $("#drift-tile").classList.toggle("alert", !!d.dataset_drift);
      root.dataset.updated = d.at;
    }
    function poll() {
      fetch(root.dataset.poll, { headers: { "Accept": "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
        .then(apply)
        .catch(function () { root.dataset.stale = "1"; })
        .then(function () { setTimeout(poll, every); });
    }
    setTimeout(poll, every);
  }

  initPredict();
  initCSV();
  initMonitoring();
})();
