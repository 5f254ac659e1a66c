"""The index page's concept search: which units of which model and layer carry a label.

``data/index.js`` = ``window.ATLAS_INDEX={strings, pages}``: ``strings`` every label once;
``pages`` one entry per atlas page, ``{href, model, kind, title, layers: [name],
labels: [[string id, [layer, unit, layer, unit, ...]], ...], expl: [...]}`` (the units that
carry each label, layer positions 0-based; ``expl`` the same for the concepts of the units'
Linear Explanations, when the page has them). Loaded with ``<script src>`` like a model
page's data, so the index searches from ``file://`` without a server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vitconcepts.atlas.data import read_unit_labels
from vitconcepts.formats import read_linear
from vitconcepts.style import model_name

PathLike = str | Path


@dataclass(frozen=True)
class AtlasPage:
    """One page of the atlas: ``{href}`` (e.g. ``vit.html``, ``vit.mlp.html``) showing the
    units of ``labels_csv``: ``model``'s default units (``kind=None``) or its ``kind``."""

    model: str
    labels_csv: PathLike
    kind: str | None = None
    linear_csv: PathLike | None = None

    @property
    def stem(self) -> str:
        return self.model if self.kind is None else f"{self.model}.{self.kind}"

    @property
    def href(self) -> str:
        return f"{self.stem}.html"


def _explanation_units(page: AtlasPage, frame, strings: dict[str, int]) -> list:
    """``[[string id, [layer, unit, ...]], ...]``: the units whose explanation has a concept."""
    if not page.linear_csv:
        return []
    position = dict(zip(frame["layer"].astype(str), frame["layer_index"], strict=False))
    units: dict[int, list[int]] = {}
    linear = read_linear(page.linear_csv)
    for layer, unit, concepts in zip(
        linear["layer"], linear["unit"], linear["concepts"], strict=True
    ):
        if str(layer) not in position:
            continue
        for concept in dict.fromkeys(concepts):
            sid = strings.setdefault(str(concept), len(strings))
            units.setdefault(sid, []).extend((int(position[str(layer)]), int(unit)))
    return [[sid, flat] for sid, flat in units.items()]


def search_index(pages: Sequence[AtlasPage]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the ``ATLAS_INDEX`` data, a summary row per page: layers, units, distinct labels)."""
    strings: dict[str, int] = {}
    entries, rows = [], []
    for page in pages:
        frame = read_unit_labels(page.labels_csv)
        units: dict[int, list[int]] = {}
        labels = frame["description"].astype(str)
        for label, li, unit in zip(labels, frame["layer_index"], frame["unit"], strict=True):
            sid = strings.setdefault(label, len(strings))
            units.setdefault(sid, []).extend((int(li), int(unit)))
        layer_names = frame.drop_duplicates("layer_index")["layer"].astype(str).tolist()
        entries.append(
            {
                "href": page.href,
                "model": page.model,
                "kind": page.kind,
                "title": model_name(page.model),
                "layers": layer_names,
                "labels": [[sid, flat] for sid, flat in units.items()],
                "expl": _explanation_units(page, frame, strings),
            }
        )
        rows.append(
            {
                "page": page,
                "layers": len(layer_names),
                "units": len(frame),
                "distinct": int(labels.nunique()),
            }
        )
    return {"strings": list(strings), "pages": entries}, rows
