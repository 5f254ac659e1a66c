"""The claims under two labelers: Linear Explanations' label frames, their unit bootstrap,
and the flag of a claim that holds under one labeler only.

Linear Explanations (LE) explains a unit as a short weighted sum of concepts; for the claims
a unit's concept is its explanation's largest-``|weight|`` concept and its score the
explanation's held-out test correlation (:func:`vitconcepts.formats.linear_label_frame`), so
the same :func:`~vitconcepts.claims.claims_table` counts unique concepts and category shares
of both labelers.

LE has no bootstrap resamples of the probe (the reliability pass resamples CLIP-Dissect's
scores). Its intervals come from a seeded bootstrap over *units*: each resample draws every
layer's units with replacement, as many as the layer has (:func:`unit_resamples`). That
interval says how much a statistic depends on which units a layer happens to have, not on
which probe images were shown. Resampling repeats units, so a count of unique concepts is
smaller in every resample than in the layer itself: intervals of the count claims lean
towards zero (towards "inconclusive"), never towards "holds".
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from ..formats import linear_label_frame, read_linear

PathLike = str | Path


def linear_frame(csv: PathLike) -> pd.DataFrame:
    """A label frame of a Linear Explanations CSV: ``layer, unit, description`` (the
    largest-weight concept), ``similarity`` (test correlation) and ``layer_index`` (0-based,
    network order, as :func:`vitconcepts.formats.read_labels` adds it)."""
    frame = linear_label_frame(read_linear(csv))
    codes, _ = pd.factorize(frame["layer"], sort=False)
    frame["layer_index"] = codes.astype(int)
    return frame


def model_seed(seed: int, model: str) -> list[int]:
    """A seed for ``model``'s unit resamples: ``seed`` and a stable hash of the name, so the
    models' resamples are independent and do not change when models are added."""
    return [int(seed), zlib.crc32(model.encode())]


def unit_resamples(frame: pd.DataFrame, n_boot: int, seed=0) -> list[pd.DataFrame]:
    """``n_boot`` resamples of a label frame, each layer's units drawn with replacement (as
    many as the layer has; seeded by ``seed``, an int or a seed sequence)."""
    rng = np.random.default_rng(seed)
    layers = frame["layer_index"].to_numpy()
    rows = [np.flatnonzero(layers == i) for i in np.unique(layers)]
    draws = [r[rng.integers(0, len(r), size=(n_boot, len(r)))] for r in rows]
    return [
        frame.iloc[np.concatenate([d[b] for d in draws])].reset_index(drop=True)
        for b in range(n_boot)
    ]


def flag_agreement(table: pd.DataFrame) -> pd.DataFrame:
    """Set ``labelers_agree`` on every row: for a claim and model tested under two labelers
    or more, True when the claim holds under all of them or under none, False when it holds
    under some only (both rows of the pair); NA where one labeler alone tested it."""
    keys = [table["claim"], table["model"]]
    n_labelers = table.groupby(keys)["labeler"].transform("nunique")
    same = table["verdict"].eq("holds").groupby(keys).transform("nunique").eq(1)
    agree = pd.array(same.to_numpy(dtype=bool), dtype="boolean")
    agree[(n_labelers < 2).to_numpy()] = pd.NA
    return table.assign(labelers_agree=agree)
