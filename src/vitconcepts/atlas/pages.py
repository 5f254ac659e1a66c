"""The atlas's HTML: a page per model and unit kind (its data in ``data/{page}.js``) and the
index page (its concept search data in ``data/index.js``)."""

from __future__ import annotations

import html
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vitconcepts.atlas.data import model_data
from vitconcepts.atlas.search import AtlasPage, search_index
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


def _reliability_filter(data: dict[str, Any]) -> str:
    """The "reliable only" checkbox, or the note why this page has none."""
    if data.get("reliability"):
        return (
            '<label title="q &lt; {q} (held-out correlation against its permutation null, '
            "Benjamini-Hochberg) and held-out AUPRC &ge; {r} &times; chance (label chosen on "
            'one half of the probe, scored on the other)"><input type="checkbox" '
            'name="reliable"> reliable only</label>'
        ).format(q=data["reliable_q"], r=data["reliable_auprc_ratio"])
    why = (
        "published labels come without activations"
        if not data["images"]
        else "assess_labels did not run for these units"
    )
    return (
        '<label class="off"><input type="checkbox" name="reliable" disabled> reliable only'
        f'</label><span class="note" id="reliability-note">no reliability (q, held-out, '
        f"stability): {why}"
        "</span>"
    )


def _card_parts(data: dict[str, Any]) -> str:
    parts = ["the unit's label and label score", "the label's category"]
    if data.get("reliability"):
        parts.append(
            "q (held-out permutation null), held-out correlation and AUPRC / chance, "
            "stability and stable concepts (bootstrap)"
        )
    if data["images"]:
        parts.append("its top-activating probe images")
    if data["next"]:
        parts.append("the next best concepts with their scores")
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def model_page_html(
    data: dict[str, Any], data_src: str, other_pages: Sequence[tuple[str, str]] = ()
) -> str:
    """The HTML of one model page; its data is loaded from ``data_src`` (a relative URL).
    ``other_pages``: ``(text, href)`` of the model's pages for its other unit kinds."""
    kind = f" · {data['kind']} units" if data.get("kind") else ""
    title = f"{data['title']} ({data['model']}){kind} · unit atlas"
    n_units = len(data["label"])
    source = (
        f"probe <code>{html.escape(data['probe'])}</code>"
        if data["images"]
        else "labels without probe images"
    )
    others = ""
    if other_pages:
        links = ", ".join(
            f'<a href="{html.escape(href)}">{html.escape(text)}</a>' for text, href in other_pages
        )
        others = f"<p>Other unit kinds of this model: {links}.</p>"
    if data.get("control_of"):
        base = html.escape(data["control_of"])
        others += (
            f'<p class="control">Random-init control of <a href="{base}.html">{base}</a>: the '
            "same architecture with seeded random weights, labelled the same way. Its labels "
            "show what the probe and the labeler give without any training.</p>"
        )
    small = html.escape(data["model"] + (f", {data['kind']} units" if data.get("kind") else ""))
    body = f"""<body data-src="{html.escape(data_src)}">
<header class="top">
<p><a href="index.html">&larr; all models</a></p>
<h1>{html.escape(data["title"])} <small>({small})</small></h1>
<p>{len(data["layers"])} layers, {n_units} units; {source}. Each card: {_card_parts(data)}.</p>
{others}</header>
<div class="summary"><img id="summary-figure" hidden alt="per-layer summary figure">
<table class="layers" id="layer-table"></table></div>
<form class="filters" id="filters">
<label>layer <select name="layer"><option value="">all</option></select></label>
<label>category <select name="category"><option value="">all</option></select></label>
<label>label <input type="search" name="q" placeholder="text in the label"></label>
{_reliability_filter(data)}
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


def _write_data_script(path: Path, variable: str, data: dict[str, Any]) -> None:
    blob = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    # "</" inside a string could end a <script>: JSON allows escaping the slash.
    blob = blob.replace("</", "<\\/")
    _write_text(path, f"window.{variable}={blob};\n")


def build_model_page(
    model: str,
    labels_csv: PathLike,
    out_html: PathLike,
    topk_nc: PathLike | None = None,
    categories_csv: PathLike | None = None,
    summary_png: PathLike | None = None,
    images: bool = True,
    probe: str = "",
    reliability_csv: PathLike | None = None,
    kind: str | None = None,
    other_pages: Sequence[tuple[str, str]] = (),
    control_of: str | None = None,
    ground_truth_csv: PathLike | None = None,
    linear_csv: PathLike | None = None,
) -> dict[str, Any]:
    """Write ``{atlas}/{page}.html``, ``{atlas}/data/{page}.js`` and (when given) the
    summary figure as ``{atlas}/figures/{page}.png``; return the page's data. ``{page}`` is
    the name of ``out_html`` without ``.html``: ``{model}``, or ``{model}.{kind}`` for the
    page of a model's extra unit ``kind``.

    ``control_of``: the model this one is the random-init control of (the page says so and
    links to it). ``images=False`` (published labels: no probe images) builds the page without
    thumbnails;
    without ``reliability_csv`` the cards show no q/stability and the filter is disabled;
    with ``ground_truth_csv`` each card shows NetDissect's answer (``best_name``) and the
    label's Broden scores (AUPRC, precision, base rate);
    ``linear_csv`` (the units' Linear Explanations) adds each card's explanation.
    """
    out_html = Path(out_html)
    root, stem = out_html.parent, out_html.name.removesuffix(".html")
    summary = None
    if summary_png:
        target = root / "figures" / f"{stem}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(summary_png, target)
        summary = f"figures/{stem}.png"
    data = model_data(
        model,
        labels_csv,
        topk_nc,
        categories_csv,
        images,
        summary,
        probe,
        reliability_csv=reliability_csv,
        kind=kind,
        ground_truth_csv=ground_truth_csv,
        linear_csv=linear_csv,
    )
    data["control_of"] = control_of
    _write_data_script(root / "data" / f"{stem}.js", "ATLAS_DATA", data)
    _write_text(out_html, model_page_html(data, f"data/{stem}.js", other_pages))
    return data


def _index_rows(rows: list[dict[str, Any]]) -> str:
    out = []
    for row in rows:
        page = row["page"]
        out.append(
            f'<tr><td><a href="{html.escape(page.href)}">{html.escape(model_name(page.model))}'
            f"</a></td><td><code>{html.escape(page.model)}</code></td>"
            f"<td>{html.escape(page.kind or 'default')}</td>"
            f"<td>{row['layers']}</td><td>{row['units']}</td><td>{row['distinct']}</td></tr>"
        )
    return "".join(out)


def build_index(
    models: Mapping[str, PathLike] | Sequence[AtlasPage],
    out_html: PathLike,
    probe: str = "",
    images: bool = True,
) -> Path:
    """Write ``{atlas}/index.html`` (one row per page: model, unit kind, layers, units,
    distinct labels; a concept search over every page) and its data ``data/index.js``.

    ``models``: ``{model: labels CSV}`` (default kinds only) or the :class:`AtlasPage` list.
    """
    if isinstance(models, Mapping):
        pages = [AtlasPage(model, labels) for model, labels in models.items()]
    else:
        pages = list(models)
    index, rows = search_index(pages)
    out = Path(out_html)
    _write_data_script(out.parent / "data" / "index.js", "ATLAS_INDEX", index)
    source = (
        f"probe <code>{html.escape(probe)}</code>" if images else "published labels (no images)"
    )
    body = f"""<body data-src="data/index.js">
<header class="top"><h1>Unit atlas</h1>
<p>Every labelled unit of every model, {source}. Open a model to browse its units by layer,
category and label, or search a concept across every model and layer.</p></header>
<table class="models"><tr><th>model</th><th>key</th><th>unit kind</th><th>layers</th>
<th>units</th><th>distinct labels</th></tr>
{_index_rows(rows)}
</table>
<form class="filters" id="search">
<label>which units encode <input type="search" name="q" placeholder="a concept, e.g. dog">
</label><label><input type="checkbox" name="exact"> whole label</label>
<span id="count"></span>
</form>
<main id="results"></main>
{_status_div()}
<script src="data/index.js"></script>
<script>{_asset("index.js")}</script>
</body>"""
    _write_text(out, _page("Unit atlas", body))
    return out
