"""Dump per-layer unit activations of a target model over the probe set (NetCDF, resumable).

File layout (``docs/design.md``): variable ``activations`` with dims ``(layer, unit, sample)``;
layers narrower than the widest are NaN-padded and coordinate ``n_units(layer)`` gives each
layer's real width; coords ``layer`` (module path, network order), ``unit``, ``sample``,
``sample_id(sample)``; attr ``provenance`` (JSON). Written shard by shard through
:class:`vitconcepts.ncstream.ShardedNetCDFWriter`, so a killed dump resumes from its last
finished shard and memory does not grow with the number of samples.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
from tqdm import tqdm

from .errors import ConfigError
from .identity import check_paper_model
from .models import (
    ActivationExtractor,
    ModelSpec,
    build_transform,
    load_model,
    read_manifest,
)
from .ncstream import ShardedNetCDFWriter
from .probe import ProbeDataset, load_index, load_index_meta
from .provenance import provenance_json, sha256_file, sha256_json

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
DTYPES = ("float16", "float32")


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> cuda if available, else cpu; anything else as given."""
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class _ShardBuffer:
    """A ``(layer, unit, shard)`` float32 block filled batch by batch (NaN padding kept)."""

    def __init__(self, widths: list[int], shard_size: int) -> None:
        self.widths = widths
        self.data = np.full((len(widths), max(widths), shard_size), np.nan, dtype=np.float32)
        self.begin = 0  # sample index of column 0
        self.fill = 0

    def reset(self, begin: int) -> None:
        self.begin, self.fill = begin, 0

    def add(self, outputs: list[np.ndarray], offset: int, count: int) -> None:
        """Copy rows ``offset:offset+count`` of each layer's [batch, units] output."""
        for i, (out, width) in enumerate(zip(outputs, self.widths, strict=True)):
            self.data[i, :width, self.fill : self.fill + count] = out[offset : offset + count].T
        self.fill += count


def dump_activations(
    spec: ModelSpec,
    index_csv: str | Path,
    manifest: str | Path | None,
    out_nc: str | Path,
    dtype: str = "float32",
    batch_size: int = 64,
    shard_size: int = 1024,
    num_workers: int = 0,
    device: str = "auto",
    threads: int | None = None,
) -> Path:
    """Write the activations of ``spec``'s layers for every probe image to ``out_nc``.

    Layers are validated (and one image run through the model) before any long work. A
    ``<out_nc>.partial`` left by an interrupted run with the same model spec, probe hash,
    dtype and shard size is resumed from its last finished shard.
    """
    if dtype not in DTYPES:
        raise ConfigError(f"dump.dtype is {dtype!r}; allowed values are {', '.join(DTYPES)}.")
    if threads:
        torch.set_num_threads(int(threads))
    run_device = resolve_device(device)
    index = load_index(index_csv)
    probe_meta = load_index_meta(index_csv)
    probe_sha = probe_meta.get("sha256") or sha256_file(index_csv)
    manifest_data = read_manifest(manifest) if spec.pretrained else {}
    n = len(index)

    model = load_model(spec, manifest).to(run_device)
    for warning in check_paper_model(spec, model):  # the paper's networks are what they claim
        log.warning(warning)
    extractor = ActivationExtractor(model, spec)  # validates the layers
    transform = build_transform(spec, model)
    probe_one = ProbeDataset(index_csv, transform, samples=[0])[0][0].unsqueeze(0)
    widths = [
        int(w.shape[1]) for w in extractor(probe_one.to(run_device), torch.tensor([0])).values()
    ]
    layers = extractor.layers
    shard = max(1, min(int(shard_size), n))
    fingerprint = sha256_json(
        {
            "format": FORMAT_VERSION,
            "spec": spec.to_dict(),
            "weights_sha256": manifest_data.get("weights_sha256"),
            "probe_sha256": probe_sha,
            "dtype": dtype,
            "shard": shard,
            "layers": layers,
            "widths": widths,
        }
    )
    writer = ShardedNetCDFWriter(
        out_nc,
        dims={"layer": len(layers), "unit": max(widths), "sample": n},
        coords={
            "layer": (("layer",), np.array(layers)),
            "unit": (("unit",), np.arange(max(widths), dtype=np.int32)),
            "sample": (("sample",), np.arange(n, dtype=np.int64)),
            "sample_id": (("sample",), index["sample_id"].to_numpy(dtype=str)),
            "n_units": (("layer",), np.array(widths, dtype=np.int32)),
        },
        variables={
            "activations": (("layer", "unit", "sample"), dtype, (1, max(widths), shard)),
        },
        stream_dim="sample",
        fingerprint=fingerprint,
    )
    if writer.start:
        log.info("resuming %s at sample %d of %d", writer.partial_path, writer.start, n)
    else:
        log.info("dumping %d layers x %d samples to %s", len(layers), n, writer.partial_path)
    with writer:
        _run(
            extractor,
            index_csv,
            transform,
            writer,
            widths,
            shard,
            batch_size,
            num_workers,
            run_device,
            spec,
        )
        attrs: dict[str, Any] = {
            "provenance": provenance_json(
                model=spec.key,
                model_id=manifest_data.get("repo_id") or spec.weights,
                weights_sha256=manifest_data.get("weights_sha256"),
                probe=probe_meta.get("probe"),
                probe_sha256=probe_sha,
                spec=spec.to_dict(),
                dtype=dtype,
                layers=layers,
                fingerprint=fingerprint,
            ),
            "model": spec.key,
            "units": spec.units,
        }
        path = writer.finalize(attrs)
    extractor.remove()
    return path


