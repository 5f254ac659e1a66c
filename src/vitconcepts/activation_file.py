"""Reading an activation file (``activations (layer, unit, sample)``, coord ``n_units(layer)``).

It imports nothing of the extraction side (models, pixels, probe), so the labeling step can
read activations without loading them. The project's file formats are being gathered in
``vitconcepts.formats``; this reader moves there with the activation file's writer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr


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
