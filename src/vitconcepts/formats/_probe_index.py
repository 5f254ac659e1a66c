"""The probe index CSV: ``sample, sample_id, path, part``, one row per probe image.

``sample`` numbers the images ``0 .. N-1`` (the position every later file refers to),
``sample_id`` is ``<part>/<path inside the part>`` (stable across machines), ``path`` the
absolute file path, ``part`` the name of the probe part the image came from. Its metadata
(``index.json`` beside it) is written by the ``prepare_probe`` step.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputDataError

PathLike = str | Path

#: The columns of a probe index, in the order they are written.
INDEX_COLUMNS = ("sample", "sample_id", "path", "part")


def read_probe_index(index_csv: PathLike) -> pd.DataFrame:
    """Read a probe index CSV, checking its columns and sample numbering.

    ``sample_id``, ``path`` and ``part`` are read as strings. Raises
    :class:`InputDataError` naming the file when it is missing or is not a probe index.
    """
    path = Path(index_csv)
    if not path.is_file():
        raise InputDataError(
            f"Probe index {path} does not exist.",
            f"build it with snakemake (rule prepare_probe), e.g. `snakemake --cores all {path}`.",
        )
    not_index = InputDataError(
        f"{path} is not a probe index (needs columns {', '.join(INDEX_COLUMNS)} and "
        "samples numbered 0..N-1).",
        f"delete it and run snakemake again (`rm {path}`; prepare_probe rebuilds it).",
    )
    try:
        index = pd.read_csv(
            path, dtype={"sample_id": str, "path": str, "part": str}, keep_default_na=False
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise not_index from error
    if any(column not in index.columns for column in INDEX_COLUMNS):
        raise not_index
    sample = pd.to_numeric(index["sample"], errors="coerce").to_numpy()
    if not np.array_equal(sample, np.arange(len(index))):
        raise not_index
    index["sample"] = sample.astype(np.int64)
    return index


def write_probe_index(
    out_csv: PathLike, sample_ids: Sequence[str], paths: Sequence[str], parts: Sequence[str]
) -> pd.DataFrame:
    """Write the probe index of the images ``paths`` (numbered in that order); return it."""
    index = pd.DataFrame(
        {"sample_id": list(sample_ids), "path": list(paths), "part": list(parts)},
        columns=list(INDEX_COLUMNS[1:]),
    )
    index.insert(0, "sample", np.arange(len(index), dtype=np.int64))
    out = Path(out_csv)
    out.parent.mkdir(parents=True, exist_ok=True)
    index.to_csv(out, index=False, lineterminator="\n")
    return index