def _run(
    extractor: ActivationExtractor,
    index_csv: str | Path,
    transform: Any,
    writer: ShardedNetCDFWriter,
    widths: list[int],
    shard: int,
    batch_size: int,
    num_workers: int,
    device: torch.device,
    spec: ModelSpec,
) -> None:
    """Stream the samples still to do through the model, writing whole shards."""
    n, start = writer.size, writer.start
    if start >= n:
        return
    dataset = ProbeDataset(index_csv, transform, samples=range(start, n))
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=False,
    )
    # Double buffering: a background thread compresses and writes the finished shard (netCDF4
    # releases the GIL) while the model computes the next one; at most one write is in flight.
    buffers = [_ShardBuffer(widths, shard), _ShardBuffer(widths, shard)]
    buffer = buffers[0]
    buffer.reset(start)
    pending: Future | None = None
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="nc-writer") as pool,
        tqdm(total=n, initial=start, desc=f"{spec.key} activations", unit="img") as bar,
    ):
        try:
            for images, samples in loader:
                outputs = extractor(images.to(device, non_blocking=True), samples)
                arrays = [out.cpu().numpy() for out in outputs.values()]
                offset = 0
                while offset < len(samples):
                    count = min(len(samples) - offset, shard - buffer.fill)
                    buffer.add(arrays, offset, count)
                    offset += count
                    end = buffer.begin + buffer.fill
                    if buffer.fill == shard or end == n:
                        if pending is not None:
                            pending.result()  # the other buffer is free again
                        pending = pool.submit(_flush, writer, buffer)
                        buffer = buffers[1] if buffer is buffers[0] else buffers[0]
                        buffer.reset(end)
                bar.update(len(samples))
        finally:
            if pending is not None:
                pending.result()  # finish (and record) the shard in flight


def _flush(writer: ShardedNetCDFWriter, buffer: _ShardBuffer) -> None:
    """Write a full (or the last) shard and record it as done."""
    writer.write("activations", buffer.begin, buffer.data[:, :, : buffer.fill])
    writer.mark_done(buffer.begin + buffer.fill)


def read_layer(nc: str | Path | xr.Dataset, layer: str | int) -> np.ndarray:
    """Activations of one layer as float32 ``[sample, unit]`` without the NaN padding.

    ``layer`` is a module path (the ``layer`` coordinate) or a 0-based index in network order.
    """
    ds = nc if isinstance(nc, xr.Dataset) else xr.open_dataset(nc)
    try:
        names = [str(x) for x in ds["layer"].values]
        if isinstance(layer, int | np.integer):
            if not -len(names) <= int(layer) < len(names):
                raise IndexError(f"layer index {layer} out of range: {len(names)} layers")
            position = int(layer) % len(names)
        elif str(layer) in names:
            position = names.index(str(layer))
        else:
            raise KeyError(f"layer {layer!r} is not in {names}")
        width = int(ds["n_units"].values[position]) if "n_units" in ds else ds.sizes["unit"]
        values = ds["activations"].isel(layer=position, unit=slice(0, width)).values
        return np.ascontiguousarray(values.T, dtype=np.float32)
    finally:
        if not isinstance(nc, xr.Dataset):
            ds.close()
