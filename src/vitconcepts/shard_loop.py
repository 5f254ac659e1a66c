"""The loop every streamed output shares: batches in, checksummed shards out, resumable.

``dump_activations``, ``embed_images``, ``embed_concepts`` and ``build_pixel_cache`` each open
a :class:`~vitconcepts.ncstream.ShardedNetCDFWriter`, then :func:`write_batches` feeds it the
entries still to do (``writer.start`` to ``writer.size``)::

    with ShardedNetCDFWriter(out, dims=..., coords=..., variables=...) as writer:
        write_batches(writer, "embedding", loader, encode, desc="CLIP images")
        writer.finalize({"provenance": ...})

``batches`` yields ``(inputs, samples)`` in order, ``samples`` the stream indices of the
batch, starting at ``writer.start``; ``compute(inputs, samples)`` returns the batch's array of
the streamed variable. Rows gather into shards of ``shard`` entries (default: every batch is a
shard); each full shard, and the last, is written and marked done. With ``background`` a
thread writes (compresses) one shard while the next is computed; at most one is in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
from tqdm import tqdm

from .ncstream import ShardedNetCDFWriter

Compute = Callable[[Any, Any], np.ndarray]


def sample_coords(sample_ids: Any) -> dict[str, tuple[tuple[str], np.ndarray]]:
    """The ``sample`` and ``sample_id(sample)`` coordinates of a file streamed over a probe."""
    ids = np.asarray(sample_ids, dtype=str)
    return {
        "sample": (("sample",), np.arange(len(ids), dtype=np.int64)),
        "sample_id": (("sample",), ids),
    }


class _ShardWriter:
    """Writes a shard and marks it done: inline, or on one background thread."""

    def __init__(self, writer: ShardedNetCDFWriter, variable: str, axis: int, background: bool):
        self.writer, self.variable, self.axis = writer, variable, axis
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="nc-writer") if background else None
        self.pending: Future | None = None

    def _write(self, begin: int, values: np.ndarray) -> None:
        self.writer.write(self.variable, begin, values)
        self.writer.mark_done(begin + values.shape[self.axis])

    def __call__(self, begin: int, values: np.ndarray) -> None:
        if self.pool is None:
            self._write(begin, values)
            return
        self.wait()  # the previous shard is written before the next is handed over
        self.pending = self.pool.submit(self._write, begin, values)

    def wait(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()

    def close(self) -> None:
        try:
            self.wait()  # finish (and record) the shard in flight
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True)


def _join(pieces: list[np.ndarray], axis: int) -> np.ndarray:
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=axis)


def write_batches(
    writer: ShardedNetCDFWriter,
    variable: str,
    batches: Iterable[tuple[Any, Any]],
    compute: Compute,
    *,
    shard: int | None = None,
    background: bool = False,
    desc: str = "",
    unit: str = "img",
) -> None:
    """Stream the entries ``writer.start .. writer.size`` of ``variable`` (module docstring)."""
    n, begin = writer.size, writer.start
    if begin >= n:
        return
    axis = writer.variables[variable][0].index(writer.stream_dim)
    flush = _ShardWriter(writer, variable, axis, background)
    pieces: list[np.ndarray] = []
    filled = 0
    try:
        with tqdm(total=n, initial=begin, desc=desc, unit=unit) as bar:
            for inputs, samples in batches:
                if int(samples[0]) != begin + filled:  # pragma: no cover - loaders keep order
                    raise RuntimeError(f"{writer.partial_path}: batches arrived out of order")
                values = np.asarray(compute(inputs, samples))
                count, offset = values.shape[axis], 0
                while offset < count:
                    size = shard or count
                    take = min(count - offset, size - filled)
                    index = [slice(None)] * values.ndim
                    index[axis] = slice(offset, offset + take)
                    pieces.append(values[tuple(index)])
                    filled, offset = filled + take, offset + take
                    if filled == size or begin + filled == n:
                        flush(begin, _join(pieces, axis))
                        begin, pieces, filled = begin + filled, [], 0
                bar.update(count)
    finally:
        flush.close()
