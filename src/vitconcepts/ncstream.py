"""Resumable, streaming NetCDF4 writer for outputs of known final shape.

``ShardedNetCDFWriter`` writes a NetCDF4 file batch by batch into ``<out>.partial`` and
renames it to ``<out>`` when everything is written, so that a killed job keeps its finished
shards and a rerun resumes from the last one. Memory use does not depend on the size of the
streaming dimension: only what the caller passes to :meth:`write` is held in memory.

Usage::

    with ShardedNetCDFWriter(
        "results/activations/p/m.nc",
        dims={"layer": 12, "unit": 768, "sample": n},
        coords={
            "layer": (("layer",), layer_names),          # str coords are fine
            "unit": (("unit",), np.arange(768)),
            "sample": (("sample",), np.arange(n)),
            "sample_id": (("sample",), sample_ids),     # non-dimension coordinate
        },
        variables={"activations": (("layer", "unit", "sample"), "float16", (1, 768, 1024))},
        stream_dim="sample",
        fingerprint=sha256_json(config_that_defines_the_content),
    ) as writer:
        for begin in range(writer.start, n, shard):      # writer.start: first sample to do
            end = min(begin + shard, n)
            writer.write("activations", begin, values)   # values[..., end - begin]
            writer.mark_done(end)                        # records progress, syncs to disk
        writer.finalize({"provenance": provenance_json(...)})

* ``dims``: name -> size of every dimension (all fixed; the file's final shape).
* ``coords``: name -> ``(dims, values)``; written once when the file is created. A coord whose
  name equals its single dim is a dimension coordinate; others (``sample_id(sample)``,
  ``n_units(layer)``) are listed in the ``coordinates`` attr so xarray treats them as coords.
  Values of dtype str/object are stored as NetCDF variable-length strings.
* ``variables``: name -> ``(dims, dtype, chunksizes)``; dtype ``"float16"`` or ``"float32"``
  (or any numpy dtype NetCDF4 supports), ``chunksizes`` a tuple or ``None``. NetCDF4 has no
  half-precision type, so ``"float16"`` variables are stored as float32 holding values
  rounded to float16 (attr ``stored_precision="float16"``); with zlib + shuffle the unused
  mantissa bits compress away. Float variables are zlib-compressed (level ``complevel``,
  default 1: as small as 4 here, and faster) and filled with NaN where nothing was written.
  The HDF5 chunk cache is limited to one stream-slab of chunks per variable.
* ``stream_dim``: the dimension written shard by shard and counted by :meth:`mark_done`.
* ``fingerprint``: hash of everything that defines the content. An existing ``.partial``
  with the same fingerprint and dims is resumed (``start`` = its ``completed`` count);
  otherwise it is deleted and the file is created afresh (``start == 0``).

:meth:`write` accepts one variable name and an array, or a dict ``{name: array}``; the array
covers ``[start, start + len)`` along ``stream_dim`` and the full extent of the other dims.
:meth:`finalize` stores ``attrs`` (dicts/lists become JSON strings), closes the file and
atomically renames ``.partial`` to ``out``. Closing without finalizing keeps the partial file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np

COMPLETED_ATTR = "completed"
FINGERPRINT_ATTR = "fingerprint"
STREAM_DIM_ATTR = "stream_dim"

VariableSpec = tuple[Sequence[str], Any, Sequence[int] | None]


def _is_string_array(values: np.ndarray) -> bool:
    return values.dtype.kind in ("U", "S", "O")


class ShardedNetCDFWriter:
    """Write a NetCDF4 file of known shape shard by shard, resumably (see module docstring)."""

    def __init__(
        self,
        out_path: str | Path,
        dims: Mapping[str, int],
        coords: Mapping[str, tuple[Sequence[str], Any]],
        variables: Mapping[str, VariableSpec],
        stream_dim: str = "sample",
        fingerprint: str = "",
        complevel: int = 1,
    ) -> None:
        self.out_path = Path(out_path)
        self.partial_path = Path(str(self.out_path) + ".partial")
        #: ``"<completed> <size>"``, rewritten after every shard: progress a monitor (or a
        #: test) can read without opening the HDF5 file while it is being written.
        self.progress_path = Path(str(self.partial_path) + ".progress")
        self.dims = {name: int(size) for name, size in dims.items()}
        if stream_dim not in self.dims:
            raise ValueError(f"stream_dim {stream_dim!r} is not one of the dims {list(dims)}")
        self.stream_dim = stream_dim
        self.fingerprint = str(fingerprint)
        self.variables = {
            name: (tuple(vdims), np.dtype(dtype), chunks)
            for name, (vdims, dtype, chunks) in variables.items()
        }
        for name, (vdims, _, _) in self.variables.items():
            unknown = [d for d in vdims if d not in self.dims]
            if unknown:
                raise ValueError(f"variable {name!r} uses undeclared dims {unknown}")
        self._ds: netCDF4.Dataset | None = None
        self.partial_path.parent.mkdir(parents=True, exist_ok=True)
        self.start = self._try_resume()
        if self._ds is None:
            self._create(coords, complevel)
            self.start = 0
        self._limit_chunk_cache()

    # -- opening ---------------------------------------------------------------------------
    def _try_resume(self) -> int:
        """Open a matching partial file in append mode; return its completed count."""
        if not self.partial_path.exists():
            return 0
        try:
            ds = netCDF4.Dataset(self.partial_path, "a")
        except OSError:
            self.partial_path.unlink()
            self.progress_path.unlink(missing_ok=True)
            return 0
        try:
            same = (
                getattr(ds, FINGERPRINT_ATTR, None) == self.fingerprint
                and getattr(ds, STREAM_DIM_ATTR, None) == self.stream_dim
                and {n: len(d) for n, d in ds.dimensions.items()} == self.dims
                and all(
                    name in ds.variables and tuple(ds.variables[name].dimensions) == vdims
                    for name, (vdims, _, _) in self.variables.items()
                )
            )
            completed = int(getattr(ds, COMPLETED_ATTR, 0))
        except Exception:  # an unreadable partial is simply started over
            same, completed = False, 0
        if not same:
            ds.close()
            self.partial_path.unlink()
            self.progress_path.unlink(missing_ok=True)
            return 0
        self._ds = ds
        return completed

    def _create(self, coords: Mapping[str, tuple[Sequence[str], Any]], complevel: int) -> None:
        ds = netCDF4.Dataset(self.partial_path, "w", format="NETCDF4")
        self._ds = ds
        for name, size in self.dims.items():
            ds.createDimension(name, size)
        aux_coords: list[tuple[str, tuple[str, ...]]] = []
        for name, (cdims, values) in coords.items():
            cdims = tuple(cdims)
            values = np.asarray(values)
            if _is_string_array(values):
                var = ds.createVariable(name, str, cdims)
                flat = values.astype(str).ravel()
                out = np.empty(flat.shape, dtype=object)
                out[:] = list(flat)
                var[:] = out.reshape(values.shape)
            else:
                var = ds.createVariable(name, values.dtype, cdims)
                var[:] = values
            if cdims != (name,):
                aux_coords.append((name, cdims))
        for name, (vdims, dtype, chunks) in self.variables.items():
            stored = np.dtype("float32") if dtype == np.float16 else dtype
            kwargs: dict[str, Any] = {}
            if stored.kind == "f":
                kwargs["fill_value"] = np.nan
                if complevel > 0:  # 0: no compression filter at all (fastest writes)
                    kwargs.update(zlib=True, complevel=complevel, shuffle=True)
            if chunks is not None:
                kwargs["chunksizes"] = tuple(int(c) for c in chunks)
            var = ds.createVariable(name, stored, vdims, **kwargs)
            if dtype == np.float16:
                var.stored_precision = "float16"
            own = [c for c, cdims in aux_coords if set(cdims) <= set(vdims)]
            if own:
                var.coordinates = " ".join(own)
        # Coords not attached to any variable are found by xarray through the global attr.
        if aux_coords:
            ds.setncattr("coordinates", " ".join(c for c, _ in aux_coords))
        ds.setncattr(FINGERPRINT_ATTR, self.fingerprint)
        ds.setncattr(STREAM_DIM_ATTR, self.stream_dim)
        ds.setncattr(COMPLETED_ATTR, 0)
        ds.sync()

    def _limit_chunk_cache(self) -> None:
        """Cache one stream-slab of chunks per variable, so memory does not grow with N.

        Each shard is written once, chunk-aligned; finished chunks need not stay cached.
        """
        ds = self._require_open()
        for name, (vdims, _, _) in self.variables.items():
            var = ds.variables[name]
            chunks = var.chunking()
            if not isinstance(chunks, list):
                continue
            n_chunks = 1
            for dim, chunk in zip(vdims, chunks, strict=True):
                if dim != self.stream_dim:
                    n_chunks *= -(-self.dims[dim] // chunk)
            chunk_bytes = int(np.prod(chunks)) * var.dtype.itemsize
            var.set_var_chunk_cache(size=n_chunks * chunk_bytes + (1 << 20), nelems=1009)

    # -- writing ---------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Final length of the streaming dimension."""
        return self.dims[self.stream_dim]

    @property
    def completed(self) -> int:
        """Number of stream-dim entries recorded as finished."""
        return int(getattr(self._require_open(), COMPLETED_ATTR))

    def _require_open(self) -> netCDF4.Dataset:
        if self._ds is None:
            raise RuntimeError(f"{self.partial_path} is closed")
        return self._ds

    def write(self, name: str | Mapping[str, Any], start: int, values: Any | None = None) -> None:
        """Write ``values`` to variable ``name`` from ``start`` along the stream dim.

        ``name`` may instead be a dict ``{variable: values}``. Variables without the stream
        dim are written whole (``start`` ignored).
        """
        items = name.items() if isinstance(name, Mapping) else [(name, values)]
        ds = self._require_open()
        for var_name, data in items:
            vdims, dtype, _ = self.variables[var_name]
            data = np.asarray(data)
            if dtype == np.float16:
                data = data.astype(np.float16).astype(np.float32)
            else:
                data = data.astype(dtype, copy=False)
            if self.stream_dim not in vdims:
                ds.variables[var_name][...] = data
                continue
            axis = vdims.index(self.stream_dim)
            stop = start + data.shape[axis]
            if start < 0 or stop > self.size:
                raise IndexError(f"[{start}, {stop}) outside {self.stream_dim} of {self.size}")
            index = [slice(None)] * len(vdims)
            index[axis] = slice(start, stop)
            ds.variables[var_name][tuple(index)] = data

    def mark_done(self, upto: int) -> None:
        """Record that entries ``[0, upto)`` of the stream dim are written; sync to disk."""
        ds = self._require_open()
        if not 0 <= upto <= self.size:
            raise IndexError(f"mark_done({upto}) outside {self.stream_dim} of {self.size}")
        ds.setncattr(COMPLETED_ATTR, int(upto))
        ds.sync()
        tmp = self.progress_path.with_name(self.progress_path.name + ".tmp")
        tmp.write_text(f"{int(upto)} {self.size}\n")
        os.replace(tmp, self.progress_path)

    def finalize(self, attrs: Mapping[str, Any] | None = None) -> Path:
        """Store global ``attrs``, close and atomically rename to ``out_path``; return it."""
        ds = self._require_open()
        if self.completed != self.size:
            raise RuntimeError(
                f"{self.partial_path}: only {self.completed} of {self.size} "
                f"{self.stream_dim} entries were marked done"
            )
        for key, value in (attrs or {}).items():
            if isinstance(value, Mapping | list | tuple):
                value = json.dumps(value, sort_keys=True, default=str)
            elif isinstance(value, bool):
                value = int(value)
            ds.setncattr(key, value)
        ds.close()
        self._ds = None
        os.replace(self.partial_path, self.out_path)
        self.progress_path.unlink(missing_ok=True)
        return self.out_path

    def close(self) -> None:
        """Close without finalizing; the ``.partial`` file stays for a later resume."""
        if self._ds is not None:
            self._ds.close()
            self._ds = None

    def __enter__(self) -> ShardedNetCDFWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
