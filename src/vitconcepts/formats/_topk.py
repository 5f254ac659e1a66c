"""The top-k file of a labelling: each unit's best concepts and most activating images.

NetCDF4 with dims ``layer x unit x rank`` (and ``image_rank``, ``concept``):

* ``concept_index (layer, unit, rank)`` int32: index into the ``concept`` coord of the
  unit's ``rank``-th best concept (-1 in the padding of layers narrower than ``unit``);
* ``score (layer, unit, rank)`` float32: its score (NaN in the padding);
* ``top_images (layer, unit, image_rank)`` int64: the most activating probe samples (-1 in
  the padding);
* coords ``layer`` (module paths, network order), ``unit``, ``rank``, ``image_rank``,
  ``n_units(layer)`` (each layer's real width), ``concept`` (the concept strings); attr
  ``provenance``.

It is written layer by layer (resumable) by :func:`topk_writer` + :func:`write_topk_layer`
and read by :func:`read_topk`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io_errors import open_netcdf
from ..ncstream import ShardedNetCDFWriter

PathLike = str | Path

#: The variables of a top-k file.
TOPK_VARIABLES = ("concept_index", "score", "top_images")


@dataclass(frozen=True)
class TopK:
    """A top-k file in memory (arrays padded to the widest layer, see the module doc)."""

    layers: list[str]
    n_units: np.ndarray  # [layer]
    concepts: list[str]  # [concept]
    concept_index: np.ndarray  # [layer, unit, rank]
    score: np.ndarray  # [layer, unit, rank]
    top_images: np.ndarray  # [layer, unit, image_rank]

    def best_concepts(self, layer: int) -> list[str]:
        """The best concept of every unit of ``layer`` (0-based), padding left out."""
        return [self.concepts[i] for i in self.concept_index[layer, : self.n_units[layer], 0]]


def topk_writer(
    out_topk_nc: PathLike,
    layers: Sequence[str],
    n_units: Sequence[int] | np.ndarray,
    concepts: Sequence[str],
    n_rank: int,
    n_top_images: int,
    fingerprint: str = "",
) -> ShardedNetCDFWriter:
    """The resumable writer of a top-k file, streamed over ``layer``.

    Use it as a context manager: for each layer from ``writer.start`` call
    :func:`write_topk_layer`, then ``writer.finalize({"provenance": ...})``.
    """
    n_units = np.asarray(n_units, dtype=np.int64)
    width = int(n_units.max())
    return ShardedNetCDFWriter(
        Path(out_topk_nc),
        dims={
            "layer": len(layers),
            "unit": width,
            "rank": int(n_rank),
            "image_rank": int(n_top_images),
            "concept": len(concepts),
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


def write_topk_layer(
    writer: ShardedNetCDFWriter,
    layer: int,
    concept_index: np.ndarray,
    score: np.ndarray,
    top_images: np.ndarray,
) -> None:
    """Write layer ``layer``'s ``[unit, rank]`` / ``[unit, image_rank]`` arrays (its real
    units only; the padding up to the widest layer is filled here) and mark it done."""
    width, n_rank, n_top_images = (
        writer.dims["unit"],
        writer.dims["rank"],
        writer.dims["image_rank"],
    )
    nu = len(concept_index)
    ci = np.full((1, width, n_rank), -1, dtype=np.int32)
    sc = np.full((1, width, n_rank), np.nan, dtype=np.float32)
    ti = np.full((1, width, n_top_images), -1, dtype=np.int64)
    ci[0, :nu], sc[0, :nu], ti[0, :nu] = concept_index, score, top_images
    writer.write({"concept_index": ci, "score": sc, "top_images": ti}, layer)
    writer.mark_done(layer + 1)


def read_topk(topk_nc: PathLike) -> TopK:
    """Read a top-k file (or the ``.partial`` file of one being written) into memory.

    A missing or unreadable file raises :class:`~vitconcepts.errors.InputDataError` naming it.
    """
    with open_netcdf(topk_nc) as ds:
        return TopK(
            layers=[str(v) for v in ds["layer"].values],
            n_units=np.asarray(ds["n_units"].values, dtype=np.int64),
            concepts=[str(v) for v in ds["concept"].values],
            concept_index=np.asarray(ds["concept_index"].values, dtype=np.int64),
            score=np.asarray(ds["score"].values, dtype=np.float32),
            top_images=np.asarray(ds["top_images"].values, dtype=np.int64),
        )
