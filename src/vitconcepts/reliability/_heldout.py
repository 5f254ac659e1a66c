"""Held-out validity of the labels, cross-fitted on the two split halves of the probe.

Fold ``A -> B``: every unit is labelled on half ``A`` (same method, params and prior as the
full labeling, the prior taken over the layer's units on ``A``); on half ``B`` the unit's
activation is compared with the CLIP image-concept similarity of that label:

* ``heldout_correlation``: Pearson over the images of ``B``;
* ``heldout_auprc``: average precision (:func:`average_precision`, ties as scikit-learn's
  ``average_precision_score``) of the similarity as the score, with the unit's top
  ``ceil(alpha * |B|)`` images of ``B`` by activation as the positives;
* ``auprc_chance``: the positives' share of ``B``, the AUPRC of a score that knows nothing.

The fold ``B -> A`` is the reverse; each column is the mean of the two folds.

**Significance** (``p_null``): the statistic is the cross-fitted held-out correlation. Given
the label chosen on the other half, a unit unrelated to its label's similarity has held-out
activations exchangeable across the held-out images, so permuting them (independently per
unit and per fold, ``n_null`` repeats) draws from the statistic's exact conditional null; the
permuted statistics of the layer's units are pooled (the permutation distribution of a
Pearson correlation has mean 0 and variance ``1 / (n - 1)`` whatever the data, so units share
one null) and ``p = (1 + #{null >= r}) / (1 + #null)``. Unlike the best soft-WPMI score, which
reaches its ceiling ``log U`` for any unit whose concept no other unit shares, the held-out
correlation keeps growing with the evidence (more images, a stronger unit).

Memory: only the ``[images, units]`` similarity of the chosen concepts is formed (with an
:class:`~vitconcepts.labeling.EmbeddingSimilarity`, from the label's embedding columns); a fold
keeps its standardised activations and similarities (float32 ``[images / 2, units]`` each:
172 MB at the paper's 113,305 images x 768 units), the null one permuted copy at a time, and
:func:`average_precision` sorts at most ``AP_BLOCK_ELEMENTS`` at once. All of it is small
beside the labelings' own tiles.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..labeling import EmbeddingSimilarity
from ._resample import permuted_columns, split_halves, take_rows
from ._scorer import LayerScorer

log = logging.getLogger(__name__)

#: Default share of a unit's held-out images taken as the positives of its AUPRC.
DEFAULT_ALPHA = 0.01
#: The permutation stream of the held-out null (apart from the old null's repeats).
HELDOUT_NULL_STREAM = 3
#: Elements (images x units) sorted at once by :func:`average_precision`.
AP_BLOCK_ELEMENTS = 1 << 22


@dataclass(frozen=True)
class HeldOut:
    """The cross-fitted held-out numbers of one layer (``U`` units)."""

    correlation: np.ndarray  # [U] float64, mean of the two folds
    auprc: np.ndarray  # [U] float64
    chance: np.ndarray  # [U] float64
    null: np.ndarray  # [n_null * U] float64: pooled permuted held-out correlations
    split_half: float  # share of units whose labels on the two halves agree

    @classmethod
    def undefined(cls, n_units: int) -> HeldOut:
        nan = np.full(n_units, np.nan)
        return cls(nan, nan.copy(), nan.copy(), np.zeros(0), float("nan"))


def label_columns(similarity, rows: np.ndarray, concepts: np.ndarray) -> Tensor:
    """``similarity[rows][:, concepts]`` ``[len(rows), len(concepts)]`` without forming any
    other column (lazy :class:`EmbeddingSimilarity`: from the concepts' embeddings)."""
    if isinstance(similarity, EmbeddingSimilarity):
        dev = similarity.image_emb.device
        image = similarity.image_emb.index_select(0, torch.from_numpy(rows).to(dev))
        concept = similarity.concept_emb.index_select(0, torch.from_numpy(concepts).to(dev))
        return image @ concept.T
    dev = similarity.device
    columns = similarity.index_select(1, torch.from_numpy(concepts).to(dev))
    return columns.index_select(0, torch.from_numpy(rows).to(dev))


def standardised(x: Tensor) -> Tensor:
    """Columns centred and scaled to unit root-mean-square (NaN where constant); float32
    (float64 input stays float64), sums accumulated in float64."""
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    mean = x.sum(dim=0, keepdim=True, dtype=torch.float64) / x.shape[0]
    x = x.to(dtype) - mean.to(dtype)
    norm = (x.pow(2).sum(dim=0, keepdim=True, dtype=torch.float64) / x.shape[0]).sqrt()
    norm = torch.where(norm > 0, norm, torch.full_like(norm, float("nan")))
    return x.div_(norm.to(dtype))


def column_correlation(z_a: Tensor, z_b: Tensor) -> Tensor:
    """Pearson correlation (float64) of matching columns of two standardised ``[n, U]``
    tensors."""
    return (z_a * z_b).sum(dim=0, dtype=torch.float64) / z_a.shape[0]


def average_precision(scores: Tensor, positive: Tensor) -> Tensor:
    """Average precision of each column: ``[n, U]`` scores, ``[n, U]`` bool positives.

    ``AP = sum_n (R_n - R_{n-1}) P_n`` over the distinct score thresholds, highest first,
    tied scores forming one threshold, as scikit-learn's ``average_precision_score``; a column
    without positives gets NaN. Blocked over columns (sorts ``AP_BLOCK_ELEMENTS`` at a time).
    """
    n, n_units = scores.shape
    out = torch.empty(n_units, dtype=torch.float64, device=scores.device)
    if n == 0:
        return out.fill_(float("nan"))
    step = max(1, AP_BLOCK_ELEMENTS // max(1, n))
    rank = torch.arange(1, n + 1, dtype=torch.float64, device=scores.device)[:, None]
    for u0 in range(0, n_units, step):
        s, order = scores[:, u0 : u0 + step].sort(dim=0, descending=True, stable=True)
        hits = positive[:, u0 : u0 + step].gather(0, order).double()
        precision = hits.cumsum(dim=0) / rank
        # each image takes the precision at the end of its tie group (its threshold)
        end = torch.ones_like(s, dtype=torch.bool)
        end[:-1] = s[1:] != s[:-1]
        index = torch.where(end, rank.long().expand_as(s) - 1, torch.full_like(order, n))
        group_end = index.flip(0).cummin(dim=0).values.flip(0)
        n_pos = hits.sum(dim=0)
        ap = (hits * precision.gather(0, group_end)).sum(dim=0) / n_pos
        out[u0 : u0 + step] = torch.where(n_pos > 0, ap, torch.full_like(ap, float("nan")))
    return out


def top_alpha_positives(activations: Tensor, alpha: float) -> tuple[Tensor, int]:
    """``[n, U]`` bool: each unit's ``k = ceil(alpha * n)`` (at least 1) most active images."""
    n = activations.shape[0]
    k = min(n, max(1, math.ceil(float(alpha) * n)))
    top = activations.topk(k, dim=0).indices
    positive = torch.zeros(activations.shape, dtype=torch.bool, device=activations.device)
    positive.scatter_(0, top, True)
    return positive, k


@dataclass(frozen=True)
class _Fold:
    z_act: Tensor  # [n, U] standardised held-out activations
    z_sim: Tensor  # [n, U] standardised similarity of the other half's labels
    correlation: Tensor  # [U]
    auprc: Tensor  # [U]
    chance: float


def _fold(similarity, activations: Tensor, rows: np.ndarray, labels: np.ndarray, alpha: float):
    acts = activations.index_select(0, torch.from_numpy(rows).to(activations.device))
    sims = label_columns(similarity, rows, labels).to(acts.device)
    positive, k = top_alpha_positives(acts, alpha)
    z_act, z_sim = standardised(acts), standardised(sims)
    correlation = column_correlation(z_act, z_sim)
    return _Fold(z_act, z_sim, correlation, average_precision(sims, positive), k / len(rows))


def _permuted_null(folds: list[_Fold], n_null: int, seed: int) -> np.ndarray:
    """``[n_null * U]``: the mean over folds of the held-out correlation of permuted units."""
    null = []
    for repeat in range(n_null):
        total = 0.0
        for f, fold in enumerate(folds):
            permuted = permuted_columns(fold.z_act, seed, 2 * repeat + f, HELDOUT_NULL_STREAM)
            total = total + column_correlation(permuted, fold.z_sim)
        null.append((total / len(folds)).cpu().numpy())
    return np.concatenate(null) if null else np.zeros(0)


def cross_fit(
    scorer: LayerScorer, similarity, activations: Tensor, seed: int, alpha: float, n_null: int
) -> HeldOut:
    """Label each half, score on the other (see the module doc); NaN, with a warning, when a
    half is too small for the method (e.g. ``top_k`` > half)."""
    halves = split_halves(activations.shape[0], seed)
    labels = []
    for rows in halves:
        index = torch.from_numpy(rows).to(activations.device)
        try:
            labels.append(scorer.best(take_rows(similarity, rows), activations[index])[0])
        except ValueError as error:
            log.warning("held-out validity and split-half agreement not computed: %s", error)
            return HeldOut.undefined(activations.shape[1])
    folds = [
        _fold(similarity, activations, halves[1], labels[0], alpha),
        _fold(similarity, activations, halves[0], labels[1], alpha),
    ]
    mean = [
        ((folds[0].correlation + folds[1].correlation) / 2).cpu().numpy(),
        ((folds[0].auprc + folds[1].auprc) / 2).cpu().numpy(),
    ]
    null = _permuted_null(folds, int(n_null), int(seed))
    chance = np.full(activations.shape[1], (folds[0].chance + folds[1].chance) / 2)
    return HeldOut(mean[0], mean[1], chance, null[np.isfinite(null)], _agreement(*labels))


def _agreement(first: np.ndarray, second: np.ndarray) -> float:
    return float(np.mean(first == second))
