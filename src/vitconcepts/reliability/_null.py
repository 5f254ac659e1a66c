"""The permutation null of a layer's label scores: pure math on tensors.

For each of ``n_null`` repeats every unit's activations are permuted across the images,
independently per unit (:func:`._resample.permuted_columns`), and scored like the real layer
with the real layer's concept prior (``log p(c)`` of soft-WPMI/WPMI, in which each permuted
unit stands in for its real counterpart: :meth:`._scorer.LayerScorer.null_best`, so that a
unit of pure noise and its permuted copies are exchangeable). The best score of every
permuted unit joins the layer's pooled null; a unit's p-value is
``(1 + #null best scores >= its score) / (1 + #null best scores)``, and q-values are
Benjamini-Hochberg over the layer's units (:func:`scipy.stats.false_discovery_control`).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import false_discovery_control
from torch import Tensor

from ._resample import permuted_columns
from ._scorer import LayerScorer


def null_best_scores(
    scorer: LayerScorer, similarity, activations: Tensor, real_raw: Tensor, n_null: int, seed: int
) -> np.ndarray:
    """``[n_null * units]`` best scores of the permuted units (repeat-major)."""
    scores = []
    for repeat in range(n_null):
        permuted = permuted_columns(activations, seed, repeat)
        scores.append(scorer.null_best(similarity, permuted, real_raw))
        del permuted
    return np.concatenate(scores) if scores else np.zeros(0, dtype=np.float32)


def permutation_p_values(scores: np.ndarray, null: np.ndarray) -> np.ndarray:
    """``(1 + #{null >= s}) / (1 + len(null))`` for each score ``s``."""
    ordered = np.sort(np.asarray(null, dtype=np.float64))
    at_least = len(ordered) - np.searchsorted(ordered, np.asarray(scores, np.float64), "left")
    return (1.0 + at_least) / (1.0 + len(ordered))


def bh_q_values(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values (scipy's ``false_discovery_control``, method ``bh``)."""
    p_values = np.asarray(p_values, dtype=np.float64)
    if p_values.size == 0:
        return p_values
    return np.asarray(false_discovery_control(p_values, method="bh"), dtype=np.float64)
