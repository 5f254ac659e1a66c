"""One layer's reliability: label, bootstrap stability, cross-fitted held-out validity on the
split halves and its permutation null."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..device import DeviceLike, resolve_device
from ..formats import RELIABILITY_COLUMNS, format_stable_concepts
from ..labeling import EmbeddingSimilarity
from ._bootstrap import bootstrap_best, stability, stable_concepts
from ._heldout import DEFAULT_ALPHA, HeldOut, cross_fit
from ._null import bh_q_values, permutation_p_values
from ._scorer import LayerScorer

#: The columns of :func:`label_reliability`'s frame.
FRAME_COLUMNS = [c for c in RELIABILITY_COLUMNS if c not in ("layer", "description")]
#: The held-out columns (:mod:`._heldout`), last in the frame and in the reliability CSV.
HELDOUT_COLUMNS = ("heldout_correlation", "heldout_auprc", "auprc_chance")


@dataclass(frozen=True)
class LayerReliability:
    """Everything the reliability pass computes for one layer (``U`` units, ``B`` resamples)."""

    concept: np.ndarray  # [U] int64: full-probe label (concept index)
    score: np.ndarray  # [U] float32: its score
    p_null: np.ndarray  # [U] float64: held-out correlation against its permutation null
    q_null: np.ndarray  # [U] float64
    null: np.ndarray  # [n_null * U] float64: the pooled permuted held-out correlations
    boot_concept: np.ndarray  # [U, B] int64: best concept per bootstrap resample
    boot_score: np.ndarray  # [U, B] float32
    split_half: float  # share of units whose labels agree on two random probe halves
    heldout_correlation: np.ndarray  # [U] float64, cross-fitted (mean of the two folds)
    heldout_auprc: np.ndarray  # [U] float64
    auprc_chance: np.ndarray  # [U] float64

    def heldout(self) -> dict[str, np.ndarray]:
        """The :data:`HELDOUT_COLUMNS` by name."""
        return {name: getattr(self, name) for name in HELDOUT_COLUMNS}

    def frame(self, concepts: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per unit, :data:`FRAME_COLUMNS`; ``stable_concepts`` names concepts by
        index, or by string when ``concepts`` (the concept list) is given."""
        return unit_frame(
            self.concept,
            self.score,
            self.p_null,
            self.q_null,
            self.boot_concept,
            concepts,
            self.heldout(),
        )


def unit_frame(
    concept, score, p_null, q_null, boot_concept, concepts=None, heldout=None
) -> pd.DataFrame:
    """The per-unit frame of :class:`LayerReliability` from its arrays (numpy); ``heldout``
    maps :data:`HELDOUT_COLUMNS` to ``[U]`` arrays (NaN when not given)."""
    heldout = heldout or {}
    nan = np.full(len(concept), np.nan)
    stable = stable_concepts(boot_concept)
    if concepts is not None:
        stable = [[(concepts[c], share) for c, share in pairs] for pairs in stable]
    return pd.DataFrame(
        {
            "unit": np.arange(len(concept), dtype=np.int64),
            "concept": np.asarray(concept, dtype=np.int64),
            "score": np.asarray(score, dtype=np.float32),
            "p_null": np.asarray(p_null, dtype=np.float64),
            "q_null": np.asarray(q_null, dtype=np.float64),
            "stability": stability(concept, boot_concept),
            "stable_concepts": [format_stable_concepts(pairs) for pairs in stable],
            **{name: np.asarray(heldout.get(name, nan), np.float64) for name in HELDOUT_COLUMNS},
        },
        columns=FRAME_COLUMNS,
    )


def _as_similarity(similarity: Any) -> Any:
    if isinstance(similarity, EmbeddingSimilarity):
        return similarity
    t = torch.as_tensor(similarity)
    return (
        t.float() if t.dtype in (torch.float16, torch.bfloat16) or not t.is_floating_point() else t
    )


def _as_activations(activations: Any, device: torch.device) -> torch.Tensor:
    t = torch.as_tensor(activations)
    if t.dtype != torch.float64:
        t = t.float()
    return t.to(device)


def assess_layer(
    similarity: Any,
    activations: Any,
    *,
    method: str = "soft_wpmi",
    params: dict[str, Any] | None = None,
    n_null: int = 10,
    n_boot: int = 20,
    seed: int = 0,
    alpha: float = DEFAULT_ALPHA,
    device: DeviceLike = "auto",
) -> LayerReliability:
    """The reliability of one layer's labels (see :func:`label_reliability`)."""
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"reliability alpha={alpha} must lie strictly between 0 and 1")
    dev = resolve_device(device)
    scorer = LayerScorer.build(method, params, dev)
    sims, acts = _as_similarity(similarity), _as_activations(activations, dev)
    if sims.shape[0] != acts.shape[0]:
        raise ValueError(
            f"similarity has {sims.shape[0]} images but activations have {acts.shape[0]}; "
            "both must index the same probe images"
        )
    concept, score, raw = scorer.best(sims, acts)
    del raw
    heldout: HeldOut = cross_fit(scorer, sims, acts, int(seed), float(alpha), int(n_null))
    p_null = permutation_p_values(heldout.correlation, heldout.null)
    boot_concept, boot_score = bootstrap_best(scorer, sims, acts, int(n_boot), int(seed))
    return LayerReliability(
        concept=concept.astype(np.int64),
        score=score,
        p_null=p_null,
        q_null=bh_q_values(p_null),
        null=heldout.null,
        boot_concept=boot_concept,
        boot_score=boot_score,
        split_half=heldout.split_half,
        heldout_correlation=heldout.correlation,
        heldout_auprc=heldout.auprc,
        auprc_chance=heldout.chance,
    )


def label_reliability(similarity: Any, activations: Any, **options: Any) -> pd.DataFrame:
    """How far each label of one layer can be trusted: one row per unit.

    ``similarity`` is ``[images, concepts]`` (a tensor, a numpy array or a
    :class:`~vitconcepts.labeling.EmbeddingSimilarity`), ``activations`` ``[images, units]``;
    ``options`` the keywords of :func:`assess_layer` (``method``, ``params``, ``n_null``,
    ``n_boot``, ``seed``, ``alpha``, ``device``, same defaults): ``method``/``params`` any method of
    :data:`vitconcepts.labeling.METHODS` and its params, as in ``label_units``; ``device`` as
    ``labeling.device`` (``auto``: CUDA when present).

    Columns :data:`FRAME_COLUMNS`: ``unit``; ``concept`` (index of the label on the full
    probe) and ``score``; ``p_null`` (the cross-fitted held-out correlation against its
    permutation null over ``n_null`` repeats, pooled over the layer's units: see
    :mod:`._heldout`), ``q_null`` (Benjamini-Hochberg over the layer's units); ``stability``
    (share of ``n_boot`` bootstrap resamples of the images whose best concept is the label)
    and ``stable_concepts`` (the concepts best in >= 10 % of resamples with their shares, a
    cell of :func:`vitconcepts.formats.format_stable_concepts` with concept indices);
    ``heldout_correlation``, ``heldout_auprc``, ``auprc_chance`` (label chosen on one split
    half, scored on the other, mean of the two folds; positives of the AUPRC: each unit's
    top ``alpha`` held-out images). NaN where undefined (a half smaller than ``top_k``, a
    constant unit). Deterministic for a given ``seed`` and device.
    """
    return assess_layer(similarity, activations, **options).frame()
