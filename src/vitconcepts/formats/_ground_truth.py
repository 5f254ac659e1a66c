"""The ground-truth CSV of a model: each unit's label scored against Broden's annotations.

One row per unit, layers in network order: :data:`GROUND_TRUTH_COLUMNS` = ``layer, unit,
label, broden_name, iou, f1, precision, auprc, base_rate, best_name, best_score`` (see
:func:`vitconcepts.ground_truth.score_labels`); empty ``broden_name`` and NaN scores where
the label names no Broden concept. Written by :func:`write_ground_truth`, read by
:func:`read_ground_truth`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputDataError
from ..io_errors import require_columns

PathLike = str | Path

GROUND_TRUTH_COLUMNS = (
    "layer",
    "unit",
    "label",
    "broden_name",
    "iou",
    "f1",
    "precision",
    "auprc",
    "base_rate",
    "best_name",
    "best_score",
)
_SCORES = ("iou", "f1", "precision", "auprc", "base_rate", "best_score")


def write_ground_truth(frame: pd.DataFrame, out_csv: PathLike) -> Path:
    """Write a ground-truth CSV (columns :data:`GROUND_TRUTH_COLUMNS`, in that order)."""
    missing = [c for c in GROUND_TRUTH_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"ground-truth frame lacks columns {missing}")
    out = Path(out_csv)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(out) + ".part")
    frame[list(GROUND_TRUTH_COLUMNS)].to_csv(
        tmp, index=False, lineterminator="\n", float_format="%.6g"
    )
    tmp.replace(out)
    return out


def read_ground_truth(csv: PathLike) -> pd.DataFrame:
    """Read a ground-truth CSV; adds ``layer_index`` (0-based, network order)."""
    path = Path(csv)
    if not path.is_file():
        raise InputDataError(
            f"Ground-truth file {path} does not exist.", f"build it: snakemake --cores all {path}"
        )
    text = {c: str for c in ("layer", "label", "broden_name", "best_name")}
    frame = pd.read_csv(path, keep_default_na=False, dtype=text)
    require_columns(
        frame,
        GROUND_TRUTH_COLUMNS,
        lambda missing: f"Ground-truth file {path} lacks columns {missing}.",
        f"regenerate it: snakemake {path} --forcerun score_ground_truth",
    )
    for column in _SCORES:
        values = frame[column].replace("", np.nan)
        try:
            frame[column] = values.astype(float)
        except ValueError as error:
            raise InputDataError(
                f"Ground-truth file {path}: column {column} holds a non-number ({error}).",
                f"regenerate it: snakemake {path} --forcerun score_ground_truth",
            ) from error
    order = {layer: i for i, layer in enumerate(pd.unique(frame["layer"]))}
    frame["layer_index"] = frame["layer"].map(order).astype(int)
    return frame
