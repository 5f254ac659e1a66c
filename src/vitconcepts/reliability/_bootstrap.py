"""Label stability under resampling of the probe images, and split-half agreement.

:func:`bootstrap_best` relabels the layer on ``n_boot`` resamples of the probe images drawn
with replacement (each a full labeling, prior included); :func:`stability` and
:func:`stable_concepts` summarise the per-resample best concepts (numpy);
:func:`split_half_agreement` labels two random
halves of the probe and counts the units whose labels agree.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import Tensor

from ._resample import bootstrap_rows, split_halves, take_rows
from ._scorer import LayerScorer

log = logging.getLogger(__name__)

#: A concept is "stable" for a unit when it is the unit's best on this share of resamples.
STABLE_SHARE = 0.1


def bootstrap_best(
    scorer: LayerScorer, similarity, activations: Tensor, n_boot: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``[units, n_boot]`` best concept index (int64) and score (float32) per resample."""
    n_images, n_units = activations.shape
    concepts = np.empty((n_units, n_boot), dtype=np.int64)
    scores = np.empty((n_units, n_boot), dtype=np.float32)
    for b, rows in enumerate(bootstrap_rows(n_images, seed, n_boot)):
        index = torch.from_numpy(rows).to(activations.device)
        acts = activations.index_select(0, index)
        concepts[:, b], scores[:, b], _ = scorer.best(take_rows(similarity, rows), acts)
    return concepts, scores


def stability(label: np.ndarray, boot_concepts: np.ndarray) -> np.ndarray:
    """Share of resamples (columns) whose best concept equals the unit's label."""
    if boot_concepts.shape[1] == 0:
        return np.full(len(label), np.nan)
    return (boot_concepts == np.asarray(label)[:, None]).mean(axis=1)


def stable_concepts(
    boot_concepts: np.ndarray, min_share: float = STABLE_SHARE
) -> list[list[tuple[int, float]]]:
    """Per unit, ``(concept, share)`` of the concepts best in >= ``min_share`` of resamples,
    largest share first (ties: smaller concept index first)."""
    out = []
    n_boot = boot_concepts.shape[1]
    for row in boot_concepts:
        values, counts = np.unique(row, return_counts=True)
        order = np.lexsort((values, -counts))
        out.append(
            [
                (int(values[i]), counts[i] / n_boot)
                for i in order
                if n_boot and counts[i] / n_boot >= min_share - 1e-12
            ]
        )
    return out


def split_half_agreement(scorer: LayerScorer, similarity, activations: Tensor, seed: int) -> float:
    """Share of units whose best concept is the same on two random halves of the probe
    (NaN, with a warning, when a half is too small for the method, e.g. top_k > half)."""
    first, second = split_halves(activations.shape[0], seed)
    labels = []
    for rows in (first, second):
        index = torch.from_numpy(rows).to(activations.device)
        try:
            labels.append(scorer.best(take_rows(similarity, rows), activations[index])[0])
        except ValueError as error:
            log.warning("split-half agreement not computed: %s", error)
            return float("nan")
    return float(np.mean(labels[0] == labels[1]))
