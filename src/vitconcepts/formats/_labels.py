"""The per-unit label CSV (``layer, unit, description, similarity, images``) and its
``images`` cell.

One row per unit, layers in network order (order of first appearance), units ``0 .. n-1``
within a layer. ``similarity`` is the best concept's score; ``images`` the unit's most
activating probe samples, printed like a numpy int array (the authors' files:
``[72237 75859 27664 72329  2480]``).

Descriptions are read as plain strings (``keep_default_na=False``) so that concepts such as
``"null"`` or ``"na"`` stay words instead of becoming NaN.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputDataError
from ..io_errors import read_csv, require_columns, rerun_fix

PathLike = str | Path

#: The columns of a label CSV, in the order they are written.
LABEL_COLUMNS = ("layer", "unit", "description", "similarity", "images")
#: The columns every analysis needs (``images`` is optional only for ``images=False``).
REQUIRED_COLUMNS = LABEL_COLUMNS[:4]
#: What an ``images`` cell looks like, for error messages.
IMAGES_EXAMPLE = "[72237 75859 27664 72329  2480]"

_EMPTY_CELLS = ("", "[]", "()", "nan", "none")
_INDEX = re.compile(r"[+-]?\d+")
_SAMPLES = r"[\s,]*\+?\d+(?:[\s,]+\+?\d+)*[\s,]*"
#: A non-empty ``images`` cell of indices >= 0 (matched as a whole).
_SAMPLES_CELL = rf"\s*(?:\[{_SAMPLES}\]|\({_SAMPLES}\)|{_SAMPLES})\s*"


def format_images(indices: Sequence[int] | np.ndarray) -> str:
    """Sample indices printed like the authors' files (numpy's ``str`` of an int array).

    Never summarised with ``...`` (numpy does that from 1000 elements on); long lists wrap
    over lines as numpy prints them, which :func:`parse_images` reads back.
    """
    array = np.asarray(indices, dtype=np.int64)
    return np.array2string(array, threshold=sys.maxsize)


def parse_images(cell: object) -> list[int]:
    """Sample indices of an ``images`` cell.

    Accepts numpy's print style (``"[72237 75859 27664 72329  2480]"``, padded or wrapped
    over lines), Python lists and tuples (``"[1, 2,3]"``, ``"(1, 2)"``), bare lists
    (``"1 2 3"``) and an empty cell (``""``, ``"[]"``, ``"nan"``: no images). Raises
    :class:`ValueError` for anything else, e.g. ``"[1 2 ...]"`` or ``"[a b]"``.
    """
    text = str(cell).strip()
    if text.lower() in _EMPTY_CELLS:
        return []
    if text[0] + text[-1] in ("[]", "()"):
        text = text[1:-1]
    tokens = [token for token in re.split(r"[\s,]+", text) if token]
    bad = [token for token in tokens if not _INDEX.fullmatch(token)]
    if bad:
        raise ValueError(f"images cell {cell!r} holds {bad[0]!r}, not a sample index")
    return [int(token) for token in tokens]


def read_labels(csv: PathLike, images: bool = True) -> pd.DataFrame:
    """Read a per-unit label CSV, validate it (:func:`check_labels`) and add ``layer_index``
    (0-based, network order = order in which each ``layer`` first appears).

    ``images=False`` also accepts files without an ``images`` column (label files of other
    labelers, compared by ``agreement``). Raises :class:`InputDataError` naming the file when
    it is missing, not a CSV, lacks a column or holds values no labelling could have written.
    """
    path = Path(csv)
    frame = read_csv(
        path,
        "Label file",
        "Run the labeling step for this model, or set labels_source: published.",
        dtype={"layer": str, "description": str, "images": str},
        keep_default_na=False,
    )
    frame = check_labels(frame, path, images=images)
    codes, _ = pd.factorize(frame["layer"], sort=False)
    frame["layer_index"] = codes.astype(int)
    return frame


def _bad_rows(frame: pd.DataFrame, path: PathLike, rows: np.ndarray, column: str, rule: str):
    first = int(np.flatnonzero(rows)[0])
    return InputDataError(
        f"Label file {path}: {int(rows.sum())} row(s) have {rule}, first line "
        f"{first + 2} ({column}={frame[column].iloc[first]!r}).",
        rerun_fix(path),
    )


def _numeric_columns(frame: pd.DataFrame, path: PathLike) -> None:
    """Turn ``similarity`` into finite floats and ``unit`` into integers, in place."""
    raw = frame["similarity"]
    similarity = pd.to_numeric(raw, errors="coerce").astype(float)
    spelled_nan = (
        raw.astype(str).str.strip().str.lower().isin(["", "nan", "-nan", "+nan", "none", "null"])
    )
    text = (similarity.isna() & raw.notna() & ~spelled_nan).to_numpy(dtype=bool)
    if text.any():
        raise _bad_rows(frame, path, text, "similarity", "a similarity that is not a number")
    finite = np.isfinite(similarity.to_numpy())
    if not finite.all():
        raise _bad_rows(frame, path, ~finite, "similarity", "a NaN/inf or empty similarity")
    unit = pd.to_numeric(frame["unit"], errors="coerce")
    integral = unit.notna().to_numpy() & (unit.fillna(0) % 1 == 0).to_numpy()
    if not integral.all():
        raise _bad_rows(frame, path, ~integral, "unit", "a unit that is not an integer")
    frame["similarity"] = similarity
    frame["unit"] = unit.astype(np.int64)


def _check_units(frame: pd.DataFrame, path: PathLike) -> None:
    """Every layer named, and its units exactly ``0 .. n-1``, each once."""
    unnamed = (frame["layer"].astype(str).str.strip() == "").to_numpy()
    if unnamed.any():
        raise _bad_rows(frame, path, unnamed, "layer", "no layer")
    for layer, units in frame.groupby("layer", sort=False)["unit"]:
        values = np.sort(units.to_numpy())
        if not np.array_equal(values, np.arange(len(values))):
            duplicates = sorted(set(values[1:][np.diff(values) == 0].tolist()))
            outside = sorted(set(values[(values < 0) | (values >= len(values))].tolist()))
            raise InputDataError(
                f"Label file {path}: layer {layer!r} has {len(values)} rows but its units are "
                f"not 0..{len(values) - 1} each once (repeated: {duplicates[:5]}, out of "
                f"range: {outside[:5]}).",
                rerun_fix(path),
            )


def _check_images(frame: pd.DataFrame, path: PathLike) -> None:
    """Every ``images`` cell names at least one sample index (what :func:`parse_images`
    reads as a non-empty list of indices >= 0)."""
    readable = frame["images"].astype(str).str.fullmatch(_SAMPLES_CELL).to_numpy(dtype=bool)
    if not readable.all():
        raise _bad_rows(
            frame,
            path,
            ~readable,
            "images",
            f"an images cell without sample indices (it must look like `{IMAGES_EXAMPLE}`)",
        )


def check_labels(frame: pd.DataFrame, path: PathLike, images: bool = True) -> pd.DataFrame:
    """Validate a label table read from ``path``; return a copy with numeric ``unit`` (int)
    and ``similarity`` (float) columns.

    Rules (every computed and published label file satisfies them): the columns
    :data:`LABEL_COLUMNS` (``images`` optional when ``images=False``); ``similarity`` a
    finite number; ``unit`` an integer; in each layer the units are exactly ``0 .. n-1``, each
    once (a repeated or out-of-range unit would turn into a wrong layer width, e.g.
    "768--769 units"); every ``images`` cell present names sample indices. Raises
    :class:`InputDataError` naming the file, the first bad row and the rule that wrote it.
    """
    needed = LABEL_COLUMNS if images else REQUIRED_COLUMNS
    require_columns(
        frame,
        needed,
        lambda missing: (
            f"Label file {path} lacks column(s) {missing}; found "
            f"{list(frame.columns)}. Label CSVs need the columns {', '.join(LABEL_COLUMNS)}."
        ),
        rerun_fix(path),
    )
    if frame.empty:
        raise InputDataError(f"Label file {path} has no rows.", rerun_fix(path))
    frame = frame.copy()
    _numeric_columns(frame, path)
    _check_units(frame, path)
    if "images" in frame.columns:
        _check_images(frame, path)
    return frame


def write_labels(frame: pd.DataFrame, out_csv: PathLike) -> Path:
    """Write a label table as ``out_csv`` (columns :data:`LABEL_COLUMNS`, in that order).

    ``images`` cells that are sequences of indices are printed with :func:`format_images`;
    strings are written as they are. The file appears whole (written beside it, then
    renamed), so a reader never sees half a table.
    """
    missing = [column for column in LABEL_COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"a label table needs the columns {LABEL_COLUMNS}; {missing} missing")
    table = frame.loc[:, list(LABEL_COLUMNS)].copy()
    table["images"] = [
        cell if isinstance(cell, str) else format_images(cell) for cell in table["images"]
    ]
    out = Path(out_csv)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = Path(str(out) + ".part")
    table.to_csv(part, index=False, lineterminator="\n")
    os.replace(part, out)
    return out
