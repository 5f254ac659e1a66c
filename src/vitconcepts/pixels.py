"""Decode once: a probe's images preprocessed per *recipe*, stored as uint8, read by every pass.

A recipe is the geometric part of a preprocessing pipeline (``Resize`` of the shorter side,
``CenterCrop``, interpolation, antialias) plus the normalisation (mean/std). The cache file
``resources/probes/{probe}/pixels_{recipe.key}.nc`` (NetCDF4/HDF5) holds variable
``pixels (sample, channel, y, x)`` uint8, chunked by ``shard`` images and uncompressed, with
attrs ``recipe`` (JSON), ``recipe_key``, ``probe_sha256`` and ``provenance``. Every model pass
sharing the recipe reads batches of uint8 from it and normalises *on the device*::

    x = u8.float().div(255); x.sub_(mean).div_(std)

which is exactly what ``ToTensor`` + ``Normalize`` do to the uint8 crop of a PIL image, so the
activations are identical with and without the cache (tests/test_pixels.py checks it).
At the paper's size a recipe takes 113,305 x 3 x 224 x 224 bytes = 17.1 GB.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .clip_spec import model_name, pretrained_tag, tag_cfg
from .constants import IMAGENET_MEAN, IMAGENET_STD
from .errors import ConfigError, InputDataError
from .formats import read_probe_index
from .ncstream import HDF5_LOCK, ShardedNetCDFWriter
from .probe import ProbeDataset, load_index_meta
from .provenance import provenance_json, sha256_file, sha256_json
from .shard_loop import sample_coords, write_batches

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
#: images per HDF5 chunk (one chunk = 64 x 150 KB = 9.6 MB at 224 px)
DEFAULT_SHARD = 64


@dataclass(frozen=True)
class Recipe:
    """Resize(shorter side) -> CenterCrop -> uint8; normalisation applied later on the device."""

    resize: int
    crop: int
    interpolation: str = "bilinear"
    antialias: bool = True
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recipe:
        return cls(
            resize=int(data["resize"]),
            crop=int(data["crop"]),
            interpolation=str(data.get("interpolation", "bilinear")),
            antialias=bool(data.get("antialias", True)),
            mean=tuple(float(x) for x in data.get("mean", IMAGENET_MEAN)),
            std=tuple(float(x) for x in data.get("std", IMAGENET_STD)),
        )

    @property
    def key(self) -> str:
        """``r256c224bilinear-<hash>``: readable, and unique per parameter set."""
        digest = sha256_json({"format": FORMAT_VERSION, **self.to_dict()})[:8]
        return f"r{self.resize}c{self.crop}{self.interpolation}-{digest}"

    def bytes_per_image(self) -> int:
        return 3 * self.crop * self.crop

    def pil_transform(self):
        """PIL image -> uint8 tensor ``[3, crop, crop]`` (the geometric part of the recipe)."""
        from torchvision import transforms

        return transforms.Compose(
            [
                transforms.Resize(
                    self.resize,
                    interpolation=transforms.InterpolationMode(self.interpolation),
                    antialias=self.antialias,
                ),
                transforms.CenterCrop(self.crop),
                transforms.PILToTensor(),
            ]
        )

    def normaliser(self, device: torch.device | str = "cpu") -> DeviceNormalise:
        return DeviceNormalise(self.mean, self.std, device)


class DeviceNormalise:
    """uint8 ``[B, 3, H, W]`` -> float32, as ``ToTensor`` + ``Normalize`` would (bit for bit)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], device: Any) -> None:
        self.mean = torch.as_tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        # a device tensor, not a Python scalar: CUDA turns division by a scalar into a
        # multiplication by its reciprocal (1 ulp off); ToTensor divides exactly.
        self.scale = torch.full((1, 1, 1, 1), 255.0, dtype=torch.float32, device=device)

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        x = pixels.to(self.mean.device, non_blocking=True).to(torch.float32)
        return x.div_(self.scale).sub_(self.mean).div_(self.std)


def paper_recipe(input_size: int = 224) -> Recipe:
    """The authors' preprocessing for every target model (``models.build_transform``)."""
    return Recipe(resize=round(input_size * 256 / 224), crop=int(input_size))


def _size(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, list | tuple) and len(value) == 1:
        return int(value[0])
    if isinstance(value, list | tuple) and len(value) == 2 and value[0] == value[1]:
        return int(value[0])
    return None


