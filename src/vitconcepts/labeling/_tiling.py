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
    unit_block, chunk = plan_blocks(n_units, n_concepts, rows, 4, device)
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


def plan_blocks(
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
