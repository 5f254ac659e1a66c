"""Appendix figure ``ground_truth``: the labels against Broden's human annotations per layer
(:mod:`vitconcepts.ground_truth`), one line per model (and unit kind).

Panels: share of labels naming a Broden concept; median AUPRC of those labels with the
median base rate (their chance level, dashed); agreement of the label with NetDissect's
answer (``best_name``: exact, solid; within one WordNet synset, dashed). Published labels
fill the first panel only (no activations). Source CSV: the summary rows of category ``all``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from matplotlib.ticker import PercentFormatter

from vitconcepts import style
from vitconcepts.errors import InputDataError
from vitconcepts.figures.drawing import layer_axis, no_data
from vitconcepts.figures.inputs import PathLike, read_checked_csv, write_source_csv
from vitconcepts.ground_truth import SUMMARY_COLUMNS

#: (title, solid column, dashed column or None) of each panel.
PANELS = (
    ("labels naming a Broden concept", "share_broden", None),
    ("median AUPRC (dashed: base rate)", "median_auprc", "median_base_rate"),
    ("label = NetDissect's (dashed: synset)", "agree_exact", "agree_synset"),
)
MARKERS = "osD^vP*Xh<>p"


def _draw_panel(ax, data: pd.DataFrame, models: Sequence[str], solid: str, dashed) -> bool:
    drawn = False
    for i, model in enumerate(models):
        d = data[data["model"] == model].sort_values("layer")
        colour, marker = style.model_color(model.split(".")[0]), MARKERS[i % len(MARKERS)]
        if d[solid].notna().any():
            ax.plot(d["layer"], d[solid], marker=marker, color=colour, label=model)
            drawn = True
        if dashed and d[dashed].notna().any():
            ax.plot(d["layer"], d[dashed], ls="--", marker=marker, ms=3, color=colour, alpha=0.7)
    return drawn


def plot_ground_truth(
    summary_csv: PathLike, models: Sequence[str], out_pdf: PathLike
) -> pd.DataFrame:
    """Draw the figure from the ground-truth summary (:data:`SUMMARY_COLUMNS`)."""
    summary = read_checked_csv(summary_csv, SUMMARY_COLUMNS, "ground-truth summary")
    data = summary[summary["category"] == "all"].copy()
    models = [m for m in models if m in set(data["model"])]
    if not models:
        raise InputDataError(
            f"The ground-truth summary {summary_csv} has no rows of the models {list(models)}.",
            f"rebuild it: snakemake --forcerun {summary_csv}",
        )
    with style.style_context():
        fig, axes = style.plt.subplots(
            1, len(PANELS), figsize=(style.FULL_WIDTH, 2.6), layout="constrained"
        )
        for ax, (title, solid, dashed) in zip(axes, PANELS, strict=True):
            if not _draw_panel(ax, data, models, solid, dashed):
                computed = data["agree_exact"].notna().any()
                no_data(ax, "no label names a Broden concept" if computed else "needs activations")
            layer_axis(ax, sorted(data["layer"].unique()))
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
            ax.set_ylim(0, 1.02)
            ax.set_title(title, fontsize="small")
        handles, labels = axes[0].get_legend_handles_labels()
        names = [style.model_name(m) for m in labels]
        fig.legend(handles, names, loc="outside lower center", ncol=min(len(names), 4))
        style.save_figure(fig, out_pdf)
    data = data[list(SUMMARY_COLUMNS)].reset_index(drop=True)
    write_source_csv(data, out_pdf, [summary_csv])
    return data
