"""CLIP-Dissect neuron labeling: similarity functions and the per-layer ``label_units`` step.

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

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import torch
from torch import Tensor

from .errors import ConfigError, InputDataError

log = logging.getLogger(__name__)

DeviceLike = str | torch.device | None

#: Concept-chunk width on CPU (columns of the softmax held at once); tiles stay in cache.
CPU_CONCEPT_CHUNK = 1024
#: Elements of one (unit block x concept chunk) tile on CPU (~512 KiB per float32 buffer).
CPU_TILE_ELEMENTS = 1 << 17
#: Same on CUDA, where big tiles keep the GPU busy.
CUDA_CONCEPT_CHUNK = 8192
CUDA_TILE_ELEMENTS = 1 << 25
#: Fraction of the free memory one call may plan to use.
MEMORY_FRACTION = 0.5


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def resolve_device(device: DeviceLike = "auto") -> torch.device:
    """``'auto'`` -> CUDA when available else CPU; anything else -> ``torch.device(device)``."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def free_memory_bytes(device: torch.device) -> int:
    """Memory this process may plan to use on ``device`` (free memory x MEMORY_FRACTION)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
    else:
        free = psutil.virtual_memory().available
    return int(free * MEMORY_FRACTION)


def memory_plan(
    device: torch.device, n_images: int, n_concepts: int, n_units: int, dim: int, top_k: int = 100
) -> dict[str, float]:
    """Bytes one ``label_units`` layer plans to hold on ``device`` (float32), worst case.

    ``embeddings`` (images + concepts), ``activations`` (one layer), ``scores``
    (``[units, concepts]``), ``softmax_chunk`` (rows of the unique top-k images x one concept
    chunk) and ``tiles``; ``budget`` is what the block planner may use (free x fraction).
    """
    budget = free_memory_bytes(device)
    rows = min(n_images, n_units * top_k)
    unit_block, chunk = _plan_blocks(n_units, n_concepts, rows, 4, device)
    plan = {
        "embeddings": 4.0 * (n_images + n_concepts) * dim,
        "activations": 4.0 * n_images * n_units,
        "scores": 4.0 * n_units * n_concepts,
        "softmax_chunk": 4.0 * rows * chunk,
        "tiles": 4.0 * 3 * unit_block * chunk,
    }
    plan["total"] = sum(plan.values())
    plan["budget"] = float(budget)
    plan["unit_block"], plan["concept_chunk"] = float(unit_block), float(chunk)
    return plan


def log_memory_plan(
    device: torch.device, n_images: int, n_concepts: int, n_units: int, dim: int
) -> dict[str, float]:
    """Print :func:`memory_plan` (GB) before labeling starts."""
    plan = memory_plan(device, n_images, n_concepts, n_units, dim)
    parts = ", ".join(
        f"{k} {v / 1e9:.2f} GB" for k, v in plan.items() if k not in ("unit_block", "concept_chunk")
    )
    message = (
        f"label_units on {device}: {n_images} images x {n_concepts} concepts x {n_units} units "
        f"per layer; memory bound {parts}; unit block {int(plan['unit_block'])}, concept chunk "
        f"{int(plan['concept_chunk'])}"
    )
    log.info(message)
    print(message, flush=True)
    return plan


def _plan_blocks(
    n_units: int,
    n_concepts: int,
    n_rows: int,
    itemsize: int,
    device: torch.device,
    block_units: int | None = None,
    concept_chunk: int | None = None,
) -> tuple[int, int]:
    """(unit block, concept chunk) for tiles of ``n_units x n_concepts`` over ``n_rows`` images.

    Defaults are cache-sized tiles (CPU) or large tiles (CUDA), shrunk when the free memory
    cannot hold the softmax chunk ``[n_rows, chunk]`` plus three tiles.
    """
    budget = free_memory_bytes(device)
    if device.type == "cuda":
        chunk, tile = CUDA_CONCEPT_CHUNK, CUDA_TILE_ELEMENTS
    else:
        chunk, tile = CPU_CONCEPT_CHUNK, CPU_TILE_ELEMENTS
    chunk = concept_chunk or chunk
    # the softmax chunk and its temporary: 2 * n_rows * chunk elements, at most half the budget
    chunk_mem = max(1, budget // (4 * max(n_rows, 1) * itemsize))
    chunk = int(max(1, min(chunk, n_concepts, chunk_mem)))
    if block_units is None:
        tile_mem = max(1, budget // (2 * 4 * itemsize))  # acc, buffer, total, output slice
        block_units = max(1, min(tile, tile_mem) // chunk)
    return int(max(1, min(block_units, n_units))), chunk


def _blocks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(n, start + size)


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


def top_image_indices(activations: Tensor, k: int) -> Tensor:
    """``[units, k]`` indices of each unit's k most activating images, descending."""
    n_images = activations.shape[0]
    if not 1 <= k <= n_images:
        raise ValueError(f"top_k={k} must be between 1 and the number of images ({n_images})")
    # in unit blocks: top-k along dim 0 of a wide matrix would otherwise copy all of it
    step = max(1, (64 << 20) // max(1, n_images * activations.element_size()))
    return torch.cat(
        [
            torch.topk(activations[:, u0:u1], k=k, dim=0, largest=True, sorted=True).indices.T
            for u0, u1 in _blocks(activations.shape[1], step)
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
    for r0, r1 in _blocks(len(rows), step):
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
    for c0, c1 in _blocks(n_concepts, step):
        block = log_p_c_given_u[:, c0:c1]
        log_p_c = torch.logsumexp(block, dim=0) - math.log(n_units)
        block.sub_(log_p_c[None, :], alpha=lam)
    return log_p_c_given_u


class _TilePool:
    """Runs tile work on unit blocks: inline on CUDA, on ``n`` single-threaded workers on CPU.

    On CPU, the many small tile operations are spread over Python threads that each run
    torch single-threaded (torch releases the GIL inside kernels) instead of one intra-op
    parallel region per operation: no per-operation thread synchronisation, which otherwise
    dominates (and stalls badly when other processes share the cores). Each output element
    is computed by the same operation sequence whichever worker runs it (deterministic).
    """

    def __init__(self, n_workers: int) -> None:
        self.n = n_workers
        self.executor = None
        if n_workers > 1:
            from concurrent.futures import ThreadPoolExecutor

            self.executor = ThreadPoolExecutor(
                n_workers, initializer=torch.set_num_threads, initargs=(1,)
            )

    def map(self, fn: Callable[..., None], blocks: list[tuple[int, int]], *args: Any) -> None:
        if self.executor is None:
            fn(blocks, *args)
            return
        futures = [self.executor.submit(fn, blocks[w :: self.n], *args) for w in range(self.n)]
        for future in futures:
            future.result()


@contextmanager
def _tile_workers(device: torch.device) -> Iterator[_TilePool]:
    threads = torch.get_num_threads()
    pool = _TilePool(threads if device.type == "cpu" else 1)
    try:
        yield pool
    finally:
        if pool.executor is not None:
            pool.executor.shutdown(wait=True)
        torch.set_num_threads(threads)  # the workers' initializer changed the global setting


# --------------------------------------------------------------------------------------------
# similarity functions (public API: keep names and argument order)
# --------------------------------------------------------------------------------------------


def _top_k_setup(
    similarity: Tensor,
    activations: Tensor,
    top_k: int,
    a: float,
    device: DeviceLike,
    block_units: int | None,
) -> tuple[torch.device, torch.dtype, Tensor, Tensor, Tensor, int, int]:
    """Shared start of the top-k methods: device, dtype, each unit's top-k images as indices
    ``inv [U, k]`` into the sorted unique images ``uniq``, the softmax normaliser ``lse`` of
    those rows, and the unit block / concept chunk sizes."""
    _check_inputs(similarity, activations)
    dev = torch.device(device) if device is not None else similarity.device
    dtype = torch.float64 if similarity.dtype == torch.float64 else torch.float32
    inds = top_image_indices(activations.to(dev), top_k)  # [U, k]
    uniq, inv = torch.unique(inds, sorted=True, return_inverse=True)
    lse = _row_logsumexp(similarity, uniq, a, dev, dtype)
    b_units, chunk = _plan_blocks(
        activations.shape[1],
        similarity.shape[1],
        len(uniq),
        torch.finfo(dtype).bits // 8,
        dev,
        block_units,
    )
    return dev, dtype, uniq, inv, lse, b_units, chunk


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

    dev, dtype, uniq, inv, lse, b_units, chunk = _top_k_setup(
        similarity, activations, top_k, a, device, block_units
    )
    n_units, n_concepts = activations.shape[1], similarity.shape[1]
    inv_t = inv.T.contiguous()  # [k, U]: rank-major, so each rank's indices are contiguous
    # product groups stay below this bound, far from overflow
    log_limit = math.log(1e30 if dtype == torch.float32 else 1e300)

    out = torch.empty(n_units, n_concepts, dtype=dtype, device=dev)
    unit_blocks = list(_blocks(n_units, b_units))

    def run_tiles(blocks: list[tuple[int, int]], probs: Tensor, c0: int, group: int) -> None:
        """log p(c|u) - sum_i log c_i for unit ``blocks`` and concepts ``c0:c0+w``."""
        w = probs.shape[1]
        acc = torch.empty(b_units, w, dtype=dtype, device=dev)
        buf = torch.empty_like(acc)
        for u0, u1 in blocks:
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

    with _tile_workers(dev) as pool:
        for c0, c1 in _blocks(n_concepts, chunk):
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
    dev, dtype, uniq, inv, lse, b_units, chunk = _top_k_setup(
        similarity, activations, top_k, a, device, block_units
    )
    n_units, n_concepts = activations.shape[1], similarity.shape[1]
    out = torch.empty(n_units, n_concepts, dtype=dtype, device=dev)
    for c0, c1 in _blocks(n_concepts, chunk):
        log_probs = _softmax_chunk(similarity, uniq, lse, a, c0, c1, dev, dtype)
        log_probs.add_(min_prob).log_()
        for u0, u1 in _blocks(n_units, b_units):
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
    for u0, u1 in _blocks(n_units, step):
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
    for u0, u1 in _blocks(n_units, min(step, n_units)):
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


# --------------------------------------------------------------------------------------------
# label_units: the rule-level step
# --------------------------------------------------------------------------------------------

CSV_COLUMNS = ["layer", "unit", "description", "similarity", "images"]


def format_images(indices: Sequence[int] | np.ndarray) -> str:
    """Sample indices printed like the authors' files (numpy's ``str`` of an int array)."""
    return str(np.asarray(indices, dtype=np.int64))


def _method_and_params(method: str, params: dict[str, Any] | None) -> tuple[Callable, dict]:
    import inspect

    if method not in METHODS:
        raise ConfigError(
            f"labeling.method is {method!r}; allowed values are {', '.join(METHODS)}.",
            "set labeling.method in the config.",
        )
    fn = METHODS[method]
    params = dict(params or {})
    allowed = [
        n
        for n in inspect.signature(fn).parameters
        if n not in ("similarity", "activations", "device", "block_units")
    ]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ConfigError(
            f"labeling.params has {', '.join(unknown)}, which method {method!r} does not take "
            f"(it takes {', '.join(allowed)}).",
            "remove them or change labeling.method.",
        )
    return fn, params


def _read_layer(activations_nc: str | Path, layer: str) -> np.ndarray:
    """One layer as float32 ``[sample, unit]`` without padding (``activations.read_layer``)."""
    from .activations import read_layer
    from .io_errors import unreadable

    try:
        return np.asarray(read_layer(activations_nc, layer), dtype=np.float32)
    except (OSError, RuntimeError, ValueError) as error:  # "NetCDF: HDF error" and kin
        raise unreadable(activations_nc, error) from error


def _scorer_note(*embedding_ncs: str | Path) -> str | None:
    """The random-scorer note an embedding file's provenance carries (random CLIP), if any."""
    import xarray as xr

    for path in embedding_ncs:
        with xr.open_dataset(path) as ds:
            record = json.loads(ds.attrs.get("provenance", "{}"))
        note = (record.get("clip") or {}).get("random_clip_scorer")
        if note:
            return str(note)
    return None


def _file_identity(path: str | Path) -> dict[str, Any]:
    stat = os.stat(path)
    return {"path": os.path.abspath(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _hash_strings(values: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for value in values:
        digest.update(value.encode("utf-8") + b"\0")
    return digest.hexdigest()


def _load_inputs(
    activations_nc: str | Path,
    image_emb_nc: str | Path,
    concept_emb_nc: str | Path,
    concepts_txt: str | Path,
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Validate the inputs against each other; return layers, n_units, sample coord,
    image embeddings, concept embeddings and concepts."""
    from .concepts import read_concepts
    from .io_errors import open_netcdf, require_finite, unreadable

    for path in (activations_nc, image_emb_nc, concept_emb_nc, concepts_txt):
        if not Path(path).is_file():
            raise InputDataError(f"Input {path} does not exist.", "run the rule that makes it.")
    with open_netcdf(activations_nc) as ds:
        if "activations" not in ds:
            raise InputDataError(
                f"{activations_nc} has no variable 'activations'.",
                "regenerate it with the dump_activations rule.",
            )
        layers = [str(v) for v in ds["layer"].values]
        width = int(ds.sizes["unit"])
        n_units = (
            np.asarray(ds["n_units"].values, dtype=np.int64)
            if "n_units" in ds.coords or "n_units" in ds
            else np.full(len(layers), width, dtype=np.int64)
        )
        samples = np.asarray(ds["sample"].values, dtype=np.int64)
        act_ids = [str(v) for v in ds["sample_id"].values]
    with open_netcdf(image_emb_nc) as ds:
        if "embedding" not in ds or "sample_id" not in ds.coords:
            raise InputDataError(
                f"{image_emb_nc} lacks the variable 'embedding' or the coordinate 'sample_id'.",
                "regenerate it with the embed_images rule.",
            )
        img_ids = [str(v) for v in ds["sample_id"].values]
        try:
            image_emb = np.asarray(ds["embedding"].transpose("sample", "dim").values, np.float32)
        except (OSError, RuntimeError, ValueError) as error:
            raise unreadable(image_emb_nc, error) from error
    require_finite(image_emb, image_emb_nc, "the image embeddings")
    if img_ids != act_ids:
        mismatch = next(
            (i for i, (x, y) in enumerate(zip(act_ids, img_ids, strict=False)) if x != y),
            min(len(act_ids), len(img_ids)),
        )
        raise InputDataError(
            f"The samples of {activations_nc} ({len(act_ids)}) and {image_emb_nc} "
            f"({len(img_ids)}) differ, first at position {mismatch}: both must list the same "
            f"sample_ids in the same order.",
            "compute both from the same probe index: add `--forcerun dump_activations "
            "embed_images` at the end of your snakemake command.",
        )
    concepts = read_concepts(concepts_txt)
    with open_netcdf(concept_emb_nc) as ds:
        if "embedding" not in ds:
            raise InputDataError(
                f"{concept_emb_nc} has no variable 'embedding'.",
                "regenerate it with the embed_concepts rule.",
            )
        emb_concepts = [str(v) for v in ds["concept"].values]
        try:
            concept_emb = np.asarray(ds["embedding"].transpose("concept", "dim").values, np.float32)
        except (OSError, RuntimeError, ValueError) as error:
            raise unreadable(concept_emb_nc, error) from error
    require_finite(concept_emb, concept_emb_nc, "the concept embeddings")
    if emb_concepts != concepts:
        raise InputDataError(
            f"The concepts of {concept_emb_nc} ({len(emb_concepts)}) differ from those of "
            f"{concepts_txt} ({len(concepts)}).",
            "add `--forcerun embed_concepts` at the end of your snakemake command.",
        )
    if image_emb.shape[1] != concept_emb.shape[1]:
        raise InputDataError(
            f"Image embeddings in {image_emb_nc} have dimension {image_emb.shape[1]} but "
            f"concept embeddings in {concept_emb_nc} have {concept_emb.shape[1]}.",
            "embed images and concepts with the same CLIP model.",
        )
    return layers, n_units, samples, image_emb, concept_emb, concepts


def label_units(
    activations_nc: str | Path,
    image_emb_nc: str | Path,
    concept_emb_nc: str | Path,
    concepts_txt: str | Path,
    out_csv: str | Path,
    out_topk_nc: str | Path,
    method: str = "soft_wpmi",
    params: dict[str, Any] | None = None,
    n_top_images: int = 5,
    n_top_concepts: int = 10,
    device: DeviceLike = "auto",
    threads: int | None = None,
) -> Path:
    """Label every unit of every layer with its best concept; write the CSV and top-k file.

    ``out_csv`` gets exactly the authors' columns ``layer, unit, description, similarity,
    images`` (``similarity`` = best score, ``images`` = the ``n_top_images`` most activating
    sample indices, printed like a numpy int array) plus a ``.provenance.json`` sidecar.
    ``out_topk_nc`` holds ``concept_index`` and ``score`` ``(layer, unit, rank)`` for the
    ``n_top_concepts`` best concepts, ``top_images (layer, unit, image_rank)``, coords
    ``n_units(layer)`` and ``concept``, and attr ``provenance``.

    Resumable per layer: finished layers are kept in ``<out_topk_nc>.partial`` (outside the
    outputs) and skipped by a rerun with the same inputs and settings. Deterministic: two runs
    with the same inputs and device write identical bytes to ``out_csv``, whatever ``threads``.
    """
    import pandas as pd

    from .io_errors import require_finite
    from .ncstream import ShardedNetCDFWriter
    from .provenance import provenance_json, sha256_file, sha256_json, write_sidecar

    fn, params = _method_and_params(method, params)
    if threads:
        torch.set_num_threads(int(threads))
    dev = resolve_device(device)
    layers, n_units, samples, image_emb, concept_emb, concepts = _load_inputs(
        activations_nc, image_emb_nc, concept_emb_nc, concepts_txt
    )
    n_samples, n_concepts = len(samples), len(concepts)
    top_k = params.get("top_k")
    if top_k is not None and not 1 <= int(top_k) <= n_samples:
        raise ConfigError(
            f"labeling.params.top_k={top_k} but the probe has {n_samples} images.",
            f"set labeling.params.top_k to at most {n_samples}.",
        )
    if not 1 <= n_top_images <= n_samples:
        raise ConfigError(
            f"labeling.n_top_images={n_top_images} but the probe has {n_samples} images.",
            f"set labeling.n_top_images between 1 and {n_samples}.",
        )
    n_rank = int(min(max(1, n_top_concepts), n_concepts))
    width = int(n_units.max())

    image_t, concept_t = torch.from_numpy(image_emb), torch.from_numpy(concept_emb)
    if dev.type != "cpu":  # the embeddings are small: the similarity rows are computed there
        image_t, concept_t = image_t.to(dev), concept_t.to(dev)
    log_memory_plan(dev, n_samples, n_concepts, int(n_units.max()), image_emb.shape[1])
    if method in LAZY_METHODS:  # only top-k rows are read: never build the [N, C] matrix
        similarity = EmbeddingSimilarity(image_t, concept_t)
    else:
        similarity = image_t @ concept_t.T  # [N, C]
    concepts_sha = _hash_strings(concepts)
    settings = {
        "method": method,
        "params": params,
        "n_top_images": n_top_images,
        "n_top_concepts": n_rank,
        "device": dev.type,
    }
    # Threads only change speed (each layer's tiles are reduced in a fixed order), so they
    # stay out of the fingerprint: a rerun with other --cores resumes the finished layers.
    fingerprint = sha256_json(
        {
            "settings": settings,
            "inputs": [_file_identity(p) for p in (activations_nc, image_emb_nc, concept_emb_nc)],
            "concepts": concepts_sha,
        }
    )
    out_topk_nc = Path(out_topk_nc)
    writer = ShardedNetCDFWriter(
        out_topk_nc,
        dims={
            "layer": len(layers),
            "unit": width,
            "rank": n_rank,
            "image_rank": n_top_images,
            "concept": n_concepts,
        },
        coords={
            "layer": (("layer",), np.asarray(layers, dtype=object)),
            "unit": (("unit",), np.arange(width, dtype=np.int64)),
            "rank": (("rank",), np.arange(n_rank, dtype=np.int64)),
            "image_rank": (("image_rank",), np.arange(n_top_images, dtype=np.int64)),
            "n_units": (("layer",), n_units),
            "concept": (("concept",), np.asarray(concepts, dtype=object)),
        },
        variables={
            "concept_index": (("layer", "unit", "rank"), "int32", (1, width, n_rank)),
            "score": (("layer", "unit", "rank"), "float32", (1, width, n_rank)),
            "top_images": (("layer", "unit", "image_rank"), "int64", (1, width, n_top_images)),
        },
        stream_dim="layer",
        fingerprint=fingerprint,
    )
    with writer:
        if writer.start:
            log.info(
                "resuming %s: %d of %d layers already labelled",
                out_topk_nc,
                writer.start,
                len(layers),
            )
        try:
            from tqdm import tqdm
        except ImportError:  # pragma: no cover

            def tqdm(x: Any, **_: Any) -> Any:
                return x

        for li in tqdm(
            range(writer.start, len(layers)),
            desc="label_units",
            unit="layer",
            initial=writer.start,
            total=len(layers),
        ):
            layer, nu = layers[li], int(n_units[li])
            acts = _read_layer(activations_nc, layer)
            if acts.shape[0] != n_samples:
                raise InputDataError(
                    f"Layer {layer} of {activations_nc} has {acts.shape[0]} samples, expected "
                    f"{n_samples}.",
                    "regenerate the activations with dump_activations.",
                )
            acts_t = torch.from_numpy(np.ascontiguousarray(acts[:, :nu], dtype=np.float32))
            require_finite(
                acts_t.numpy(),
                activations_nc,
                f"layer {layer} ({nu} units)",
                cause="either the file is damaged (its writer checksums every shard, so "
                "suspect a copy from elsewhere) or the model itself overflowed (with "
                "dump.dtype float16, try float32)",
            )
            scores = fn(similarity, acts_t, **params, device=dev).float()
            best_scores, best_idx = torch.topk(scores, k=n_rank, dim=1)
            top_imgs = torch.topk(acts_t, k=n_top_images, dim=0).indices.T
            del scores
            ci = np.full((1, width, n_rank), -1, dtype=np.int32)
            sc = np.full((1, width, n_rank), np.nan, dtype=np.float32)
            ti = np.full((1, width, n_top_images), -1, dtype=np.int64)
            ci[0, :nu] = best_idx.cpu().numpy()
            sc[0, :nu] = best_scores.cpu().numpy()
            ti[0, :nu] = samples[top_imgs.cpu().numpy()]
            writer.write({"concept_index": ci, "score": sc, "top_images": ti}, li)
            writer.mark_done(li + 1)

        # every layer is in the partial file: build the CSV from it, then finalize
        import netCDF4

        with netCDF4.Dataset(writer.partial_path, "r") as ds:
            ci_all = np.asarray(ds["concept_index"][:, :, 0])
            sc_all = np.asarray(ds["score"][:, :, 0], dtype=np.float32)
            ti_all = np.asarray(ds["top_images"][:])
        rows_layer, rows_unit, rows_desc, rows_sim, rows_img = [], [], [], [], []
        for li, layer in enumerate(layers):
            nu = int(n_units[li])
            rows_layer += [layer] * nu
            rows_unit += list(range(nu))
            rows_desc += [concepts[i] for i in ci_all[li, :nu]]
            rows_sim.append(sc_all[li, :nu])
            rows_img += [format_images(ti_all[li, u]) for u in range(nu)]
        frame = pd.DataFrame(
            {
                "layer": rows_layer,
                "unit": rows_unit,
                "description": rows_desc,
                "similarity": np.concatenate(rows_sim).astype(np.float32),
                "images": rows_img,
            },
            columns=CSV_COLUMNS,
        )
        out_csv = Path(out_csv)
        out_csv.parent.mkdir(parents=True, exist_ok=True)
        tmp_csv = Path(str(out_csv) + ".part")
        frame.to_csv(tmp_csv, index=False)
        os.replace(tmp_csv, out_csv)
        extra = {
            "step": "label_units",
            "settings": settings,
            "threads": torch.get_num_threads(),
            "activations": str(activations_nc),
            "image_embeddings": str(image_emb_nc),
            "concept_embeddings": str(concept_emb_nc),
            "concepts_sha256": sha256_file(concepts_txt),
        }
        note = _scorer_note(image_emb_nc, concept_emb_nc)
        if note:
            extra["random_clip_scorer"] = note
        write_sidecar(out_csv, **extra)
        writer.finalize({"provenance": provenance_json(**extra)})
    return out_csv
