"""The unit atlas: a static, self-contained website of every labelled unit.

``atlas/{probe}/`` (``atlas/published/`` for the authors' labels) holds

* ``index.html``: one row per model, linking to its page;
* ``{model}.html``: the model's page. Layers are sections; each unit is a card with its label,
  score, category, the next best concepts with their scores (from ``{model}_topk.nc``) and its
  top-activating probe images as thumbnails. Filters by layer, category and label text; the
  model's per-layer summary figure (``paper/figures/appendix_{model}.png``) and a per-layer
  table at the top;
* ``data/{model}.js``: the model's data, one JSON blob assigned to ``window.ATLAS_DATA``
  (loaded with ``<script src>``: browsers block ``fetch()`` of ``file://`` URLs);
* ``thumbs/{sample}.jpg``: one small JPEG per probe image that is a top image of any unit,
  made once for all models (:func:`make_thumbnails`);
* ``figures/{model}.png``: the copied summary figure.

Everything opens from the file system: no server, no network, no CDN; the page's CSS and
JavaScript are inline. Pages stay usable with 9,216 units: cards are rendered in chunks as
the reader scrolls (an IntersectionObserver on a sentinel below the cards), thumbnails load
lazily (``loading="lazy"``). The page state lives in the URL hash, so a filtered view can be
linked and tested: ``vit.html#layer=3&category=colors&q=green``; ``all=1`` renders every
matching card at once with eager images.

The page reports its own state in a hidden element ``#atlas-status`` (``data-total``,
``data-matching``, ``data-rendered``, ``data-first-ms`` = ``performance.now()`` when the first
cards were laid out, ``data-errors`` and the messages of script/console errors,
``data-broken`` images with ``naturalWidth == 0``, ``data-images-done``), which headless
Chromium's ``--dump-dom`` returns (:func:`browser_dom`).
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputDataError

PathLike = str | Path

#: Thumbnail edge (pixels) and JPEG quality.
THUMB_PX = 96
THUMB_QUALITY = 80
#: Runner-up concepts shown per card (ranks 2..N_NEXT+1 of the top-k file).
N_NEXT = 5


# --------------------------------------------------------------------------- inputs


def _labels(path: PathLike) -> pd.DataFrame:
    from .analysis import load_labels

    frame = load_labels(path)
    frame["unit"] = pd.to_numeric(frame["unit"]).astype(int)
    return frame.sort_values(["layer_index", "unit"], kind="stable").reset_index(drop=True)


def _image_lists(frame: pd.DataFrame, path: PathLike) -> list[list[int]]:
    if "images" not in frame:
        return [[] for _ in range(len(frame))]
    out = []
    for value in frame["images"]:
        out.append([int(n) for n in re.findall(r"-?\d+", str(value))])
    return out


def top_image_samples(label_csvs: Sequence[PathLike]) -> list[int]:
    """Sorted union of the top-image sample indices of every unit of every label file."""
    samples: set[int] = set()
    for path in label_csvs:
        for images in _image_lists(_labels(path), path):
            samples.update(images)
    return sorted(samples)


def _thumb(args: tuple[int, str, Path, int, int]) -> int:
    from PIL import Image

    sample, src, out_dir, size, quality = args
    try:
        with Image.open(src) as img:
            img.draft("RGB", (size * 2, size * 2))  # JPEG: decode at a reduced scale
            img = img.convert("RGB")
            w, h = img.size
            side = min(w, h)
            left, top = (w - side) // 2, (h - side) // 2
            img = img.crop((left, top, left + side, top + side))
            img = img.resize((size, size), Image.Resampling.BICUBIC)
            tmp = out_dir / f".{sample}.jpg.part"
            img.save(tmp, format="JPEG", quality=quality, optimize=True)
            os.replace(tmp, out_dir / f"{sample}.jpg")
    except (OSError, ValueError) as exc:
        raise InputDataError(
            f"Cannot read the probe image {src} (sample {sample}) for its atlas thumbnail ({exc}).",
            "check that the probe images are still where the probe index says; rebuild the "
            "probe index (snakemake --forcerun prepare_probe) if they moved.",
        ) from exc
    return sample


def make_thumbnails(
    label_csvs: Sequence[PathLike],
    index_csv: PathLike,
    out_dir: PathLike,
    size: int = THUMB_PX,
    quality: int = THUMB_QUALITY,
    threads: int = 1,
) -> int:
    """Write ``out_dir/{sample}.jpg`` (centre square, ``size`` px) for every probe image that
    is a top image of a unit in any of ``label_csvs``; images already there are kept.

    Returns the number of thumbnails. A sample index missing from the probe index raises
    :class:`InputDataError` naming both files.
    """
    from .probe import load_index

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    index = load_index(index_csv)
    paths = dict(zip(index["sample"].astype(int), index["path"].astype(str), strict=True))
    samples = top_image_samples(label_csvs)
    unknown = [s for s in samples if s not in paths]
    if unknown:
        raise InputDataError(
            f"The label files {', '.join(map(str, label_csvs))} name top images "
            f"{unknown[:5]} that the probe index {index_csv} ({len(paths)} images) lacks.",
            "label the models with this probe (rerun label_units), or build the atlas of the "
            "probe the labels come from.",
        )
    todo = [(s, paths[s], out, size, quality) for s in samples if not (out / f"{s}.jpg").is_file()]
    with ThreadPoolExecutor(max(1, int(threads))) as pool:
        for _ in pool.map(_thumb, todo, chunksize=64):
            pass
    return len(samples)


def _read_categories(categories_csv: PathLike | None) -> dict[str, str]:
    if not categories_csv:
        return {}
    from .analysis import load_categories

    return load_categories(categories_csv)


def _read_topk(topk_nc: PathLike, frame: pd.DataFrame, labels_csv: PathLike):
    """(concept strings [unit, k], scores [unit, k]) aligned with ``frame``'s rows."""
    import xarray as xr

    path = Path(topk_nc)
    with xr.open_dataset(path) as ds:
        index = np.asarray(ds["concept_index"].values)
        score = np.asarray(ds["score"].values, dtype=np.float64)
        concepts = np.asarray([str(c) for c in ds["concept"].values], dtype=object)
        n_layers = index.shape[0]
    if n_layers != frame["layer_index"].nunique():
        raise InputDataError(
            f"Top-k file {path} has {n_layers} layers but {labels_csv} has "
            f"{frame['layer_index'].nunique()}.",
            "rebuild both with label_units (they are written together).",
        )
    li = frame["layer_index"].to_numpy()
    un = frame["unit"].to_numpy()
    if un.max(initial=0) >= index.shape[1]:
        raise InputDataError(
            f"{labels_csv} has unit {int(un.max())} but the top-k file {path} only "
            f"{index.shape[1]} units per layer.",
            "rebuild both with label_units.",
        )
    idx = index[li, un]  # [row, rank]
    return np.where(idx >= 0, concepts[np.clip(idx, 0, None)], ""), score[li, un]


