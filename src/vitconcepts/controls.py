"""Each model beside its random-init control (the model-randomization check of Adebayo et
al., "Sanity Checks for Saliency Maps", NeurIPS 2018): the paper's per-layer numbers of a
trained network and of the same architecture with random weights (numpy/pandas only).

A trend that the control shows too comes from the probe images and the labeler, not from
training. :func:`control_table` lays the measures of every (model, control) pair side by side:

* ``n_concepts``: unique labels among units above the layer's median score (the paper's rule,
  :func:`vitconcepts.analysis.count_concepts`), with the 95 % percentile band over the
  reliability pass's bootstrap resamples of the probe (:mod:`vitconcepts.uncertainty`);
* ``color_texture_share``: colours + textures and materials among units above the layer's
  mean score (:func:`vitconcepts.analysis.layer_category_shares`), band likewise;
* ``object_organism_share``: objects and machines + natural elements and organisms, likewise;
* ``median_heldout_correlation``: the median over the layer's units of the cross-fitted
  held-out correlation of the reliability CSV (band: the units' quartiles).

Layers are matched by position (0-based index), as the paper's figures draw them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .analysis import count_concepts, layer_category_shares
from .categories import CATEGORIES
from .formats import read_boot, read_labels, read_reliability
from .uncertainty import LEVEL, bootstrap_concepts, bootstrap_shares, percentile_interval

PathLike = str | Path

#: Category groups at the two ends of the paper's finding.
CATEGORY_GROUPS: dict[str, tuple[str, ...]] = {
    "color_texture_share": ("colors", "textures and materials"),
    "object_organism_share": ("objects and machines", "natural elements and organisms"),
}
#: Measures in the order of the figure's rows.
MEASURES = ("n_concepts", *CATEGORY_GROUPS, "median_heldout_correlation")
#: Columns of :func:`control_table`.
CONTROL_COLUMNS = ["model", "control", "network", "layer", "measure", "value", "low", "high"]


def _group_shares(units: pd.DataFrame, mapping: Mapping[str, str]) -> dict[str, float]:
    shares = layer_category_shares(units, mapping)
    return {name: sum(shares[c] for c in cats) for name, cats in CATEGORY_GROUPS.items()}


def _label_measures(labels_csv: PathLike, mapping: Mapping[str, str]) -> dict[str, list]:
    frame = read_labels(labels_csv, images=False)
    out: dict[str, list] = {"n_concepts": [float(n) for n in count_concepts(frame)]}
    for _, units in frame.groupby("layer_index", sort=True):
        for name, share in _group_shares(units, mapping).items():
            out.setdefault(name, []).append(share)
    return out


def _bootstrap_bands(boot_nc: PathLike, mapping: Mapping[str, str]) -> dict[str, np.ndarray]:
    """``{measure: [layer, 2]}`` percentile bands of the label measures over the resamples."""
    boot = read_boot(boot_nc)
    draws = {"n_concepts": bootstrap_concepts(boot)}
    shares = bootstrap_shares(boot, mapping)  # [resample, layer, category]
    for name, cats in CATEGORY_GROUPS.items():
        draws[name] = shares[:, :, [CATEGORIES.index(c) for c in cats]].sum(axis=2)
    return {
        name: np.array([percentile_interval(d[:, li], LEVEL) for li in range(d.shape[1])])
        for name, d in draws.items()
    }


def _heldout_rows(reliability_csv: PathLike) -> list[tuple[int, float, float, float]]:
    frame = read_reliability(reliability_csv)
    rows = []
    for layer, units in frame.groupby("layer_index", sort=True):
        values = units.get("heldout_correlation", pd.Series(dtype=float)).astype(float).dropna()
        if len(values):
            rows.append((int(layer), *(float(values.quantile(q)) for q in (0.5, 0.25, 0.75))))
        else:
            rows.append((int(layer), np.nan, np.nan, np.nan))
    return rows


def network_measures(
    labels_csv: PathLike,
    reliability_csv: PathLike,
    boot_nc: PathLike,
    mapping: Mapping[str, str],
) -> pd.DataFrame:
    """``layer, measure, value, low, high`` of one network (see the module docstring)."""
    values, bands = _label_measures(labels_csv, mapping), _bootstrap_bands(boot_nc, mapping)
    rows = []
    for name, per_layer in values.items():
        band = bands.get(name)
        for li, value in enumerate(per_layer):
            low, high = band[li] if band is not None and li < len(band) else (np.nan, np.nan)
            rows.append((li, name, value, low, high))
    for li, median, q25, q75 in _heldout_rows(reliability_csv):
        rows.append((li, "median_heldout_correlation", median, q25, q75))
    return pd.DataFrame(rows, columns=["layer", "measure", "value", "low", "high"])


def control_table(
    pairs: Mapping[str, str],
    label_csvs: Mapping[str, PathLike],
    reliability_csvs: Mapping[str, PathLike],
    boot_ncs: Mapping[str, PathLike],
    mapping: Mapping[str, str],
) -> pd.DataFrame:
    """:data:`CONTROL_COLUMNS`, one block per ``{control: model}`` pair (``network`` is
    ``trained`` for the model and ``random`` for its control), in pair order."""
    frames = []
    for control, model in pairs.items():
        for network, key in (("trained", model), ("random", control)):
            part = network_measures(label_csvs[key], reliability_csvs[key], boot_ncs[key], mapping)
            part.insert(0, "network", network)
            part.insert(0, "control", control)
            part.insert(0, "model", model)
            frames.append(part)
    if not frames:
        return pd.DataFrame(columns=CONTROL_COLUMNS)
    table = pd.concat(frames, ignore_index=True)[CONTROL_COLUMNS]
    order = {m: i for i, m in enumerate(MEASURES)}
    table["_order"] = table["measure"].map(order)
    table = table.sort_values(["_order", "model", "network", "layer"], kind="stable")
    return table.drop(columns="_order").reset_index(drop=True)
