"""The paper's claims as statistics of label frames (pure pandas/numpy).

A *label frame* is one model's per-unit labels with the columns ``layer_index`` (0-based,
network order), ``description`` (the unit's concept) and ``similarity`` (its score), as
:func:`vitconcepts.formats.read_labels` and
:func:`vitconcepts.uncertainty.resample_labels` return them. Nothing here knows which labeler
wrote the frame: CLIP-Dissect's labels and Linear Explanations' largest-weight concepts go
through the same functions.

Definitions are the paper's (the authors' ``final_figures.ipynb``): unique concepts per layer =
distinct labels among units strictly above the layer's median score
(:func:`vitconcepts.analysis.count_concepts`); category shares = among units strictly above the
layer's mean score (:func:`vitconcepts.analysis.layer_category_shares`, a label outside the
category map counts in no category but stays in the denominator).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..analysis import count_concepts, layer_category_shares

#: Categories of the "early layers" claim and of the "late layers" claim.
EARLY_CATEGORIES = ("colors", "textures and materials")
LATE_CATEGORIES = ("objects and machines", "natural elements and organisms")
#: The categories a finetuning dataset is about (the authors' finetuning cells plot these).
DATASET_CATEGORIES = {
    "cub": ("natural elements and organisms",),
    "bloodmnist": ("colors", "textures and materials"),
}
#: "First" and "last" layers: positions 0-2 and the last three.
EDGE_LAYERS = 3


def edge_layers(n_layers: int, k: int = EDGE_LAYERS) -> tuple[list[int], list[int]]:
    """The first and the last ``k`` layer positions of a model with ``n_layers`` layers (the
    paper: positions 0-2 and the last three; they overlap in a model of four or five layers).

    A model of ``k`` layers or fewer, whose first and last layers would be the same, gets
    ``n_layers // 2`` on each side (at least one), so that a difference is defined."""
    k = min(k, n_layers) if n_layers > k else max(1, n_layers // 2)
    return list(range(k)), list(range(n_layers - k, n_layers))


def layer_shares(frame: pd.DataFrame, categories: Sequence[str], mapping: Mapping[str, str]):
    """Per layer (network order): the summed share of ``categories`` (the paper's mean rule)."""
    out = []
    for _, units in frame.groupby("layer_index", sort=True):
        shares = layer_category_shares(units, mapping)
        out.append(sum(shares[c] for c in categories))
    return np.asarray(out, dtype=float)


def early_minus_late(
    frame: pd.DataFrame, categories: Sequence[str], mapping: Mapping[str, str]
) -> float:
    """Mean share of ``categories`` over the first layers minus that over the last layers."""
    shares = layer_shares(frame, categories, mapping)
    first, last = edge_layers(len(shares))
    return float(shares[first].mean() - shares[last].mean())


def concepts_depth_rho(frame: pd.DataFrame) -> float:
    """Spearman rho between layer position and unique concepts per layer (NaN when constant)."""
    counts = pd.Series(count_concepts(frame), dtype=float)
    if len(counts) < 2 or counts.nunique() < 2:
        return float("nan")
    return float(pd.Series(np.arange(len(counts)), dtype=float).corr(counts, method="spearman"))


def last_layer_concepts(frame: pd.DataFrame) -> int:
    """Unique concepts (the median rule) in the model's last layer."""
    return count_concepts(frame)[-1]


def late_share(frame: pd.DataFrame, categories: Sequence[str], mapping: Mapping[str, str]):
    """Mean summed share of ``categories`` over the model's last layers."""
    shares = layer_shares(frame, categories, mapping)
    _, last = edge_layers(len(shares))
    return float(shares[last].mean())


def late_categories(frames: Mapping[str, pd.DataFrame], mapping: Mapping[str, str]):
    """``(model, category)`` pairs of the categorised labels of units above their layer's
    mean score in each model's last layers (the units the category shares count)."""
    rows = []
    for model, frame in frames.items():
        n_layers = int(frame["layer_index"].max()) + 1
        _, last = edge_layers(n_layers)
        for _, units in frame[frame["layer_index"].isin(last)].groupby("layer_index"):
            kept = units.loc[units["similarity"] > units["similarity"].mean(), "description"]
            categories = kept.map(mapping).dropna()
            rows += [(model, c) for c in categories]
    return pd.DataFrame(rows, columns=["model", "category"])


def cramers_v(models: np.ndarray, categories: np.ndarray) -> float:
    """Cramér's V of the contingency table of two label arrays (NaN when degenerate)."""
    table = pd.crosstab(pd.Series(models), pd.Series(categories)).to_numpy(dtype=float)
    n = table.sum()
    r, c = table.shape
    if n == 0 or min(r, c) < 2:
        return float("nan")
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return float(np.sqrt(chi2 / (n * (min(r, c) - 1))))


def pretraining_v(frames: Mapping[str, pd.DataFrame], mapping: Mapping[str, str]) -> float:
    """Cramér's V between model and category over the last layers' labels of ``frames``."""
    pairs = late_categories(frames, mapping)
    return cramers_v(pairs["model"].to_numpy(), pairs["category"].to_numpy())


def permutation_null(
    frames: Mapping[str, pd.DataFrame],
    mapping: Mapping[str, str],
    n_permutations: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> float:
    """The ``level`` quantile of V when the pooled labels are reassigned to the models at
    random (model sizes kept): a V above it is more than chance."""
    pairs = late_categories(frames, mapping)
    if pairs.empty:
        return float("nan")
    models, categories = pairs["model"].to_numpy(), pairs["category"].to_numpy()
    rng = np.random.default_rng(seed)
    null = [cramers_v(rng.permutation(models), categories) for _ in range(n_permutations)]
    return float(np.nanquantile(null, level)) if np.isfinite(null).any() else float("nan")
