"""The paper's figures, one function per figure.

Every ``plot_<name>(inputs..., out_pdf)`` writes ``<name>.pdf`` (vector), ``<name>.png``
(200 dpi) and, beside them, ``<name>.csv`` holding exactly the tidy data that is plotted,
unless that CSV is the function's input file (``concepts_per_layer``, ``category_shares``).
Reruns on the same inputs give byte-identical files.

Inputs are the analysis CSVs described in ``docs/design.md``:

* concepts per layer: ``model, layer, n_concepts`` (``layer`` is the 0-based layer index);
* category shares: ``model, layer, category, share`` (share is a fraction 0-1);
* image complexity: ``model, layer, complexity, n_images``;
* unit labels: ``layer, unit, description, similarity, images`` (``layer`` a module path);
* probe index: ``sample, sample_id, path, part``.

Models that a figure asks for but an input lacks are skipped with a warning; a figure with
no data left raises :class:`~vitconcepts.errors.InputDataError`.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, PercentFormatter
from PIL import Image

from vitconcepts import style
from vitconcepts.analysis import finetuning_category_shares, finetuning_concepts_per_layer
from vitconcepts.errors import ConfigError, InputDataError
from vitconcepts.io_errors import rerun_fix

__all__ = [
    "plot_appendix",
    "plot_category_shares",
    "plot_category_shares_resnet",
    "plot_category_shares_vit_mean",
    "plot_concepts_per_layer",
    "plot_example_units",
    "plot_finetuned_category_shares",
    "plot_finetuned_concepts_per_layer",
    "plot_finetuning_category_shares",
    "plot_finetuning_concepts_per_layer",
    "plot_image_complexity",
    "plot_score_histograms",
    "read_label_csv",
]

PathLike = str | Path

CONCEPTS_COLUMNS = ("model", "layer", "n_concepts")
SHARES_COLUMNS = ("model", "layer", "category", "share")
COMPLEXITY_COLUMNS = ("model", "layer", "complexity")
LABEL_COLUMNS = ("layer", "unit", "description", "similarity", "images")
INDEX_COLUMNS = ("sample", "sample_id", "path")

#: y-axis label of the image complexity figure per complexity measure.
COMPLEXITY_LABELS = {
    "compression": "mean complexity (PNG bits/pixel)",
    "edges": "mean complexity (edge density)",
    "learned": "mean complexity (learned)",
}

#: Thumbnail edge in pixels for example-unit images.
THUMBNAIL_PX = 128


# --------------------------------------------------------------------------- helpers


def _read_csv(path: PathLike, columns: Sequence[str], what: str) -> pd.DataFrame:
    """Read a CSV and check it has ``columns``; clear InputDataError otherwise."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError(
            f"The {what} file {path} does not exist.",
            "Run the rule that produces it first (snakemake builds it when asked for the figure).",
        )
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputDataError(
            f"The {what} file {path} is not a readable CSV ({exc}).",
            rerun_fix(path),
        ) from exc
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputDataError(
            f"The {what} file {path} lacks the column(s) {', '.join(missing)}; "
            f"expected {', '.join(columns)} (found {', '.join(map(str, df.columns))}).",
            rerun_fix(path),
        )
    return df


def _read_many(
    paths: PathLike | Sequence[PathLike], columns: Sequence[str], what: str
) -> pd.DataFrame:
    if isinstance(paths, str | Path):
        paths = [paths]
    frames = [_read_csv(p, columns, what) for p in paths]
    if not frames:
        raise InputDataError(f"No {what} files were given.", "Pass at least one CSV.")
    return pd.concat(frames, ignore_index=True)


def _warn(message: str) -> None:
    warnings.warn(message, UserWarning, stacklevel=3)


def _present_models(df: pd.DataFrame, models: Sequence[str], source: str, figure: str) -> list[str]:
    """Models of ``models`` that ``df`` has, in the given order; warn about the rest."""
    have = set(df["model"].astype(str))
    present = [m for m in models if m in have]
    missing = [m for m in models if m not in have]
    if missing:
        _warn(f"Figure {figure}: {source} has no rows for model(s) {', '.join(missing)}; skipped.")
    if not present:
        raise InputDataError(
            f"Figure {figure}: {source} has none of the models {', '.join(models)} "
            f"(it has {', '.join(sorted(have)) or 'no models'}).",
            "Check the `analysis` model lists in the config against the models that were labelled.",
        )
    return present


