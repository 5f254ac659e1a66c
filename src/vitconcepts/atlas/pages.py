"""The atlas's HTML: a page per model (its data in ``data/{model}.js``) and the index page."""

from __future__ import annotations

import html
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vitconcepts.atlas.data import model_data, read_unit_labels
from vitconcepts.style import model_name

PathLike = str | Path

#: The page's inline CSS and scripts (plain files beside this module, so they can be read and
#: linted as CSS/JavaScript): ``head.js`` records errors and broken images before anything
#: else runs, ``app.js`` renders a model page from ``window.ATLAS_DATA``.
ASSETS = Path(__file__).with_name("assets")


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
    rows = []
    for model, labels_csv in models.items():
        frame = read_unit_labels(labels_csv)
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
