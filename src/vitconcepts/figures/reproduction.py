"""Figure ``reproduction_agreement``: how closely a run's labels agree with the published ones."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from vitconcepts import style
from vitconcepts.agreement import MEASURES, read_agreements
from vitconcepts.figures.drawing import layer_axis, model_line, panels
from vitconcepts.figures.inputs import PathLike


def plot_reproduction_agreement(
    agreement_csvs: Mapping[str, PathLike], out_pdf: PathLike
) -> pd.DataFrame:
    """Figure ``reproduction_agreement``: one panel per measure, one line per model over layers.

    Writes ``<out>.pdf``, ``<out>.png`` and the tidy source ``<out>.csv`` (every model's rows
    with a ``model`` column). Measures with no value for any model are left out.
    """
    data = read_agreements(agreement_csvs)
    measures = [m for m in MEASURES if data[m].notna().any()]
    with style.style_context():
        fig, axes = panels(1, len(measures), 2.3)
        for ax, measure in zip(axes[0], measures, strict=True):
            for model in agreement_csvs:
                model_line(ax, data[data["model"] == model], measure, model, markersize=2.5)
            ax.set_title(MEASURES[measure])
            lo = min(0.0, float(np.nanmin(data[measure])))
            ax.set_ylim(lo, 1.02)
            layer_axis(ax, data["layer"].unique(), max_ticks=7)
        axes[0][0].set_ylabel("agreement with published")
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=min(6, len(labels)))
        style.save_figure(fig, out_pdf)
    out_csv = Path(out_pdf).with_suffix(".csv")
    data.to_csv(out_csv, index=False, lineterminator="\n")
    return data