def _source_csv(out_pdf: PathLike) -> Path:
    return Path(out_pdf).with_suffix(".csv")


def _write_source(data: pd.DataFrame, out_pdf: PathLike, inputs: Sequence[PathLike]) -> Path | None:
    """Write the plotted data beside the figure unless that file is one of the inputs."""
    out_csv = _source_csv(out_pdf)
    out_resolved = out_csv.resolve()
    if any(Path(p).resolve() == out_resolved for p in inputs):
        return None
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    data.to_csv(out_csv, index=False, lineterminator="\n")
    return out_csv


def _share_table(df: pd.DataFrame) -> pd.DataFrame:
    """Pivot tidy shares of ONE model to ``layer x category`` with every category, zeros filled."""
    table = df.pivot_table(index="layer", columns="category", values="share", aggfunc="sum")
    cats = style.ordered_categories(set(style.CATEGORIES) | set(table.columns))
    return table.reindex(columns=cats).fillna(0.0).sort_index()


def _tidy_shares(table: pd.DataFrame, model: str | None = None) -> pd.DataFrame:
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


def _dataset_style(dataset: str) -> dict[str, Any]:
    """Line style of a dataset/condition (pretrained, cub, bloodmnist): lines and legends."""
    return {
        "color": style.dataset_color(dataset),
        "linestyle": style.dataset_linestyle(dataset),
        "marker": "o",
        "markersize": 2.5,
    }


def _dataset_line(ax: Axes, data: pd.DataFrame, column: str, dataset: str) -> None:
    """One line of ``data[column]`` over layers, styled for a dataset/condition."""
    ax.plot(data["layer"], data[column], **_dataset_style(dataset))


def _dataset_legend(fig: Any, labels: Mapping[str, str]) -> None:
    """A legend under the panels: one line per ``{dataset: label}``."""
    handles = [Line2D([], [], label=label, **_dataset_style(d)) for d, label in labels.items()]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(labels))


def _layer_axis(ax: Axes, layers: Sequence[int], label: str = "layer", max_ticks: int = 13) -> None:
    """Integer layer ticks: every layer when they fit, else every k-th starting at the first."""
    layers = sorted({int(x) for x in layers})
    if not layers:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        step = math.ceil(len(layers) / max_ticks)
        ax.set_xticks(layers[::step])
    ax.set_xlabel(label)


def _stacked_bars(ax: Axes, table: pd.DataFrame, max_ticks: int = 13) -> None:
    """Stacked bars of category shares per layer (columns already in category order)."""
    layers = table.index.to_numpy(dtype=float)
    bottom = np.zeros(len(layers))
    for cat in table.columns:
        values = table[cat].to_numpy(dtype=float)
        ax.bar(
            layers,
            values,
            bottom=bottom,
            width=0.8,
            color=style.category_color(cat),
            edgecolor="white",
            linewidth=0.3,
            label=cat,
        )
        bottom += values
    ax.set_ylim(0, max(1.0, float(bottom.max()) if len(bottom) else 1.0))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("share of concepts")
    ax.grid(axis="x", visible=False)
    _layer_axis(ax, table.index, max_ticks=max_ticks)


def _category_handles(categories: Sequence[str], kind: str = "patch") -> list:
    if kind == "patch":
        return [
            Patch(facecolor=style.category_color(c), edgecolor="none", label=c) for c in categories
        ]
    return [Line2D([], [], color=style.category_color(c), marker="o", label=c) for c in categories]


def _category_legend(fig, categories: Sequence[str], kind: str = "patch") -> None:
    fig.legend(
        handles=_category_handles(categories, kind),
        loc="outside lower center",
        ncol=min(5, len(categories)),
        handlelength=1.2,
        columnspacing=1.0,
    )


