"""What the figures read and write: their input CSVs, tidy share tables and source CSVs.

No drawing here (tables read the same inputs): every reader checks the columns it needs and
raises :class:`~vitconcepts.errors.InputDataError` naming the file.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from vitconcepts import style
from vitconcepts.errors import InputDataError
from vitconcepts.io_errors import read_csv, require_columns, rerun_fix

PathLike = str | Path

CONCEPTS_COLUMNS = ("model", "layer", "n_concepts")
SHARES_COLUMNS = ("model", "layer", "category", "share")
COMPLEXITY_COLUMNS = ("model", "layer", "complexity")


def read_checked_csv(path: PathLike, columns: Sequence[str], what: str) -> pd.DataFrame:
    """Read a CSV and check it has ``columns``; clear InputDataError otherwise."""
    path = Path(path)
    df = read_csv(
        path,
        f"The {what} file",
        "Run the rule that produces it first (snakemake builds it when asked for the figure).",
    )
    require_columns(
        df,
        columns,
        lambda missing: (
            f"The {what} file {path} lacks the column(s) {', '.join(missing)}; "
            f"expected {', '.join(columns)} (found {', '.join(map(str, df.columns))})."
        ),
        rerun_fix(path),
    )
    return df


def read_many_csvs(
    paths: PathLike | Sequence[PathLike], columns: Sequence[str], what: str
) -> pd.DataFrame:
    if isinstance(paths, str | Path):
        paths = [paths]
    frames = [read_checked_csv(p, columns, what) for p in paths]
    if not frames:
        raise InputDataError(f"No {what} files were given.", "Pass at least one CSV.")
    return pd.concat(frames, ignore_index=True)


def warn_skipped(message: str) -> None:
    warnings.warn(message, UserWarning, stacklevel=3)


def present_models(df: pd.DataFrame, models: Sequence[str], source: str, figure: str) -> list[str]:
    """Models of ``models`` that ``df`` has, in the given order; warn about the rest."""
    have = set(df["model"].astype(str))
    present = [m for m in models if m in have]
    missing = [m for m in models if m not in have]
    if missing:
        warn_skipped(
            f"Figure {figure}: {source} has no rows for model(s) {', '.join(missing)}; skipped."
        )
    if not present:
        raise InputDataError(
            f"Figure {figure}: {source} has none of the models {', '.join(models)} "
            f"(it has {', '.join(sorted(have)) or 'no models'}).",
            "Check the `analysis` model lists in the config against the models that were labelled.",
        )
    return present


def _source_csv(out_pdf: PathLike) -> Path:
    return Path(out_pdf).with_suffix(".csv")


def write_source_csv(
    data: pd.DataFrame, out_pdf: PathLike, inputs: Sequence[PathLike]
) -> Path | None:
    """Write the plotted data beside the figure unless that file is one of the inputs."""
    out_csv = _source_csv(out_pdf)
    out_resolved = out_csv.resolve()
    if any(Path(p).resolve() == out_resolved for p in inputs):
        return None
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    data.to_csv(out_csv, index=False, lineterminator="\n")
    return out_csv


def share_table(df: pd.DataFrame) -> pd.DataFrame:
    """Pivot tidy shares of ONE model to ``layer x category`` with every category, zeros filled."""
    table = df.pivot_table(index="layer", columns="category", values="share", aggfunc="sum")
    cats = style.ordered_categories(set(style.CATEGORIES) | set(table.columns))
    return table.reindex(columns=cats).fillna(0.0).sort_index()


def tidy_shares(table: pd.DataFrame, model: str | None = None) -> pd.DataFrame:
    """Back from ``layer x category`` to tidy rows (layer, category order)."""
    long = table.stack().rename("share").reset_index()
    long.columns = ["layer", "category", "share"]
    order = {c: i for i, c in enumerate(table.columns)}
    long = long.sort_values(
        ["layer", "category"], key=lambda s: s.map(order) if s.name == "category" else s
    )
    long = long.reset_index(drop=True)
    long["layer"] = long["layer"].astype(int)
    if model is not None:
        long.insert(0, "model", model)
    return long


def in_model_order(data: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """Rows sorted by the given model order, then layer."""
    order = data["model"].map({m: i for i, m in enumerate(models)})
    return (
        data.assign(_o=order).sort_values(["_o", "layer"]).drop(columns="_o").reset_index(drop=True)
    )
