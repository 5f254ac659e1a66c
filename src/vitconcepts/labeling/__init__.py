"""CLIP-Dissect neuron labeling: similarity functions and the per-layer ``label_units`` step.

Stages (private modules; the public names are re-exported here):

* ``_similarity``: the similarity functions and ``METHODS``, pure math on tensors;
* ``_tiling``: how much device memory a call may use and the tiles it runs in;
* ``_inputs``: reading and cross-checking the step's input files;
* ``_step``: ``label_units``, the rule step (resume, top-k file, label CSV, provenance);
* ``_linear``: ``linear_explanations``, Linear Explanations (Oikarinen & Weng 2024) of one
  layer, pure math on tensors; ``_linear_step``: ``explain_units``, its rule step.

Every similarity function takes ``(similarity, activations, ...)`` where

* ``similarity`` is ``[images, concepts]``: cosine similarities between L2-normalised CLIP
  image embeddings and concept (text) embeddings, before any softmax;
* ``activations`` is ``[images, units]``: one layer's activations on the same images;

and returns a ``[units, concepts]`` score tensor (higher = better description). The
definitions follow CLIP-Dissect (Oikarinen & Weng, ICLR 2023) as used by the paper.

``soft_wpmi`` (the paper's method), per unit ``u`` and concept ``c``::

    P         = softmax_c(a * similarity)                 (rows = images)
    I_u       = the top_k images of u by activation, descending
    p_i       = p_start - (p_start - p_end) * i / top_k,  i = 0 .. top_k-1
    log p(c|u) = sum_i log(1 + p_i * (P[I_u[i], c] - 1) + min_prob)
    log p(c)   = logsumexp_u log p(c|u) - log(#units of the layer)
    score      = log p(c|u) - lam * log p(c)

(``p_i`` is spaced exactly as CLIP-Dissect's ``torch.arange(top_k) / top_k``: it starts at
``p_start`` and steps towards, without reaching, ``p_end``.)

Implementation (no Python loop over units): the top-k image indices of all units are
gathered once; the softmax is computed only for the unique images that occur in some unit's
top-k, one concept chunk at a time, from per-image log-normalisers. Each term is rewritten as
``log(c_i) + log(1 + r_i * P)`` with ``c_i = 1 - p_i + min_prob`` and ``r_i = p_i / c_i``;
the constant ``sum_i log c_i`` cancels in the score for ``lam = 1`` (it is added back as
``(1 - lam) * sum_i log c_i``), and ``sum_i log(1 + r_i P)`` is accumulated as a running
*product* over ranks (one fused multiply-add per element and rank) with a logarithm taken only
when the product could overflow (group size derived from the largest factor). This is exact
up to floating-point rounding and more accurate than the direct formula, whose
``1 + p_i (P - 1)`` cancels catastrophically in float32. Units are processed in blocks
whose size follows the available memory (``psutil`` on CPU, ``torch.cuda.mem_get_info`` on
CUDA).
"""

from ..device import DeviceLike, resolve_device
from ._inputs import LabelingInputs, file_identity, hash_strings, load_inputs, scorer_note
from ._linear import LINEAR_COLUMNS, label_correlation, linear_explanations, probe_split
from ._linear_step import explain_units
from ._similarity import (
    LAZY_METHODS,
    METHODS,
    EmbeddingSimilarity,
    cos_similarity,
    cos_similarity_cubed,
    rank_reorder,
    soft_wpmi,
    top_image_indices,
    wpmi,
)
from ._step import (
    check_counts,
    finish_step,
    label_units,
    layer_activations,
    method_and_params,
    probe_similarity,
)
from ._tiling import (
    CPU_CONCEPT_CHUNK,
    CPU_TILE_ELEMENTS,
    CUDA_CONCEPT_CHUNK,
    CUDA_TILE_ELEMENTS,
    MEMORY_FRACTION,
    free_memory_bytes,
    log_memory_plan,
    memory_plan,
)

__all__ = [
    "CPU_CONCEPT_CHUNK",
    "CPU_TILE_ELEMENTS",
    "CUDA_CONCEPT_CHUNK",
    "CUDA_TILE_ELEMENTS",
    "LAZY_METHODS",
    "LINEAR_COLUMNS",
    "MEMORY_FRACTION",
    "METHODS",
    "DeviceLike",
    "EmbeddingSimilarity",
    "LabelingInputs",
    "check_counts",
    "explain_units",
    "finish_step",
    "cos_similarity",
    "cos_similarity_cubed",
    "file_identity",
    "free_memory_bytes",
    "hash_strings",
    "label_correlation",
    "label_units",
    "layer_activations",
    "linear_explanations",
    "load_inputs",
    "log_memory_plan",
    "memory_plan",
    "method_and_params",
    "probe_similarity",
    "probe_split",
    "rank_reorder",
    "resolve_device",
    "scorer_note",
    "soft_wpmi",
    "top_image_indices",
    "wpmi",
]
