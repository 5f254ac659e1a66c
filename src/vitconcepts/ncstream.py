"""Resumable, streaming NetCDF4 writer for outputs of known final shape.

``ShardedNetCDFWriter`` writes a NetCDF4 file batch by batch into ``<out>.partial`` and
renames it to ``<out>`` when everything is written, so that a killed job keeps its finished
shards and a rerun resumes from the last one. Memory use does not depend on the size of the
streaming dimension: only what the caller passes to :meth:`write` is held in memory.

Usage: open it with the file's final ``dims``, ``coords`` and ``variables``, write the entries
from ``writer.start`` on (``writer.write(name, begin, values)``, then
``writer.mark_done(end)`` after each shard), then ``writer.finalize(attrs)``. The loop over
batches that every streamed output runs is :func:`vitconcepts.shard_loop.write_batches`.

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
  with the same fingerprint and dims is resumed; otherwise it is deleted (the log says why)
  and the file is created afresh (``start == 0``).

Durability: :meth:`mark_done` records a shard only once its data is on disk: the HDF5 file is
flushed and fsync'ed, the shard's CRC32 is taken (of the array :meth:`write` stored, or read
back when the shard came in several writes), and only then is
``<out>.partial.progress`` replaced atomically (tmp file, fsync, rename). Its first line is
``"<completed> <size>"`` (for monitors), the second a JSON record with the fingerprint and
each shard's ``[begin, end, {variable: crc32}]``. The progress file, not the HDF5 file, is
the record of what is finished. A resume re-reads every recorded shard and restarts from the
first one whose data is unreadable or differs from its checksum (e.g. written while the disk
was full). Any I/O error (a full disk, EACCES, EIO, an HDF5 error) raises a
:class:`~vitconcepts.errors.StorageError` naming the file and errno, and for a full disk the
mount, its free space and the output's estimated size; after it the writer accepts no more
writes and closing it records nothing.

:meth:`write` accepts one variable name and an array, or a dict ``{name: array}``; the array
covers ``[start, start + len)`` along ``stream_dim`` and the full extent of the other dims.
:meth:`finalize` stores ``attrs`` (dicts/lists become JSON strings), closes the file and
atomically renames ``.partial`` to ``out``. Closing without finalizing keeps the partial file.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np

from .io_errors import fsync_path, storage_error, write_text_durably

#: netCDF4's HDF5 library is not thread-safe and netCDF4 releases the GIL: every netCDF call
#: that can overlap another thread's (the activation writer thread, a pixel cache read in the
#: main thread) holds this lock. Without it concurrent calls fail with "NetCDF: HDF error".
HDF5_LOCK = threading.RLock()

log = logging.getLogger(__name__)

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
        self._completed = 0
        #: ``[begin, end, {variable: crc32}]`` of every shard recorded as done
        self._shards: list[list[Any]] = []
        self._failed: BaseException | None = None
        #: ``variable -> [(start, stop, crc32)]`` of the writes since the last mark_done
        self._written: dict[str, list[tuple[int, int, int]]] = {}
        self.partial_path.parent.mkdir(parents=True, exist_ok=True)
        self.start = self._try_resume()
        if self._ds is None:
            try:
                self._create(coords, complevel)
            except (OSError, RuntimeError) as error:
                self._abandon()
                raise storage_error(
                    self.partial_path, error, "create", need=self.estimated_bytes()
                ) from error
            self.start = 0
        self._limit_chunk_cache()

    # -- opening ---------------------------------------------------------------------------
    def _discard(self, why: str) -> int:
        if self._ds is not None:
            try:
                self._ds.close()
            except Exception:  # pragma: no cover - closing a damaged file
                pass
            self._ds = None
        log.warning("discarding %s and starting over: %s", self.partial_path, why)
        self.partial_path.unlink(missing_ok=True)
        self.progress_path.unlink(missing_ok=True)
        self._completed, self._shards = 0, []
        return 0

    def _read_progress(self) -> dict[str, Any] | None:
        try:
            lines = self.progress_path.read_text().splitlines()
            record = json.loads(lines[1])
            completed, size = (int(x) for x in lines[0].split())
        except (OSError, IndexError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("completed") != completed:
            return None
        record["size"] = size
        return record

    def _try_resume(self) -> int:
        """Open a matching partial file in append mode; return the count of entries whose
        shards are recorded as done and read back intact."""
        if not self.partial_path.exists():
            self.progress_path.unlink(missing_ok=True)
            return 0
        record = self._read_progress()
        if record is None:
            return self._discard(f"its progress record {self.progress_path} is missing")
        if record.get("fingerprint") != self.fingerprint:
            return self._discard(
                "it was made with other inputs or settings (fingerprint "
                f"{str(record.get('fingerprint'))[:12]} != {self.fingerprint[:12]})"
            )
        try:
            ds = netCDF4.Dataset(self.partial_path, "a")
        except Exception as error:  # truncated or corrupt HDF5 file
            return self._discard(f"it cannot be opened ({type(error).__name__}: {error})")
        self._ds = ds
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
        except Exception as error:
            return self._discard(f"its header cannot be read ({error})")
        if not same:
            return self._discard("its dimensions or variables differ from this output's")
        shards = record.get("shards") or []
        good: list[list[Any]] = []
        expected = 0
        for shard in shards:
            begin, end, crcs = int(shard[0]), int(shard[1]), shard[2]
            problem = None
            if begin != expected or not expected < end <= self.size:
                problem = f"its progress record lists [{begin}, {end}) after {expected}"
            else:
                try:
                    if self._checksums(begin, end) != crcs:
                        problem = "its data differ from the checksum recorded when it was written"
                except Exception as error:
                    problem = f"it cannot be read back ({type(error).__name__}: {error})"
            if problem:
                log.warning(
                    "%s: %s [%d, %d) is damaged (%s); redoing from %s %d",
                    self.partial_path,
                    self.stream_dim,
                    begin,
                    end,
                    problem,
                    self.stream_dim,
                    begin,
                )
                break
            good.append([begin, end, crcs])
            expected = end
        self._shards = good
        self._completed = expected
        return expected

    def _checksums(self, begin: int, end: int) -> dict[str, int]:
        """CRC32 of each streamed variable's stored values in ``[begin, end)``."""
        ds = self._require_open()
        crcs = {}
        for name, (vdims, _, _) in self.variables.items():
            if self.stream_dim not in vdims:
                continue
            var = ds.variables[name]
            var.set_auto_maskandscale(False)
            index = [slice(None)] * len(vdims)
            index[vdims.index(self.stream_dim)] = slice(begin, end)
            values = np.ascontiguousarray(var[tuple(index)])
            crcs[name] = zlib.crc32(values.tobytes())
        return crcs

    def _shard_checksums(self, begin: int, end: int) -> dict[str, int]:
        """Checksums of the shard ``[begin, end)``: those of the arrays :meth:`write` got when
        one write covered it exactly (no read-back), else read back from the file."""
        written, self._written = self._written, {}
        crcs = {}
        for name, (vdims, _, _) in self.variables.items():
            if self.stream_dim not in vdims:
                continue
            parts = written.get(name, [])
            if len(parts) == 1 and parts[0][:2] == (begin, end):
                crcs[name] = parts[0][2]
            else:
                crcs[name] = self._checksums(begin, end)[name]
        return crcs

    def estimated_bytes(self) -> int:
        """Rough size of the finished file: the partial's size scaled up to all entries
        once shards are done, else the uncompressed size of the variables."""
        raw = 0
        for vdims, dtype, _ in self.variables.values():
            itemsize = 4 if dtype == np.float16 else np.dtype(dtype).itemsize
            raw += int(np.prod([self.dims[d] for d in vdims])) * itemsize
        try:
            current = self.partial_path.stat().st_size
        except OSError:
            current = 0
        if self._completed:
            return int(min(raw + current, current * self.size / self._completed))
        return raw

    def _fail(self, error: BaseException, action: str) -> Exception:
        """Remember that the partial file can no longer be trusted; return the error to
        raise (a StorageError for I/O errors, else ``error`` itself)."""
        self._failed = error
        if not isinstance(error, OSError | RuntimeError):
            return error  # type: ignore[return-value]
        done = self._completed
        kept = (
            f"{done} of {self.size} {self.stream_dim} entries were written before and are "
            f"kept in {self.partial_path}; the rerun verifies and resumes from them."
            if done
            else ""
        )
        return storage_error(
            self.partial_path, error, action, need=self.estimated_bytes(), kept=kept
        )

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
        ds.sync()
        self.progress_path.unlink(missing_ok=True)

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
        """Number of stream-dim entries recorded as finished (durably on disk)."""
        return self._completed

    @staticmethod
    def read_completed(partial: str | Path) -> int | None:
        """The finished count recorded for ``partial`` (None if nothing is recorded)."""
        try:
            return int(Path(str(partial) + ".progress").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            return None

    def _require_open(self) -> netCDF4.Dataset:
        if self._failed is not None:
            raise RuntimeError(
                f"{self.partial_path}: an earlier write failed ({self._failed!r}); "
                "nothing more is written"
            )
        if self._ds is None:
            raise RuntimeError(f"{self.partial_path} is closed")
        return self._ds

    def write(self, name: str | Mapping[str, Any], start: int, values: Any | None = None) -> None:
        """Write ``values`` to variable ``name`` from ``start`` along the stream dim.

        ``name`` may instead be a dict ``{variable: values}``. Variables without the stream
        dim are written whole (``start`` ignored).
        """
        with HDF5_LOCK:
            self._write(name, start, values)

    def _write(self, name: str | Mapping[str, Any], start: int, values: Any | None) -> None:
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
                try:
                    ds.variables[var_name][...] = data
                except (OSError, RuntimeError) as error:
                    raise self._fail(error, "write") from error
                continue
            axis = vdims.index(self.stream_dim)
            stop = start + data.shape[axis]
            if start < 0 or stop > self.size:
                raise IndexError(f"[{start}, {stop}) outside {self.stream_dim} of {self.size}")
            index = [slice(None)] * len(vdims)
            index[axis] = slice(start, stop)
            try:
                ds.variables[var_name][tuple(index)] = data
            except (OSError, RuntimeError) as error:
                raise self._fail(error, "write") from error
            crc = zlib.crc32(np.ascontiguousarray(data).tobytes())
            self._written.setdefault(var_name, []).append((start, stop, crc))

    def mark_done(self, upto: int) -> None:
        """Record that entries ``[0, upto)`` of the stream dim are written, once they are.

        Flushes and fsyncs the file, checksums the new shard ``[completed, upto)``, then
        atomically rewrites the progress file. If any step fails the count does
        not advance and a StorageError names the file, errno and free space.
        """
        with HDF5_LOCK:
            self._mark_done(upto)

    def _mark_done(self, upto: int) -> None:
        ds = self._require_open()
        if not 0 <= upto <= self.size:
            raise IndexError(f"mark_done({upto}) outside {self.stream_dim} of {self.size}")
        begin = self._completed
        if upto <= begin:
            return
        try:
            ds.sync()
            fsync_path(self.partial_path)
            crcs = self._shard_checksums(begin, upto)
            shards = [*self._shards, [begin, int(upto), crcs]]
            record = {"completed": int(upto), "fingerprint": self.fingerprint, "shards": shards}
            write_text_durably(
                self.progress_path,
                f"{int(upto)} {self.size}\n{json.dumps(record, separators=(',', ':'))}\n",
            )
        except (OSError, RuntimeError) as error:
            raise self._fail(error, "save") from error
        self._shards = shards
        self._completed = int(upto)

    def finalize(self, attrs: Mapping[str, Any] | None = None) -> Path:
        """Store global ``attrs``, close and atomically rename to ``out_path``; return it."""
        ds = self._require_open()
        if self.completed != self.size:
            raise RuntimeError(
                f"{self.partial_path}: only {self.completed} of {self.size} "
                f"{self.stream_dim} entries were marked done"
            )
        try:
            ds.setncattr(COMPLETED_ATTR, self.size)
            for key, value in (attrs or {}).items():
                if isinstance(value, Mapping | list | tuple):
                    value = json.dumps(value, sort_keys=True, default=str)
                elif isinstance(value, bool):
                    value = int(value)
                ds.setncattr(key, value)
            self._ds = None
            ds.close()
            fsync_path(self.partial_path)
            os.replace(self.partial_path, self.out_path)
        except (OSError, RuntimeError) as error:
            raise self._fail(error, "finish") from error
        self.progress_path.unlink(missing_ok=True)
        try:
            fsync_path(self.out_path.parent, directory=True)
        except OSError:  # pragma: no cover - some file systems refuse directory fsync
            pass
        return self.out_path

    def _abandon(self) -> None:
        if self._ds is not None:
            ds, self._ds = self._ds, None
            try:
                ds.close()
            except Exception as error:  # e.g. the disk is full: nothing more can be saved
                log.warning("closing %s failed: %s", self.partial_path, error)

    def close(self) -> None:
        """Close without finalizing; the ``.partial`` file stays for a later resume.

        Only what :meth:`mark_done` recorded counts as finished, whatever closing writes.
        """
        self._abandon()

    def __enter__(self) -> ShardedNetCDFWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
