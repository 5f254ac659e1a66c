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
#: Background colour of a unit card (``--card`` in atlas.css): screenshots count cards by it.
CARD_RGB = (0xFC, 0xFC, 0xFD)
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
    for _, group in frame.groupby("layer_index", sort=True):
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

#: The page's inline CSS and scripts (plain files beside this module, so they can be read and
#: linted as CSS/JavaScript): ``head.js`` records errors and broken images before anything
#: else runs, ``app.js`` renders a model page from ``window.ATLAS_DATA``.
ASSETS = Path(__file__).with_name("atlas_assets")


def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def _page(title: str, body: str, head_extra: str = "") -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<script>{_asset('head.js')}</script>\n"
        f"<style>{_asset('atlas.css')}</style>\n{head_extra}</head>\n{body}\n</html>\n"
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
    parts = ["the unit's label and label score", "the label's category"]
    if data["images"]:
        parts.append("its top-activating probe images")
    if data["next"]:
        parts.append("the next best concepts with their scores")
    card = ", ".join(parts[:-1]) + " and " + parts[-1]
    body = f"""<body data-src="{html.escape(data_src)}">
<header class="top">
<p><a href="index.html">&larr; all models</a></p>
<h1>{html.escape(data["title"])} <small>({html.escape(data["model"])})</small></h1>
<p>{len(data["layers"])} layers, {n_units} units; {source}. Each card: {card}.</p>
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
<script>{_asset("app.js")}</script>
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
    budget_ms: int | None = 20000,
    chromium: str | None = None,
    timeout: float = 120,
    width: int = 1280,
    height: int = 1600,
) -> str:
    """The DOM of ``page`` (``#fragment`` appended) after headless Chromium ran its scripts
    (``--virtual-time-budget`` lets timers, observers and image loads settle; ``budget_ms=0``
    dumps right after the load event, with real time in the page, for timings)."""
    budget = [f"--virtual-time-budget={budget_ms}"] if budget_ms else []
    cmd = _chromium_cmd(
        chromium,
        *budget,
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


def count_cards(screenshot_png: PathLike, min_area: int = 3000) -> int:
    """Number of unit cards visible in a screenshot: connected regions of the card
    background colour :data:`CARD_RGB` of at least ``min_area`` pixels."""
    from PIL import Image
    from scipy import ndimage

    with Image.open(screenshot_png) as img:
        pixels = np.asarray(img.convert("RGB"))
    mask = np.all(pixels == np.asarray(CARD_RGB, dtype=np.uint8), axis=2)
    labelled, n = ndimage.label(mask)
    if n == 0:
        return 0
    areas = np.bincount(labelled.ravel())[1:]
    return int((areas >= min_area).sum())


def page_cards(dom: str) -> list[tuple[int, str]]:
    """``[(data row, label)]`` of every card in a dumped DOM, in page order."""
    found = re.findall(
        r'<article class="card" data-row="(\d+)"><div class="head">'
        r'<span class="label">(.*?)</span>',
        dom,
    )
    return [(int(row), html.unescape(label)) for row, label in found]


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
            "source": "curated",
        }
    ).to_csv(categories, index=False)
    return {"labels": labels, "topk": topk, "categories": categories, "index": index}
