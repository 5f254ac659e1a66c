"""Scoring unit labels against Broden's annotations at image level (pure numpy).

A unit is a score over the Broden images (its activation); a concept is a target (present or
not in each image). Two views of how well a concept explains a unit:

* the unit binarised at its top-alpha images (the ``k = ceil(alpha x n)`` most activating
  images): precision (share of those images where the concept is present), IoU and F1
  between that image set and the concept's images, the image-level counterpart of
  NetDissect's pixel IoU at its top activation quantile;
* the unit's activation as a ranking: AUPRC (average precision) with presence as the target.

Chance levels: a unit unrelated to a concept has precision and AUPRC near the concept's base
rate (its share of images).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..formats import GROUND_TRUTH_COLUMNS

#: Columns of :func:`score_labels`: the ground-truth CSV's, less its ``layer``.
SCORE_COLUMNS = GROUND_TRUTH_COLUMNS[1:]
UNIT_CHUNK = 256


def normalise(word: str) -> str:
    """Lower case, ``_`` and ``-`` as spaces, single spaces (how names are compared)."""
    return " ".join(str(word).lower().replace("_", " ").split())


def group_names(
    presence: np.ndarray, names: Sequence[str]
) -> tuple[list[str], np.ndarray, list[np.ndarray]]:
    """Concepts by distinct (normalised) name: Broden repeats a name across categories
    (``orange`` colour and fruit); a concept is present where any of its labels is.
    Returns (names, presence ``[image, concept]``, label columns of each concept)."""
    keys = [normalise(n) for n in names]
    unique = list(dict.fromkeys(keys))
    columns = [np.flatnonzero(np.asarray(keys) == key) for key in unique]
    if all(len(c) == 1 for c in columns):
        return unique, np.asarray(presence, dtype=bool), columns
    grouped = np.stack([np.asarray(presence)[:, c].any(axis=1) for c in columns], axis=1)
    return unique, grouped, columns


def name_lookup(
    names: Sequence[str], synonyms: Sequence[Sequence[str]] | None = None
) -> dict[str, str]:
    """{normalised word: Broden name}: every name, then every synonym not itself a name."""
    lookup = {normalise(n): normalise(n) for n in names}
    for name, syns in zip(names, synonyms or [[] for _ in names], strict=True):
        for syn in syns:
            lookup.setdefault(normalise(syn), normalise(name))
    return lookup


def top_images(activations: np.ndarray, alpha: float) -> tuple[np.ndarray, int]:
    """Boolean ``[image, unit]``: each unit's ``k = max(1, ceil(alpha x n))`` most activating
    images (a partial sort, linear in n; ties at the k-th value broken deterministically by
    numpy's introselect); and ``k``."""
    n = activations.shape[0]
    k = min(n, max(1, math.ceil(alpha * n)))
    order = np.argpartition(-activations, k - 1, axis=0)[:k]
    top = np.zeros(activations.shape, dtype=bool)
    np.put_along_axis(top, order, True, axis=0)
    return top, k


def average_precision(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """AUPRC (average precision) of each column: ``scores`` and boolean ``targets``, both
    ``[image, unit]``; NaN where a column has no positive."""
    order = np.argsort(-scores, axis=0, kind="stable")
    hits = np.take_along_axis(targets, order, axis=0)
    ranks = np.arange(1, scores.shape[0] + 1, dtype=np.float64)[:, None]
    precision_at = np.cumsum(hits, axis=0) / ranks
    n_pos = hits.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_pos > 0, (precision_at * hits).sum(axis=0) / n_pos, np.nan)


def _chunk_scores(
    acts: np.ndarray,
    concepts: np.ndarray,
    weights: np.ndarray,
    label_idx: np.ndarray,
    alpha: float,
) -> dict[str, np.ndarray]:
    """Scores of one chunk of units against every concept and against the label's one
    (``weights``: ``concepts`` as float32, for the intersection counts)."""
    n = acts.shape[0]
    top, k = top_images(acts, alpha)
    inter = top.T.astype(np.float32) @ weights  # [unit, concept]: exact counts below 2^24
    size = concepts.sum(axis=0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / (k + size - inter)
    best = np.argmax(iou, axis=1)
    units = np.arange(acts.shape[1])
    has = label_idx >= 0
    idx = np.where(has, label_idx, 0)
    hit = inter[units, idx].astype(np.float64)
    out = {
        "best": best,
        "best_score": iou[units, best],
        "iou": np.where(has, iou[units, idx], np.nan),
        "f1": np.where(has, 2 * hit / (k + size[idx]), np.nan),
        "precision": np.where(has, hit / k, np.nan),
        "base_rate": np.where(has, size[idx] / n, np.nan),
        "auprc": np.full(len(units), np.nan),
    }
    if has.any():
        out["auprc"][has] = average_precision(acts[:, has], concepts[:, idx[has]])
    return out


def score_labels(
    activations: np.ndarray,
    presence: np.ndarray,
    names: Sequence[str],
    labels: Sequence[str],
    *,
    alpha: float = 0.01,
    synonyms: Sequence[Sequence[str]] | None = None,
) -> pd.DataFrame:
    """One row per unit: its label against Broden's human annotations.

    ``activations`` is ``[image, unit]`` over the Broden images, aligned with the rows of
    ``presence`` (bool ``[image, name]``, names as in ``names``; repeated names are one
    concept); ``labels`` the units' CLIP-Dissect labels.

    Columns :data:`SCORE_COLUMNS`: ``broden_name`` is the Broden concept the label names (the
    name or one of its ``synonyms``, case-insensitive; empty when none). ``iou``, ``f1`` and
    ``precision`` binarise the unit at its top-``alpha`` images (``k = ceil(alpha x n)``, at
    least 1): precision is the share of those images where the concept is present, IoU and F1
    compare those images with the concept's. ``auprc`` ranks all images by activation with
    presence as the target. ``base_rate`` is the concept's share of images, the chance level
    of precision and AUPRC. These five are NaN without a ``broden_name``.

    ``best_name``/``best_score``: the concept with the highest image-level IoU against the
    unit's top-alpha images, NetDissect's answer for this unit (NetDissect labels a unit with
    the concept of highest IoU at its top activation quantile, here at image level). IoU is
    one of the scores that pass Neuron Eval's sanity tests (unlike WPMI, AUC or MAD), and it
    penalises both a concept that is far more frequent than the unit's top images (low
    precision of the concept) and one that covers few of them, so a common concept does not
    win by being everywhere; it also costs one matrix product for all 1,197 concepts, where
    AUPRC for every concept would need a sort per unit and concept.
    """
    acts = np.asarray(activations, dtype=np.float32)
    if acts.ndim != 2 or acts.shape[0] != np.shape(presence)[0] or acts.shape[1] != len(labels):
        raise ValueError(
            f"activations {acts.shape} must be [image, unit] with {np.shape(presence)[0]} "
            f"images (presence rows) and {len(labels)} units (labels)"
        )
    concept_names, concepts, _ = group_names(presence, names)
    lookup = name_lookup(names, synonyms)
    position = {name: i for i, name in enumerate(concept_names)}
    broden = [lookup.get(normalise(label), "") for label in labels]
    label_idx = np.array([position.get(b, -1) for b in broden], dtype=np.int64)
    weights = concepts.astype(np.float32)
    parts = [
        _chunk_scores(
            acts[:, s : s + UNIT_CHUNK], concepts, weights, label_idx[s : s + UNIT_CHUNK], alpha
        )
        for s in range(0, acts.shape[1], UNIT_CHUNK)
    ]
    merged = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]} if parts else {}
    frame = pd.DataFrame(
        {
            "unit": np.arange(acts.shape[1], dtype=np.int64),
            "label": [str(x) for x in labels],
            "broden_name": broden,
            **{c: merged.get(c, []) for c in ("iou", "f1", "precision", "auprc", "base_rate")},
            "best_name": [concept_names[i] for i in merged.get("best", [])],
            "best_score": merged.get("best_score", []),
        }
    )
    return frame[list(SCORE_COLUMNS)]
