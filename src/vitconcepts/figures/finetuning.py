"""Finetuning figures: pretrained vs finetuned copies of each base model (Figs. 7 and 8 of
the paper, per base model and averaged per condition)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
from matplotlib.ticker import PercentFormatter

from vitconcepts import style
from vitconcepts.analysis import finetuning_category_shares, finetuning_concepts_per_layer
from vitconcepts.errors import ConfigError, InputDataError
from vitconcepts.figures.drawing import (
    category_legend,
    dataset_legend,
    dataset_line,
    layer_axis,
    no_data,
    panel_grid,
    stacked_bars,
)
from vitconcepts.figures.inputs import (
    CONCEPTS_COLUMNS,
    SHARES_COLUMNS,
    PathLike,
    read_checked_csv,
    share_table,
    tidy_shares,
    warn_skipped,
    write_source_csv,
)


def _finetuned_groups(
    finetuned: Mapping[str, tuple[str, str]], have: set[str], source: str, figure: str
) -> tuple[dict[str, dict[str, str]], list[str]]:
    """``{base: {variant: model}}`` for models in ``have`` plus the variant column order."""
    if not finetuned:
        raise ConfigError(
            f"Figure {figure} needs at least one finetuned model.",
            "Give models `finetuned_from` and `dataset` in the config.",
        )
    groups: dict[str, dict[str, str]] = {}
    variants = ["pretrained"]
    for model, (base, dataset) in finetuned.items():
        groups.setdefault(base, {"pretrained": base})[dataset] = model
        if dataset not in variants:
            variants.append(dataset)
    missing = [m for g in groups.values() for m in g.values() if m not in have]
    if missing:
        warn_skipped(
            f"Figure {figure}: {source} has no rows for model(s) "
            f"{', '.join(dict.fromkeys(missing))}; skipped."
        )
    groups = {b: {v: m for v, m in g.items() if m in have} for b, g in groups.items()}
    groups = {b: g for b, g in groups.items() if g}
    if not groups:
        raise InputDataError(
            f"Figure {figure}: {source} has none of the pretrained or finetuned models "
            f"{', '.join(sorted(set(finetuned) | {b for b, _ in finetuned.values()}))}.",
            "Label the finetuned models (or use published labels) before drawing this figure.",
        )
    return groups, variants


def plot_finetuned_category_shares(
    shares_csv: PathLike, finetuned: Mapping[str, tuple[str, str]], out_pdf: PathLike
) -> pd.DataFrame:
    """Paper Fig. 7: category shares per layer, pretrained vs finetuned.

    ``finetuned`` maps each finetuned model to ``(base_model, dataset)``. One row of panels
    per base model, one column per variant (pretrained, then datasets in mapping order).
    Source CSV columns: ``base_model, variant, model, layer, category, share``.
    """
    df = read_checked_csv(shares_csv, SHARES_COLUMNS, "category shares")
    groups, variants = _finetuned_groups(
        finetuned, set(df["model"].astype(str)), str(shares_csv), "finetuned_category_shares"
    )
    tables = {m: share_table(df[df["model"] == m]) for g in groups.values() for m in g.values()}
    cats = style.ordered_categories(set().union(*(t.columns for t in tables.values())))
    parts = []
    for base, g in groups.items():
        for variant in variants:
            if variant in g:
                m = g[variant]
                t = tidy_shares(tables[m].reindex(columns=cats).fillna(0.0), m)
                t.insert(0, "variant", variant)
                t.insert(0, "base_model", base)
                parts.append(t)
    data = pd.concat(parts, ignore_index=True)

    nrows, ncols = len(groups), len(variants)
    with style.style_context():
        fig, axes = style.plt.subplots(
            nrows,
            ncols,
            figsize=(style.FULL_WIDTH, 0.7 + 1.55 * nrows),
            sharey=True,
            layout="constrained",
            squeeze=False,
        )
        for r, (base, g) in enumerate(groups.items()):
            for c, variant in enumerate(variants):
                ax = axes[r, c]
                if variant not in g:
                    no_data(
                        ax,
                        f"no {style.model_name(f'{base}_{variant}')}",
                    )
                else:
                    stacked_bars(
                        ax, tables[g[variant]].reindex(columns=cats).fillna(0.0), max_ticks=7
                    )
                if r == 0:
                    ax.set_title(style.DATASET_NAMES.get(variant, variant))
                if c == 0:
                    ax.set_ylabel(f"{style.model_name(base)}\nshare")
                else:
                    ax.set_ylabel("")
                if r != nrows - 1:
                    ax.set_xlabel("")
        category_legend(fig, cats)
        style.save_figure(fig, out_pdf)
    write_source_csv(data, out_pdf, [shares_csv])
    return data


def plot_finetuned_concepts_per_layer(
    concepts_csv: PathLike, finetuned: Mapping[str, tuple[str, str]], out_pdf: PathLike
) -> pd.DataFrame:
    """Paper Fig. 8: unique concepts per layer, pretrained vs finetuned, one panel per base model.

    Source CSV columns: ``base_model, variant, model, layer, n_concepts``.
    """
    df = read_checked_csv(concepts_csv, CONCEPTS_COLUMNS, "concepts per layer")
    groups, variants = _finetuned_groups(
        finetuned, set(df["model"].astype(str)), str(concepts_csv), "finetuned_concepts_per_layer"
    )
    parts = []
    for base, g in groups.items():
        for variant in variants:
            if variant in g:
                d = df[df["model"] == g[variant]][list(CONCEPTS_COLUMNS)].sort_values("layer")
                d.insert(0, "variant", variant)
                d.insert(0, "base_model", base)
                parts.append(d)
    data = pd.concat(parts, ignore_index=True)

    nrows, ncols = panel_grid(len(groups), 4)
    with style.style_context():
        fig, axes = style.plt.subplots(
            nrows,
            ncols,
            figsize=(style.FULL_WIDTH, 0.7 + 1.9 * nrows),
            layout="constrained",
            squeeze=False,
        )
        for ax, base in zip(axes.flat, groups, strict=False):
            d = data[data["base_model"] == base]
            for variant in variants:
                dv = d[d["variant"] == variant]
                if dv.empty:
                    continue
                dataset_line(ax, dv, "n_concepts", variant)
            ax.set_title(style.model_name(base))
            layer_axis(ax, d["layer"].unique(), max_ticks=7)
            ax.set_ylim(bottom=0)
        for ax in axes[:, 0]:
            ax.set_ylabel("unique concepts")
        for ax in list(axes.flat)[len(groups) :]:
            ax.set_visible(False)
        dataset_legend(fig, {v: style.DATASET_NAMES.get(v, v) for v in variants})
        style.save_figure(fig, out_pdf)
    write_source_csv(data, out_pdf, [concepts_csv])
    return data


#: The categories the paper's Fig. 7 draws, one panel each.
FINETUNING_CATEGORIES = (
    "colors",
    "textures and materials",
    "natural elements and organisms",
    "objects and machines",
    "places and buildings",
    "activities",
)


def _check_conditions(conditions: Mapping[str, Sequence[str]], figure: str) -> None:
    if not conditions:
        raise ConfigError(
            f"Figure {figure} needs base models with finetuned copies.",
            "Give models `finetuned_from` and `dataset`, and list the base models under "
            "analysis.finetuning_mean (the paper: [vit, dinov2, clip]).",
        )


def _condition_legend(fig, conditions: Sequence[str]) -> None:
    dataset_legend(
        fig,
        {
            c: c if c == "pretrained" else f"finetuned to {style.DATASET_NAMES.get(c, c)}"
            for c in conditions
        },
    )


def _mean_title(conditions: Mapping[str, Sequence[str]]) -> str:
    names = ", ".join(style.model_name(m) for m in conditions.get("pretrained", []))
    return f"mean over {names}" if names else ""


def plot_finetuning_concepts_per_layer(
    concepts_csv: PathLike, conditions: Mapping[str, Sequence[str]], out_pdf: PathLike
) -> pd.DataFrame:
    """Paper Fig. 8: unique concepts per layer averaged per condition, one line per condition.

    ``conditions`` maps ``pretrained`` and each finetuning dataset to the models averaged
    (:func:`vitconcepts.config.finetuning_conditions`). Source CSV
    ``finetuning_concepts_per_layer.csv``: ``condition, layer, n_concepts``
    (:func:`vitconcepts.analysis.finetuning_concepts_per_layer`).
    """
    _check_conditions(conditions, "finetuning_concepts_per_layer")
    df = read_checked_csv(concepts_csv, CONCEPTS_COLUMNS, "concepts per layer")
    data = finetuning_concepts_per_layer(df, conditions)
    present = list(dict.fromkeys(data["condition"]))
    with style.style_context():
        fig, ax = style.plt.subplots(figsize=(4.2, 3.0), layout="constrained")
        for c in present:
            d = data[data["condition"] == c]
            dataset_line(ax, d, "n_concepts", c)
        layer_axis(ax, data["layer"].unique())
        ax.set_ylim(bottom=0)
        ax.set_ylabel("unique concepts")
        ax.set_title(_mean_title(conditions), fontsize=8)
        _condition_legend(fig, present)
        style.save_figure(fig, out_pdf)
    write_source_csv(data, out_pdf, [concepts_csv])
    return data


def plot_finetuning_category_shares(
    shares_csv: PathLike, conditions: Mapping[str, Sequence[str]], out_pdf: PathLike
) -> pd.DataFrame:
    """Paper Fig. 7: category shares per layer averaged per condition, a panel per category.

    Panels: the six categories of :data:`FINETUNING_CATEGORIES`; lines: the conditions.
    Source CSV ``finetuning_category_shares.csv``: ``condition, layer, category, share``
    (fractions; all nine categories; :func:`vitconcepts.analysis.finetuning_category_shares`).
    """
    _check_conditions(conditions, "finetuning_category_shares")
    df = read_checked_csv(shares_csv, SHARES_COLUMNS, "category shares")
    data = finetuning_category_shares(df, conditions)
    present = list(dict.fromkeys(data["condition"]))
    with style.style_context():
        fig, axes = style.plt.subplots(
            2, 3, figsize=(style.FULL_WIDTH, 4.4), sharey=True, layout="constrained"
        )
        for ax, cat in zip(axes.flat, FINETUNING_CATEGORIES, strict=True):
            d = data[data["category"] == cat]
            for c in present:
                dc = d[d["condition"] == c]
                dataset_line(ax, dc, "share", c)
            ax.set_title(cat)
            layer_axis(ax, d["layer"].unique(), max_ticks=7)
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
            ax.set_ylim(bottom=0)
        for ax in axes[:, 0]:
            ax.set_ylabel("share of concepts")
        fig.suptitle(_mean_title(conditions), fontsize=9)
        _condition_legend(fig, present)
        style.save_figure(fig, out_pdf)
    write_source_csv(data, out_pdf, [shares_csv])
    return data
