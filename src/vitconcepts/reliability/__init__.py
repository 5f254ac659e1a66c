"""How far each label can be trusted: held-out validity (cross-fitted on split halves) and its
permutation null, bootstrap stability.

Stages (private modules; the public names are re-exported here):

* ``_resample``: seeded draws (per-unit permutations, bootstrap resamples, split halves);
* ``_scorer``: a labeling method of :mod:`vitconcepts.labeling` bound to its params and
  device, with its concept prior ``lam * log p(c)`` (soft-WPMI, WPMI) kept apart;
* ``_heldout``: label on one split half, score on the other (held-out correlation, AUPRC,
  its chance level, split-half agreement), the permutation null of the held-out correlation,
  :func:`average_precision`;
* ``_null``: p-values against the pooled null and Benjamini-Hochberg q-values;
* ``_bootstrap``: relabeling on bootstrap resamples, stability, stable concepts;
* ``_layer``: :func:`label_reliability` / :func:`assess_layer`, one layer (pure, tensors);
* ``_step``: :func:`assess_labels`, the rule step (resumable per layer, CSV + bootstrap file).

Cost: one layer is ``1 + n_boot + 2`` labelings of it (the label, the resamples, the two
halves), each with the labeling's own device handling and tiling; the held-out scoring and
its ``n_null`` permutations only touch ``[images, units]`` arrays.
"""

from ._bootstrap import (
    STABLE_SHARE,
    bootstrap_best,
    split_half_agreement,
    stability,
    stable_concepts,
)
from ._heldout import DEFAULT_ALPHA, HeldOut, average_precision, cross_fit
from ._layer import (
    FRAME_COLUMNS,
    HELDOUT_COLUMNS,
    LayerReliability,
    assess_layer,
    label_reliability,
    unit_frame,
)
from ._null import bh_q_values, permutation_p_values
from ._scorer import PRIOR_METHODS, LayerScorer
from ._step import assess_labels

__all__ = [
    "DEFAULT_ALPHA",
    "FRAME_COLUMNS",
    "HELDOUT_COLUMNS",
    "PRIOR_METHODS",
    "STABLE_SHARE",
    "HeldOut",
    "LayerReliability",
    "LayerScorer",
    "assess_labels",
    "assess_layer",
    "average_precision",
    "bh_q_values",
    "bootstrap_best",
    "cross_fit",
    "label_reliability",
    "permutation_p_values",
    "split_half_agreement",
    "stability",
    "stable_concepts",
    "unit_frame",
]
