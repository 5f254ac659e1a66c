"""Per-layer figures of the pretrained models: category shares, unique concepts, image
complexity, the CNN's shares, the appendix panel of one model and the label-score histograms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import PercentFormatter

from vitconcepts import style
from vitconcepts.errors import InputDataError
from vitconcepts.figures.drawing import (
    category_legend,
    layer_axis,
    no_data,
    panel_grid,
    panels,
    plot_line_per_model,
    stacked_bars,
)
from vitconcepts.figures.inputs import (
    COMPLEXITY_COLUMNS,
    CONCEPTS_COLUMNS,
    SHARES_COLUMNS,
    PathLike,
    in_model_order,
    present_models,
    read_checked_csv,
    read_many_csvs,
    share_table,
    tidy_shares,
    warn_skipped,
    write_source_csv,
)
from vitconcepts.formats import read_labels

#: y-axis label of the image complexity figure per complexity measure.
COMPLEXITY_LABELS = {
    "compression": "mean complexity (PNG bits/pixel)",
    "edges": "mean complexity (edge density)",
    "learned": "mean complexity (learned)",
}


def _read_models(
    csv: PathLike, columns: Sequence[str], what: str, models: Sequence[str], figure: str
) -> tuple[pd.DataFrame, list[str]]:
    """A shares or concepts CSV and which of ``models`` it has (error when none)."""
    df = read_checked_csv(csv, columns, what)
    return df, present_models(df, models, str(csv), figure)


def _line_figure(
    df: pd.DataFrame,
    models: Sequence[str],
    columns: Sequence[str],
    ylabel: str,
    out_pdf: PathLike,
    sources: Sequence[PathLike],
    from_zero: bool = False,
) -> pd.DataFrame:
    """A line per model of ``columns[2]`` over layers, and its source CSV (``columns``)."""
    data = in_model_order(df[df["model"].isin(models)][list(columns)], models)
    plot_line_per_model(data, models, columns[2], ylabel, out_pdf, from_zero=from_zero)
    write_source_csv(data, out_pdf, list(sources))
    return data


def plot_category_shares_vit_mean(
    shares_csv: PathLike, models: Sequence[str], out_pdf: PathLike
) -> pd.DataFrame:
    """Paper Fig. 1: category shares per layer averaged over ``models`` (stacked bars).

    The mean is ``numpy.mean`` over the models in ``models`` order (the notebook's Fig. 1
    cell; the paper plots colors, textures, natural elements and objects of this table). A
    category a model-layer lacks counts as share 0 in the mean. Source CSV columns:
    ``layer, category, share, n_models``.
    """
    df, present = _read_models(
        shares_csv, SHARES_COLUMNS, "category shares", models, "category_shares_vit_mean"
    )
    tables = [share_table(df[df["model"] == m]) for m in present]
    cats = style.ordered_categories(set().union(*(t.columns for t in tables)))
    tables = [t.reindex(columns=cats).fillna(0.0) for t in tables]
    stacked = pd.concat(tables, keys=range(len(tables)), names=["_m", "layer"])
    n_models = stacked.groupby(level="layer").size()
    # numpy.mean over the models in `models` order, like the notebook's Fig. 1 cell (pandas'
    # groupby mean sums with compensation and can differ in the last digit)
    layers = sorted(n_models.index)
    mean = pd.DataFrame(
        [
            [np.mean([t.at[layer, c] for t in tables if layer in t.index]) for c in cats]
            for layer in layers
        ],
        index=pd.Index(layers, name="layer"),
        columns=pd.Index(cats, name="category"),
    )
    data = tidy_shares(mean)
    data["n_models"] = data["layer"].map(n_models).astype(int)

    with style.style_context():
        fig, ax = style.plt.subplots(figsize=(style.FULL_WIDTH, 2.9), layout="constrained")
        stacked_bars(ax, mean)
        names = ", ".join(style.model_name(m) for m in present)
        ax.set_title(f"Mean over {names}")
        category_legend(fig, cats)
        style.save_figure(fig, out_pdf)
    write_source_csv(data, out_pdf, [shares_csv])
    return data


def plot_concepts_per_layer(
    concepts_csv: PathLike, models: Sequence[str], out_pdf: PathLike
) -> pd.DataFrame:
    """Paper Fig. 2: number of unique concepts per layer, one line per model."""
    df, present = _read_models(
        concepts_csv, CONCEPTS_COLUMNS, "concepts per layer", models, "concepts_per_layer"
    )
    cols = list(CONCEPTS_COLUMNS)
    return _line_figure(df, present, cols, "unique concepts", out_pdf, [concepts_csv], True)


def plot_category_shares(
    shares_csv: PathLike, models: Sequence[str], out_pdf: PathLike
) -> pd.DataFrame:
    """Paper Fig. 3: share of each category per layer; one panel per model, a line per category."""
    df, present = _read_models(
        shares_csv, SHARES_COLUMNS, "category shares", models, "category_shares"
    )
    tables = {m: share_table(df[df["model"] == m]) for m in present}
    cats = style.ordered_categories(set().union(*(t.columns for t in tables.values())))
    data = pd.concat(
        [tidy_shares(t.reindex(columns=cats).fillna(0.0), m) for m, t in tables.items()],
        ignore_index=True,
    )
    nrows, ncols = panel_grid(len(present), 2)
    ymax = min(1.0, float(data["share"].max()) * 1.08 + 0.01)

    with style.style_context():
        fig, axes = panels(nrows, ncols, 0.6 + 2.1 * nrows, sharey=True)
        for ax, m in zip(axes.flat, present, strict=False):
            d = data[data["model"] == m]
            for cat in cats:
                dc = d[d["category"] == cat]
                ax.plot(
                    dc["layer"], dc["share"], marker="o", color=style.category_color(cat), label=cat
                )
            ax.set_title(style.model_name(m))
            layer_axis(ax, d["layer"].unique())
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
            ax.set_ylim(0, ymax)
            ax.set_ylabel("share of concepts")
        for ax in list(axes.flat)[len(present) :]:
            ax.set_visible(False)
        category_legend(fig, cats, kind="line")
        style.save_figure(fig, out_pdf)
    write_source_csv(data, out_pdf, [shares_csv])
    return data


def plot_image_complexity(
    complexity_csvs: PathLike | Sequence[PathLike],
    models: Sequence[str],
    out_pdf: PathLike,
    measure: str | None = None,
) -> pd.DataFrame:
    """Paper Fig. 5: mean complexity of top-activating images per layer, one line per model.

    ``measure`` (the config's ``complexity.measure``) only names the y axis.

    ``complexity_csvs`` is one CSV or several (concatenated). Source CSV columns:
    ``model, layer, complexity`` (+ ``n_images`` when the input has it).
    """
    df = read_many_csvs(complexity_csvs, COMPLEXITY_COLUMNS, "image complexity")
    present = present_models(df, models, "the image complexity CSV(s)", "image_complexity")
    cols = [c for c in ("model", "layer", "complexity", "n_images") if c in df.columns]
    ylabel = COMPLEXITY_LABELS.get(measure or "", "mean image complexity")
    return _line_figure(df, present, cols, ylabel, out_pdf, [])


def _plot_single_model_shares(
    shares_csv: PathLike, model: str, out_pdf: PathLike, figure: str
) -> pd.DataFrame:
    df, _ = _read_models(shares_csv, SHARES_COLUMNS, "category shares", [model], figure)
    table = share_table(df[df["model"] == model])
    data = tidy_shares(table, model)
    with style.style_context():
        fig, ax = style.plt.subplots(figsize=(style.FULL_WIDTH, 2.9), layout="constrained")
        stacked_bars(ax, table)
        ax.set_title(style.model_name(model))
        category_legend(fig, list(table.columns))
        style.save_figure(fig, out_pdf)
    write_source_csv(data, out_pdf, [shares_csv])
    return data


def plot_category_shares_resnet(
    shares_csv: PathLike, model: str, out_pdf: PathLike
) -> pd.DataFrame:
    """Paper Fig. 6: category shares per layer of the CNN (``model``, e.g. ``resnet``)."""
    return _plot_single_model_shares(shares_csv, model, out_pdf, "category_shares_resnet")


def plot_appendix(
    model: str, concepts_csv: PathLike, shares_csv: PathLike, out_pdf: PathLike
) -> pd.DataFrame:
    """Appendix panel for one model: category shares (left) and unique concepts (right).

    Source CSV columns: ``model, layer, quantity, category, value`` with ``quantity`` one of
    ``share`` (per category) and ``n_concepts`` (category empty).
    """
    concepts = read_checked_csv(concepts_csv, CONCEPTS_COLUMNS, "concepts per layer")
    shares = read_checked_csv(shares_csv, SHARES_COLUMNS, "category shares")
    has_c = model in set(concepts["model"].astype(str))
    has_s = model in set(shares["model"].astype(str))
    if not has_c and not has_s:
        raise InputDataError(
            f"Figure appendix_{model}: neither {concepts_csv} nor {shares_csv} has {model!r}.",
            "Label this model first, or drop it from the appendix.",
        )
    parts = []
    table = None
    if has_s:
        table = share_table(shares[shares["model"] == model])
        s = tidy_shares(table, model).rename(columns={"share": "value"})
        s.insert(2, "quantity", "share")
        parts.append(s[["model", "layer", "quantity", "category", "value"]])
    else:
        warn_skipped(
            f"Figure appendix_{model}: {shares_csv} has no rows for {model}; panel left empty."
        )
    if has_c:
        c = concepts[concepts["model"] == model].sort_values("layer")
        parts.append(
            pd.DataFrame(
                {
                    "model": model,
                    "layer": c["layer"].astype(int).to_numpy(),
                    "quantity": "n_concepts",
                    "category": "",
                    "value": c["n_concepts"].astype(float).to_numpy(),
                }
            )
        )
    else:
        warn_skipped(
            f"Figure appendix_{model}: {concepts_csv} has no rows for {model}; panel left empty."
        )
    data = pd.concat(parts, ignore_index=True)

    with style.style_context():
        fig, (ax1, ax2) = style.plt.subplots(
            1,
            2,
            figsize=(style.FULL_WIDTH, 2.7),
            layout="constrained",
            gridspec_kw={"width_ratios": [1.5, 1]},
        )
        if table is not None:
            stacked_bars(ax1, table)
            cats = list(table.columns)
        else:
            no_data(ax1)
            cats = list(style.CATEGORIES)
        ax1.set_title("concept categories")
        if has_c:
            d = data[data["quantity"] == "n_concepts"]
            ax2.plot(d["layer"], d["value"], marker="o", color=style.model_color(model))
            layer_axis(ax2, d["layer"].unique())
            ax2.set_ylim(bottom=0)
            ax2.set_ylabel("unique concepts")
        else:
            no_data(ax2)
        ax2.set_title("unique concepts")
        fig.suptitle(style.model_name(model), fontsize=9)
        category_legend(fig, cats)
        style.save_figure(fig, out_pdf)
    write_source_csv(data, out_pdf, [concepts_csv, shares_csv])
    return data


def plot_score_histograms(
    label_csvs: Mapping[str, PathLike], out_pdf: PathLike, bins: int = 40
) -> pd.DataFrame:
    """Histogram of unit label scores (``similarity``) per model, shared bins, one panel each.

    Models whose label CSV is missing are skipped with a warning. Source CSV columns:
    ``model, bin_left, bin_right, count``.
    """
    scores: dict[str, np.ndarray] = {}
    for model, path in label_csvs.items():
        if not Path(path).is_file():
            warn_skipped(
                f"Figure score_histograms: label file {path} for {model} does not exist; skipped."
            )
            continue
        scores[model] = read_labels(path)["similarity"].to_numpy(float)
    if not scores or all(v.size == 0 for v in scores.values()):
        raise InputDataError(
            "Figure score_histograms: no label scores to plot "
            f"(label files: {', '.join(map(str, label_csvs.values())) or 'none'}).",
            "Label at least one model first.",
        )
    allv = np.concatenate(list(scores.values()))
    lo, hi = float(allv.min()), float(allv.max())
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    rows = []
    for model, v in scores.items():
        counts, _ = np.histogram(v, bins=edges)
        rows.append(
            pd.DataFrame(
                {
                    "model": model,
                    "bin_left": edges[:-1],
                    "bin_right": edges[1:],
                    "count": counts.astype(int),
                }
            )
        )
    data = pd.concat(rows, ignore_index=True)

    nrows, ncols = panel_grid(len(scores), 4)
    with style.style_context():
        fig, axes = panels(nrows, ncols, 0.4 + 1.55 * nrows)
        for i, (ax, model) in enumerate(zip(axes.flat, scores, strict=False)):
            d = data[data["model"] == model]
            ax.stairs(
                d["count"].to_numpy(), edges, fill=True, color=style.model_color(model), alpha=0.85
            )
            ax.set_title(style.model_name(model))
            ax.set_xlim(edges[0], edges[-1])
            ax.grid(axis="x", visible=False)
            if i + ncols >= len(scores):  # lowest panel of its column
                ax.set_xlabel("label score")
        for ax in axes[:, 0]:
            ax.set_ylabel("units")
        for ax in list(axes.flat)[len(scores) :]:
            ax.set_visible(False)
        style.save_figure(fig, out_pdf)
    write_source_csv(data, out_pdf, list(label_csvs.values()))
    return data
