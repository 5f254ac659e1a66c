"""Figure ``unit_kinds``: the unit kinds of each ViT compared layer by layer (appendix
"Beyond the CLS token").

One column per model; rows: distinct concepts per unit above the layer's median (the
paper's concepts-per-layer count divided by the units it is taken over, since an ``mlp``
layer has four times the units of a ``cls`` layer), then the share of two categories at the
ends of the paper's finding, ``colors`` and ``objects and machines``. One line per kind.
The source CSV is :func:`vitconcepts.analysis.unit_kind_measures`' table of the plotted
models with a ``concepts_per_unit`` column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter

from vitconcepts import style
from vitconcepts.analysis import unit_kind_measures
from vitconcepts.errors import InputDataError
from vitconcepts.figures.drawing import layer_axis
from vitconcepts.figures.inputs import warn_skipped, write_source_csv

PathLike = str | Path

#: The categories of the share rows.
UNIT_KIND_CATEGORIES = ("colors", "objects and machines")
#: Line style of each unit kind (colour, dashes, marker), in the library's kind order.
KIND_STYLES = {
    "cls": {"color": "#1b4f72", "linestyle": "-", "marker": "o"},
    "patch_mean": {"color": "#7d3c98", "linestyle": ":", "marker": "^"},
    "mlp": {"color": "#ca6f1e", "linestyle": "--", "marker": "s"},
    "mlp_mean": {"color": "#229954", "linestyle": "-.", "marker": "v"},
}
KIND_NAMES = {
    "cls": "CLS token (paper)",
    "patch_mean": "patch-token mean",
    "mlp": "MLP neurons at CLS",
    "mlp_mean": "MLP neurons, patch mean",
}


def _kind_table(
    label_csvs: Mapping[str, Mapping[str, PathLike]], categories_csv: PathLike, models
) -> pd.DataFrame:
    present = [m for m in models if m in label_csvs]
    missing = [m for m in models if m not in label_csvs]
    if missing:
        warn_skipped(f"Figure unit_kinds: no label files for {', '.join(missing)}; skipped.")
    if not present:
        raise InputDataError(
            f"Figure unit_kinds: none of the models {', '.join(models)} has label files.",
            "List models with `units: [cls, mlp]` under analysis.vits in the config.",
        )
    table = unit_kind_measures({m: label_csvs[m] for m in present}, categories_csv)
    table["concepts_per_unit"] = table["n_concepts"] / table["n_above_median"].clip(lower=1)
    return table


def _panel(ax, data: pd.DataFrame, value: str) -> None:
    for kind, rows in data.groupby("kind", sort=False):
        ax.plot(rows["layer"], rows[value], markersize=2.5, **KIND_STYLES.get(kind, {}))
    layer_axis(ax, data["layer"].unique())


def plot_unit_kinds(
    label_csvs: Mapping[str, Mapping[str, PathLike]],
    categories_csv: PathLike,
    models: Sequence[str],
    out_pdf: PathLike,
) -> None:
    """Write ``unit_kinds.pdf``/``.png``/``.csv`` for ``models`` (``{model: {kind: csv}}``)."""
    table = _kind_table(label_csvs, categories_csv, models)
    present = list(dict.fromkeys(table["model"]))
    counts = table.drop_duplicates(["model", "kind", "layer"])
    rows = [("concepts_per_unit", None), *((("share", c)) for c in UNIT_KIND_CATEGORIES)]
    with style.style_context():
        fig, axes = style.plt.subplots(
            len(rows),
            len(present),
            figsize=(1.9 * len(present) + 0.6, 1.7 * len(rows) + 0.6),
            layout="constrained",
            sharey="row",
            squeeze=False,
        )
        for col, model in enumerate(present):
            axes[0, col].set_title(style.model_name(model))
            _panel(axes[0, col], counts[counts["model"] == model], "concepts_per_unit")
            for row, (_, category) in enumerate(rows[1:], start=1):
                mine = table[(table["model"] == model) & (table["category"] == category)]
                _panel(axes[row, col], mine, "share")
                axes[row, col].yaxis.set_major_formatter(PercentFormatter(1.0))
        axes[0, 0].set_ylabel("concepts per unit\nabove the median")
        for row, (_, category) in enumerate(rows[1:], start=1):
            axes[row, 0].set_ylabel(f"share: {category}")
        kinds = [k for k in KIND_STYLES if k in set(table["kind"])]
        handles = [Line2D([], [], label=KIND_NAMES[k], **KIND_STYLES[k]) for k in kinds]
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles))
        style.save_figure(fig, out_pdf)
    write_source_csv(table, out_pdf, [])