def _round(x: float, digits: int = 4) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


def model_data(
    model: str,
    labels_csv: PathLike,
    topk_nc: PathLike | None = None,
    categories_csv: PathLike | None = None,
    images: bool = True,
    summary: str | None = None,
    probe: str = "",
    n_next: int = N_NEXT,
) -> dict[str, Any]:
    """The JSON-able data of one model page (columns, with a string table for concepts)."""
    from .categories import CATEGORIES
    from .style import category_color, model_name

    frame = _labels(labels_csv)
    cat_map = _read_categories(categories_csv)
    strings: dict[str, int] = {}

    def sid(text: str) -> int:
        return strings.setdefault(text, len(strings))

    labels = frame["description"].astype(str).tolist()
    cats = [cat_map.get(label, "unknown") for label in labels]
    categories = [c for c in CATEGORIES if c in set(cats)] + sorted(set(cats) - set(CATEGORIES))
    cat_id = {c: i for i, c in enumerate(categories)}
    layers = []
    for li, group in frame.groupby("layer_index", sort=True):
        layers.append({"name": str(group["layer"].iloc[0]), "start": int(group.index[0])})
        layers[-1]["units"] = len(group)
    layer_of_row = frame["layer_index"].astype(int).tolist()
    data: dict[str, Any] = {
        "model": model,
        "title": model_name(model),
        "probe": probe,
        "images": bool(images and "images" in frame),
        "summary": summary,
        "categories": categories,
        "category_colors": [category_color(c) for c in categories],
        "layers": layers,
        "layer": layer_of_row,
        "unit": frame["unit"].astype(int).tolist(),
        "label": [sid(x) for x in labels],
        "score": [_round(x) for x in frame["similarity"].astype(float)],
        "cat": [cat_id[c] for c in cats],
        "next": [],
        "next_score": [],
        "img": [],
    }
    if topk_nc:
        names, scores = _read_topk(topk_nc, frame, labels_csv)
        for row in range(len(frame)):
            pairs = [
                (str(n), s)
                for n, s in zip(names[row], scores[row], strict=True)
                if n and math.isfinite(s)
            ]
            pairs = [p for p in pairs if p[0] != labels[row]][:n_next]
            data["next"].append([sid(n) for n, _ in pairs])
            data["next_score"].append([_round(s) for _, s in pairs])
    if data["images"]:
        data["img"] = _image_lists(frame, labels_csv)
    data["strings"] = list(strings)
    return data


