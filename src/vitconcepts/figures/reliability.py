"""Appendix figures of the reliability pass: the per-layer summary, and the paper's Figs. 2
and 3 data with bootstrap bands or counted over significant units (:mod:`vitconcepts.uncertainty`).

Each writes ``<name>.pdf``/``.png`` and its source CSV beside them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
from matplotlib.ticker import PercentFormatter

from vitconcepts import style, uncertainty
from vitconcepts.analysis import load_categories
from vitconcepts.figures.drawing import category_legend, layer_axis, panel_grid
from vitconcepts.figures.inputs import (
    CONCEPTS_COLUMNS,
    SHARES_COLUMNS,
    PathLike,
    read_checked_csv,
    write_source_csv,
)

#: Panels of the summary figure: column of :data:`vitconcepts.uncertainty.SUMMARY_COLUMNS`
#: and its axis label.
SUMMARY_PANELS = {
    "share_significant": "units with q < 0.05",
    "mean_stability": "mean label stability",
    "split_half_agreement": "split-half agreement",
}


MARKERS = "osD^vP*Xh<>p"


def _model_panels(n: int, height: float = 2.1):
    nrows, ncols = panel_grid(n, 2)
    fig, axes = style.plt.subplots(
        nrows,
        ncols,
        figsize=(style.FULL_WIDTH, 0.6 + height * nrows),
        sharey=True,
        layout="constrained",
        squeeze=False,
    )
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def plot_reliability(
    reliability_csvs: Mapping[str, PathLike],
    boot_ncs: Mapping[str, PathLike],
    models: Sequence[str],
    out_pdf: PathLike,
) -> pd.DataFrame:
    """Per layer, one line per model: share of significant units, mean stability, split-half
    agreement. Source CSV: :data:`vitconcepts.uncertainty.SUMMARY_COLUMNS`."""
    csvs = {m: reliability_csvs[m] for m in models}
    data = uncertainty.reliability_summary(csvs, {m: boot_ncs[m] for m in models})
    with style.style_context():
        fig, axes = style.plt.subplots(
            1, len(SUMMARY_PANELS), figsize=(style.FULL_WIDTH, 2.5), layout="constrained"
        )
        for ax, (column, label) in zip(axes, SUMMARY_PANELS.items(), strict=True):
            for i, m in enumerate(models):  # markers too: finetuned copies share a colour
                d, marker = data[data["model"] == m], MARKERS[i % len(MARKERS)]
                ax.plot(d["layer"], d[column], marker=marker, color=style.model_color(m), label=m)
            layer_axis(ax, data["layer"].unique())
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
            ax.set_ylim(0, 1.02)
            ax.set_title(label)
        handles, _ = axes[0].get_legend_handles_labels()
        names = [style.model_name(m) for m in models]
        fig.legend(handles, names, loc="outside lower center", ncol=min(len(models), 5))
        style.save_figure(fig, out_pdf)
    write_source_csv(data, out_pdf, [])
    return data


def plot_concepts_per_layer_ci(
    concepts_csv: PathLike,
    boot_ncs: Mapping[str, PathLike],
    reliability_csvs: Mapping[str, PathLike],
    models: Sequence[str],
    out_pdf: PathLike,
) -> pd.DataFrame:
    """Unique concepts per layer (the paper's median rule) with 95 % bootstrap bands, and
    (dashed) the unique labels of the significant units."""
    concepts = read_checked_csv(concepts_csv, CONCEPTS_COLUMNS, "concepts per layer")
    data = uncertainty.concepts_with_intervals(concepts, boot_ncs, reliability_csvs, models)
    with style.style_context():
        fig, ax = style.plt.subplots(figsize=(4.6, 2.9), layout="constrained")
        for m in models:
            d = data[data["model"] == m]
            color = style.model_color(m)
            ax.fill_between(d["layer"], d["low"], d["high"], color=color, alpha=0.2, lw=0)
            ax.plot(d["layer"], d["n_concepts"], marker="o", color=color, label=style.model_name(m))
            ax.plot(d["layer"], d["n_significant_concepts"], ls="--", color=color)
        layer_axis(ax, data["layer"].unique())
        ax.set_ylabel("unique concepts")
        ax.set_ylim(bottom=0)
        ax.plot([], [], ls="--", color="grey", label="significant units")
        ax.legend(loc="best", fontsize="small")
        style.save_figure(fig, out_pdf)
    write_source_csv(data, out_pdf, [concepts_csv])
    return data


def _plot_category_share_panels(
    data: pd.DataFrame,
    models: Sequence[str],
    draw_category,
    shares_csv: PathLike,
    out_pdf: PathLike,
) -> pd.DataFrame:
    """One panel per model; ``draw_category(ax, d, cat)`` draws category ``cat`` of the
    model's rows ``d``. Writes the figure and its source CSV."""
    cats = style.ordered_categories(set(data["category"]))
    with style.style_context():
        fig, axes = _model_panels(len(models))
        for ax, m in zip(axes, models, strict=False):
            d = data[data["model"] == m]
            for cat in cats:
                draw_category(ax, d, cat)
            ax.set_title(style.model_name(m))
            layer_axis(ax, d["layer"].unique())
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
            ax.set_ylim(0, 1)
            ax.set_ylabel("share of concepts")
        category_legend(fig, cats, kind="line")
        style.save_figure(fig, out_pdf)
    write_source_csv(data, out_pdf, [shares_csv])
    return data


def plot_category_shares_ci(
    shares_csv: PathLike,
    boot_ncs: Mapping[str, PathLike],
    categories_csv: PathLike,
    models: Sequence[str],
    out_pdf: PathLike,
) -> pd.DataFrame:
    """Category shares per layer (the paper's mean rule), one panel per model, each category
    with its 95 % bootstrap band."""
    shares = read_checked_csv(shares_csv, SHARES_COLUMNS, "category shares")
    mapping = load_categories(categories_csv)
    data = uncertainty.shares_with_intervals(shares, boot_ncs, mapping, models)

    def draw(ax, d: pd.DataFrame, cat: str) -> None:
        dc, color = d[d["category"] == cat], style.category_color(cat)
        ax.fill_between(dc["layer"], dc["low"], dc["high"], color=color, alpha=0.2, lw=0)
        ax.plot(dc["layer"], dc["share"], marker="o", ms=3, color=color)

    return _plot_category_share_panels(data, models, draw, shares_csv, out_pdf)


def plot_category_shares_significant(
    shares_csv: PathLike,
    reliability_csvs: Mapping[str, PathLike],
    categories_csv: PathLike,
    models: Sequence[str],
    out_pdf: PathLike,
) -> pd.DataFrame:
    """Category shares per layer, one panel per model: the paper's rule (units above the
    layer's mean score, solid) beside the significant units (q < 0.05, dashed)."""
    shares = read_checked_csv(shares_csv, SHARES_COLUMNS, "category shares")
    mapping = load_categories(categories_csv)
    data = uncertainty.shares_by_rule(shares, reliability_csvs, mapping, models)

    def draw(ax, d: pd.DataFrame, cat: str) -> None:
        for rule, ls in (("mean", "-"), ("significant", "--")):
            dc = d[(d["category"] == cat) & (d["rule"] == rule)]
            ax.plot(dc["layer"], dc["share"], ls=ls, color=style.category_color(cat))

    return _plot_category_share_panels(data, models, draw, shares_csv, out_pdf)
