"""Figure ``labelers``: CLIP-Dissect's one-word label against Linear Explanations (LE), per
layer, on the same held-out test images (appendix "A second labeler").

One column per model, its random-init control (``models.<key>.control_of``) drawn in the
same panels in grey. Top row: the median over a layer's units of the held-out (test)
Pearson correlation between the unit and its description's prediction: the CLIP similarity
of the CLIP-Dissect label (dashed), LE's weighted sum of concepts (solid). Bottom row: LE's
mean explanation length (concepts per unit). Source CSV: one row per model, layer and
labeler: ``model, control_of, layer, layer_name, labeler, median_test_correlation,
mean_concepts, n_units``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from vitconcepts import style
from vitconcepts.errors import InputDataError
from vitconcepts.figures.drawing import layer_axis
from vitconcepts.figures.inputs import warn_skipped, write_source_csv
from vitconcepts.formats import read_linear

PathLike = str | Path

LABELERS = {"clip_dissect": "CLIP-Dissect label", "linear": "Linear Explanation"}
LABELER_COLUMNS = (
    "model",
    "control_of",
    "layer",
    "layer_name",
    "labeler",
    "median_test_correlation",
    "mean_concepts",
    "n_units",
)


def labeler_table(
    linear_csvs: Mapping[str, PathLike], models: Sequence[str], controls: Mapping[str, str]
) -> pd.DataFrame:
    """The figure's source table (columns :data:`LABELER_COLUMNS`) of ``models``."""
    rows = []
    for model in models:
        frame = read_linear(linear_csvs[model])
        for index, (layer, units) in enumerate(frame.groupby("layer", sort=False)):
            lengths = units["concepts"].map(len)
            for labeler, column in (
                ("clip_dissect", "label_test_correlation"),
                ("linear", "test_correlation"),
            ):
                rows.append(
                    {
                        "model": model,
                        "control_of": controls.get(model, ""),
                        "layer": index,
                        "layer_name": layer,
                        "labeler": labeler,
                        "median_test_correlation": float(np.nanmedian(units[column]))
                        if units[column].notna().any()
                        else float("nan"),
                        "mean_concepts": 1.0 if labeler == "clip_dissect" else lengths.mean(),
                        "n_units": len(units),
                    }
                )
    return pd.DataFrame(rows, columns=list(LABELER_COLUMNS))


def _panels(models: Sequence[str], controls: Mapping[str, str]) -> list[tuple[str, list[str]]]:
    """(panel model, [model, its controls...]) with each control beside its base."""
    bases = [m for m in models if m not in controls or controls[m] not in models]
    return [(b, [b, *(c for c in models if controls.get(c) == b)]) for b in bases]


def plot_labelers(
    linear_csvs: Mapping[str, PathLike],
    models: Sequence[str],
    controls: Mapping[str, str],
    out_pdf: PathLike,
) -> None:
    """Write ``labelers.pdf``/``.png``/``.csv`` for ``models`` (``{model: LE csv}``)."""
    missing = [m for m in models if m not in linear_csvs]
    if missing:
        warn_skipped(f"Figure labelers: no explanation files for {', '.join(missing)}; skipped.")
    present = [m for m in models if m in linear_csvs]
    if not present:
        raise InputDataError(
            "Figure labelers: no model has a Linear Explanations file.",
            "Set `linear_explanations: {enabled: true}` with computed labels.",
        )
    table = labeler_table(linear_csvs, present, controls)
    panels = _panels(present, controls)
    with style.style_context():
        fig, axes = style.plt.subplots(
            2,
            len(panels),
            figsize=(2.1 * len(panels) + 0.6, 3.8),
            layout="constrained",
            sharey="row",
            squeeze=False,
        )
        for col, (title, members) in enumerate(panels):
            axes[0, col].set_title(style.model_name(title))
            for model in members:
                color = "#888888" if model in controls else style.model_color(model)
                mine = table[table["model"] == model]
                for labeler, dashes in (("linear", "-"), ("clip_dissect", "--")):
                    rows = mine[mine["labeler"] == labeler]
                    axes[0, col].plot(
                        rows["layer"],
                        rows["median_test_correlation"],
                        dashes,
                        color=color,
                        marker="o",
                        markersize=2.5,
                    )
                rows = mine[mine["labeler"] == "linear"]
                axes[1, col].plot(
                    rows["layer"],
                    rows["mean_concepts"],
                    "-",
                    color=color,
                    marker="o",
                    markersize=2.5,
                )
            for row in range(2):
                layer_axis(
                    axes[row, col], sorted(table[table["model"].isin(members)]["layer"].unique())
                )
        axes[0, 0].set_ylabel("median held-out\ncorrelation")
        axes[1, 0].set_ylabel("LE concepts\nper unit")
        handles = [
            Line2D([], [], linestyle="-", color="black", label=LABELERS["linear"]),
            Line2D([], [], linestyle="--", color="black", label=LABELERS["clip_dissect"]),
        ]
        if any(m in controls for m in present):
            handles.append(Line2D([], [], color="#888888", label="random-init control"))
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles))
        style.save_figure(fig, out_pdf)
    write_source_csv(table, out_pdf, [])