def recipe_from_transform(transform: Any) -> Recipe | None:
    """The recipe of a ``Compose(Resize, CenterCrop, [to RGB], ToTensor, Normalize)``, else None.

    Works for the paper transform, timm's eval transforms and open_clip's preprocess; any other
    step (or a non-square resize) means the pipeline cannot be cached.
    """
    steps = getattr(transform, "transforms", None)
    if not steps:
        return None
    names = [
        type(t).__name__ if hasattr(t, "forward") or not hasattr(t, "__name__") else t.__name__
        for t in steps
    ]
    # conversions to RGB are no-ops: probe images are loaded as RGB (probe.load_rgb)
    rest = [
        (n, t)
        for n, t in zip(names, steps, strict=True)
        if not (n == "_convert_to_rgb" or n == "MaybeConvertMode" and t.mode == "RGB")
    ]
    kinds = [n for n, _ in rest]
    if kinds not in (
        ["Resize", "CenterCrop", "ToTensor", "Normalize"],
        ["Resize", "CenterCrop", "MaybeToTensor", "Normalize"],
    ):
        return None
    resize, crop, _, norm = (t for _, t in rest)
    size, crop_size = _size(resize.size), _size(crop.size)
    if (
        size is None
        or crop_size is None
        or isinstance(resize.size, list | tuple)
        and len(resize.size) == 2
        or getattr(resize, "max_size", None) is not None
    ):
        return None
    interpolation = getattr(resize.interpolation, "value", str(resize.interpolation))
    antialias = resize.antialias if resize.antialias is not None else True
    return Recipe(
        resize=size,
        crop=crop_size,
        interpolation=str(interpolation),
        antialias=bool(antialias),
        mean=tuple(float(x) for x in norm.mean),
        std=tuple(float(x) for x in norm.std),
    )


def clip_recipe(clip_entry: Mapping[str, Any]) -> Recipe | None:
    """The recipe of CLIP's own preprocessing for a ``clip_models`` entry, from the open_clip
    config alone (no weights); None if it cannot be cached."""
    import open_clip

    name = model_name(clip_entry)
    cfg = tag_cfg(name, pretrained_tag(clip_entry))
    size = open_clip.get_model_config(name)["vision_cfg"].get("image_size", 224)
    transform = open_clip.image_transform(
        size,
        is_train=False,
        mean=cfg.get("mean"),
        std=cfg.get("std"),
        resize_mode=cfg.get("resize_mode"),
        interpolation=cfg.get("interpolation"),
    )
    return recipe_from_transform(transform)


def cache_size_bytes(n_images: int, recipe: Recipe) -> int:
    return int(n_images) * recipe.bytes_per_image()


def _probe_sha(index_csv: str | Path) -> str:
    return load_index_meta(index_csv).get("sha256") or sha256_file(index_csv)


def build_pixel_cache(
    index_csv: str | Path,
    recipe: Recipe | Mapping[str, Any],
    out_nc: str | Path,
    shard_size: int = DEFAULT_SHARD,
    num_workers: int = 0,
    threads: int | None = None,
) -> Path:
    """Decode, resize and crop every probe image once; write uint8 pixels to ``out_nc``.

    Prints the size first and refuses (InputDataError) when the disk cannot hold it. Resumable
    shard by shard (``<out_nc>.partial``) like the activation dumps.
    """
    if not isinstance(recipe, Recipe):
        recipe = Recipe.from_dict(recipe)
    if threads:
        torch.set_num_threads(int(threads))
    index = read_probe_index(index_csv)
    n, crop = len(index), recipe.crop
    probe_sha = _probe_sha(index_csv)
    out_nc = Path(out_nc)
    _check_room(out_nc, n, recipe)
    shard = max(1, min(int(shard_size), n))
    fingerprint = sha256_json(
        {"format": FORMAT_VERSION, "recipe": recipe.to_dict(), "probe": probe_sha, "shard": shard}
    )
    writer = ShardedNetCDFWriter(
        out_nc,
        dims={"sample": n, "channel": 3, "y": crop, "x": crop},
        coords=sample_coords(index["sample_id"].to_numpy(dtype=str)),
        variables={"pixels": (("sample", "channel", "y", "x"), "uint8", (shard, 3, crop, crop))},
        stream_dim="sample",
        fingerprint=fingerprint,
    )
    with writer:
        if writer.start < n:
            dataset = ProbeDataset(index_csv, recipe.pil_transform(), range(writer.start, n))
            loader = torch.utils.data.DataLoader(
                dataset, batch_size=shard, shuffle=False, num_workers=int(num_workers)
            )
            write_batches(
                writer, "pixels", loader, lambda u8, _: u8.numpy(), desc=f"pixels {recipe.key}"
            )
        return writer.finalize(
            {
                "recipe": recipe.to_dict(),
                "recipe_key": recipe.key,
                "probe_sha256": probe_sha,
                "provenance": provenance_json(
                    step="cache_pixels",
                    recipe=recipe.to_dict(),
                    recipe_key=recipe.key,
                    probe=load_index_meta(index_csv).get("probe"),
                    probe_sha256=probe_sha,
                ),
            }
        )


