(function () {
  "use strict";
  // The index page's concept search over window.ATLAS_INDEX (data/index.js): which units of
  // which model, unit kind and layer carry a label (or an explanation concept) containing the
  // query; links open the cards.
  var X = window.ATLAS_INDEX;
  var status = document.getElementById("atlas-status");
  function setStatus(key, value) { status.dataset[key] = String(value); }
  if (!X) { window.__atlasNote("the data file " + document.body.dataset.src + " did not load"); return; }
  var S = X.strings, PER_LAYER = 40;
  var lower = S.map(function (t) { return t.toLowerCase(); });
  var form = document.getElementById("search"), input = form.elements.q, exact = form.elements.exact;
  var results = document.getElementById("results"), countEl = document.getElementById("count");
  function esc(t) {
    return String(t).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]; });
  }
  function link(page, params) { return esc(page.href + "#" + new URLSearchParams(params).toString()); }

  function readHash() {
    var p = new URLSearchParams(location.hash.replace(/^#/, ""));
    return {q: p.get("q") || "", exact: p.get("exact") === "1"};
  }
  var state = readHash();
  function writeHash() {
    var p = new URLSearchParams();
    if (state.q) p.set("q", state.q);
    if (state.exact) p.set("exact", "1");
    history.replaceState(null, "", "#" + p.toString());
    setStatus("hash", location.hash);
  }

  // units whose label matches, then (Linear Explanations) units whose explanation has a
  // matching concept; a unit is listed once, by its label when that matches
  function pageHits(page, hit) {
    var byLayer = {}, seen = {};  // layer -> [[unit, string id, via explanation]]
    function add(entries, viaExpl) {
      entries.forEach(function (entry) {
        if (!hit[entry[0]]) return;
        for (var j = 0; j < entry[1].length; j += 2) {
          var key = entry[1][j] + ":" + entry[1][j + 1];
          if (seen[key]) continue;
          seen[key] = 1;
          (byLayer[entry[1][j]] = byLayer[entry[1][j]] || []).push([entry[1][j + 1], entry[0], viaExpl]);
        }
      });
    }
    add(page.labels, false);
    add(page.expl || [], true);
    return byLayer;
  }

  function section(page, byLayer) {
    var layers = Object.keys(byLayer).map(Number).sort(function (a, b) { return a - b; });
    var total = 0, body = [];
    layers.forEach(function (li) {
      var units = byLayer[li].sort(function (a, b) { return a[0] - b[0]; });
      total += units.length;
      var h = '<p><a class="layer-link" href="' + link(page, {layer: li, q: state.q}) + '">layer ' +
        li + " \u00b7 " + esc(page.layers[li]) + "</a> (" + units.length + "): ";
      units.slice(0, PER_LAYER).forEach(function (u) {
        h += '<a class="unit-link' + (u[2] ? " via-expl" : "") + '" href="' +
          link(page, {layer: li, q: S[u[1]], unit: u[0]}) + '"' +
          (u[2] ? ' title="in the unit\'s Linear Explanation"' : "") + ">unit " + u[0] + " <i>" +
          (u[2] ? "\u2026" : "") + esc(S[u[1]]) + "</i></a>";
      });
      if (units.length > PER_LAYER) h += "\u2026 and " + (units.length - PER_LAYER) + " more";
      body.push(h + "</p>");
    });
    var kind = page.kind ? ", " + esc(page.kind) + " units" : "";
    return {total: total, html: '<section class="hit" data-page="' + esc(page.href) + '"><h2><a href="' +
      link(page, {q: state.q}) + '">' + esc(page.title) + "</a> <small>(" + esc(page.model) + kind +
      ") \u00b7 " + total + " units</small></h2>" + body.join("") + "</section>"};
  }

  function apply() {
    var t0 = performance.now();
    input.value = state.q; exact.checked = state.exact;
    var q = state.q.toLowerCase(), hit = {}, any = false;
    for (var i = 0; q && i < lower.length; i++) {
      if (state.exact ? lower[i] === q : lower[i].indexOf(q) >= 0) { hit[i] = 1; any = true; }
    }
    var html = [], units = 0, pages = 0;
    if (any) {
      X.pages.forEach(function (page) {
        var byLayer = pageHits(page, hit);
        if (!Object.keys(byLayer).length) return;
        var s = section(page, byLayer);
        html.push(s.html); units += s.total; pages++;
      });
    }
    if (!q) results.innerHTML = "";
    else if (!units) results.innerHTML = '<p class="empty">No unit has a label or explanation matching this.</p>';
    else results.innerHTML = html.join("");
    countEl.textContent = q ? units + " units in " + pages + " pages" : "";
    setStatus("matching", units); setStatus("pages", pages);
    setStatus("searchMs", (performance.now() - t0).toFixed(1));
  }

  function onInput() { state.q = input.value.trim(); state.exact = exact.checked; writeHash(); apply(); }
  input.addEventListener("input", onInput);
  exact.addEventListener("change", onInput);
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  window.addEventListener("hashchange", function () { state = readHash(); writeHash(); apply(); });
  writeHash();
  apply();
  setStatus("ready", 1);
})();
