"""p-values against a pooled permutation null, and Benjamini-Hochberg q-values.

The null itself is drawn by :mod:`._heldout` (the cross-fitted held-out correlation of units
whose held-out activations are permuted); a unit's p-value is
``(1 + #null statistics >= its statistic) / (1 + #null statistics)`` and q-values are
Benjamini-Hochberg over the layer's units (:func:`scipy.stats.false_discovery_control`).
(Until issue 19 the statistic was the best soft-WPMI score on the full probe, which saturates
at ``log U``: see ``docs/fidelity.md``.)
"""

from __future__ import annotations

import numpy as np
from scipy.stats import false_discovery_control


def permutation_p_values(scores: np.ndarray, null: np.ndarray) -> np.ndarray:
    """``(1 + #{null >= s}) / (1 + len(null))`` for each score ``s`` (NaN where ``s`` is NaN
    or the null is empty)."""
    ordered = np.sort(np.asarray(null, dtype=np.float64))
    scores = np.asarray(scores, np.float64)
    if len(ordered) == 0:
        return np.full(scores.shape, np.nan)
    at_least = len(ordered) - np.searchsorted(ordered, scores, "left")
    return np.where(np.isnan(scores), np.nan, (1.0 + at_least) / (1.0 + len(ordered)))


def bh_q_values(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values (scipy's ``false_discovery_control``, method ``bh``) over
    the finite p-values; NaN where the p-value is NaN."""
    p_values = np.asarray(p_values, dtype=np.float64)
    q_values = np.full(p_values.shape, np.nan)
    finite = np.isfinite(p_values)
    if finite.any():
        q_values[finite] = false_discovery_control(p_values[finite], method="bh")
    return q_values
