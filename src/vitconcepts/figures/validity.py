"""Appendix figures of the labels' held-out validity (:mod:`vitconcepts.validity`): the paper's
Figs. 1 and 2 counted over the valid units beside the paper's rule, and the median held-out
correlation per layer.

Each writes ``<name>.pdf``/``.png`` and its source CSV beside them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from vitconcepts import style, validity
from vitconcepts.analysis import load_categories
from vitconcepts.figures.drawing import layer_axis
from vitconcepts.figures.inputs import (
    CONCEPTS_COLUMNS,
    SHARES_COLUMNS,
    PathLike,
    read_checked_csv,
    write_source_csv,
)
from vitconcepts.figures.reliability import MARKERS, _plot_category_share_panels

#: What a valid unit is, for captions and legends.
VALID_RULE = (
    f"q < {validity.VALID_Q:g} and held-out AUPRC >= {validity.VALID_AUPRC_RATIO:g} x chance"
)
#: Linear Explanations' published CLIP-Dissect simulation correlations (ImageNet, their README).
LINEAR_EXPLANATIONS_CLIP_DISSECT = {"ViT-B/16": 0.172, "ResNet-50": 0.187}


def plot_concepts_per_layer_valid(
    concepts_csv: PathLike,
    reliability_csvs: Mapping[str, PathLike],
    models: Sequence[str],
    out_pdf: PathLike,
) -> pd.DataFrame:
    """Unique concepts per layer: the paper's median rule (solid) beside the unique labels of
    the valid units (dashed). Source CSV: ``model, layer, rule, n_concepts, n_units``."""
    concepts = read_checked_csv(concepts_csv, CONCEPTS_COLUMNS, "concepts per layer")
    data = validity.concepts_by_validity(concepts, reliability_csvs, models)
    with style.style_context():
        fig, ax = style.plt.subplots(figsize=(4.6, 2.9), layout="constrained")
        for m in models:
            color = style.model_color(m)
            for rule, ls in (("median", "-"), ("valid", "--")):
                d = data[(data["model"] == m) & (data["rule"] == rule)]
                label = style.model_name(m) if rule == "median" else None
                ax.plot(
                    d["layer"], d["n_concepts"], ls=ls, marker="o", ms=3, color=color, label=label
                )
        layer_axis(ax, data["layer"].unique())
        ax.set_ylabel("unique concepts")
        ax.set_ylim(bottom=0)
        ax.plot([], [], ls="--", color="grey", label="valid units")
        ax.legend(loc="best", fontsize="small")
        style.save_figure(fig, out_pdf)
    write_source_csv(data, out_pdf, [concepts_csv])
    return data


def plot_category_shares_valid(
    shares_csv: PathLike,
    reliability_csvs: Mapping[str, PathLike],
    categories_csv: PathLike,
    models: Sequence[str],
    out_pdf: PathLike,
) -> pd.DataFrame:
    """Category shares per layer, one panel per model: the paper's rule (units above the
    layer's mean score, solid) beside the valid units (dashed). Source CSV: ``model, layer,
    rule, category, share, n_units``."""
    shares = read_checked_csv(shares_csv, SHARES_COLUMNS, "category shares")
    mapping = load_categories(categories_csv)
    data = validity.shares_by_validity(shares, reliability_csvs, mapping, models)

    def draw(ax, d: pd.DataFrame, cat: str) -> None:
        for rule, ls in (("mean", "-"), ("valid", "--")):
            dc = d[(d["category"] == cat) & (d["rule"] == rule)]
            ax.plot(dc["layer"], dc["share"], ls=ls, color=style.category_color(cat))

    return _plot_category_share_panels(data, models, draw, shares_csv, out_pdf)


def plot_heldout_correlation(
    reliability_csvs: Mapping[str, PathLike],
    models: Sequence[str],
    out_pdf: PathLike,
) -> pd.DataFrame:
    """Per layer, one line per model: the median held-out correlation of the units' labels
    (band: quartiles); dotted: Linear Explanations' published CLIP-Dissect simulation
    correlations (theirs, ImageNet). Source CSV: :data:`validity.HELDOUT_SUMMARY_COLUMNS`."""
    data = validity.heldout_summary({m: reliability_csvs[m] for m in models}, models)
    with style.style_context():
        fig, ax = style.plt.subplots(figsize=(4.6, 2.9), layout="constrained")
        for i, m in enumerate(models):
            d, color = data[data["model"] == m], style.model_color(m)
            ax.fill_between(
                d["layer"],
                d["q25_heldout_correlation"],
                d["q75_heldout_correlation"],
                color=color,
                alpha=0.12,
                lw=0,
            )
            ax.plot(
                d["layer"],
                d["median_heldout_correlation"],
                marker=MARKERS[i % len(MARKERS)],
                ms=3,
                color=color,
                label=style.model_name(m),
            )
        for (name, value), ls in zip(
            LINEAR_EXPLANATIONS_CLIP_DISSECT.items(), (":", "-."), strict=True
        ):
            ax.axhline(
                value,
                color="grey",
                ls=ls,
                lw=0.8,
                label=f"Linear Explanations: CLIP-Dissect {name} ({value})",
            )
        ax.axhline(0.0, color="black", lw=0.5)
        layer_axis(ax, data["layer"].unique())
        ax.set_ylabel("held-out correlation (median)")
        ax.legend(loc="best", fontsize="x-small")
        style.save_figure(fig, out_pdf)
    write_source_csv(data, out_pdf, [])
    return data
