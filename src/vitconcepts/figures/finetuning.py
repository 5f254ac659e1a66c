"""Finetuning figures: pretrained vs finetuned copies of each base model (Figs. 7 and 8 of
the paper, per base model and averaged per condition)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pandas as pd
from matplotlib.ticker import PercentFormatter

from vitconcepts import style
from vitconcepts.analysis import finetuning_category_shares, finetuning_concepts_per_layer
from vitconcepts.categories import CATEGORIES
from vitconcepts.errors import ConfigError, InputDataError
from vitconcepts.figures.drawing import (
    category_legend,
    dataset_legend,
    dataset_line,
    layer_axis,
    no_data,
    panel_grid,
    panels,
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
        fig, axes = panels(nrows, ncols, 0.7 + 1.55 * nrows, sharey=True)
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
        fig, axes = panels(nrows, ncols, 0.7 + 1.9 * nrows)
        for ax, base in zip(axes.flat, groups, strict=False):
            d = data[data["base_model"] == base]
            _dataset_lines(ax, d, "variant", "n_concepts", variants, max_ticks=7)
            ax.set_title(style.model_name(base))
        for ax in axes[:, 0]:
            ax.set_ylabel("unique concepts")
        for ax in list(axes.flat)[len(groups) :]:
            ax.set_visible(False)
        dataset_legend(fig, {v: style.DATASET_NAMES.get(v, v) for v in variants})
        style.save_figure(fig, out_pdf)
    write_source_csv(data, out_pdf, [concepts_csv])
    return data


#: The categories the paper's Fig. 7 draws, one panel each: the curated map's first six.
FINETUNING_CATEGORIES = CATEGORIES[:6]


def _dataset_lines(
    ax, data: pd.DataFrame, key: str, value: str, datasets: Sequence[str], max_ticks: int = 13
) -> None:
    """A line of ``value`` per dataset/condition (the rows where ``data[key]`` is it), y from 0."""
    for name in datasets:
        d = data[data[key] == name]
        if not d.empty:
            dataset_line(ax, d, value, name)
    layer_axis(ax, data["layer"].unique(), max_ticks=max_ticks)
    ax.set_ylim(bottom=0)


def _condition_means(
    csv: PathLike,
    columns: Sequence[str],
    average: Callable[[pd.DataFrame, Mapping[str, Sequence[str]]], pd.DataFrame],
    conditions: Mapping[str, Sequence[str]],
    figure: str,
) -> tuple[pd.DataFrame, list[str]]:
    """``average`` of a concepts or shares CSV over each condition's models, and the
    conditions it has."""
    if not conditions:
        raise ConfigError(
            f"Figure {figure} needs base models with finetuned copies.",
            "Give models `finetuned_from` and `dataset`, and list the base models under "
            "analysis.finetuning_mean (the paper: [vit, dinov2, clip]).",
        )
    what = "category shares" if columns == SHARES_COLUMNS else "concepts per layer"
    data = average(read_checked_csv(csv, columns, what), conditions)
    return data, list(dict.fromkeys(data["condition"]))


def _save_condition_figure(
    fig, conditions: Sequence[str], data: pd.DataFrame, out_pdf: PathLike, source: PathLike
) -> pd.DataFrame:
    """Legend of the conditions, the figure files and the source CSV; returns ``data``."""
    dataset_legend(
        fig,
        {
            c: c if c == "pretrained" else f"finetuned to {style.DATASET_NAMES.get(c, c)}"
            for c in conditions
        },
    )
    style.save_figure(fig, out_pdf)
    write_source_csv(data, out_pdf, [source])
    return data


def _mean_title(conditions: Mapping[str, Sequence[str]]) -> str:
    names = ", ".join(style.model_name(m) for m in conditions.get("pretrained", []))
    return f"mean over {names}" if names else ""


def plot_finetuning_concepts_per_layer(
    concepts_csv: PathLike, conditions: Mapping[str, Sequence[str]], out_pdf: PathLike
) -> pd.DataFrame:
    """Paper Fig. 8: unique concepts per layer averaged per condition, one line per condition.

    ``conditions`` maps ``pretrained`` and each finetuning dataset to the models averaged
    (``finetuning_conditions`` in rules/plan_config.py). Source CSV
    ``finetuning_concepts_per_layer.csv``: ``condition, layer, n_concepts``
    (:func:`vitconcepts.analysis.finetuning_concepts_per_layer`).
    """
    data, present = _condition_means(
        concepts_csv,
        CONCEPTS_COLUMNS,
        finetuning_concepts_per_layer,
        conditions,
        "finetuning_concepts_per_layer",
    )
    with style.style_context():
        fig, ax = style.plt.subplots(figsize=(4.2, 3.0), layout="constrained")
        _dataset_lines(ax, data, "condition", "n_concepts", present)
        ax.set_ylabel("unique concepts")
        ax.set_title(_mean_title(conditions), fontsize=8)
        return _save_condition_figure(fig, present, data, out_pdf, concepts_csv)


def plot_finetuning_category_shares(
    shares_csv: PathLike, conditions: Mapping[str, Sequence[str]], out_pdf: PathLike
) -> pd.DataFrame:
    """Paper Fig. 7: category shares per layer averaged per condition, a panel per category.

    Panels: the six categories of :data:`FINETUNING_CATEGORIES`; lines: the conditions.
    Source CSV ``finetuning_category_shares.csv``: ``condition, layer, category, share``
    (fractions; all nine categories; :func:`vitconcepts.analysis.finetuning_category_shares`).
    """
    data, present = _condition_means(
        shares_csv,
        SHARES_COLUMNS,
        finetuning_category_shares,
        conditions,
        "finetuning_category_shares",
    )
    with style.style_context():
        fig, axes = style.plt.subplots(
            2, 3, figsize=(style.FULL_WIDTH, 4.4), sharey=True, layout="constrained"
        )
        for ax, cat in zip(axes.flat, FINETUNING_CATEGORIES, strict=True):
            _dataset_lines(ax, data[data["category"] == cat], "condition", "share", present, 7)
            ax.set_title(cat)
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        for ax in axes[:, 0]:
            ax.set_ylabel("share of concepts")
        fig.suptitle(_mean_title(conditions), fontsize=9)
        return _save_condition_figure(fig, present, data, out_pdf, shares_csv)