def _no_data(ax: Axes, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#777777")
    ax.axis("off")  # not set_*ticks([]): that would clear the ticks of shared axes too


def _grid(n: int, max_cols: int) -> tuple[int, int]:
    ncols = max(1, min(max_cols, n))
    return math.ceil(n / ncols), ncols


# --------------------------------------------------------------------------- figures


def plot_category_shares_vit_mean(
    shares_csv: PathLike, models: Sequence[str], out_pdf: PathLike
) -> pd.DataFrame:
    """Paper Fig. 1: category shares per layer averaged over ``models`` (stacked bars).

    The mean is ``numpy.mean`` over the models in ``models`` order (the notebook's Fig. 1
    cell; the paper plots colors, textures, natural elements and objects of this table). A
    category a model-layer lacks counts as share 0 in the mean. Source CSV columns:
    ``layer, category, share, n_models``.
    """
    df = _read_csv(shares_csv, SHARES_COLUMNS, "category shares")
    present = _present_models(df, models, str(shares_csv), "category_shares_vit_mean")
    tables = [_share_table(df[df["model"] == m]) for m in present]
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
    data = _tidy_shares(mean)
    data["n_models"] = data["layer"].map(n_models).astype(int)

    with style.style_context():
        fig, ax = style.plt.subplots(figsize=(style.FULL_WIDTH, 2.9), layout="constrained")
        _stacked_bars(ax, mean)
        names = ", ".join(style.model_name(m) for m in present)
        ax.set_title(f"Mean over {names}")
        _category_legend(fig, cats)
        style.save_figure(fig, out_pdf)
    _write_source(data, out_pdf, [shares_csv])
    return data


def _in_model_order(data: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """Rows sorted by the given model order, then layer."""
    order = data["model"].map({m: i for i, m in enumerate(models)})
    return (
        data.assign(_o=order).sort_values(["_o", "layer"]).drop(columns="_o").reset_index(drop=True)
    )


def _plot_line_per_model(
    data: pd.DataFrame,
    models: Sequence[str],
    value: str,
    ylabel: str,
    out_pdf: PathLike,
    from_zero: bool = False,
) -> None:
    """One line of ``value`` over layers per model, in the models' fixed colours."""
    with style.style_context():
        fig, ax = style.plt.subplots(figsize=(4.2, 2.7), layout="constrained")
        for m in models:
            d = data[data["model"] == m]
            ax.plot(
                d["layer"],
                d[value],
                marker="o",
                color=style.model_color(m),
                label=style.model_name(m),
            )
        _layer_axis(ax, data["layer"].unique())
        ax.set_ylabel(ylabel)
        if from_zero:
            ax.set_ylim(bottom=0)
        ax.legend(loc="best")
        style.save_figure(fig, out_pdf)


def plot_concepts_per_layer(
    concepts_csv: PathLike, models: Sequence[str], out_pdf: PathLike
) -> pd.DataFrame:
    """Paper Fig. 2: number of unique concepts per layer, one line per model."""
    df = _read_csv(concepts_csv, CONCEPTS_COLUMNS, "concepts per layer")
    present = _present_models(df, models, str(concepts_csv), "concepts_per_layer")
    data = _in_model_order(df[df["model"].isin(present)][list(CONCEPTS_COLUMNS)], present)
    _plot_line_per_model(data, present, "n_concepts", "unique concepts", out_pdf, from_zero=True)
    _write_source(data, out_pdf, [concepts_csv])
    return data


def plot_category_shares(
    shares_csv: PathLike, models: Sequence[str], out_pdf: PathLike
) -> pd.DataFrame:
    """Paper Fig. 3: share of each category per layer; one panel per model, a line per category."""
    df = _read_csv(shares_csv, SHARES_COLUMNS, "category shares")
    present = _present_models(df, models, str(shares_csv), "category_shares")
    tables = {m: _share_table(df[df["model"] == m]) for m in present}
    cats = style.ordered_categories(set().union(*(t.columns for t in tables.values())))
    data = pd.concat(
        [_tidy_shares(t.reindex(columns=cats).fillna(0.0), m) for m, t in tables.items()],
        ignore_index=True,
    )
    nrows, ncols = _grid(len(present), 2)
    ymax = min(1.0, float(data["share"].max()) * 1.08 + 0.01)

    with style.style_context():
        fig, axes = style.plt.subplots(
            nrows,
            ncols,
            figsize=(style.FULL_WIDTH, 0.6 + 2.1 * nrows),
            sharey=True,
            layout="constrained",
            squeeze=False,
        )
        for ax, m in zip(axes.flat, present, strict=False):
            d = data[data["model"] == m]
            for cat in cats:
                dc = d[d["category"] == cat]
                ax.plot(
                    dc["layer"], dc["share"], marker="o", color=style.category_color(cat), label=cat
                )
            ax.set_title(style.model_name(m))
            _layer_axis(ax, d["layer"].unique())
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
            ax.set_ylim(0, ymax)
            ax.set_ylabel("share of concepts")
        for ax in list(axes.flat)[len(present) :]:
            ax.set_visible(False)
        _category_legend(fig, cats, kind="line")
        style.save_figure(fig, out_pdf)
    _write_source(data, out_pdf, [shares_csv])
    return data


def read_label_csv(path: PathLike) -> pd.DataFrame:
    """Read a unit-label CSV; adds ``layer_index`` (0-based, order of first appearance)."""
    from vitconcepts.analysis import check_labels

    df = check_labels(_read_csv(path, LABEL_COLUMNS, "unit labels"), path)
    order = {name: i for i, name in enumerate(dict.fromkeys(df["layer"].astype(str)))}
    df["layer"] = df["layer"].astype(str)
    df["layer_index"] = df["layer"].map(order).astype(int)
    return df


def _parse_images(value: object, path: PathLike) -> list[int]:
    numbers = re.findall(r"-?\d+", str(value))
    if not numbers:
        raise InputDataError(
            f"The unit labels file {path} has an `images` entry {value!r} without sample indices.",
            "Regenerate the labels; `images` must look like `[72237 75859 27664 72329  2480]`.",
        )
    return [int(n) for n in numbers]


def _thumbnail(path: str) -> np.ndarray:
    from .probe import decode_image

    try:
        img = decode_image(path)  # the probe loader (modes converted like every rule)
    except (OSError, ValueError) as exc:
        raise InputDataError(
            f"Cannot read the probe image {path} ({exc}).",
            "check that the probe images are still where the probe index says; if they "
            "moved or changed, add `--forcerun prepare_probe` at the end of your snakemake "
            "command.",
        ) from exc
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side))
    img = img.resize((THUMBNAIL_PX, THUMBNAIL_PX), Image.Resampling.BILINEAR)
    return np.asarray(img)


