"""Layer-wise analysis of per-unit labels: concepts per layer, category shares, finetuning means.

Definitions (checked against the authors' ``final_figures.ipynb`` in teresa-sc/concepts_in_ViTs
where stated):

* **Layer order** is network order = order of first appearance of ``layer`` in the label CSV
  (``layer_index`` 0, 1, ...). Module paths are never sorted as strings, so
  ``vit.encoder.layer[10]`` comes after ``vit.encoder.layer[9]``.
* **Concepts per layer** (paper Fig. 2 and Fig. 8; verified in the notebook): among a layer's
  units keep those whose ``similarity`` is *strictly* greater than the layer's *median*
  similarity and count the distinct ``description`` values.
* **Category shares** (paper Fig. 3/4): among a layer's units keep those whose ``similarity`` is
  strictly greater than the layer's *mean* similarity; the share of a category is the number
  of kept units whose label belongs to that category divided by the number of kept units
  (a fraction in [0, 1]; the notebook's Fig. 1/3 cells, which Figs. 6/7 scale by 100). Every
  category of :data:`vitconcepts.categories.CATEGORIES` is reported for every model x layer,
  zeros included. As in the notebook, a label without a category (absent from the category
  table, or a row with source ``default``: neither the curated map nor the automatic
  categoriser gave it one) stays in the denominator and counts in no category, so a layer's
  shares may sum to less than 1 (``missing="ignore"``, the default).
* **Finetuning means** (paper Figs. 7 and 8; the notebook's "Figure 7"/"Figure 8" cells): per
  condition (``pretrained`` = the base models, then one per finetuning dataset) the
  per-layer values of the base models listed in ``analysis.finetuning_mean`` (the paper:
  vit, dinov2, clip) or of their copies finetuned on that dataset are averaged with
  ``numpy.mean`` in that model order.

Label files are read and validated by :func:`vitconcepts.formats.read_labels` (descriptions as
plain strings, so that concepts such as ``"null"`` or ``"na"`` stay words).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .categories import CATEGORIES
from .errors import InputDataError
from .formats import read_labels

__all__ = [
    "MISSING_POLICIES",
    "UNIT_KIND_COLUMNS",
    "category_shares",
    "concepts_per_layer",
    "count_concepts",
    "finetuning_category_shares",
    "finetuning_concepts_per_layer",
    "layer_category_shares",
    "load_categories",
    "unit_kind_measures",
]

log = logging.getLogger(__name__)

MISSING_POLICIES = ("unknown", "exclude", "ignore")

PathLike = str | Path


def _layers(frame: pd.DataFrame):
    """Yield ``(layer_index, units of that layer)`` in network order."""
    for index, group in frame.groupby("layer_index", sort=True):
        yield int(index), group


def _write(frame: pd.DataFrame, out_csv: PathLike | None) -> pd.DataFrame:
    if out_csv is not None:
        out = Path(out_csv)
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(out, index=False, lineterminator="\n")
    return frame


def count_concepts(frame: pd.DataFrame) -> list[int]:
    """Distinct descriptions among units strictly above their layer's median, per layer."""
    counts = []
    for _, units in _layers(frame):
        kept = units.loc[units["similarity"] > units["similarity"].median(), "description"]
        counts.append(int(len(pd.unique(kept))))
    return counts


def concepts_per_layer(
    label_csvs: Mapping[str, PathLike], out_csv: PathLike | None = None
) -> pd.DataFrame:
    """Number of distinct concepts per layer for every model (columns ``model, layer, n_concepts``).

    ``layer`` is the 0-based layer index; rows follow ``label_csvs`` order, then layer order.
    Writes ``out_csv`` when given and returns the table.
    """
    rows = []
    for model, csv in label_csvs.items():
        for layer, n_concepts in enumerate(count_concepts(read_labels(csv))):
            rows.append((model, layer, n_concepts))
    table = pd.DataFrame(rows, columns=["model", "layer", "n_concepts"])
    return _write(table, out_csv)


def load_categories(categories_csv: PathLike) -> dict[str, str]:
    """Read a ``concept, category, source`` table into ``{concept: category}``.

    Rows with source ``default`` (no category found) are left out: such concepts have no
    category, like the words outside the authors' curated map in their notebook.

    Raises :class:`InputDataError` when the file is missing, lacks columns, repeats a concept
    with different categories, or names a category outside :data:`CATEGORIES`.
    """
    path = Path(categories_csv)
    if not path.is_file():
        raise InputDataError(
            f"Category table {path} does not exist.", "Run the categorise_concepts rule first."
        )
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in ("concept", "category"):
        if column not in table.columns:
            raise InputDataError(
                f"Category table {path} lacks column {column!r}; found {list(table.columns)}.",
                "Category tables have the columns concept, category, source.",
            )
    unknown = sorted(set(table["category"]) - set(CATEGORIES))
    if unknown:
        raise InputDataError(
            f"Category table {path} uses unknown categories {unknown}.",
            f"Use only {list(CATEGORIES)}.",
        )
    clashes = table.groupby("concept")["category"].nunique()
    clashes = sorted(clashes[clashes > 1].index)
    if clashes:
        raise InputDataError(
            f"Category table {path} gives several categories to {clashes[:10]}.",
            "Give every concept exactly one category.",
        )
    if "source" in table.columns:
        table = table[table["source"] != "default"]
    return dict(zip(table["concept"], table["category"], strict=True))


