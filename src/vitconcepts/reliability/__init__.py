"""How far each label can be trusted: a permutation null, bootstrap stability, split halves.

Stages (private modules; the public names are re-exported here):

* ``_resample``: seeded draws (per-unit permutations, bootstrap resamples, split halves);
* ``_scorer``: a labeling method of :mod:`vitconcepts.labeling` bound to its params and
  device, with its concept prior ``lam * log p(c)`` (soft-WPMI, WPMI) kept apart;
* ``_null``: the permutation null, p-values and Benjamini-Hochberg q-values;
* ``_bootstrap``: relabeling on bootstrap resamples, stability, stable concepts, split halves;
* ``_layer``: :func:`label_reliability` / :func:`assess_layer`, one layer (pure, tensors);
* ``_step``: :func:`assess_labels`, the rule step (resumable per layer, CSV + bootstrap file).

Cost: one layer is ``1 + n_null + n_boot + 2`` labelings of it (the label, the null repeats,
the resamples, the two halves), each with the labeling's own device handling and tiling.
"""

from ._bootstrap import (
    STABLE_SHARE,
    bootstrap_best,
    split_half_agreement,
    stability,
    stable_concepts,
)
from ._layer import FRAME_COLUMNS, LayerReliability, assess_layer, label_reliability, unit_frame
from ._null import bh_q_values, null_best_scores, permutation_p_values
from ._scorer import PRIOR_METHODS, LayerScorer
from ._step import assess_labels

__all__ = [
    "FRAME_COLUMNS",
    "PRIOR_METHODS",
    "STABLE_SHARE",
    "LayerReliability",
    "LayerScorer",
    "assess_labels",
    "assess_layer",
    "bh_q_values",
    "bootstrap_best",
    "label_reliability",
    "null_best_scores",
    "permutation_p_values",
    "split_half_agreement",
    "stability",
    "stable_concepts",
    "unit_frame",
]