def _shorten(text: str, n: int = 28) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


def plot_example_units(
    labels_csv: PathLike,
    index_csv: PathLike,
    layers: Sequence[int],
    units_per_layer: int,
    out_pdf: PathLike,
    n_images: int = 5,
) -> pd.DataFrame:
    """Paper Fig. 4: top-activating probe images of example units with their labels.

    For each chosen layer (0-based, network order) the ``units_per_layer`` units with the
    highest label score (``similarity``; ties: lower unit first) are shown, one row per unit
    with its ``n_images`` top-activating images. Layers beyond the model's depth are skipped
    with a warning. Source CSV columns: ``layer, layer_name, unit, description, similarity,
    rank, sample, sample_id``.
    """
    if units_per_layer < 1 or n_images < 1:
        raise ConfigError(
            f"example_units needs units_per_layer >= 1 and n_images >= 1 "
            f"(got {units_per_layer}, {n_images}).",
            "Set `analysis.example_units.units_per_layer` to a positive number.",
        )
    labels = read_label_csv(labels_csv)
    index = _read_csv(index_csv, INDEX_COLUMNS, "probe index").set_index("sample")
    n_layers = int(labels["layer_index"].max()) + 1
    chosen = []
    for layer in layers:
        if 0 <= int(layer) < n_layers:
            chosen.append(int(layer))
        else:
            _warn(
                f"Figure example_units: layer {layer} does not exist in {labels_csv} "
                f"({n_layers} layers); skipped."
            )
    if not chosen:
        raise ConfigError(
            f"None of the example-unit layers {list(layers)} exist in {labels_csv} "
            f"({n_layers} layers, 0-based).",
            "Set `analysis.example_units.layers` to 0-based layer indices of the model.",
        )

    rows = []
    for layer in dict.fromkeys(chosen):
        d = labels[labels["layer_index"] == layer]
        d = d.sort_values(["similarity", "unit"], ascending=[False, True], kind="mergesort")
        for _, r in d.head(units_per_layer).iterrows():
            samples = _parse_images(r["images"], labels_csv)[:n_images]
            for rank, sample in enumerate(samples):
                if sample not in index.index:
                    raise InputDataError(
                        f"The unit labels file {labels_csv} refers to probe sample {sample}, "
                        f"which the probe index {index_csv} does not have.",
                        "The labels were computed on another probe; label the units with this "
                        "probe or use its index.",
                    )
                rows.append(
                    {
                        "layer": layer,
                        "layer_name": r["layer"],
                        "unit": int(r["unit"]),
                        "description": r["description"],
                        "similarity": float(r["similarity"]),
                        "rank": rank,
                        "sample": sample,
                        "sample_id": index.loc[sample, "sample_id"],
                        "_path": index.loc[sample, "path"],
                    }
                )
    data = pd.DataFrame(rows)
    units = data[["layer", "unit", "description", "similarity"]].drop_duplicates(["layer", "unit"])
    ncols = int(data["rank"].max()) + 1

    with style.style_context():
        cell = (style.FULL_WIDTH - 0.2) / ncols
        fig, axes = style.plt.subplots(
            len(units),
            ncols,
            figsize=(style.FULL_WIDTH, len(units) * (cell + 0.3)),
            layout="constrained",
            squeeze=False,
        )
        for row, (_, u) in zip(axes, units.iterrows(), strict=True):
            imgs = data[(data["layer"] == u["layer"]) & (data["unit"] == u["unit"])]
            for ax in row:
                ax.axis("off")
            for _, im in imgs.iterrows():
                ax = row[int(im["rank"])]
                ax.imshow(_thumbnail(str(im["_path"])), interpolation="nearest")
            row[0].set_title(
                f"layer {u['layer']}, unit {u['unit']}: “{_shorten(u['description'])}” "
                f"(score {u['similarity']:.3f})",
                loc="left",
                fontsize=8,
            )
        style.save_figure(fig, out_pdf)
    data = data.drop(columns="_path")
    _write_source(data, out_pdf, [labels_csv, index_csv])
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
    df = _read_many(complexity_csvs, COMPLEXITY_COLUMNS, "image complexity")
    present = _present_models(df, models, "the image complexity CSV(s)", "image_complexity")
    cols = [c for c in ("model", "layer", "complexity", "n_images") if c in df.columns]
    data = _in_model_order(df[df["model"].isin(present)][cols], present)
    ylabel = COMPLEXITY_LABELS.get(measure or "", "mean image complexity")
    _plot_line_per_model(data, present, "complexity", ylabel, out_pdf)
    _write_source(data, out_pdf, [])
    return data


