"""Memory tiling: how much of a device one labeling call may use, and the tiles it runs in.

``free_memory_bytes`` asks ``psutil`` (CPU) or ``torch.cuda.mem_get_info`` (CUDA);
``plan_blocks`` turns it into a (unit block, concept chunk) tile size; ``memory_plan`` is
the worst-case bound ``label_units`` prints before it starts. ``tile_workers`` spreads tile
work over single-threaded CPU workers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import psutil
import torch

log = logging.getLogger(__name__)

#: Concept-chunk width on CPU (columns of the softmax held at once); tiles stay in cache.
CPU_CONCEPT_CHUNK = 1024
#: Elements of one (unit block x concept chunk) tile on CPU (~512 KiB per float32 buffer).
CPU_TILE_ELEMENTS = 1 << 17
#: Same on CUDA, where big tiles keep the GPU busy.
CUDA_CONCEPT_CHUNK = 8192
CUDA_TILE_ELEMENTS = 1 << 25
#: Fraction of the free memory one call may plan to use.
MEMORY_FRACTION = 0.5


def free_memory_bytes(device: torch.device) -> int:
    """Memory this process may plan to use on ``device`` (free memory x MEMORY_FRACTION)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
    else:
        free = psutil.virtual_memory().available
    return int(free * MEMORY_FRACTION)


#: Bytes of activations one top-k search moves to the device at once (a unit block of the
#: host-side layer; see ``top_image_indices``).
TOPK_BLOCK_BYTES = 64 << 20


def fixed_bytes(
    n_images: int,
    n_concepts: int,
    n_units: int,
    dim: int,
    top_k: int,
    itemsize: int = 4,
    dense: bool = False,
) -> dict[str, float]:
    """The parts of one layer's labeling that do not shrink with the tiles (bytes on the
    device): ``embeddings``, ``similarity`` (the ``[images, concepts]`` matrix and its working
    copy, dense methods only; the top-k methods compute rows on demand), ``activations``
    (the layer for dense methods; one top-k search block for the others: the layer stays on
    the host), ``top_k_indices`` (each unit's top-k rows as int64 indices, their inverse and
    a transposed copy) and ``scores`` (``[units, concepts]``)."""
    layer = float(itemsize) * n_images * n_units
    return {
        "embeddings": float(itemsize) * (n_images + n_concepts) * dim,
        "similarity": 2.0 * itemsize * n_images * n_concepts if dense else 0.0,
        "activations": 2.0 * layer if dense else min(layer, float(TOPK_BLOCK_BYTES)),
        "top_k_indices": 0.0 if dense else 8.0 * 3 * n_units * top_k,
        "scores": float(itemsize) * n_units * n_concepts,
    }


def memory_plan(
    device: torch.device,
    n_images: int,
    n_concepts: int,
    n_units: int,
    dim: int,
    top_k: int = 100,
    dense: bool = False,
) -> dict[str, float]:
    """Bytes one ``label_units`` layer plans to hold on ``device`` (float32), worst case.

    :func:`fixed_bytes`, then ``softmax_chunk`` (the unique top-k image rows x one concept
    chunk, with the embedding rows they are computed from) and ``tiles``; ``budget`` is what
    one call may use (free x fraction). The tiles are sized to what the fixed parts leave of
    the budget, so ``total <= budget`` whenever the fixed parts fit in it (``fits``).
    """
    budget = free_memory_bytes(device)
    rows = min(n_images, n_units * top_k)
    plan = fixed_bytes(n_images, n_concepts, n_units, dim, top_k, 4, dense)
    if device.type == "cpu":  # the layer read from the file is on the device itself
        plan["activations"] = max(plan["activations"], 4.0 * n_images * n_units)
    # with the embedding rows each softmax chunk is computed from
    reserved = sum(plan.values()) + (0.0 if dense else 4.0 * rows * dim)
    unit_block, chunk = plan_blocks(n_units, n_concepts, rows, 4, device, reserved=reserved)
    plan["softmax_chunk"] = 0.0 if dense else 4.0 * rows * (chunk + dim)
    plan["tiles"] = 0.0 if dense else 4.0 * 3 * unit_block * chunk
    plan["total"] = sum(plan.values())
    plan["budget"] = float(budget)
    plan["fits"] = float(plan["total"] <= budget)
    plan["unit_block"], plan["concept_chunk"] = float(unit_block), float(chunk)
    return plan


_COUNTS = ("unit_block", "concept_chunk", "fits")


def log_memory_plan(
    device: torch.device,
    n_images: int,
    n_concepts: int,
    n_units: int,
    dim: int,
    top_k: int = 100,
    dense: bool = False,
) -> dict[str, float]:
    """Print :func:`memory_plan` (GB) before labeling starts; warn when it exceeds the budget."""
    plan = memory_plan(device, n_images, n_concepts, n_units, dim, top_k, dense)
    parts = ", ".join(f"{k} {v / 1e9:.2f} GB" for k, v in plan.items() if k not in _COUNTS)
    message = (
        f"label_units on {device}: {n_images} images x {n_concepts} concepts x {n_units} units "
        f"per layer; memory bound {parts}; unit block {int(plan['unit_block'])}, concept chunk "
        f"{int(plan['concept_chunk'])}"
    )
    if not plan["fits"]:
        message += (
            f"; WARNING: the bound exceeds the budget ({MEMORY_FRACTION:.0%} of the free "
            "memory): free memory on the device, or label on a device with more"
            + (" (or use a top-k method: soft_wpmi, wpmi)" if dense else "")
        )
    log.info(message)
    print(message, flush=True)
    return plan


def plan_blocks(
    n_units: int,
    n_concepts: int,
    n_rows: int,
    itemsize: int,
    device: torch.device,
    block_units: int | None = None,
    concept_chunk: int | None = None,
    reserved: float = 0.0,
) -> tuple[int, int]:
    """(unit block, concept chunk) for tiles of ``n_units x n_concepts`` over ``n_rows`` images.

    Defaults are cache-sized tiles (CPU) or large tiles (CUDA), shrunk when what the budget
    leaves after ``reserved`` bytes (the fixed parts, :func:`fixed_bytes`; at least a quarter
    of the budget is always given to the tiles) cannot hold the softmax chunk
    ``[n_rows, chunk]`` with its temporary plus three tiles.
    """
    full = free_memory_bytes(device)
    budget = int(max(full - reserved, full // 4))
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


def blocks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(n, start + size)


class TilePool:
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
            self.executor = ThreadPoolExecutor(
                n_workers, initializer=torch.set_num_threads, initargs=(1,)
            )

    def map(self, fn: Callable[..., None], unit_blocks: list[tuple[int, int]], *args: Any) -> None:
        if self.executor is None:
            fn(unit_blocks, *args)
            return
        futures = [self.executor.submit(fn, unit_blocks[w :: self.n], *args) for w in range(self.n)]
        for future in futures:
            future.result()


@contextmanager
def tile_workers(device: torch.device) -> Iterator[TilePool]:
    threads = torch.get_num_threads()
    pool = TilePool(threads if device.type == "cpu" else 1)
    try:
        yield pool
    finally:
        if pool.executor is not None:
            pool.executor.shutdown(wait=True)
        torch.set_num_threads(threads)  # the workers' initializer changed the global setting
