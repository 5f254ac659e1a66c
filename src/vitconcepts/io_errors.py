"""I/O errors as messages: clear paragraphs for disk faults and unreadable files, naming
the rule that wrote a file (and the durable writes that keep such faults from corrupting it).

* :func:`storage_error` turns an exception raised while writing ``path`` (``OSError`` with an
  errno, or netCDF4's errno-less ``RuntimeError: NetCDF: HDF error``, or its ``PermissionError``
  for an HDF5 file it could not create) into a :class:`~vitconcepts.errors.StorageError` that
  names the file and the errno; when the disk is (nearly) full it says
  ``disk full on <mount>, N free, this output needs ~M`` and what to do.
* :func:`producing_rule` maps a pipeline path to the rule that writes it, so that readers can
  say ``snakemake --forcerun <rule> <file>``.
* :func:`open_netcdf` opens a NetCDF file for reading with xarray, turning HDF5/NetCDF errors
  into an :class:`~vitconcepts.errors.InputDataError` naming the file and that rule.
* :func:`read_csv` reads a CSV the same way: a missing or unparsable file is named.
* :func:`require_finite` rejects NaN/inf in data read from a pipeline file.
* :func:`require_columns` rejects a table read from a pipeline file that lacks columns.
"""

from __future__ import annotations

import errno as _errno
import os
import re
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputDataError, StorageError

#: Below this much free space an errno-less HDF5 write error is reported as a full disk.
LOW_SPACE = 16 * 1024 * 1024

# (pattern on the path with forward slashes, rule), first match wins
_RULES = [
    # dump_activations, or dump_activations_<kinds> for a model with more unit kinds
    (r"(^|/)results/activations/[^/]+/[^/]+\.nc$", "dump_activations"),
    (r"(^|/)results/clip/concepts/[^/]+/[^/]+\.nc$", "embed_concepts"),
    (r"(^|/)results/clip/[^/]+/[^/]+\.nc$", "embed_images"),
    (r"(^|/)results/labels/[^/]+/[^/]+(_topk\.nc|\.csv)$", "label_units"),
    (r"(^|/)results/categories/agreement\.csv$", "categoriser_agreement"),
    (r"(^|/)results/categories/[^/]+\.csv$", "categorise_concepts"),
    (r"(^|/)results/complexity/[^/]+\.csv$", "image_complexity"),
    (r"(^|/)resources/probes/[^/]+/index\.(csv|json)$", "prepare_probe"),
    (r"(^|/)resources/concepts/[^/]+\.txt$", "concept_set"),
    (r"(^|/)resources/published/labels/", "fetch_published_labels"),
    (r"(^|/)resources/published/[^/]+\.json$", "fetch_category_map"),
    (r"(^|/)paper/figures/concepts_per_layer\.csv$", "count_concepts"),
    (r"(^|/)paper/figures/category_shares\.csv$", "share_categories"),
]


def producing_rule(path: str | Path) -> str | None:
    """The Snakemake rule that writes ``path`` (None for a file the pipeline does not make)."""
    text = str(path).replace(os.sep, "/")
    for pattern, rule in _RULES:
        if re.search(pattern, text):
            return rule
    return None


def rerun_fix(path: str | Path) -> str:
    """A fix a user can paste: force the rule that wrote ``path``, or delete it."""
    rule = producing_rule(path)
    if rule is None:
        return f"replace or repair {path}, then rerun."
    if rule == "dump_activations":  # or its variant for the model's unit kinds: force the file
        return (
            f"delete it (rm {path}) and rerun the same snakemake command, or run "
            f"`snakemake --cores all --force -- {path}` from the repository root."
        )
    return (
        f"delete it (rm {path}) and rerun the same snakemake command, or run "
        f"`snakemake --cores all --forcerun {rule} -- {path}` from the repository root."
    )


def mount_point(path: str | Path) -> Path:
    """The mount point of the file system holding ``path`` (or its nearest existing parent)."""
    current = Path(os.path.realpath(path))  # through symlinks (results/ -> another disk)
    while not current.exists() and current != current.parent:
        current = current.parent
    while not os.path.ismount(current) and current != current.parent:
        current = current.parent
    return current


def free_bytes(path: str | Path) -> int | None:
    try:
        return shutil.disk_usage(mount_point(path)).free
    except OSError:
        return None


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


def _errno_of(error: BaseException) -> int | None:
    while error is not None:
        if isinstance(error, OSError) and error.errno and error.errno > 0:
            return error.errno
        error = error.__cause__ or error.__context__
    return None


def is_disk_full(path: str | Path, error: BaseException, need: int | None = None) -> bool:
    """ENOSPC/EDQUOT, or an errno-less HDF5 error (netCDF4 reports a failed HDF5 create as
    EACCES) while the disk holding ``path`` has less than ``need`` (or 16 MB) free."""
    code = _errno_of(error)
    if code in (_errno.ENOSPC, _errno.EDQUOT):
        return True
    if code not in (None, _errno.EACCES, _errno.EIO):
        return False
    free = free_bytes(path)
    return free is not None and free < max(LOW_SPACE, need or 0)


