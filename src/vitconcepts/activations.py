"""Dump per-layer unit activations of a target model over the probe set (NetCDF, resumable).

One file per unit kind (the default ``cls``/``spatial_mean`` at ``{model}.nc``, kind K at
``{model}.K.nc``), all written from one forward pass. File layout (``docs/design.md``):
variable ``activations`` with dims ``(layer, unit, sample)``; layers narrower than the widest
are NaN-padded and coordinate ``n_units(layer)`` gives each layer's real width; coords
``layer`` (module path, network order), ``unit``, ``sample``, ``sample_id(sample)``; attrs
``provenance`` (JSON) and ``units`` (the kind). Written shard by shard through
:func:`vitconcepts.shard_loop.write_batches`, so a killed dump resumes from its last finished
shard and memory does not grow with the number of samples.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .device import resolve_device
from .errors import ConfigError
from .formats import read_probe_index
from .image_batches import ImageBatches
from .models import (
    ActivationExtractor,
    ModelSpec,
    build_transform,
    load_model,
    read_manifest,
)
from .ncstream import ShardedNetCDFWriter
from .paper_architectures import check_paper_model
from .probe import load_index_meta
from .provenance import provenance_json, sha256_file, sha256_json
from .shard_loop import sample_coords, write_batches

__all__ = [
    "AUTOCAST",
    "DTYPES",
    "FORMAT_VERSION",
    "dump_activations",
    "kind_outputs",
    "kind_path",
    "resolve_device",
]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
DTYPES = ("float16", "float32")
AUTOCAST = (None, "none", "bf16", "fp16")


def dump_activations(
    spec: ModelSpec,
    index_csv: str | Path,
    manifest: str | Path | None,
    out_nc: str | Path | Mapping[str, str | Path],
    dtype: str = "float32",
    batch_size: int = 64,
    shard_size: int = 1024,
    num_workers: int = 0,
    device: str = "auto",
    threads: int | None = None,
    pixels: str | Path | None = None,
    autocast: str | None = None,
    channels_last: bool | None = None,
    complevel: int = 1,
) -> Path:
    """Write the activations of ``spec``'s layers for every probe image; return the path of
    the default kind's file (``cls`` or ``spatial_mean``).

    ``out_nc``: ``{kind: path}`` of the unit kinds to write, or one path: every kind of
    ``spec.units``, the default at ``out_nc`` and kind K at :func:`kind_path` (``x.K.nc``).
    All kinds come from one forward pass. Layers are validated (and one image run through
    the model) before any long work. A ``<file>.partial`` left by an interrupted run with
    the same model, probe hash, dtype and shard size is resumed from its last finished shard.

    ``pixels``: a pixel cache of the model's preprocessing recipe (``vitconcepts.pixels``);
    uint8 batches are read from it and normalised on the device instead of decoding the JPEGs
    (identical activations). ``autocast``: ``bf16``/``fp16`` runs the model under
    ``torch.autocast`` (a precision change, recorded in the fingerprint; default none = the
    paper's float32). ``channels_last`` (default: on for CNNs on CUDA). ``complevel``: zlib
    level of the file (0 = uncompressed: ~10x faster writes, for fast GPUs where the writer
    thread would bound the pass).
    """
    autocast = _checked_autocast(dtype, autocast)
    outputs = kind_outputs(spec, out_nc)
    if threads:
        torch.set_num_threads(int(threads))
    run_device = resolve_device(device)
    index = read_probe_index(index_csv)
    probe_meta = load_index_meta(index_csv)
    probe_sha = probe_meta.get("sha256") or sha256_file(index_csv)
    manifest_data = read_manifest(manifest) if spec.pretrained else {}
    model_pass = _model_pass(
        spec, list(outputs), manifest, index_csv, pixels, run_device, channels_last, autocast
    )
    widths, layers = model_pass.widths(), model_pass.extractor.layers
    n, shard = len(index), max(1, min(int(shard_size), len(index)))
    facts = {
        "model": spec.key,
        "model_id": manifest_data.get("repo_id") or spec.weights,
        "weights_sha256": manifest_data.get("weights_sha256"),
        "probe": probe_meta.get("probe"),
        "probe_sha256": probe_sha,
        "spec": spec.to_dict(),
        "dtype": dtype,
        "layers": layers,
        "autocast": autocast or "none",
        "pixel_cache": str(pixels) if pixels else None,
    }
    sample_ids = index["sample_id"].to_numpy(dtype=str)
    joined = _open_writers(outputs, widths, sample_ids, facts, shard, complevel)
    if joined.start:
        log.info("resuming %s at sample %d of %d", joined.partial_path, joined.start, n)
    else:
        log.info("dumping %d layers x %d samples to %s", len(layers), n, joined.partial_path)
    with joined:
        model_pass.stream(joined, shard, batch_size, num_workers, f"{spec.key} activations")
        paths = {kind: joined.finalize(kind, facts) for kind in outputs}
    model_pass.extractor.remove()
    return paths.get(spec.default_kind) or next(iter(paths.values()))


def _open_writers(
    outputs: Mapping[str, Path],
    widths: Mapping[str, list[int]],
    sample_ids: np.ndarray,
    facts: Mapping[str, Any],
    shard: int,
    complevel: int,
) -> _KindWriters:
    """One resumable writer per kind's file, fed together (fingerprints: each its kind)."""
    common = _fingerprint_facts(facts, shard)
    writers = {}
    for kind, path in outputs.items():
        fingerprint = sha256_json({**common, "kind": kind, "widths": widths[kind]})
        writers[kind] = _writer(
            path,
            facts["layers"],
            widths[kind],
            sample_ids,
            facts["dtype"],
            shard,
            fingerprint,
            complevel,
        )
    return _KindWriters(writers)


def _fingerprint_facts(facts: Mapping[str, Any], shard: int) -> dict[str, Any]:
    """What a resumable ``.partial`` must share with this run (each file adds its kind)."""
    common = {
        "format": FORMAT_VERSION,
        "spec": {**facts["spec"], "units": None},  # each file: its own kind
        "weights_sha256": facts["weights_sha256"],
        "probe_sha256": facts["probe_sha256"],
        "dtype": facts["dtype"],
        "shard": shard,
        "layers": facts["layers"],
    }
    if facts["autocast"] != "none":
        common["autocast"] = facts["autocast"]
    return common


def kind_path(out_nc: str | Path, kind: str, default_kind: str) -> Path:
    """The file of unit kind ``kind`` next to the default kind's ``out_nc``: ``x.nc`` ->
    ``x.K.nc`` (the default kind keeps ``x.nc``)."""
    out_nc = Path(out_nc)
    if kind == default_kind:
        return out_nc
    return out_nc.with_name(f"{out_nc.name.removesuffix('.nc')}.{kind}.nc")


def kind_outputs(spec: ModelSpec, out_nc: str | Path | Mapping[str, str | Path]) -> dict[str, Path]:
    """``{kind: path}`` to write, in ``spec.units`` order (see :func:`dump_activations`)."""
    if not isinstance(out_nc, Mapping):
        return {kind: kind_path(out_nc, kind, spec.default_kind) for kind in spec.units}
    unknown = [kind for kind in out_nc if kind not in spec.units]
    if unknown or not out_nc:
        raise ConfigError(
            f"models.{spec.key}: activations of unit kinds {', '.join(map(repr, unknown))} "
            f"were asked for, but models.{spec.key}.units lists {', '.join(spec.units)}.",
            f"add them to models.{spec.key}.units.",
        )
    return {kind: Path(out_nc[kind]) for kind in spec.units if kind in out_nc}


class _KindWriters:
    """The activation files of several unit kinds, streamed together from one forward pass.

    :func:`~vitconcepts.shard_loop.write_batches` sees one writer whose ``unit`` axis is the
    kinds' units side by side; each write is split back into the kinds' files. Each file
    resumes where its own ``.partial`` stopped (samples it already holds are not rewritten).
    """

    def __init__(self, writers: Mapping[str, ShardedNetCDFWriter]) -> None:
        self.writers = dict(writers)
        first = next(iter(self.writers.values()))
        self.size, self.stream_dim = first.size, first.stream_dim
        self.variables, self.partial_path = first.variables, first.partial_path
        self.start = min(writer.start for writer in self.writers.values())
        self.widths = {kind: writer.dims["unit"] for kind, writer in self.writers.items()}
        self.dims = {**first.dims, "unit": sum(self.widths.values())}

    def write(self, variable: str, begin: int, values: np.ndarray) -> None:
        offset = 0
        for kind, writer in self.writers.items():
            part = values[:, offset : offset + self.widths[kind]]
            offset += self.widths[kind]
            skip = max(0, writer.completed - begin)
            if skip < part.shape[2]:
                writer.write(variable, begin + skip, part[:, :, skip:])

    def mark_done(self, upto: int) -> None:
        for writer in self.writers.values():
            writer.mark_done(upto)

    def __enter__(self) -> _KindWriters:
        return self

    def __exit__(self, *exc: object) -> None:
        for writer in self.writers.values():  # the .partial files stay for a resume
            writer.close()

    def finalize(self, kind: str, record: Mapping[str, Any]) -> Path:
        writer = self.writers[kind]
        provenance = provenance_json(**record, kind=kind, fingerprint=writer.fingerprint)
        attrs = {"provenance": provenance, "model": record["model"], "units": kind}
        return writer.finalize(attrs)


def _writer(
    out_nc: str | Path,
    layers: list[str],
    widths: list[int],
    sample_ids: np.ndarray,
    dtype: str,
    shard: int,
    fingerprint: str,
    complevel: int,
) -> ShardedNetCDFWriter:
    """The activation file (module docstring), streamed over samples in ``shard``s."""
    return ShardedNetCDFWriter(
        out_nc,
        dims={"layer": len(layers), "unit": max(widths), "sample": len(sample_ids)},
        coords={
            "layer": (("layer",), np.array(layers)),
            "unit": (("unit",), np.arange(max(widths), dtype=np.int32)),
            **sample_coords(sample_ids),
            "n_units": (("layer",), np.array(widths, dtype=np.int32)),
        },
        variables={
            "activations": (("layer", "unit", "sample"), dtype, (1, max(widths), shard)),
        },
        stream_dim="sample",
        fingerprint=fingerprint,
        complevel=int(complevel),
    )


def _checked_autocast(dtype: str, autocast: str | None) -> str | None:
    """Validate ``dump.dtype`` and ``dump.autocast``; ``"none"`` -> None."""
    if dtype not in DTYPES:
        raise ConfigError(f"dump.dtype is {dtype!r}; allowed values are {', '.join(DTYPES)}.")
    if autocast not in AUTOCAST:
        raise ConfigError(
            f"dump.autocast is {autocast!r}; allowed values are none, bf16 and fp16.",
            "remove dump.autocast to keep the paper's float32.",
        )
    return None if autocast == "none" else autocast


class _ModelPass:
    """A model with its layers hooked, the image batches it reads, and how it runs."""

    def __init__(
        self,
        extractor: ActivationExtractor,
        source: ImageBatches,
        device: torch.device,
        autocast: str | None,
    ) -> None:
        self.extractor, self.source = extractor, source
        self.device, self.autocast = device, autocast

    def run(
        self, images: torch.Tensor, samples: torch.Tensor
    ) -> dict[str, dict[str, torch.Tensor]]:
        with _autocast(self.device, self.autocast):
            return self.extractor.extract(images, samples)

    def widths(self) -> dict[str, list[int]]:
        """Units of each layer of each kind, from one image run through the model."""
        outputs = self.run(self.source.first(), torch.tensor([0]))
        return {
            kind: [int(w.shape[1]) for w in layers.values()] for kind, layers in outputs.items()
        }

    def stream(
        self, writer: _KindWriters, shard: int, batch_size: int, num_workers: int, desc: str
    ) -> None:
        """Write the samples still to do, whole shards at a time (the last may be short)."""

        def compute(images: torch.Tensor, samples: torch.Tensor) -> np.ndarray:
            outputs = self.run(images, samples)
            blocks = [_padded(outputs[kind], width) for kind, width in writer.widths.items()]
            return blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1)

        write_batches(
            writer,  # type: ignore[arg-type]  # the writer interface write_batches uses
            "activations",
            self.source.batches(writer.start, writer.size, batch_size, num_workers),
            compute,
            shard=shard,
            background=True,  # compression overlaps the model (netCDF4 releases the GIL)
            desc=desc,
        )


