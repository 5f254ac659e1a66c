"""The paper's claims, tested one by one (``paper/tables/claims.csv``, the PDF's first section).

Public names:

* :class:`ClaimRoles`, :func:`claims_table` (label frames in, :data:`CLAIM_COLUMNS` out),
  :func:`claims_from_files` (the rule's entry: label CSVs, category table, bootstrap files,
  Linear Explanations CSVs);
* the second labeler (:mod:`vitconcepts.claims._labelers`): :func:`linear_frame` (LE's label
  frame), :func:`unit_resamples` (its intervals: units resampled within each layer),
  :func:`combine_labelers` / :func:`flag_agreement` (``labelers_agree``: a claim that holds
  under one labeler only);
* :func:`verdict` (holds / contradicted / inconclusive from a value and its interval);
* the statistics (:mod:`vitconcepts.claims._statistics`): :func:`early_minus_late`,
  :func:`concepts_depth_rho`, :func:`last_layer_concepts`, :func:`late_share`,
  :func:`cramers_v`, :func:`pretraining_v`, :func:`permutation_null`, :func:`edge_layers`;
* :func:`table_claims` / :func:`claims_sentences`: the LaTeX table and the generated sentences.
"""

from ._files import boot_resamples, claims_from_files
from ._labelers import flag_agreement, linear_frame, unit_resamples
from ._statistics import (
    DATASET_CATEGORIES,
    EARLY_CATEGORIES,
    LATE_CATEGORIES,
    concepts_depth_rho,
    cramers_v,
    early_minus_late,
    edge_layers,
    last_layer_concepts,
    late_share,
    permutation_null,
    pretraining_v,
)
from ._table import CLAIM_COLUMNS, CLAIMS, LABELERS, ClaimRoles, claims_table, combine_labelers
from ._tex import claims_sentences, table_claims, write_claims_tex
from ._verdict import VERDICTS, verdict

__all__ = [
    "CLAIMS",
    "CLAIM_COLUMNS",
    "DATASET_CATEGORIES",
    "EARLY_CATEGORIES",
    "LABELERS",
    "LATE_CATEGORIES",
    "VERDICTS",
    "ClaimRoles",
    "boot_resamples",
    "claims_from_files",
    "claims_sentences",
    "claims_table",
    "combine_labelers",
    "concepts_depth_rho",
    "cramers_v",
    "early_minus_late",
    "edge_layers",
    "flag_agreement",
    "last_layer_concepts",
    "late_share",
    "linear_frame",
    "permutation_null",
    "pretraining_v",
    "table_claims",
    "unit_resamples",
    "verdict",
    "write_claims_tex",
]