# --------------------------------------------------------------------------- pages

_HEAD_SCRIPT = """
window.__atlasErrors = [];
window.__atlasBroken = 0;
window.__atlasNote = function (message) {
  window.__atlasErrors.push(String(message));
  var s = document.getElementById("atlas-status");
  if (s) { s.dataset.errors = window.__atlasErrors.length;
           s.textContent = JSON.stringify(window.__atlasErrors); }
};
window.addEventListener("error", function (e) {
  var t = e.target;
  if (t && t.tagName === "IMG") { window.__atlasBroken += 1; return; }
  if (t && t !== window && (t.src || t.href)) {
    window.__atlasNote("failed to load " + (t.src || t.href)); return; }
  window.__atlasNote((e.message || "error") + " at " + (e.filename || "") + ":" + (e.lineno || 0));
}, true);
(function () {
  var original = console.error;
  console.error = function () {
    window.__atlasNote("console.error: " + Array.prototype.join.call(arguments, " "));
    return original.apply(console, arguments);
  };
})();
"""

_CSS = """
:root { --bg: #eef1f5; --card: #ffffff; --ink: #1d2330; --muted: #5b6475; --line: #d5dae1; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font: 14px/1.35 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header.top { padding: 16px 24px 8px; }
header.top h1 { margin: 0 0 4px; font-size: 22px; }
header.top p { margin: 2px 0; color: var(--muted); }
a { color: #0b5cad; }
.summary { display: flex; flex-wrap: wrap; gap: 16px; padding: 0 24px 8px; align-items: flex-start; }
.summary img { max-width: min(760px, 100%); height: auto; background: #fff; border: 1px solid var(--line); }
table.layers { border-collapse: collapse; background: #fff; border: 1px solid var(--line); }
table.layers th, table.layers td { padding: 2px 8px; text-align: right; border-bottom: 1px solid #eee; }
table.layers th:nth-child(2), table.layers td:nth-child(2),
table.layers td:last-child, table.layers th:last-child { text-align: left; }
form.filters { position: sticky; top: 0; z-index: 2; display: flex; flex-wrap: wrap; gap: 12px;
               align-items: center; padding: 8px 24px; background: #dfe4eb; border-bottom: 1px solid var(--line); }
form.filters label { color: var(--muted); }
form.filters input[type=search] { width: 16em; }
#count { margin-left: auto; color: var(--muted); }
main { padding: 8px 24px 40px; }
section.layer > h2 { font-size: 16px; margin: 18px 0 8px; }
section.layer > h2 small { color: var(--muted); font-weight: normal; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 10px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; }
.card .head { display: flex; justify-content: space-between; gap: 8px; align-items: baseline; }
.card .label { font-weight: 600; font-size: 15px; overflow-wrap: anywhere; }
.card .score { color: var(--muted); font-variant-numeric: tabular-nums; }
.card .meta { color: var(--muted); font-size: 12px; margin: 2px 0 6px; }
.card .cat { display: inline-block; padding: 0 6px; border-radius: 8px; color: #fff;
             background: var(--c); font-size: 11px; }
.card .imgs { display: flex; gap: 3px; margin: 4px 0; }
.card .imgs img { width: 44px; height: 44px; object-fit: cover; background: #ccd; border-radius: 2px; }
.card ol { margin: 4px 0 0; padding-left: 18px; font-size: 12px; color: var(--muted); }
.card ol b { font-weight: normal; float: right; font-variant-numeric: tabular-nums; }
#sentinel { height: 1px; }
table.models { border-collapse: collapse; background: #fff; margin: 8px 24px; border: 1px solid var(--line); }
table.models th, table.models td { padding: 4px 12px; border-bottom: 1px solid #eee; text-align: left; }
"""

