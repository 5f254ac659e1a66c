"""Dump per-layer unit activations of a target model over the probe set (NetCDF, resumable).

File layout (``docs/design.md``): variable ``activations`` with dims ``(layer, unit, sample)``;
layers narrower than the widest are NaN-padded and coordinate ``n_units(layer)`` gives each
layer's real width; coords ``layer`` (module path, network order), ``unit``, ``sample``,
``sample_id(sample)``; attr ``provenance`` (JSON). Written shard by shard through
:class:`vitconcepts.ncstream.ShardedNetCDFWriter`, so a killed dump resumes from its last
finished shard and memory does not grow with the number of samples.
"""

from __future__ import annotations

import contextlib
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
from tqdm import tqdm

from .errors import ConfigError, InputDataError
from .models import (
    ActivationExtractor,
    ModelSpec,
    build_transform,
    load_model,
    read_manifest,
)
from .ncstream import ShardedNetCDFWriter
from .paper_architectures import check_paper_model
from .pixels import PixelBatches, check_pixel_cache, pixel_loader, recipe_from_transform
from .probe import ProbeDataset, load_index, load_index_meta
from .provenance import provenance_json, sha256_file, sha256_json

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
DTYPES = ("float16", "float32")
AUTOCAST = (None, "none", "bf16", "fp16")


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
    pixels: str | Path | None = None,
    autocast: str | None = None,
    channels_last: bool | None = None,
    complevel: int = 1,
) -> Path:
    """Write the activations of ``spec``'s layers for every probe image to ``out_nc``.

    Layers are validated (and one image run through the model) before any long work. A
    ``<out_nc>.partial`` left by an interrupted run with the same model spec, probe hash,
    dtype and shard size is resumed from its last finished shard.

    ``pixels``: a pixel cache of the model's preprocessing recipe (``vitconcepts.pixels``);
    uint8 batches are read from it and normalised on the device instead of decoding the JPEGs
    (identical activations). ``autocast``: ``bf16``/``fp16`` runs the model under
    ``torch.autocast`` (a precision change, recorded in the fingerprint; default none = the
    paper's float32). ``channels_last`` (default: on for CNNs on CUDA). ``complevel``: zlib
    level of the file (0 = uncompressed: ~10x faster writes, for fast GPUs where the writer
    thread would bound the pass).
    """
    if dtype not in DTYPES:
        raise ConfigError(f"dump.dtype is {dtype!r}; allowed values are {', '.join(DTYPES)}.")
    if autocast not in AUTOCAST:
        raise ConfigError(
            f"dump.autocast is {autocast!r}; allowed values are none, bf16 and fp16.",
            "remove dump.autocast to keep the paper's float32.",
        )
    autocast = None if autocast == "none" else autocast
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
    if channels_last is None:
        channels_last = run_device.type == "cuda" and spec.arch != "vit"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    extractor = ActivationExtractor(model, spec)  # validates the layers
    transform = build_transform(spec, model)
    source = _Source(index_csv, transform, pixels, run_device, channels_last)
    with _autocast(run_device, autocast):
        outputs = extractor(source.first(), torch.tensor([0]))
    widths = [int(w.shape[1]) for w in outputs.values()]
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
            **({"autocast": autocast} if autocast else {}),
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
        complevel=int(complevel),
    )
    if writer.start:
        log.info("resuming %s at sample %d of %d", writer.partial_path, writer.start, n)
    else:
        log.info("dumping %d layers x %d samples to %s", len(layers), n, writer.partial_path)
    with writer:
        _run(
            extractor,
            source,
            autocast,
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
                autocast=autocast or "none",
                pixel_cache=str(pixels) if pixels else None,
            ),
            "model": spec.key,
            "units": spec.units,
        }
        path = writer.finalize(attrs)
    extractor.remove()
    return path


class _Source:
    """Where the image batches come from: the JPEGs (decoded in the loader's workers) or a
    pixel cache (uint8 slabs, normalised on the device). ``batches`` yields device tensors."""

    def __init__(
        self,
        index_csv: str | Path,
        transform: Any,
        pixels: str | Path | None,
        device: torch.device,
        channels_last: bool,
    ) -> None:
        self.index_csv, self.transform, self.device = index_csv, transform, device
        self.channels_last = channels_last
        self.pixels = Path(pixels) if pixels else None
        self.normalise = None
        if self.pixels is not None:
            recipe = recipe_from_transform(transform)
            if recipe is None:
                raise ConfigError(
                    f"The preprocessing of this model ({transform}) is not a "
                    "Resize/CenterCrop/ToTensor/Normalize pipeline, so it cannot read the pixel "
                    f"cache {self.pixels}.",
                    "set `pixel_cache: false` or use `preprocessing: paper` for this model.",
                )
            n = check_pixel_cache(self.pixels, recipe, index_csv)
            if n != len(load_index(index_csv)):
                raise InputDataError(
                    f"The pixel cache {self.pixels} has {n} images, the probe index "
                    f"{index_csv} {len(load_index(index_csv))}.",
                    f"delete {self.pixels} and rerun.",
                )
            self.normalise = recipe.normaliser(device)

    def _to_device(self, images: torch.Tensor) -> torch.Tensor:
        if self.normalise is not None:
            images = self.normalise(images)
        else:
            images = images.to(self.device, non_blocking=True)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images

    def first(self) -> torch.Tensor:
        if self.pixels is not None:
            batches = PixelBatches(self.pixels, range(0, 1), 1)
            try:
                return self._to_device(batches[0][0])
            finally:
                batches.close()  # worker processes open their own handles
        return self._to_device(ProbeDataset(self.index_csv, self.transform, [0])[0][0][None])

    def batches(self, start: int, n: int, batch_size: int, num_workers: int):
        if self.pixels is not None:
            loader = pixel_loader(
                self.pixels, range(start, n), batch_size, num_workers, self.device
            )
        else:
            loader = torch.utils.data.DataLoader(
                ProbeDataset(self.index_csv, self.transform, samples=range(start, n)),
                batch_size=batch_size,
                shuffle=False,
                num_workers=num_workers,
                pin_memory=self.device.type == "cuda",
                persistent_workers=False,
            )
        for images, samples in loader:
            yield self._to_device(images), samples


def _autocast(device: torch.device, autocast: str | None):
    if not autocast:
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if autocast == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def _run(
    extractor: ActivationExtractor,
    source: _Source,
    autocast: str | None,
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
            for images, samples in source.batches(start, n, batch_size, num_workers):
                with _autocast(device, autocast):
                    outputs = extractor(images, samples)
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