def storage_error(
    path: str | Path,
    error: BaseException,
    action: str = "write",
    need: int | None = None,
    kept: str = "",
    retry: str = "rerun the same snakemake command",
) -> StorageError:
    """A one-paragraph :class:`StorageError` for ``error`` raised while writing ``path``.

    ``need``: estimated bytes the whole output takes; ``kept``: what was saved (e.g. "16 of
    64 samples are safely on disk and will be resumed"); ``retry``: what to run afterwards.
    """
    code = _errno_of(error)
    mount = mount_point(path)
    detail = str(error).strip() or type(error).__name__
    kept = f" {kept.strip()}" if kept else ""
    if is_disk_full(path, error, need):
        free = free_bytes(path)
        name = "EDQUOT" if code == _errno.EDQUOT else "ENOSPC"
        needs = f", this output needs ~{human_bytes(need)}" if need else ""
        return StorageError(
            f"Could not {action} {path}: {name}, no space left on device (reported as: "
            f"{detail}): disk full on {mount}, {human_bytes(free or 0)} free{needs}.{kept}",
            f"free space on {mount} (or point results/ at a larger disk, e.g. a symlink), "
            f"then {retry}.",
        )
    name = f"errno {code} ({_errno.errorcode.get(code, '?')})" if code else "no errno"
    return StorageError(
        f"Could not {action} {path}: {detail} [{name}] on {mount} "
        f"({human_bytes(free_bytes(path) or 0)} free).{kept}",
        f"check that {Path(path).parent} is writable and its disk healthy, then {retry}.",
    )


def fsync_path(path: str | Path, directory: bool = False) -> None:
    """fsync a file (or a directory, making a rename in it durable)."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text_durably(path: str | Path, text: str) -> None:
    """Write ``path`` atomically: tmp file, fsync, rename, fsync the directory."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    try:
        fsync_path(path.parent, directory=True)
    except OSError:  # pragma: no cover - some file systems refuse directory fsync
        pass


def open_netcdf(path: str | Path, **kwargs: Any) -> Any:
    """``xarray.open_dataset(path)``; a missing, truncated or corrupt file raises an
    InputDataError naming it and the rule to rerun."""
    import xarray as xr

    if not Path(path).is_file():
        rule = producing_rule(path)
        raise InputDataError(
            f"Input {path} does not exist.",
            f"run the rule that makes it ({rule or 'see docs/design.md'}).",
        )
    try:
        return xr.open_dataset(path, **kwargs)
    except Exception as error:  # netCDF4/h5py raise OSError, RuntimeError, ValueError...
        raise unreadable(path, error) from error


def read_csv(path: str | Path, name: str, missing_fix: str, **kwargs: Any) -> Any:
    """``pandas.read_csv(path, **kwargs)``; a missing file raises ``InputDataError("<name>
    <path> does not exist.", missing_fix)``, one pandas cannot parse ``"<name> <path> is not
    a readable CSV (...)"`` with the rule to rerun. ``name`` says what the file is
    (``"Label file"``, ``"The probe index file"``)."""
    import pandas as pd

    if not Path(path).is_file():
        raise InputDataError(f"{name} {path} does not exist.", missing_fix)
    try:
        return pd.read_csv(path, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise InputDataError(
            f"{name} {path} is not a readable CSV ({error}).", rerun_fix(path)
        ) from error


def unreadable(path: str | Path, error: BaseException) -> InputDataError:
    """InputDataError for a pipeline file that cannot be read (truncated, corrupt)."""
    rule = producing_rule(path)
    by = f", written by rule {rule}" if rule else ""
    size = Path(path).stat().st_size if Path(path).is_file() else 0
    return InputDataError(
        f"Cannot read {path} ({human_bytes(size)}{by}): {type(error).__name__}: "
        f"{str(error).strip()}. The file is truncated or corrupt (a job killed while "
        f"writing it outside the pipeline, a full disk, or a copy cut short).",
        rerun_fix(path),
    )


def require_finite(
    values: np.ndarray,
    path: str | Path,
    what: str,
    cause: str = "the file is incomplete or corrupt (e.g. written while the disk was full), "
    "not a numerical result",
) -> None:
    """Raise InputDataError if ``values`` (read from ``path``) hold NaN or inf."""
    values = np.asarray(values)
    if values.dtype.kind not in "fc":
        return
    bad = ~np.isfinite(values)
    if bad.any():
        rule = producing_rule(path)
        by = f" (written by rule {rule})" if rule else ""
        raise InputDataError(
            f"{path}{by} holds {int(bad.sum())} NaN/inf values in {what}, first at flat "
            f"index {int(np.flatnonzero(bad.ravel())[0])}: {cause}.",
            rerun_fix(path),
        )


def require_columns(
    frame: Any, columns: Iterable[str], message: Callable[[list[str]], str], fix: str
) -> None:
    """Raise :class:`InputDataError` (``message(missing)``, ``fix``) when the table ``frame``
    lacks any of ``columns``; ``missing`` lists them in the order of ``columns``."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputDataError(message(missing), fix)
