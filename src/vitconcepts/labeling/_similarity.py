"""CLIP-Dissect similarity functions: pure math on tensors (no file I/O).

Each takes ``(similarity [images, concepts], activations [images, units], ...)`` and returns
``[units, concepts]`` scores; the formulas are in the package docstring. Tile sizes come from
:mod:`._tiling`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from ..device import DeviceLike
from ._tiling import (
    TOPK_BLOCK_BYTES,
    blocks,
    fixed_bytes,
    free_memory_bytes,
    plan_blocks,
    tile_workers,
)


def _as_float(x: Tensor | np.ndarray, device: torch.device) -> Tensor:
    """A float32/float64 tensor on ``device`` (half precision is promoted to float32)."""
    t = torch.as_tensor(x)
    if not t.is_floating_point() or t.dtype in (torch.float16, torch.bfloat16):
        t = t.float()
    return t.to(device)


class EmbeddingSimilarity:
    """``image_emb @ concept_emb.T`` without materialising it: rows are computed on demand.

    The top-k similarity functions (:func:`soft_wpmi`, :func:`wpmi`) only read the rows of
    images in some unit's top-k, through ``index_select(0, rows)`` (optionally after a
    concept slice ``[:, c0:c1]``). Passing this object instead of the ``[images, concepts]``
    tensor keeps their memory to those rows: for the paper's probe the full matrix alone is
    113,305 x 20,000 float32 = 9 GB. Results equal the dense path up to float rounding.
    """

    ndim = 2

    def __init__(self, image_emb: Tensor, concept_emb: Tensor) -> None:
        self.image_emb = image_emb
        self.concept_emb = concept_emb
        self.shape = torch.Size((image_emb.shape[0], concept_emb.shape[0]))
        self.device = image_emb.device
        self.dtype = torch.promote_types(image_emb.dtype, concept_emb.dtype)

    def index_select(self, dim: int, rows: Tensor) -> Tensor:
        if dim != 0:
            raise ValueError("EmbeddingSimilarity selects rows (dim 0) only")
        return self.image_emb.index_select(0, rows) @ self.concept_emb.T

    def __getitem__(self, key: tuple[slice, slice]) -> EmbeddingSimilarity:
        rows, columns = key
        if rows != slice(None) or not isinstance(columns, slice):
            raise TypeError("EmbeddingSimilarity supports [:, c0:c1] only")
        return EmbeddingSimilarity(self.image_emb, self.concept_emb[columns])


LAZY_METHODS = ("soft_wpmi", "wpmi")


def _check_inputs(similarity: Tensor, activations: Tensor) -> None:
    if similarity.ndim != 2 or activations.ndim != 2:
        raise ValueError(
            f"similarity must be [images, concepts] and activations [images, units]; got "
            f"shapes {tuple(similarity.shape)} and {tuple(activations.shape)}"
        )
    if similarity.shape[0] != activations.shape[0]:
        raise ValueError(
            f"similarity has {similarity.shape[0]} images but activations have "
            f"{activations.shape[0]}; both must index the same probe images"
        )


def top_image_indices(activations: Tensor, k: int, device: DeviceLike = None) -> Tensor:
    """``[units, k]`` indices of each unit's k most activating images, descending, on
    ``device`` (default: where ``activations`` are).

    In unit blocks of :data:`TOPK_BLOCK_BYTES`: top-k along dim 0 of a wide matrix would
    otherwise copy all of it, and a host-side layer (36,864 ``mlp`` units of a ViT-B over the
    paper's probe are 16.7 GB) never moves to the device whole, only a block at a time.
    """
    n_images = activations.shape[0]
    if not 1 <= k <= n_images:
        raise ValueError(f"top_k={k} must be between 1 and the number of images ({n_images})")
    dev = torch.device(device) if device is not None else activations.device
    step = max(1, TOPK_BLOCK_BYTES // max(1, n_images * activations.element_size()))
    return torch.cat(
        [
            torch.topk(
                activations[:, u0:u1].to(dev), k=k, dim=0, largest=True, sorted=True
            ).indices.T
            for u0, u1 in blocks(activations.shape[1], step)
        ]
    ).contiguous()


def _row_logsumexp(
    similarity: Tensor, rows: Tensor, a: float, device: torch.device, dtype: torch.dtype
) -> Tensor:
    """``logsumexp_c(a * similarity[rows, c])`` computed in row blocks that fit in memory."""
    n_concepts = similarity.shape[1]
    per_row = max(1, 3 * n_concepts * torch.finfo(dtype).bits // 8)
    step = int(max(1, min(len(rows), free_memory_bytes(device) // per_row, 1024)))
    out = torch.empty(len(rows), dtype=dtype, device=device)
    for r0, r1 in blocks(len(rows), step):
        block = similarity.index_select(0, rows[r0:r1].to(similarity.device))
        block = block.to(device=device, dtype=dtype)
        out[r0:r1] = torch.logsumexp(block.mul_(a), dim=1)
    return out


def _softmax_chunk(
    similarity: Tensor,
    rows: Tensor,
    lse: Tensor,
    a: float,
    c0: int,
    c1: int,
    device: torch.device,
    dtype: torch.dtype,
) -> Tensor:
    """``softmax_c(a * similarity)[rows, c0:c1]`` as a contiguous ``[len(rows), c1-c0]``."""
    chunk = similarity[:, c0:c1].index_select(0, rows.to(similarity.device))
    chunk = chunk.to(device=device, dtype=dtype)
    return chunk.mul_(a).sub_(lse[:, None]).exp_()


def _log_prior_normalise(log_p_c_given_u: Tensor, lam: float) -> Tensor:
    """In place: ``log p(c|u) - lam * (logsumexp_u log p(c|u) - log U)``."""
    n_units, n_concepts = log_p_c_given_u.shape
    # in column blocks: logsumexp materialises a temporary as large as its input
    step = max(1, (64 << 20) // max(1, n_units * log_p_c_given_u.element_size()))
    for c0, c1 in blocks(n_concepts, step):
        block = log_p_c_given_u[:, c0:c1]
        log_p_c = torch.logsumexp(block, dim=0) - math.log(n_units)
        block.sub_(log_p_c[None, :], alpha=lam)
    return log_p_c_given_u


def _reserved_bytes(
    similarity: Tensor, n_units: int, top_k: int, n_rows: int, itemsize: int
) -> float:
    """The fixed device bytes of a top-k method (:func:`._tiling.fixed_bytes`), plus a dense
    similarity matrix when one was passed, plus the embedding rows of a softmax chunk."""
    n_images, n_concepts = similarity.shape
    lazy = isinstance(similarity, EmbeddingSimilarity)
    dim = similarity.image_emb.shape[1] if lazy else 0
    fixed = sum(fixed_bytes(n_images, n_concepts, n_units, dim, top_k, itemsize).values())
    dense = 0.0 if lazy else float(itemsize) * n_images * n_concepts
    return fixed + dense + float(itemsize) * n_rows * dim


def _top_k_setup(
    similarity: Tensor,
    activations: Tensor,
    top_k: int,
    a: float,
    device: DeviceLike,
    block_units: int | None,
) -> tuple[torch.device, torch.dtype, Tensor, Tensor, Tensor, int, int, Tensor]:
    """Shared start of the top-k methods: device, dtype, each unit's top-k images as indices
    ``inv [U, k]`` into the sorted unique images ``uniq``, the softmax normaliser ``lse`` of
    those rows, the unit block / concept chunk sizes and the empty result ``[U, C]``."""
    _check_inputs(similarity, activations)
    dev = torch.device(device) if device is not None else similarity.device
    dtype = torch.float64 if similarity.dtype == torch.float64 else torch.float32
    inds = top_image_indices(activations, top_k, dev)  # [U, k]; the layer stays where it is
    uniq, inv = torch.unique(inds, sorted=True, return_inverse=True)
    lse = _row_logsumexp(similarity, uniq, a, dev, dtype)
    itemsize = torch.finfo(dtype).bits // 8
    b_units, chunk = plan_blocks(
        activations.shape[1],
        similarity.shape[1],
        len(uniq),
        itemsize,
        dev,
        block_units,
        reserved=_reserved_bytes(similarity, activations.shape[1], top_k, len(uniq), itemsize),
    )
    out = torch.empty(activations.shape[1], similarity.shape[1], dtype=dtype, device=dev)
    return dev, dtype, uniq, inv, lse, b_units, chunk, out


def soft_wpmi(
    similarity: Tensor,
    activations: Tensor,
    top_k: int = 100,
    a: float = 10,
    lam: float = 1,
    p_start: float = 0.998,
    p_end: float = 0.97,
    min_prob: float = 1e-7,
    device: DeviceLike = None,
    block_units: int | None = None,
) -> Tensor:
    """SoftWPMI scores ``[units, concepts]`` (CLIP-Dissect's default; formula in the module doc).

    ``device`` (default: the device of ``similarity``) is where the work runs and where the
    result lives; inputs may live elsewhere. ``block_units`` overrides the memory-derived
    unit block (the result does not depend on it beyond rounding).
    """
    p = p_start - torch.arange(top_k, dtype=torch.float64) / top_k * (p_start - p_end)
    c = 1.0 - p + min_prob
    if not (torch.all(p > 0) and torch.all(c > 0)):
        raise ValueError(
            f"p_start={p_start}, p_end={p_end}, min_prob={min_prob}: every p_i must lie in "
            "(0, 1 + min_prob) so that each term's argument stays positive"
        )
    r = (p / c).tolist()
    log_c_sum = float(torch.log(c).sum())
    r_max = max(r)

    dev, dtype, uniq, inv, lse, b_units, chunk, out = _top_k_setup(
        similarity, activations, top_k, a, device, block_units
    )
    n_units, n_concepts = out.shape
    inv_t = inv.T.contiguous()  # [k, U]: rank-major, so each rank's indices are contiguous
    # product groups stay below this bound, far from overflow
    log_limit = math.log(1e30 if dtype == torch.float32 else 1e300)
    unit_blocks = list(blocks(n_units, b_units))

    def run_tiles(todo: list[tuple[int, int]], probs: Tensor, c0: int, group: int) -> None:
        """log p(c|u) - sum_i log c_i for the unit blocks ``todo`` and concepts ``c0:c0+w``."""
        w = probs.shape[1]
        acc = torch.empty(b_units, w, dtype=dtype, device=dev)
        buf = torch.empty_like(acc)
        for u0, u1 in todo:
            a_t, b_t = acc[: u1 - u0], buf[: u1 - u0]
            total = out[u0:u1, c0 : c0 + w]
            for g0 in range(0, top_k, group):
                a_t.fill_(1)
                for i in range(g0, min(top_k, g0 + group)):
                    torch.index_select(probs, 0, inv_t[i, u0:u1], out=b_t)
                    a_t.addcmul_(a_t, b_t, value=r[i])  # acc *= 1 + r_i * P
                if g0 == 0:
                    torch.log(a_t, out=total)
                else:
                    total.add_(a_t.log_())

    with tile_workers(dev) as pool:
        for c0, c1 in blocks(n_concepts, chunk):
            probs = _softmax_chunk(similarity, uniq, lse, a, c0, c1, dev, dtype)  # [M, w]
            p_max = float(probs.max())
            group = max(1, int(log_limit // math.log1p(r_max * p_max))) if p_max > 0 else top_k
            pool.map(run_tiles, unit_blocks, probs, c0, group)
            del probs
    _log_prior_normalise(out, lam)
    if lam != 1:
        out.add_((1.0 - lam) * log_c_sum)
    return out


def wpmi(
    similarity: Tensor,
    activations: Tensor,
    top_k: int = 28,
    a: float = 2,
    lam: float = 0.6,
    min_prob: float = 1e-7,
    device: DeviceLike = None,
    block_units: int | None = None,
) -> Tensor:
    """WPMI scores ``[units, concepts]`` (CLIP-Dissect's defaults ``top_k=28, a=2, lam=0.6``).

    ``log p(c|u) = sum_{i<top_k} log(P[I_u[i], c] + min_prob)`` with ``P`` the row softmax of
    ``a * similarity``; ``score = log p(c|u) - lam * (logsumexp_u log p(c|u) - log U)``.
    """
    dev, dtype, uniq, inv, lse, b_units, chunk, out = _top_k_setup(
        similarity, activations, top_k, a, device, block_units
    )
    n_units, n_concepts = out.shape
    for c0, c1 in blocks(n_concepts, chunk):
        log_probs = _softmax_chunk(similarity, uniq, lse, a, c0, c1, dev, dtype)
        log_probs.add_(min_prob).log_()
        for u0, u1 in blocks(n_units, b_units):
            # fused gather-and-sum of each unit's top-k rows
            out[u0:u1, c0:c1] = torch.nn.functional.embedding_bag(inv[u0:u1], log_probs, mode="sum")
    return _log_prior_normalise(out, lam)


def _normalise_columns(x: Tensor, min_norm: float = 0.0) -> Tensor:
    norm = torch.linalg.vector_norm(x, ord=2, dim=0, keepdim=True)
    if min_norm > 0:
        norm = norm.clamp_min(min_norm)
    return x / norm


def _blocked_matmul_t(left: Tensor, right: Tensor, dev: torch.device) -> Tensor:
    """``left.T @ right`` for ``left [N, U]``, ``right [N, C]``, computed in unit blocks."""
    n_units, n_concepts = left.shape[1], right.shape[1]
    itemsize = torch.finfo(right.dtype).bits // 8
    step = int(max(1, min(n_units, free_memory_bytes(dev) // max(1, 2 * n_concepts * itemsize))))
    out = torch.empty(n_units, n_concepts, dtype=right.dtype, device=dev)
    for u0, u1 in blocks(n_units, step):
        torch.matmul(left[:, u0:u1].T, right, out=out[u0:u1])
    return out


def cos_similarity(similarity: Tensor, activations: Tensor, device: DeviceLike = None) -> Tensor:
    """Cosine similarity over images between each unit's activations and each concept's
    similarity column (both L2-normalised over images, no centring), ``[units, concepts]``."""
    _check_inputs(similarity, activations)
    dev = torch.device(device) if device is not None else similarity.device
    sims = _normalise_columns(_as_float(similarity, dev))
    acts = _normalise_columns(_as_float(activations, dev).to(sims.dtype))
    return _blocked_matmul_t(acts, sims, dev)


def cos_similarity_cubed(
    similarity: Tensor, activations: Tensor, min_norm: float = 1e-3, device: DeviceLike = None
) -> Tensor:
    """CLIP-Dissect's cos-cubed: centre each column over images, cube it, L2-normalise it
    (norm clamped at ``min_norm``), then cosine similarity as in :func:`cos_similarity`."""
    _check_inputs(similarity, activations)
    dev = torch.device(device) if device is not None else similarity.device
    sims = _as_float(similarity, dev)
    acts = _as_float(activations, dev).to(sims.dtype)
    sims = _normalise_columns((sims - sims.mean(dim=0, keepdim=True)) ** 3, min_norm)
    acts = _normalise_columns((acts - acts.mean(dim=0, keepdim=True)) ** 3, min_norm)
    return _blocked_matmul_t(acts, sims, dev)


def rank_reorder(
    similarity: Tensor,
    activations: Tensor,
    p: float = 3,
    top_fraction: float = 0.05,
    scale_p: float = 0.5,
    device: DeviceLike = None,
    block_units: int | None = None,
) -> Tensor:
    """CLIP-Dissect's rank-reorder score ``[units, concepts]`` (higher = better).

    For unit ``u`` take its ``n = int(top_fraction * images)`` top images with activations
    ``t_0 >= ... >= t_{n-1}``. For concept ``c``, give image ``j`` the activation value whose
    rank among ``t`` equals the rank of ``similarity[I_u[j], c]`` among those images' CLIP
    similarities (``reorg``). ``error = mean_j |t_j - reorg_j|^p / baseline / mean_j(sim)^scale_p``
    and the score is ``-error``. CLIP-Dissect estimates ``baseline`` from 5 random
    permutations of ``t``; here it is that estimator's exact expectation
    ``mean_{j,l} |t_j - t_l|^p`` (deterministic, same expected value).
    """
    _check_inputs(similarity, activations)
    dev = torch.device(device) if device is not None else similarity.device
    sims_all = _as_float(similarity, dev)
    dtype = sims_all.dtype
    n_images, n_concepts = sims_all.shape
    n_units = activations.shape[1]
    n_top = int(n_images * top_fraction)
    if n_top < 2:
        raise ValueError(
            f"rank_reorder needs int(top_fraction * images) >= 2; got top_fraction="
            f"{top_fraction} with {n_images} images"
        )
    acts = _as_float(activations, dev).to(dtype)
    top_vals, top_idx = torch.topk(acts, k=n_top, dim=0, largest=True, sorted=True)  # [n, U]
    top_vals, top_idx = top_vals.T.contiguous(), top_idx.T.contiguous()  # [U, n]
    ascending = top_vals.flip(1)
    itemsize = torch.finfo(dtype).bits // 8
    per_unit = 6 * n_top * n_concepts * itemsize + 2 * n_top * n_top * itemsize
    step = block_units or int(max(1, free_memory_bytes(dev) // per_unit))
    out = torch.empty(n_units, n_concepts, dtype=dtype, device=dev)
    for u0, u1 in blocks(n_units, min(step, n_units)):
        vals, asc = top_vals[u0:u1], ascending[u0:u1]  # [B, n]
        baseline = (vals[:, :, None] - vals[:, None, :]).abs_().pow_(p).mean(dim=(1, 2))
        sims = sims_all[top_idx[u0:u1]]  # [B, n, C]
        avg = sims.mean(dim=1)  # [B, C]
        ranks = torch.argsort(torch.argsort(sims, dim=1, stable=True), dim=1, stable=True)
        del sims
        reorg = torch.gather(asc[:, :, None].expand(-1, -1, n_concepts), 1, ranks)
        del ranks
        err = (vals[:, :, None] - reorg).abs_().pow_(p).mean(dim=1)
        out[u0:u1] = -(err / baseline[:, None] / avg.pow(scale_p))
    return out


METHODS: dict[str, Callable[..., Tensor]] = {
    "soft_wpmi": soft_wpmi,
    "wpmi": wpmi,
    "cos_similarity": cos_similarity,
    "cos_similarity_cubed": cos_similarity_cubed,
    "rank_reorder": rank_reorder,
}