def _plot_single_model_shares(
    shares_csv: PathLike, model: str, out_pdf: PathLike, figure: str
) -> pd.DataFrame:
    df = _read_csv(shares_csv, SHARES_COLUMNS, "category shares")
    _present_models(df, [model], str(shares_csv), figure)
    table = _share_table(df[df["model"] == model])
    data = _tidy_shares(table, model)
    with style.style_context():
        fig, ax = style.plt.subplots(figsize=(style.FULL_WIDTH, 2.9), layout="constrained")
        _stacked_bars(ax, table)
        ax.set_title(style.model_name(model))
        _category_legend(fig, list(table.columns))
        style.save_figure(fig, out_pdf)
    _write_source(data, out_pdf, [shares_csv])
    return data


def plot_category_shares_resnet(
    shares_csv: PathLike, model: str, out_pdf: PathLike
) -> pd.DataFrame:
    """Paper Fig. 6: category shares per layer of the CNN (``model``, e.g. ``resnet``)."""
    return _plot_single_model_shares(shares_csv, model, out_pdf, "category_shares_resnet")


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
        _warn(
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
    df = _read_csv(shares_csv, SHARES_COLUMNS, "category shares")
    groups, variants = _finetuned_groups(
        finetuned, set(df["model"].astype(str)), str(shares_csv), "finetuned_category_shares"
    )
    tables = {m: _share_table(df[df["model"] == m]) for g in groups.values() for m in g.values()}
    cats = style.ordered_categories(set().union(*(t.columns for t in tables.values())))
    parts = []
    for base, g in groups.items():
        for variant in variants:
            if variant in g:
                m = g[variant]
                t = _tidy_shares(tables[m].reindex(columns=cats).fillna(0.0), m)
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
                    _no_data(
                        ax,
                        f"no {style.model_name(f'{base}_{variant}')}",
                    )
                else:
                    _stacked_bars(
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
        _category_legend(fig, cats)
        style.save_figure(fig, out_pdf)
    _write_source(data, out_pdf, [shares_csv])
    return data


def plot_finetuned_concepts_per_layer(
    concepts_csv: PathLike, finetuned: Mapping[str, tuple[str, str]], out_pdf: PathLike
) -> pd.DataFrame:
    """Paper Fig. 8: unique concepts per layer, pretrained vs finetuned, one panel per base model.

    Source CSV columns: ``base_model, variant, model, layer, n_concepts``.
    """
    df = _read_csv(concepts_csv, CONCEPTS_COLUMNS, "concepts per layer")
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

    nrows, ncols = _grid(len(groups), 4)
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
                _dataset_line(ax, dv, "n_concepts", variant)
            ax.set_title(style.model_name(base))
            _layer_axis(ax, d["layer"].unique(), max_ticks=7)
            ax.set_ylim(bottom=0)
        for ax in axes[:, 0]:
            ax.set_ylabel("unique concepts")
        for ax in list(axes.flat)[len(groups) :]:
            ax.set_visible(False)
        _dataset_legend(fig, {v: style.DATASET_NAMES.get(v, v) for v in variants})
        style.save_figure(fig, out_pdf)
    _write_source(data, out_pdf, [concepts_csv])
    return data


def plot_appendix(
    model: str, concepts_csv: PathLike, shares_csv: PathLike, out_pdf: PathLike
) -> pd.DataFrame:
    """Appendix panel for one model: category shares (left) and unique concepts (right).

    Source CSV columns: ``model, layer, quantity, category, value`` with ``quantity`` one of
    ``share`` (per category) and ``n_concepts`` (category empty).
    """
    concepts = _read_csv(concepts_csv, CONCEPTS_COLUMNS, "concepts per layer")
    shares = _read_csv(shares_csv, SHARES_COLUMNS, "category shares")
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
        table = _share_table(shares[shares["model"] == model])
        s = _tidy_shares(table, model).rename(columns={"share": "value"})
        s.insert(2, "quantity", "share")
        parts.append(s[["model", "layer", "quantity", "category", "value"]])
    else:
        _warn(f"Figure appendix_{model}: {shares_csv} has no rows for {model}; panel left empty.")
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
        _warn(f"Figure appendix_{model}: {concepts_csv} has no rows for {model}; panel left empty.")
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
            _stacked_bars(ax1, table)
            cats = list(table.columns)
        else:
            _no_data(ax1)
            cats = list(style.CATEGORIES)
        ax1.set_title("concept categories")
        if has_c:
            d = data[data["quantity"] == "n_concepts"]
            ax2.plot(d["layer"], d["value"], marker="o", color=style.model_color(model))
            _layer_axis(ax2, d["layer"].unique())
            ax2.set_ylim(bottom=0)
            ax2.set_ylabel("unique concepts")
        else:
            _no_data(ax2)
        ax2.set_title("unique concepts")
        fig.suptitle(style.model_name(model), fontsize=9)
        _category_legend(fig, cats)
        style.save_figure(fig, out_pdf)
    _write_source(data, out_pdf, [concepts_csv, shares_csv])
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
            _warn(
                f"Figure score_histograms: label file {path} for {model} does not exist; skipped."
            )
            continue
        scores[model] = read_label_csv(path)["similarity"].to_numpy(float)
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

    nrows, ncols = _grid(len(scores), 4)
    with style.style_context():
        fig, axes = style.plt.subplots(
            nrows,
            ncols,
            figsize=(style.FULL_WIDTH, 0.4 + 1.55 * nrows),
            layout="constrained",
            squeeze=False,
        )
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
    _write_source(data, out_pdf, list(label_csvs.values()))
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
    _dataset_legend(
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
    df = _read_csv(concepts_csv, CONCEPTS_COLUMNS, "concepts per layer")
    data = finetuning_concepts_per_layer(df, conditions)
    present = list(dict.fromkeys(data["condition"]))
    with style.style_context():
        fig, ax = style.plt.subplots(figsize=(4.2, 3.0), layout="constrained")
        for c in present:
            d = data[data["condition"] == c]
            _dataset_line(ax, d, "n_concepts", c)
        _layer_axis(ax, data["layer"].unique())
        ax.set_ylim(bottom=0)
        ax.set_ylabel("unique concepts")
        ax.set_title(_mean_title(conditions), fontsize=8)
        _condition_legend(fig, present)
        style.save_figure(fig, out_pdf)
    _write_source(data, out_pdf, [concepts_csv])
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
    df = _read_csv(shares_csv, SHARES_COLUMNS, "category shares")
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
                _dataset_line(ax, dc, "share", c)
            ax.set_title(cat)
            _layer_axis(ax, d["layer"].unique(), max_ticks=7)
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
            ax.set_ylim(bottom=0)
        for ax in axes[:, 0]:
            ax.set_ylabel("share of concepts")
        fig.suptitle(_mean_title(conditions), fontsize=9)
        _condition_legend(fig, present)
        style.save_figure(fig, out_pdf)
    _write_source(data, out_pdf, [shares_csv])
    return data
