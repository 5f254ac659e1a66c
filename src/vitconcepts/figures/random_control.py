"""Figure ``random_control``: each trained model beside its random-init control (appendix
"Random-network control"). One column per model; rows: unique concepts per layer, colour +
texture share, object + organism share (each with its 95 % bootstrap band over the probe
resamples) and the median held-out correlation (band: the units' quartiles). Trained: solid
line in the model's colour; control: dashed grey. Source CSV: :func:`vitconcepts.controls.
control_table`.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import PercentFormatter

from vitconcepts import style
from vitconcepts.analysis import load_categories
from vitconcepts.controls import MEASURES, control_table
from vitconcepts.errors import InputDataError
from vitconcepts.figures.drawing import layer_axis, no_data
from vitconcepts.figures.inputs import PathLike, write_source_csv

#: Axis label of each measure (row).
MEASURE_LABELS = {
    "n_concepts": "unique concepts",
    "color_texture_share": "colours + textures",
    "object_organism_share": "objects + organisms",
    "median_heldout_correlation": "median held-out r",
}
CONTROL_COLOR = "#7f7f7f"


def _draw(ax, rows: pd.DataFrame, color: str, linestyle: str) -> None:
    rows = rows.sort_values("layer")
    if rows["value"].notna().any():
        ax.fill_between(rows["layer"], rows["low"], rows["high"], color=color, alpha=0.18, lw=0)
        ax.plot(rows["layer"], rows["value"], color=color, ls=linestyle, marker="o", ms=2.5)


def _draw_pair(axes, table: pd.DataFrame, model: str) -> None:
    mine = table[table["model"] == model]
    axes[0].set_title(style.model_name(model))
    for row, measure in enumerate(MEASURES):
        ax, data = axes[row], mine[mine["measure"] == measure]
        if data["value"].notna().sum() == 0:
            no_data(ax)
            continue
        _draw(ax, data[data["network"] == "trained"], style.model_color(model), "-")
        _draw(ax, data[data["network"] == "random"], CONTROL_COLOR, "--")
        layer_axis(ax, sorted(data["layer"].unique()))
        if measure.endswith("_share"):
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))


def plot_random_control(
    pairs: Mapping[str, str],
    label_csvs: Mapping[str, PathLike],
    reliability_csvs: Mapping[str, PathLike],
    boot_ncs: Mapping[str, PathLike],
    categories_csv: PathLike,
    out_pdf: PathLike,
) -> pd.DataFrame:
    """Write ``random_control.pdf``/``.png``/``.csv`` for the ``{control: model}`` pairs."""
    if not pairs:
        raise InputDataError(
            "Figure random_control: the config has no random-init controls.",
            "add a model entry with `random_init: true` and `control_of: <model key>`.",
        )
    mapping = load_categories(categories_csv)
    table = control_table(pairs, label_csvs, reliability_csvs, boot_ncs, mapping)
    models = list(dict.fromkeys(pairs.values()))
    with style.style_context():
        fig, axes = style.plt.subplots(
            len(MEASURES),
            len(models),
            figsize=(1.9 * len(models) + 0.8, 1.5 * len(MEASURES) + 0.6),
            layout="constrained",
            sharey="row",
            squeeze=False,
        )
        for col, model in enumerate(models):
            _draw_pair(axes[:, col], table, model)
        for row, measure in enumerate(MEASURES):
            axes[row, 0].set_ylabel(MEASURE_LABELS[measure])
        handles = [
            Line2D([], [], color="black", ls="-", label="trained"),
            Line2D([], [], color=CONTROL_COLOR, ls="--", label="random-init control"),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncol=2)
        style.save_figure(fig, out_pdf)
    write_source_csv(table, out_pdf, [])
    return table
