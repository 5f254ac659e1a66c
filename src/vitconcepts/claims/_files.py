"""Claims from the pipeline's files: label CSVs, the category table, bootstrap files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ..analysis import load_categories
from ..formats import read_boot, read_labels
from ..uncertainty import resample_labels
from ._table import ClaimRoles, claims_table

PathLike = str | Path


def boot_resamples(boot_nc: PathLike) -> list[pd.DataFrame]:
    """One label frame per bootstrap resample of the reliability pass's bootstrap file
    (each unit's best concept and score on that resample of the probe)."""
    boot = read_boot(boot_nc)
    return [resample_labels(boot, b) for b in range(boot.n_boot)]


def claims_from_files(
    label_csvs: Mapping[str, PathLike],
    categories_csv: PathLike,
    roles: ClaimRoles,
    boot_ncs: Mapping[str, PathLike] | None = None,
    labeler: str = "clip_dissect",
    out_csv: PathLike | None = None,
) -> pd.DataFrame:
    """:func:`~vitconcepts.claims.claims_table` of the models' label files (and bootstrap
    files, when the labels were computed here); writes ``out_csv`` when given."""
    frames = {model: read_labels(csv, images=False) for model, csv in label_csvs.items()}
    boots = {model: boot_resamples(nc) for model, nc in (boot_ncs or {}).items()}
    table = claims_table(frames, load_categories(categories_csv), roles, boots, labeler)
    if out_csv is not None:
        out = Path(out_csv)
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False, lineterminator="\n")
    return table
