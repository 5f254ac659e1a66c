"""The activation file of a model on a probe: ``activations (layer, unit, sample)``.

NetCDF4 written sample shard by sample shard by ``dump_activations``: coords ``layer``
(module paths, network order), ``unit`` (0 .. widest layer - 1), ``sample`` (the probe index's
numbering), ``sample_id(sample)`` and ``n_units(layer)`` (each layer's real width: narrower
layers are NaN-padded up to ``unit``); attr ``provenance``. Read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import InputDataError
from ..io_errors import open_netcdf

PathLike = str | Path


@dataclass(frozen=True)
class ActivationLayout:
    """What an activation file holds, without its values."""

    layers: list[str]
    n_units: np.ndarray  # [layer], each layer's real width
    samples: np.ndarray  # [sample], the probe index numbering
    sample_ids: list[str]  # [sample]


def _n_units(ds: xr.Dataset) -> np.ndarray:
    if "n_units" in ds.coords or "n_units" in ds:
        return np.asarray(ds["n_units"].values, dtype=np.int64)
    return np.full(ds.sizes["layer"], ds.sizes["unit"], dtype=np.int64)


def read_activation_layout(activations_nc: PathLike) -> ActivationLayout:
    """Layers, their widths and the samples of an activation file.

    Raises :class:`InputDataError` naming the file when it is missing, unreadable or has no
    ``activations`` variable.
    """
    with open_netcdf(activations_nc) as ds:
        if "activations" not in ds:
            raise InputDataError(
                f"{activations_nc} has no variable 'activations'.",
                "regenerate it with the dump_activations rule.",
            )
        return ActivationLayout(
            layers=[str(v) for v in ds["layer"].values],
            n_units=_n_units(ds),
            samples=np.asarray(ds["sample"].values, dtype=np.int64),
            sample_ids=[str(v) for v in ds["sample_id"].values],
        )


def _layer_position(names: list[str], layer: str | int) -> int:
    if isinstance(layer, int | np.integer):
        if not -len(names) <= int(layer) < len(names):
            raise IndexError(f"layer index {layer} out of range: {len(names)} layers")
        return int(layer) % len(names)
    if str(layer) in names:
        return names.index(str(layer))
    raise KeyError(f"layer {layer!r} is not in {names}")


def read_layer(nc: PathLike | xr.Dataset, layer: str | int) -> np.ndarray:
    """Activations of one layer as float32 ``[sample, unit]`` without the NaN padding.

    ``layer`` is a module path (the ``layer`` coordinate) or a 0-based index in network order
    (negative counts from the end). An unknown layer raises ``KeyError``/``IndexError``.
    """
    ds = nc if isinstance(nc, xr.Dataset) else xr.open_dataset(nc)
    try:
        position = _layer_position([str(x) for x in ds["layer"].values], layer)
        width = int(_n_units(ds)[position])
        values = ds["activations"].isel(layer=position, unit=slice(0, width)).values
        return np.ascontiguousarray(values.T, dtype=np.float32)
    finally:
        if not isinstance(nc, xr.Dataset):
            ds.close()
