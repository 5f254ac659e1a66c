"""Claims from the pipeline's files: label CSVs, the category table, bootstrap files and
Linear Explanations CSVs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ..analysis import load_categories
from ..formats import read_boot, read_labels
from ..uncertainty import resample_labels
from ._labelers import linear_frame, model_seed, unit_resamples
from ._table import ClaimRoles, claims_table, combine_labelers

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
    linear_csvs: Mapping[str, PathLike] | None = None,
    n_boot: int = 20,
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`~vitconcepts.claims.claims_table` of the models' label files (and bootstrap
    files, when the labels were computed here), rows ``labeler``; writes ``out_csv`` when given.

    ``linear_csvs`` (``{model: results/linear/...csv}``) adds the same claims under Linear
    Explanations (rows ``linear``: each unit's largest-weight concept, scored by its test
    correlation), with intervals over ``n_boot`` resamples of each layer's units (seeded by
    ``seed`` and the model's name: :func:`~vitconcepts.claims.unit_resamples`), and sets
    ``labelers_agree`` on the pairs."""
    mapping = load_categories(categories_csv)
    frames = {model: read_labels(csv, images=False) for model, csv in label_csvs.items()}
    boots = {model: boot_resamples(nc) for model, nc in (boot_ncs or {}).items()}
    tables = [claims_table(frames, mapping, roles, boots, labeler)]
    if linear_csvs:
        frames = {model: linear_frame(csv) for model, csv in linear_csvs.items()}
        boots = {m: unit_resamples(f, n_boot, model_seed(seed, m)) for m, f in frames.items()}
        tables.append(claims_table(frames, mapping, roles, boots, "linear"))
    table = combine_labelers(tables)
    if out_csv is not None:
        out = Path(out_csv)
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False, lineterminator="\n")
    return table
