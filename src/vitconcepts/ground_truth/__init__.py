"""Human annotations as ground truth: every label scored against Broden's annotated concepts.

Broden (NetDissect's ``broden1_224``, part of the paper's probe) marks colours, objects,
parts, materials, scenes and textures in 63,305 photos. This stage reads those annotations at
image level (:func:`broden_presence`, cached by rule ``broden_presence`` in a presence file of
:mod:`vitconcepts.formats`), scores each unit's CLIP-Dissect label against them and finds the
Broden concept that best explains the unit, NetDissect's answer (:func:`score_labels`,
:func:`score_model`), and summarises both per layer and category
(:func:`summarise_ground_truth`; :func:`summarise_published` for labels without activations).

Modules: :mod:`._broden` (reading the folder), :mod:`._scoring` (pure numpy scores),
:mod:`._steps` (the rules' steps, rows aligned through the probe index), :mod:`._summary`.
"""

from ._broden import (
    INDEX_CATEGORIES,
    broden_presence,
    mask_numbers,
    read_broden_index,
    read_broden_labels,
    strip_suffix,
)
from ._scoring import (
    SCORE_COLUMNS,
    average_precision,
    group_names,
    name_lookup,
    normalise,
    score_labels,
    top_images,
)
from ._steps import BRODEN_KINDS, broden_part, broden_rows, build_presence, score_model
from ._summary import SUMMARY_COLUMNS, summarise_ground_truth, summarise_published, synset_matcher

__all__ = [
    "BRODEN_KINDS",
    "INDEX_CATEGORIES",
    "SCORE_COLUMNS",
    "SUMMARY_COLUMNS",
    "average_precision",
    "broden_part",
    "broden_presence",
    "broden_rows",
    "build_presence",
    "group_names",
    "mask_numbers",
    "name_lookup",
    "normalise",
    "read_broden_index",
    "read_broden_labels",
    "score_labels",
    "score_model",
    "strip_suffix",
    "summarise_ground_truth",
    "summarise_published",
    "synset_matcher",
    "top_images",
]
