(function () {
  "use strict";
  var D = window.ATLAS_DATA;
  var status = document.getElementById("atlas-status");
  function setStatus(key, value) { status.dataset[key] = String(value); }
  if (!D) { window.__atlasNote("the data file " + document.body.dataset.src + " did not load"); return; }
  var S = D.strings, N = D.label.length, CHUNK = 96;
  setStatus("total", N);
  function esc(t) {
    return String(t).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]; });
  }
  function fmt(x) { return x === null ? "" : Number(x).toFixed(3); }
  function fmtQ(x) {
    if (x === null) return "";
    return x < 0.001 ? Number(x).toExponential(1) : Number(x).toFixed(3);
  }
  // q < reliable_q (held-out permutation null, BH) and held-out AUPRC >= ratio x chance
  function reliable(r) {
    return D.q[r] !== null && D.q[r] < D.reliable_q && D.auprc[r] !== null &&
      D.chance[r] !== null && D.auprc[r] >= D.reliable_auprc_ratio * D.chance[r];
  }
  function ratio(r) {
    return D.auprc[r] === null || !D.chance[r] ? "" : Number(D.auprc[r] / D.chance[r]).toFixed(1);
  }

  // ---- header: per-layer table
  var rows = [];
  D.layers.forEach(function (L, li) {
    var seen = {}, unique = 0, sum = 0, n = 0, cats = {};
    for (var r = L.start; r < L.start + L.units; r++) {
      if (!seen[D.label[r]]) { seen[D.label[r]] = 1; unique++; }
      if (D.score[r] !== null) { sum += D.score[r]; n++; }
      cats[D.cat[r]] = (cats[D.cat[r]] || 0) + 1;
    }
    var top = Object.keys(cats).sort(function (a, b) { return cats[b] - cats[a]; })[0];
    rows.push("<tr><td>" + li + "</td><td>" + esc(L.name) + "</td><td>" + L.units + "</td><td>" +
      unique + "</td><td>" + (n ? (sum / n).toFixed(3) : "") + "</td><td>" +
      esc(D.categories[top]) + "</td></tr>");
  });
  document.getElementById("layer-table").innerHTML =
    "<tr><th>layer</th><th>module</th><th>units</th><th>distinct labels</th>" +
    "<th>mean score</th><th>most frequent category</th></tr>" + rows.join("");
  var focused = null;  // the card of hash `unit`: kept in view when the figure above loads
  if (D.summary) {
    var fig = document.getElementById("summary-figure");
    fig.addEventListener("load", function () {
      if (focused) focused.scrollIntoView({block: "center"});
    });
    fig.src = D.summary; fig.hidden = false;
  }

  // ---- filters
  var form = document.getElementById("filters");
  var selLayer = form.elements.layer, selCat = form.elements.category, text = form.elements.q;
  var relBox = form.elements.reliable;
  D.layers.forEach(function (L, li) {
    selLayer.add(new Option(li + " \u00b7 " + L.name + " (" + L.units + ")", String(li)));
  });
  D.categories.forEach(function (c) { selCat.add(new Option(c, c)); });

  function readHash() {
    var p = new URLSearchParams(location.hash.replace(/^#/, ""));
    return {layer: p.get("layer") || "", category: p.get("category") || "",
            q: p.get("q") || "", all: p.get("all") === "1",
            reliable: D.reliability && p.get("reliable") === "1", unit: p.get("unit") || ""};
  }
  var state = readHash();
  function writeHash() {
    var p = new URLSearchParams();
    if (state.layer) p.set("layer", state.layer);
    if (state.category) p.set("category", state.category);
    if (state.q) p.set("q", state.q);
    if (state.reliable) p.set("reliable", "1");
    if (state.unit) p.set("unit", state.unit);
    if (state.all) p.set("all", "1");
    history.replaceState(null, "", "#" + p.toString());
    setStatus("hash", location.hash);
  }

  // ---- cards
  var main = document.getElementById("cards"), sentinel = document.getElementById("sentinel");
  var countEl = document.getElementById("count");
  // matches[start..rendered) are on the page: start > 0 when a link to a card deep in the
  // list (hash `unit`) opened the page at that card's chunk, with a button for the rest above
  var matches = [], start = 0, rendered = 0, grid = null, gridLayer = -1, firstDone = false;

  function card(r) {
    var h = '<article class="card" data-row="' + r + '"><div class="head"><span class="label">' +
      esc(S[D.label[r]]) + '</span><span class="score" title="label score">' + fmt(D.score[r]) +
      '</span></div><div class="meta"><span class="cat" style="--c:' +
      D.category_colors[D.cat[r]] + '">' + esc(D.categories[D.cat[r]]) + "</span> unit " +
      D.unit[r] + "</div>";
    if (D.reliability) {
      h += '<div class="rel' + (reliable(r) ? " ok" : "") + '"><span class="q" title="q: ' +
        'held-out correlation against its permutation null, Benjamini-Hochberg over the layer">q ' +
        fmtQ(D.q[r]) + '</span> <span class="hr" title="held-out correlation: activation vs. ' +
        'the label\'s CLIP similarity on the half of the probe it was not chosen on">r ' +
        fmt(D.hr[r]) + '</span> <span class="auprc" title="held-out AUPRC of the label for the ' +
        "unit's top images / its chance level (" + fmt(D.chance[r]) + ')">AUPRC ' + fmt(D.auprc[r]) +
        " = " + ratio(r) + '&times; chance</span> <span class="stab" title="share of bootstrap ' +
        'resamples of the probe whose ' +
        'best concept is the label">stability ' + fmt(D.stab[r]) + "</span>";
      if (D.stable[r].length) {
        h += '<div class="stable" title="stable concepts: best in at least 10% of resamples">';
        for (var s = 0; s < D.stable[r].length; s++) {
          h += (s ? ", " : "") + esc(S[D.stable[r][s][0]]) + " <b>" +
            Math.round(100 * D.stable[r][s][1]) + "%</b>";
        }
        h += "</div>";
      }
      h += "</div>";
    }
    if (D.ground_truth) {
      h += '<div class="gt" title="Broden human annotations: NetDissect\'s answer (best ' +
        'image-level IoU) and, when the label names a Broden concept, its AUPRC, precision ' +
        'at the unit\'s top images and base rate (chance)">Broden: ' + esc(S[D.gt_best[r]]) +
        " <b>IoU " + fmt(D.gt_best_score[r]) + "</b>";
      if (D.gt_broden[r] !== null) {
        h += '<br><span class="gt-label">' + esc(S[D.gt_broden[r]]) + ": AUPRC " +
          fmt(D.gt_auprc[r]) + ", precision " + fmt(D.gt_prec[r]) + ", base " +
          fmt(D.gt_base[r]) + "</span>";
      }
      h += "</div>";
    }
    if (D.linear && D.expl[r] && D.expl[r].length) {
      h += '<div class="expl" title="Linear Explanation: weights on standardised CLIP ' +
        'similarities; r = its correlation with the unit on held-out test images">';
      for (var e = 0; e < D.expl[r].length; e++) {
        var w = D.expl[r][e][1];
        h += (e ? (w < 0 ? " \u2212 " : " + ") : (w < 0 ? "\u2212" : "")) +
          Math.abs(w).toFixed(2) + "\u00b7" + esc(S[D.expl[r][e][0]]);
      }
      h += ' <span class="score">r ' + fmt(D.expl_corr[r]) + "</span></div>";
    }
    if (D.images && D.img[r]) {
      h += '<div class="imgs">';
      for (var i = 0; i < D.img[r].length; i++) {
        h += '<img ' + (state.all ? "" : 'loading="lazy" ') + 'decoding="async" width="44" ' +
          'height="44" alt="probe image ' + D.img[r][i] + '" src="thumbs/' + D.img[r][i] + '.jpg">';
      }
      h += "</div>";
    }
    if (D.next.length && D.next[r].length) {
      h += '<ol start="2" title="next best concepts">';
      for (var k = 0; k < D.next[r].length; k++) {
        h += "<li>" + esc(S[D.next[r][k]]) + " <b>" + fmt(D.next_score[r][k]) + "</b></li>";
      }
      h += "</ol>";
    }
    return h + "</article>";
  }

  function renderMore() {
    var end = state.all ? matches.length : Math.min(matches.length, rendered + CHUNK);
    var html = [], flushTo = function () {
      if (html.length) { grid.insertAdjacentHTML("beforeend", html.join("")); html = []; }
    };
    for (var i = rendered; i < end; i++) {
      var r = matches[i], li = D.layer[r];
      if (li !== gridLayer) {
        if (grid) flushTo();
        var sec = document.createElement("section");
        sec.className = "layer"; sec.id = "layer-" + li;
        var n = 0, j;
        for (j = i; j < matches.length && D.layer[matches[j]] === li; j++) n++;
        for (j = i - 1; j >= 0 && D.layer[matches[j]] === li; j--) n++;
        sec.innerHTML = "<h2>Layer " + li + " <small>" + esc(D.layers[li].name) + " \u00b7 " +
          n + " of " + D.layers[li].units + " units</small></h2><div class=\"grid\"></div>";
        main.appendChild(sec);
        grid = sec.lastChild; gridLayer = li;
      }
      html.push(card(r));
    }
    if (grid) flushTo();
    rendered = end;
    setStatus("rendered", rendered - start);
    if (!firstDone) {
      void main.offsetHeight;  // lay the first cards out before taking the time
      firstDone = true;
      setStatus("firstMs", performance.now().toFixed(1));
    }
    observer.unobserve(sentinel);
    if (rendered < matches.length) observer.observe(sentinel);  // fires again if still visible
    else checkImages();
  }

  function checkImages() {
    var imgs = main.querySelectorAll("img"), pending = 0;
    function done() {
      var broken = 0;
      for (var i = 0; i < imgs.length; i++) if (imgs[i].complete && imgs[i].naturalWidth === 0) broken++;
      setStatus("images", imgs.length); setStatus("broken", broken); setStatus("imagesDone", 1);
    }
    if (!state.all) { setStatus("images", imgs.length); return; }
    for (var i = 0; i < imgs.length; i++) {
      if (!imgs[i].complete) {
        pending++;
        imgs[i].addEventListener("load", function () { if (--pending === 0) done(); });
        imgs[i].addEventListener("error", function () { if (--pending === 0) done(); });
      }
    }
    if (!pending) done();
  }

  var observer = new IntersectionObserver(function (entries) {
    if (entries.some(function (e) { return e.isIntersecting; }) && rendered < matches.length) {
      renderMore();
    }
  }, {rootMargin: "1200px 0px"});

  // the position in `matches` of hash `unit` (in hash `layer`, else the first match), or -1
  function focusIndex() {
    var want = state.unit === "" ? -1 : Number(state.unit);
    for (var i = 0; want >= 0 && i < matches.length; i++) {
      if (D.unit[matches[i]] === want) return i;
    }
    return -1;
  }

  // the cards from `from` on (rendering down to the card at `at`), marking that card
  function renderFrom(from, at) {
    main.textContent = ""; grid = null; gridLayer = -1; start = rendered = from;
    if (from > 0) {
      var more = document.createElement("p");
      more.className = "earlier";
      more.innerHTML = "<button type=\"button\">show the " + from +
        " matching units before these</button>";
      more.firstChild.addEventListener("click", function () { renderFrom(0, at); });
      main.appendChild(more);
    }
    renderMore();
    focusUnit(at);
  }

  // the card at `at` of `matches`: rendered, marked, in view
  function focusUnit(at) {
    var row = at >= 0 ? matches[at] : -1;
    focused = null;
    if (row >= 0) {
      while (rendered <= at) renderMore();
      var el = main.querySelector('article[data-row="' + row + '"]');
      el.classList.add("focus");
      el.scrollIntoView({block: "center"});
      focused = el;
      void main.offsetHeight;
      setStatus("focusMs", performance.now().toFixed(1));
    }
    setStatus("focus", row);
  }

  function explHas(r, q) {  // a concept of the unit's Linear Explanation contains q
    if (!D.linear || !D.expl[r]) return false;
    for (var e = 0; e < D.expl[r].length; e++) {
      if (S[D.expl[r][e][0]].toLowerCase().indexOf(q) >= 0) return true;
    }
    return false;
  }

  function apply() {
    selLayer.value = state.layer; selCat.value = state.category; text.value = state.q;
    if (relBox) relBox.checked = state.reliable;
    var q = state.q.toLowerCase(), layer = state.layer === "" ? -1 : Number(state.layer);
    var cat = state.category === "" ? -1 : D.categories.indexOf(state.category);
    matches = [];
    for (var r = 0; r < N; r++) {
      if (layer >= 0 && D.layer[r] !== layer) continue;
      if (state.category !== "" && D.cat[r] !== cat) continue;
      if (q && S[D.label[r]].toLowerCase().indexOf(q) < 0 && !explHas(r, q)) continue;
      if (state.reliable && !reliable(r)) continue;
      matches.push(r);
    }
    setStatus("matching", matches.length);
    status.removeAttribute("data-images-done");
    countEl.textContent = matches.length + " of " + N + " units";
    setStatus("reliable", state.reliable ? 1 : 0);
    var at = focusIndex();
    renderFrom(at >= 0 && !state.all ? at - at % CHUNK : 0, at);
    if (!matches.length) main.innerHTML = '<p class="empty">No unit matches these filters.</p>';
  }

  function onInput() {
    state.layer = selLayer.value; state.category = selCat.value; state.q = text.value.trim();
    state.reliable = Boolean(relBox && relBox.checked && !relBox.disabled); state.unit = "";
    writeHash(); apply();
  }
  selLayer.addEventListener("change", onInput);
  selCat.addEventListener("change", onInput);
  text.addEventListener("input", onInput);
  if (relBox) relBox.addEventListener("change", onInput);
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  window.addEventListener("hashchange", function () { state = readHash(); writeHash(); apply(); });
  writeHash();
  apply();
  setStatus("ready", 1);
})();
