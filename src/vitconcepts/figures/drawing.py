"""Shared drawing of the figures: the layer axis, dataset line styles, stacked share bars,
category legends and panel grids."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator, PercentFormatter

from vitconcepts import style

PathLike = str | Path


def dataset_style(dataset: str) -> dict[str, Any]:
    """Line style of a dataset/condition (pretrained, cub, bloodmnist): lines and legends."""
    return {
        "color": style.dataset_color(dataset),
        "linestyle": style.dataset_linestyle(dataset),
        "marker": "o",
        "markersize": 2.5,
    }


def dataset_line(ax: Axes, data: pd.DataFrame, column: str, dataset: str) -> None:
    """One line of ``data[column]`` over layers, styled for a dataset/condition."""
    ax.plot(data["layer"], data[column], **dataset_style(dataset))


def dataset_legend(fig: Any, labels: Mapping[str, str]) -> None:
    """A legend under the panels: one line per ``{dataset: label}``."""
    handles = [Line2D([], [], label=label, **dataset_style(d)) for d, label in labels.items()]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(labels))


def layer_axis(ax: Axes, layers: Sequence[int], label: str = "layer", max_ticks: int = 13) -> None:
    """Integer layer ticks: every layer when they fit, else every k-th starting at the first."""
    layers = sorted({int(x) for x in layers})
    if not layers:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        step = math.ceil(len(layers) / max_ticks)
        ax.set_xticks(layers[::step])
    ax.set_xlabel(label)


def stacked_bars(ax: Axes, table: pd.DataFrame, max_ticks: int = 13) -> None:
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
    layer_axis(ax, table.index, max_ticks=max_ticks)


def _category_handles(categories: Sequence[str], kind: str = "patch") -> list:
    if kind == "patch":
        return [
            Patch(facecolor=style.category_color(c), edgecolor="none", label=c) for c in categories
        ]
    return [Line2D([], [], color=style.category_color(c), marker="o", label=c) for c in categories]


def category_legend(fig, categories: Sequence[str], kind: str = "patch") -> None:
    fig.legend(
        handles=_category_handles(categories, kind),
        loc="outside lower center",
        ncol=min(5, len(categories)),
        handlelength=1.2,
        columnspacing=1.0,
    )


def no_data(ax: Axes, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#777777")
    ax.axis("off")  # not set_*ticks([]): that would clear the ticks of shared axes too


def panel_grid(n: int, max_cols: int) -> tuple[int, int]:
    ncols = max(1, min(max_cols, n))
    return math.ceil(n / ncols), ncols


def panels(nrows: int, ncols: int, height: float, **kwargs: Any) -> tuple[Any, np.ndarray]:
    """A full-width figure ``height`` inches tall with ``nrows`` x ``ncols`` axes (a 2-d array)."""
    return style.plt.subplots(
        nrows,
        ncols,
        figsize=(style.FULL_WIDTH, height),
        layout="constrained",
        squeeze=False,
        **kwargs,
    )


def model_line(ax: Axes, data: pd.DataFrame, value: str, model: str, **kwargs: Any) -> None:
    """One line of ``data[value]`` over layers in the model's fixed colour, labelled by name."""
    ax.plot(
        data["layer"],
        data[value],
        marker="o",
        color=style.model_color(model),
        label=style.model_name(model),
        **kwargs,
    )


def plot_line_per_model(
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
            model_line(ax, data[data["model"] == m], value, m)
        layer_axis(ax, data["layer"].unique())
        ax.set_ylabel(ylabel)
        if from_zero:
            ax.set_ylim(bottom=0)
        ax.legend(loc="best")
        style.save_figure(fig, out_pdf)
