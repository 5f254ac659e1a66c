"""Uncertainty of the paper's per-layer numbers, from the reliability pass (numpy/pandas only).

Inputs are the files of ``assess_labels`` (:mod:`vitconcepts.formats`): the reliability CSV
(``q_null``, ``stability`` per unit) and the bootstrap file (each unit's best concept and score
on every bootstrap resample of the probe images).

* :func:`reliability_summary`: per model and layer, the share of units with
  ``q_null < alpha``, the mean stability and the split-half label agreement;
* :func:`bootstrap_concepts` / :func:`bootstrap_shares`: the paper's two statistics recomputed
  on every resample with the paper's own definitions (:func:`vitconcepts.analysis.count_concepts`:
  unique labels among units above the layer's median score;
  :func:`vitconcepts.analysis.layer_category_shares`: shares among units above the mean), and
  their percentile intervals (:func:`percentile_interval`, 95 % by default);
* :func:`significant_concepts` / :func:`significant_shares`: the same statistics counted over
  the units whose label is significant (``q_null < alpha``) instead of the relative thresholds.

The bootstrap resamples are the same for every layer and model of a run (one resample = one
resampled probe), so each resample gives a whole curve.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .analysis import count_concepts, layer_category_shares
from .categories import CATEGORIES
from .formats import ReliabilityBoot, read_boot, read_reliability

PathLike = str | Path

#: Significance level of ``q_null`` (Benjamini-Hochberg over a layer's units).
ALPHA = 0.05
#: Coverage of the bootstrap intervals.
LEVEL = 0.95

SUMMARY_COLUMNS = (
    "model",
    "layer",
    "n_units",
    "share_significant",
    "mean_stability",
    "split_half_agreement",
)


def percentile_interval(values: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The percentile bootstrap interval of ``values`` (NaN when empty)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def reliability_summary(
    reliability_csvs: Mapping[str, PathLike],
    boot_ncs: Mapping[str, PathLike],
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """Per model (mapping order) and layer: :data:`SUMMARY_COLUMNS` (``layer`` 0-based)."""
    rows = []
    for model, csv in reliability_csvs.items():
        frame = read_reliability(csv)
        split = read_boot(boot_ncs[model]).split_half_agreement
        for layer, units in frame.groupby("layer_index", sort=True):
            rows.append(
                (
                    model,
                    int(layer),
                    len(units),
                    float((units["q_null"] < alpha).mean()),
                    float(units["stability"].mean()),
                    float(split[int(layer)]),
                )
            )
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def resample_labels(boot: ReliabilityBoot, resample: int) -> pd.DataFrame:
    """The label table (``layer_index, description, similarity``) of one bootstrap resample."""
    parts = []
    for li, nu in enumerate(boot.n_units):
        index = boot.boot_concept_index[li, :nu, resample]
        parts.append(
            pd.DataFrame(
                {
                    "layer_index": li,
                    "description": [boot.concepts[i] for i in index],
                    "similarity": boot.boot_score[li, :nu, resample].astype(np.float64),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def bootstrap_concepts(boot: ReliabilityBoot) -> np.ndarray:
    """``[resample, layer]`` unique concepts per layer (the paper's median rule)."""
    return np.array(
        [count_concepts(resample_labels(boot, b)) for b in range(boot.n_boot)], dtype=float
    ).reshape(boot.n_boot, len(boot.layers))


def bootstrap_shares(
    boot: ReliabilityBoot, mapping: Mapping[str, str], missing: str = "ignore"
) -> np.ndarray:
    """``[resample, layer, category]`` category shares (the paper's mean rule)."""
    out = np.zeros((boot.n_boot, len(boot.layers), len(CATEGORIES)))
    for b in range(boot.n_boot):
        labels = resample_labels(boot, b)
        for li, units in labels.groupby("layer_index", sort=True):
            shares = layer_category_shares(units, mapping, missing)
            out[b, int(li)] = [shares[c] for c in CATEGORIES]
    return out


def significant_concepts(frame: pd.DataFrame, alpha: float = ALPHA) -> list[int]:
    """Unique labels among the significant units (``q_null < alpha``) per layer."""
    return [
        int(units.loc[units["q_null"] < alpha, "description"].nunique())
        for _, units in frame.groupby("layer_index", sort=True)
    ]


def significant_shares(
    frame: pd.DataFrame, mapping: Mapping[str, str], alpha: float = ALPHA, missing: str = "ignore"
) -> list[tuple[int, int, dict[str, float]]]:
    """Per layer: ``(layer, #significant units, category shares among them)``.

    Shares are :func:`~vitconcepts.analysis.layer_category_shares` of the significant units
    (all of them, no score threshold)."""
    out = []
    for layer, units in frame.groupby("layer_index", sort=True):
        kept = units[units["q_null"] < alpha]
        out.append((int(layer), len(kept), shares_of_units(kept, mapping, missing)))
    return out


def shares_of_units(
    kept: pd.DataFrame, mapping: Mapping[str, str], missing: str = "ignore"
) -> dict[str, float]:
    """:func:`~vitconcepts.analysis.layer_category_shares` of all the units ``kept`` (rows
    with a ``description``), no score threshold; zero shares when there are none."""
    if kept.empty:
        return dict.fromkeys(CATEGORIES, 0.0)
    # layer_category_shares keeps the units strictly above the mean score: the kept units
    # at score 1 and one uncounted row at -1 put exactly the kept units above it
    sentinel = pd.DataFrame({"description": [""], "similarity": [-1.0]})
    table = pd.concat([kept[["description"]].assign(similarity=1.0), sentinel])
    return layer_category_shares(table, mapping, missing)


def _intervals(
    boot_ncs: Mapping[str, PathLike],
    models: Sequence[str],
    bootstrap: Callable[[ReliabilityBoot], np.ndarray],
    level: float,
) -> Iterator[tuple[str, int, tuple[int, ...], float, float]]:
    """Per model, then per index ``(layer, ...)`` of the draws ``bootstrap(boot)``
    (``[resample, layer, ...]``): ``(model, n_boot, index, low, high)``."""
    for model in models:
        boot = read_boot(boot_ncs[model])
        draws = bootstrap(boot)
        for index in np.ndindex(draws.shape[1:]):
            low, high = percentile_interval(draws[(slice(None), *index)], level)
            yield model, boot.n_boot, index, low, high


def concepts_with_intervals(
    concepts: pd.DataFrame,
    boot_ncs: Mapping[str, PathLike],
    reliability_csvs: Mapping[str, PathLike],
    models: Sequence[str],
    level: float = LEVEL,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """``model, layer, n_concepts, low, high, n_boot, n_significant_concepts``: the paper's
    counts (``concepts``, the ``concepts_per_layer`` table) with bootstrap intervals and the
    count over significant units."""
    rows, significant = [], {}
    paper = concepts.set_index(["model", "layer"])["n_concepts"].sort_index()
    for model, n_boot, (layer,), low, high in _intervals(
        boot_ncs, models, bootstrap_concepts, level
    ):
        if model not in significant:  # read once per model, after its bootstrap file
            significant[model] = significant_concepts(
                read_reliability(reliability_csvs[model]), alpha
            )
        n = paper.get((model, layer), np.nan)
        rows.append((model, layer, n, low, high, n_boot, significant[model][layer]))
    columns = ["model", "layer", "n_concepts", "low", "high", "n_boot", "n_significant_concepts"]
    return pd.DataFrame(rows, columns=columns)


def shares_with_intervals(
    shares: pd.DataFrame,
    boot_ncs: Mapping[str, PathLike],
    mapping: Mapping[str, str],
    models: Sequence[str],
    level: float = LEVEL,
) -> pd.DataFrame:
    """``model, layer, category, share, low, high, n_boot``: the paper's shares (``shares``,
    the ``category_shares`` table) with bootstrap intervals."""
    rows = []
    paper = shares.set_index(["model", "layer", "category"])["share"].sort_index()
    draws = _intervals(boot_ncs, models, lambda boot: bootstrap_shares(boot, mapping), level)
    for model, n_boot, (layer, ci), low, high in draws:
        share = paper.get((model, layer, CATEGORIES[ci]), np.nan)
        rows.append((model, layer, CATEGORIES[ci], share, low, high, n_boot))
    columns = ["model", "layer", "category", "share", "low", "high", "n_boot"]
    return pd.DataFrame(rows, columns=columns)


def shares_by_rule(
    shares: pd.DataFrame,
    reliability_csvs: Mapping[str, PathLike],
    mapping: Mapping[str, str],
    models: Sequence[str],
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """``model, layer, rule, category, share, n_units``: the paper's shares (``rule`` =
    ``mean``, units above the layer's mean score) beside those of the significant units
    (``rule`` = ``significant``, ``q_null < alpha``)."""
    rows = []
    for model in models:
        frame = read_reliability(reliability_csvs[model])
        paper = shares[shares["model"] == model]
        for (layer, category), share in paper.set_index(["layer", "category"])["share"].items():
            rows.append((model, int(layer), "mean", category, float(share), np.nan))
        for layer, n_units, layer_shares in significant_shares(frame, mapping, alpha):
            for category in CATEGORIES:
                rows.append(
                    (model, layer, "significant", category, layer_shares[category], n_units)
                )
    columns = ["model", "layer", "rule", "category", "share", "n_units"]
    return pd.DataFrame(rows, columns=columns)