def _model_pass(
    spec: ModelSpec,
    kinds: list[str],
    manifest: str | Path | None,
    index_csv: str | Path,
    pixels: str | Path | None,
    run_device: torch.device,
    channels_last: bool | None,
    autocast: str | None,
) -> _ModelPass:
    """The model on ``run_device`` with its layers hooked, and the batches it will read."""
    model = load_model(spec, manifest).to(run_device)
    for warning in check_paper_model(spec, model):  # the paper's networks are what they claim
        log.warning(warning)
    if channels_last is None:
        channels_last = run_device.type == "cuda" and spec.arch != "vit"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    extractor = ActivationExtractor(model, spec, kinds)  # validates the layers and kinds
    transform = build_transform(spec, model)
    fix = "set `pixel_cache: false` or use `preprocessing: paper` for this model."
    source = ImageBatches(index_csv, transform, pixels, run_device, channels_last, fix=fix)
    return _ModelPass(extractor, source, run_device, autocast)


def _padded(outputs: Mapping[str, torch.Tensor], width: int) -> np.ndarray:
    """``(layer, unit, batch)`` float32 of each layer's ``[batch, units]``, NaN beyond its units."""
    arrays = [out.cpu().numpy() for out in outputs.values()]
    block = np.full((len(arrays), width, len(arrays[0])), np.nan, dtype=np.float32)
    for i, values in enumerate(arrays):
        block[i, : values.shape[1]] = values.T
    return block


def _autocast(device: torch.device, autocast: str | None):
    if not autocast:
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if autocast == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)