_APP = r"""
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
  if (D.summary) {
    var fig = document.getElementById("summary-figure");
    fig.src = D.summary; fig.hidden = false;
  }

  // ---- filters
  var form = document.getElementById("filters");
  var selLayer = form.elements.layer, selCat = form.elements.category, text = form.elements.q;
  D.layers.forEach(function (L, li) {
    selLayer.add(new Option(li + " \u00b7 " + L.name + " (" + L.units + ")", String(li)));
  });
  D.categories.forEach(function (c) { selCat.add(new Option(c, c)); });

  function readHash() {
    var p = new URLSearchParams(location.hash.replace(/^#/, ""));
    return {layer: p.get("layer") || "", category: p.get("category") || "",
            q: p.get("q") || "", all: p.get("all") === "1"};
  }
  var state = readHash();
  function writeHash() {
    var p = new URLSearchParams();
    if (state.layer) p.set("layer", state.layer);
    if (state.category) p.set("category", state.category);
    if (state.q) p.set("q", state.q);
    if (state.all) p.set("all", "1");
    history.replaceState(null, "", "#" + p.toString());
  }

  // ---- cards
  var main = document.getElementById("cards"), sentinel = document.getElementById("sentinel");
  var countEl = document.getElementById("count");
  var matches = [], rendered = 0, grid = null, gridLayer = -1, firstDone = false;

  function card(r) {
    var h = '<article class="card" data-row="' + r + '"><div class="head"><span class="label">' +
      esc(S[D.label[r]]) + '</span><span class="score" title="label score">' + fmt(D.score[r]) +
      '</span></div><div class="meta"><span class="cat" style="--c:' +
      D.category_colors[D.cat[r]] + '">' + esc(D.categories[D.cat[r]]) + "</span> unit " +
      D.unit[r] + "</div>";
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
        var n = 0;
        for (var j = i; j < matches.length && D.layer[matches[j]] === li; j++) n++;
        sec.innerHTML = "<h2>Layer " + li + " <small>" + esc(D.layers[li].name) + " \u00b7 " +
          n + " of " + D.layers[li].units + " units</small></h2><div class=\"grid\"></div>";
        main.appendChild(sec);
        grid = sec.lastChild; gridLayer = li;
      }
      html.push(card(r));
    }
    if (grid) flushTo();
    rendered = end;
    setStatus("rendered", rendered);
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

  function apply() {
    selLayer.value = state.layer; selCat.value = state.category; text.value = state.q;
    var q = state.q.toLowerCase(), layer = state.layer === "" ? -1 : Number(state.layer);
    var cat = state.category === "" ? -1 : D.categories.indexOf(state.category);
    matches = [];
    for (var r = 0; r < N; r++) {
      if (layer >= 0 && D.layer[r] !== layer) continue;
      if (state.category !== "" && D.cat[r] !== cat) continue;
      if (q && S[D.label[r]].toLowerCase().indexOf(q) < 0) continue;
      matches.push(r);
    }
    main.textContent = ""; grid = null; gridLayer = -1; rendered = 0;
    setStatus("matching", matches.length);
    status.removeAttribute("data-images-done");
    countEl.textContent = matches.length + " of " + N + " units";
    renderMore();
  }

  function onInput() {
    state.layer = selLayer.value; state.category = selCat.value; state.q = text.value.trim();
    writeHash(); apply();
  }
  selLayer.addEventListener("change", onInput);
  selCat.addEventListener("change", onInput);
  text.addEventListener("input", onInput);
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  window.addEventListener("hashchange", function () { state = readHash(); apply(); });
  apply();
  setStatus("ready", 1);
})();
"""


def _page(title: str, body: str, head_extra: str = "") -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<script>{_HEAD_SCRIPT}</script>\n"
        f"<style>{_CSS}</style>\n{head_extra}</head>\n{body}\n</html>\n"
    )


def _status_div() -> str:
    return '<div id="atlas-status" hidden data-errors="0"></div>'