def _check_room(out_nc: Path, n: int, recipe: Recipe) -> None:
    """Print the cache's size; InputDataError when the disk of ``out_nc`` cannot hold it."""
    size = cache_size_bytes(n, recipe)
    out_nc.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(out_nc.parent).free
    msg = (
        f"pixel cache {out_nc}: {n} images x 3 x {recipe.crop} x {recipe.crop} uint8 = "
        f"{size / 1e9:.2f} GB ({free / 1e9:.1f} GB free)"
    )
    print(msg, flush=True)
    log.info(msg)
    partial = Path(str(out_nc) + ".partial")
    already = partial.stat().st_size if partial.exists() else 0
    if size > free + already:
        raise InputDataError(
            f"The pixel cache {out_nc} needs {size / 1e9:.2f} GB but only {free / 1e9:.2f} GB "
            f"are free on {out_nc.parent}.",
            "free disk space, or set `pixel_cache: false` in the config to decode the JPEGs "
            "in every pass instead.",
        )


def _open(path: Path) -> tuple[Any, Any]:
    """(handle, pixels variable) via netCDF4, or h5py where netCDF4 is not installed."""
    try:
        import netCDF4

        ds = netCDF4.Dataset(path, "r")
        var = ds["pixels"]
        var.set_auto_maskandscale(False)
        return ds, var
    except ImportError:  # pragma: no cover - e.g. a bare GPU image with h5py only
        import h5py

        ds = h5py.File(path, "r")
        return ds, ds["pixels"]


def _attrs(path: Path) -> dict[str, Any]:
    ds, _ = _open(path)
    try:
        if hasattr(ds, "ncattrs"):
            attrs = {k: ds.getncattr(k) for k in ds.ncattrs()}
        else:  # pragma: no cover
            attrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in ds.attrs.items()}
        attrs["_shape"] = tuple(ds["pixels"].shape)
        return attrs
    finally:
        ds.close()


def check_pixel_cache(path: str | Path, recipe: Recipe, index_csv: str | Path) -> int:
    """Raise InputDataError unless ``path`` holds ``recipe``'s pixels of this probe; return N."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError(
            f"The pixel cache {path} does not exist.",
            "run the cache_pixels rule (or set `pixel_cache: false`).",
        )
    attrs = _attrs(path)
    key = str(attrs.get("recipe_key"))
    if key != recipe.key:
        raise ConfigError(
            f"The pixel cache {path} holds recipe {key} but this model's preprocessing is "
            f"{recipe.key} ({json.dumps(recipe.to_dict())}).",
            "pass the cache file of the model's own recipe (or none, to decode the JPEGs).",
        )
    probe_sha = _probe_sha(index_csv)
    if str(attrs.get("probe_sha256")) != probe_sha:
        raise InputDataError(
            f"The pixel cache {path} was built from another version of the probe "
            f"(probe hash {attrs.get('probe_sha256')}, index {index_csv} has {probe_sha}).",
            f"delete {path} and rerun (the cache_pixels rule rebuilds it).",
        )
    return int(attrs["_shape"][0])


class PixelBatches(torch.utils.data.Dataset):
    """``dataset[b] -> (uint8 [B, 3, H, W], samples [B])``: batch ``b`` of ``samples`` range.

    Use with ``DataLoader(batch_size=None, ...)``: one contiguous slab read per batch. Each
    worker process opens the file itself (lazily, after the fork).
    """

    def __init__(self, path: str | Path, samples: range, batch_size: int) -> None:
        self.path = Path(path)
        self.start, self.stop = int(samples.start), int(samples.stop)
        self.batch_size = max(1, int(batch_size))
        self._ds: Any = None
        self._var: Any = None

    def __len__(self) -> int:
        return max(0, -(-(self.stop - self.start) // self.batch_size))

    def __getitem__(self, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= b < len(self):
            raise IndexError(b)
        s0 = self.start + b * self.batch_size
        s1 = min(self.stop, s0 + self.batch_size)
        with HDF5_LOCK:  # the activation writer thread may be in netCDF4 too
            if self._var is None:
                self._ds, self._var = _open(self.path)
            pixels = np.ascontiguousarray(self._var[s0:s1], dtype=np.uint8)
        return torch.from_numpy(pixels), torch.arange(s0, s1)

    def close(self) -> None:
        if self._ds is not None:
            self._ds.close()
        self._ds, self._var = None, None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_ds": None, "_var": None}


def pixel_loader(
    path: str | Path,
    samples: range,
    batch_size: int,
    num_workers: int,
    device: torch.device,
) -> torch.utils.data.DataLoader:
    """A prefetching loader of uint8 batches (pinned when the device is CUDA)."""
    workers = int(num_workers)
    return torch.utils.data.DataLoader(
        PixelBatches(path, samples, batch_size),
        batch_size=None,
        shuffle=False,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        prefetch_factor=4 if workers else None,
        persistent_workers=False,
    )
