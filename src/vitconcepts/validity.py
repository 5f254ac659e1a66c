"""The validity of the paper's own numbers, from the reliability CSVs' held-out columns
(numpy/pandas only).

A unit's label is **valid** (:func:`valid_units`) when it is significant against the held-out
permutation null (``q_null < VALID_Q``) and predicts the unit's top images on the half it was
not chosen on: ``heldout_auprc >= VALID_AUPRC_RATIO x auprc_chance``.

* :func:`concepts_by_validity`: the paper's Fig. 1 statistic (unique concepts per layer, the
  paper's median rule) beside the unique labels of the valid units;
* :func:`shares_by_validity`: the paper's Fig. 2 statistic (category shares per layer, the
  paper's mean rule) beside the shares among the valid units;
* :func:`heldout_summary`: per model and layer, the median held-out correlation (the number
  Linear Explanations' published CLIP-Dissect simulation correlations, 0.172 on ViT-B/16 and
  0.187 on ResNet-50, are read against), the median AUPRC over chance and the share of valid
  units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .categories import CATEGORIES
from .formats import read_reliability
from .uncertainty import shares_of_units

PathLike = str | Path

#: A valid label: q_null below this ...
VALID_Q = 0.05
#: ... and held-out AUPRC at least this multiple of its chance level.
VALID_AUPRC_RATIO = 2.0

#: Columns of :func:`heldout_summary` (the source CSV of ``heldout_correlation``).
HELDOUT_SUMMARY_COLUMNS = (
    "model",
    "layer",
    "n_units",
    "n_defined",
    "median_heldout_correlation",
    "q25_heldout_correlation",
    "q75_heldout_correlation",
    "median_auprc_over_chance",
    "share_valid",
)


def valid_units(frame: pd.DataFrame) -> pd.Series:
    """Bool per row of a reliability table: ``q_null < VALID_Q`` and ``heldout_auprc >=
    VALID_AUPRC_RATIO * auprc_chance`` (False where either is undefined)."""
    q = pd.to_numeric(frame["q_null"])
    auprc = pd.to_numeric(frame["heldout_auprc"])
    chance = pd.to_numeric(frame["auprc_chance"])
    return (q < VALID_Q) & (auprc >= VALID_AUPRC_RATIO * chance)


def concepts_by_validity(
    concepts: pd.DataFrame, reliability_csvs: Mapping[str, PathLike], models: Sequence[str]
) -> pd.DataFrame:
    """``model, layer, rule, n_concepts, n_units``: the paper's counts (``rule`` = ``median``,
    from the ``concepts_per_layer`` table; ``n_units`` empty) and the unique labels of the
    valid units (``rule`` = ``valid``; ``n_units`` the valid units)."""
    rows = []
    for model in models:
        paper = concepts[concepts["model"] == model]
        for layer, n in zip(paper["layer"], paper["n_concepts"], strict=True):
            rows.append((model, int(layer), "median", float(n), np.nan))
        frame = read_reliability(reliability_csvs[model])
        frame["valid"] = valid_units(frame)
        for layer, units in frame.groupby("layer_index", sort=True):
            kept = units[units["valid"]]
            rows.append(
                (model, int(layer), "valid", float(kept["description"].nunique()), len(kept))
            )
    columns = ["model", "layer", "rule", "n_concepts", "n_units"]
    return pd.DataFrame(rows, columns=columns)


def shares_by_validity(
    shares: pd.DataFrame,
    reliability_csvs: Mapping[str, PathLike],
    mapping: Mapping[str, str],
    models: Sequence[str],
    missing: str = "ignore",
) -> pd.DataFrame:
    """``model, layer, rule, category, share, n_units``: the paper's shares (``rule`` =
    ``mean``, units above the layer's mean score) beside those of the valid units (``rule`` =
    ``valid``, all of them, no score threshold; zero shares where a layer has none)."""
    rows = []
    for model in models:
        paper = shares[shares["model"] == model]
        for (layer, category), share in paper.set_index(["layer", "category"])["share"].items():
            rows.append((model, int(layer), "mean", category, float(share), np.nan))
        frame = read_reliability(reliability_csvs[model])
        frame["valid"] = valid_units(frame)
        for layer, units in frame.groupby("layer_index", sort=True):
            kept = units[units["valid"]]
            layer_shares = shares_of_units(kept, mapping, missing)
            n_kept = len(kept)
            for category in CATEGORIES:
                share = layer_shares[category]
                rows.append((model, int(layer), "valid", category, share, n_kept))
    columns = ["model", "layer", "rule", "category", "share", "n_units"]
    return pd.DataFrame(rows, columns=columns)


def _quantile(values: pd.Series, q: float) -> float:
    values = values[np.isfinite(values)]
    return float(values.quantile(q)) if len(values) else float("nan")


def heldout_summary(
    reliability_csvs: Mapping[str, PathLike], models: Sequence[str]
) -> pd.DataFrame:
    """Per model (``models`` order) and layer (0-based): :data:`HELDOUT_SUMMARY_COLUMNS`
    (quantiles over the units whose held-out numbers are defined, ``n_defined``)."""
    rows = []
    for model in models:
        frame = read_reliability(reliability_csvs[model])
        frame["valid"] = valid_units(frame)
        for layer, units in frame.groupby("layer_index", sort=True):
            r = units["heldout_correlation"].astype(float)
            ratio = units["heldout_auprc"].astype(float) / units["auprc_chance"].astype(float)
            rows.append(
                (
                    model,
                    int(layer),
                    len(units),
                    int(np.isfinite(r).sum()),
                    _quantile(r, 0.5),
                    _quantile(r, 0.25),
                    _quantile(r, 0.75),
                    _quantile(ratio, 0.5),
                    float(units["valid"].mean()),
                )
            )
    return pd.DataFrame(rows, columns=list(HELDOUT_SUMMARY_COLUMNS))