def model_page_html(data: dict[str, Any], data_src: str) -> str:
    """The HTML of one model page; its data is loaded from ``data_src`` (a relative URL)."""
    title = f"{data['title']} ({data['model']}) · unit atlas"
    n_units = len(data["label"])
    source = (
        f"probe <code>{html.escape(data['probe'])}</code>"
        if data["images"]
        else "labels without probe images"
    )
    body = f"""<body data-src="{html.escape(data_src)}">
<header class="top">
<p><a href="index.html">&larr; all models</a></p>
<h1>{html.escape(data["title"])} <small>({html.escape(data["model"])})</small></h1>
<p>{len(data["layers"])} layers, {n_units} units; {source}. Each card: the unit's label and
label score, the label's category, its top-activating images and the next best concepts.</p>
</header>
<div class="summary"><img id="summary-figure" hidden alt="per-layer summary figure">
<table class="layers" id="layer-table"></table></div>
<form class="filters" id="filters">
<label>layer <select name="layer"><option value="">all</option></select></label>
<label>category <select name="category"><option value="">all</option></select></label>
<label>label <input type="search" name="q" placeholder="text in the label"></label>
<span id="count"></span>
</form>
<main id="cards"></main>
<div id="sentinel"></div>
{_status_div()}
<script src="{html.escape(data_src)}"></script>
<script>{_APP}</script>
</body>"""
    return _page(title, body)


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def build_model_page(
    model: str,
    labels_csv: PathLike,
    out_html: PathLike,
    topk_nc: PathLike | None = None,
    categories_csv: PathLike | None = None,
    summary_png: PathLike | None = None,
    images: bool = True,
    probe: str = "",
) -> dict[str, Any]:
    """Write ``{atlas}/{model}.html``, ``{atlas}/data/{model}.js`` and (when given) the
    summary figure as ``{atlas}/figures/{model}.png``; return the page's data.

    ``images=False`` (published labels: no probe images) builds the page without thumbnails.
    """
    out_html = Path(out_html)
    root = out_html.parent
    summary = None
    if summary_png:
        target = root / "figures" / f"{model}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(summary_png, target)
        summary = f"figures/{model}.png"
    data = model_data(model, labels_csv, topk_nc, categories_csv, images, summary, probe)
    blob = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    # "</" inside a string could end a <script>: JSON allows escaping the slash.
    blob = blob.replace("</", "<\\/")
    _write_text(root / "data" / f"{model}.js", f"window.ATLAS_DATA={blob};\n")
    _write_text(out_html, model_page_html(data, f"data/{model}.js"))
    return data


def build_index(
    models: Mapping[str, PathLike], out_html: PathLike, probe: str = "", images: bool = True
) -> Path:
    """Write ``{atlas}/index.html``: one row per model (layers, units, distinct labels)."""
    from .style import model_name

    rows = []
    for model, labels_csv in models.items():
        frame = _labels(labels_csv)
        rows.append(
            f'<tr><td><a href="{html.escape(model)}.html">{html.escape(model_name(model))}</a>'
            f"</td><td><code>{html.escape(model)}</code></td>"
            f"<td>{frame['layer_index'].nunique()}</td><td>{len(frame)}</td>"
            f"<td>{frame['description'].nunique()}</td></tr>"
        )
    source = (
        f"probe <code>{html.escape(probe)}</code>" if images else "published labels (no images)"
    )
    body = f"""<body>
<header class="top"><h1>Unit atlas</h1>
<p>Every labelled unit of every model, {source}. Open a model to browse its units by layer,
category and label.</p></header>
<table class="models"><tr><th>model</th><th>key</th><th>layers</th><th>units</th>
<th>distinct labels</th></tr>
{"".join(rows)}
</table>
{_status_div()}
</body>"""
    out = Path(out_html)
    _write_text(out, _page("Unit atlas", body))
    return out