def layer_category_shares(
    units: pd.DataFrame, mapping: Mapping[str, str], missing: str = "ignore"
) -> dict[str, float]:
    """Category shares of one layer's units strictly above the layer's mean similarity.

    ``missing`` decides what happens to labels absent from ``mapping``: ``"ignore"`` (the
    authors' notebook) keeps them in the denominator only (shares then sum to less than 1);
    ``"unknown"`` counts them as ``unknown``; ``"exclude"`` drops them from numerator and
    denominator.
    """
    if missing not in MISSING_POLICIES:
        raise ValueError(f"missing must be one of {MISSING_POLICIES}, got {missing!r}")
    kept = units.loc[units["similarity"] > units["similarity"].mean(), "description"]
    categories = kept.map(mapping)
    if missing == "unknown":
        categories = categories.fillna("unknown")
        denominator = len(categories)
    elif missing == "exclude":
        categories = categories.dropna()
        denominator = len(categories)
    else:
        denominator = len(categories)
    counts = categories.value_counts()
    return {
        category: (float(counts.get(category, 0)) / denominator if denominator else 0.0)
        for category in CATEGORIES
    }


def category_shares(
    label_csvs: Mapping[str, PathLike],
    categories_csv: PathLike,
    out_csv: PathLike | None = None,
    missing: str = "ignore",
) -> pd.DataFrame:
    """Share of each category per model and layer (columns ``model, layer, category, share``).

    Shares are fractions (0-1) of the units above the layer's mean similarity; all categories
    appear for every model x layer in :data:`CATEGORIES` order. Labels without a category
    (absent from the table, or source ``default``) are handled by ``missing`` (see
    :func:`layer_category_shares`) and are logged.
    """
    mapping = load_categories(categories_csv)
    rows = []
    for model, csv in label_csvs.items():
        frame = read_labels(csv)
        absent = sorted(set(frame["description"]) - set(mapping))
        if absent:
            log.info(
                "%s: %d label(s) without a category in %s (treated as %r): %s",
                model,
                len(absent),
                categories_csv,
                missing,
                absent[:10],
            )
        for layer, units in _layers(frame):
            for category, share in layer_category_shares(units, mapping, missing).items():
                rows.append((model, layer, category, share))
    table = pd.DataFrame(rows, columns=["model", "layer", "category", "share"])
    return _write(table, out_csv)


#: Columns of :func:`unit_kind_measures`.
UNIT_KIND_COLUMNS = ["model", "kind", "layer", "n_units", "n_above_median", "n_concepts"]
UNIT_KIND_COLUMNS += ["category", "share"]


def unit_kind_measures(
    label_csvs: Mapping[str, Mapping[str, PathLike]],
    categories_csv: PathLike,
    out_csv: PathLike | None = None,
    missing: str = "ignore",
) -> pd.DataFrame:
    """Concepts per layer and category shares of every unit kind of every model, by the
    definitions above (median and mean thresholds, distinct descriptions, shares of the
    units above the mean), one row per ``model, kind, layer, category``.

    ``label_csvs`` is ``{model: {kind: label CSV}}`` (``cls`` = the model's default file,
    ``mlp`` = ``{model}.mlp.csv``, ...). Columns :data:`UNIT_KIND_COLUMNS`: ``n_units`` (the
    layer's units), ``n_above_median`` (units strictly above the median similarity, among
    which ``n_concepts`` distinct labels are counted) and the category ``share`` (0-1).
    Kinds differ in width (3,072 ``mlp`` units against 768 ``cls`` units a ViT-B layer), so
    ``n_concepts / n_above_median`` is the comparable figure.
    """
    mapping = load_categories(categories_csv)
    rows = []
    for model, kinds in label_csvs.items():
        for kind, csv in kinds.items():
            frame = read_labels(csv)
            counts = count_concepts(frame)
            for layer, units in _layers(frame):
                above = int((units["similarity"] > units["similarity"].median()).sum())
                shares = layer_category_shares(units, mapping, missing)
                head = (model, kind, layer, len(units), above, counts[layer])
                rows += [(*head, category, share) for category, share in shares.items()]
    return _write(pd.DataFrame(rows, columns=UNIT_KIND_COLUMNS), out_csv)