# --------------------------------------------------------------------------- browser


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary (``$CHROMIUM`` first), or None."""
    env = os.environ.get("CHROMIUM")
    if env and shutil.which(env):
        return shutil.which(env)
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _chromium_cmd(chromium: str | None, *args: str, width: int = 1280, height: int = 1600):
    binary = chromium or find_chromium()
    if not binary:
        raise InputDataError(
            "No Chromium was found (looked for $CHROMIUM, chromium, chromium-browser, "
            "google-chrome).",
            "install it: apt-get install -y chromium (bash .ci/install does).",
        )
    return [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--allow-file-access-from-files",
        f"--window-size={width},{height}",
        *args,
    ]


def _url(path: PathLike, fragment: str = "") -> str:
    url = Path(path).resolve().as_uri()
    return f"{url}#{fragment}" if fragment else url


def browser_dom(
    page: PathLike,
    fragment: str = "",
    budget_ms: int = 20000,
    chromium: str | None = None,
    timeout: float = 120,
    width: int = 1280,
    height: int = 1600,
) -> str:
    """The DOM of ``page`` (``#fragment`` appended) after headless Chromium ran its scripts
    (``--virtual-time-budget`` lets timers, observers and image loads settle)."""
    cmd = _chromium_cmd(
        chromium,
        f"--virtual-time-budget={budget_ms}",
        "--dump-dom",
        _url(page, fragment),
        width=width,
        height=height,
    )
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc.stdout


def browser_screenshot(
    page: PathLike,
    out_png: PathLike,
    fragment: str = "",
    budget_ms: int = 20000,
    chromium: str | None = None,
    width: int = 1280,
    height: int = 1600,
    timeout: float = 120,
) -> Path:
    """Save a ``width`` x ``height`` screenshot of ``page`` (headless Chromium)."""
    out = Path(out_png).resolve()
    cmd = _chromium_cmd(
        chromium,
        f"--virtual-time-budget={budget_ms}",
        "--hide-scrollbars",
        f"--screenshot={out}",
        _url(page, fragment),
        width=width,
        height=height,
    )
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or not out.is_file():
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return out


def page_status(dom: str) -> dict[str, Any]:
    """The ``#atlas-status`` element of a dumped DOM: its data attributes and error list."""
    match = re.search(r'<div id="atlas-status"([^>]*)>(.*?)</div>', dom, re.S)
    if not match:
        raise ValueError("the page has no #atlas-status element")
    attrs = dict(re.findall(r'data-([\w-]+)="([^"]*)"', match.group(1)))
    text = html.unescape(match.group(2)).strip()
    attrs["messages"] = json.loads(text) if text else []
    return attrs


# --------------------------------------------------------------------------- synthetic inputs


def synthetic_inputs(
    out_dir: PathLike,
    n_layers: int = 2,
    n_units: int = 8,
    n_samples: int = 20,
    n_concepts: int = 30,
    n_rank: int = 6,
    image_size: int = 40,
    seed: int = 0,
    model: str = "synthetic",
) -> dict[str, Path]:
    """Write a consistent set of atlas inputs for tests and benchmarks: probe images and
    index, a labels CSV and top-k file (random labels over ``word<i>`` concepts, layers
    ``blocks.<i>``), and a categories CSV. Returns ``{labels, topk, categories, index}``."""
    import xarray as xr
    from PIL import Image

    from .categories import CATEGORIES
    from .labeling import format_images

    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    paths = []
    for s in range(n_samples):
        path = out / "images" / f"img_{s:05d}.png"
        if not path.is_file():
            colour = rng.integers(0, 256, size=3, dtype=np.uint8)
            pixels = np.broadcast_to(colour, (image_size, image_size + 8, 3)).copy()
            pixels[: image_size // 2, : image_size // 2] = 255 - colour
            Image.fromarray(pixels).save(path)
        paths.append(str(path.resolve()))
    index = out / "index.csv"
    pd.DataFrame(
        {
            "sample": range(n_samples),
            "sample_id": [f"synthetic/{s}" for s in range(n_samples)],
            "path": paths,
            "part": "synthetic",
        }
    ).to_csv(index, index=False)
    concepts = [f"word{i}" for i in range(n_concepts)]
    ci = np.stack(
        [
            np.stack([rng.choice(n_concepts, n_rank, replace=False) for _ in range(n_units)])
            for _ in range(n_layers)
        ]
    ).astype(np.int32)
    sc = np.sort(rng.random((n_layers, n_units, n_rank)).astype(np.float32), axis=2)[..., ::-1]
    top = np.stack(
        [
            np.stack([rng.choice(n_samples, 5, replace=False) for _ in range(n_units)])
            for _ in range(n_layers)
        ]
    )
    layers = [f"blocks.{i}" for i in range(n_layers)]
    rows = [
        (layers[li], u, concepts[ci[li, u, 0]], float(sc[li, u, 0]), format_images(top[li, u]))
        for li in range(n_layers)
        for u in range(n_units)
    ]
    labels = out / f"{model}.csv"
    pd.DataFrame(rows, columns=["layer", "unit", "description", "similarity", "images"]).to_csv(
        labels, index=False
    )
    topk = out / f"{model}_topk.nc"
    xr.Dataset(
        {
            "concept_index": (("layer", "unit", "rank"), ci),
            "score": (("layer", "unit", "rank"), np.ascontiguousarray(sc)),
            "top_images": (("layer", "unit", "image_rank"), top),
        },
        coords={
            "layer": np.asarray(layers, dtype=object),
            "concept": np.asarray(concepts, dtype=object),
            "n_units": (("layer",), np.full(n_layers, n_units)),
        },
    ).to_netcdf(topk)
    categories = out / "categories.csv"
    pd.DataFrame(
        {
            "concept": concepts,
            "category": [CATEGORIES[i % len(CATEGORIES)] for i in range(n_concepts)],
            "source": "default",
        }
    ).to_csv(categories, index=False)
    return {"labels": labels, "topk": topk, "categories": categories, "index": index}