def _concepts_by_layer(rows: pd.DataFrame) -> np.ndarray:
    return rows.sort_values("layer")["n_concepts"].to_numpy(dtype=float)


def _shares_by_layer(rows: pd.DataFrame) -> np.ndarray:
    """layer x category (:data:`CATEGORIES` order); a category the model lacks counts as 0."""
    table = rows.pivot_table(index="layer", columns="category", values="share", aggfunc="sum")
    return table.reindex(columns=list(CATEGORIES)).fillna(0.0).sort_index().to_numpy(dtype=float)


def _condition_mean(
    frame: pd.DataFrame,
    models: Sequence[str],
    by_layer: Callable[[pd.DataFrame], np.ndarray],
    what: str,
    condition: str,
) -> np.ndarray | None:
    """``numpy.mean`` over ``models`` (in that order) of their ``by_layer(rows)`` arrays.

    Models absent from ``frame`` are skipped with a warning; ``None`` when none is present.
    """
    arrays, used = [], []
    for model in models:
        rows = frame[frame["model"] == model]
        if rows.empty:
            log.warning(
                "%s, condition %s: no rows for %s; left out of the mean", what, condition, model
            )
            continue
        arrays.append(by_layer(rows))
        used.append(model)
    if not arrays:
        return None
    lengths = {model: len(a) for model, a in zip(used, arrays, strict=True)}
    if len(set(lengths.values())) > 1:
        raise InputDataError(
            f"{what}, condition {condition}: the models to average have different numbers of "
            f"layers {lengths}.",
            "List models with the same depth under analysis.finetuning_mean in the config.",
        )
    return np.mean(arrays, axis=0)


def _condition_table(
    frame: pd.DataFrame,
    conditions: Mapping[str, Sequence[str]],
    by_layer: Callable[[pd.DataFrame], np.ndarray],
    what: str,
    columns: list[str],
) -> pd.DataFrame:
    """A row per condition x layer of the mean (x category when ``by_layer`` gives a layer x
    category array, :data:`CATEGORIES` order), conditions in mapping order."""
    rows = []
    for condition, models in conditions.items():
        mean = _condition_mean(frame, models, by_layer, what, condition)
        for layer, values in enumerate(() if mean is None else mean):
            if np.ndim(values) == 0:
                rows.append((condition, layer, float(values)))
            else:
                rows += [
                    (condition, layer, c, float(v)) for c, v in zip(CATEGORIES, values, strict=True)
                ]
    if not rows:
        raise InputDataError(
            f"Finetuning means: no rows for any of the models {dict(conditions)}.",
            "Label the pretrained and finetuned models listed under analysis.finetuning_mean.",
        )
    return pd.DataFrame(rows, columns=columns)


def finetuning_concepts_per_layer(
    concepts: pd.DataFrame | PathLike,
    conditions: Mapping[str, Sequence[str]],
    out_csv: PathLike | None = None,
) -> pd.DataFrame:
    """Paper Fig. 8: unique concepts per layer averaged over models, per condition.

    ``concepts`` is the ``model, layer, n_concepts`` table (or its CSV); ``conditions`` maps
    each condition (``pretrained``, ``cub``, ``bloodmnist``) to the models to average, e.g.
    ``{"pretrained": ["vit", "dinov2", "clip"], "cub": ["vit_cub", "dinov2_cub",
    "clip_cub"], ...}`` (``finetuning_conditions`` in rules/plan_config.py). Columns
    ``condition, layer, n_concepts`` (a float mean), conditions in mapping order.
    """
    frame = concepts if isinstance(concepts, pd.DataFrame) else pd.read_csv(concepts)
    columns = ["condition", "layer", "n_concepts"]
    table = _condition_table(frame, conditions, _concepts_by_layer, "finetuning concepts", columns)
    return _write(table, out_csv)


def finetuning_category_shares(
    shares: pd.DataFrame | PathLike,
    conditions: Mapping[str, Sequence[str]],
    out_csv: PathLike | None = None,
) -> pd.DataFrame:
    """Paper Fig. 7: category shares per layer averaged over models, per condition.

    ``shares`` is the ``model, layer, category, share`` table (or its CSV); ``conditions`` as
    in :func:`finetuning_concepts_per_layer`. Columns ``condition, layer, category, share``
    (fractions), every category of :data:`CATEGORIES` per condition x layer.
    """
    frame = shares if isinstance(shares, pd.DataFrame) else pd.read_csv(shares)
    columns = ["condition", "layer", "category", "share"]
    table = _condition_table(frame, conditions, _shares_by_layer, "finetuning shares", columns)
    return _write(table, out_csv)
