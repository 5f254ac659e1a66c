"""Per-layer summaries of the ground-truth scores: how often a label names a Broden concept,
how well it predicts the annotations, and whether it agrees with NetDissect's answer.

:data:`SUMMARY_COLUMNS`, one row per model x layer x category (``all`` = every unit; else the
category of the unit's label, :mod:`vitconcepts.categories`):

* ``n_units``; ``share_broden``: share of labels naming a Broden concept (name or synonym);
* ``median_auprc``, ``median_base_rate``: over those units (NaN when none);
* ``agree_exact``: share of units whose label is their ``best_name``; ``agree_synset``: share
  whose label and ``best_name`` are the same word or share a WordNet synset (nltk's reader on
  the local WordNet, as the categoriser uses).

Published labels come without activations: only ``n_units`` and ``share_broden`` are filled.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..formats import read_ground_truth, read_labels
from ._scoring import name_lookup, normalise

PathLike = str | Path

SUMMARY_COLUMNS = (
    "model",
    "layer",
    "category",
    "n_units",
    "share_broden",
    "median_auprc",
    "median_base_rate",
    "agree_exact",
    "agree_synset",
)
ALL = "all"


def synset_matcher(wordnet_dir: str | Path | None = None) -> Callable[[str, str], bool]:
    """``same(a, b)``: the same word, or two words sharing a WordNet synset."""
    from ..categories import _reader, find_wordnet

    wn = _reader(str(find_wordnet(wordnet_dir)))

    @functools.cache
    def synsets(word: str) -> frozenset:
        key = "_".join(normalise(word).split())
        return frozenset(wn.synsets(key)) if key else frozenset()

    def same(a: str, b: str) -> bool:
        if not a or not b:
            return False
        return normalise(a) == normalise(b) or bool(synsets(a) & synsets(b))

    return same


def _rows(frame: pd.DataFrame, model: str, mapping: Mapping[str, str]) -> list[dict]:
    rows = []
    frame = frame.assign(category=frame["label"].map(lambda x: mapping.get(str(x), "")))
    for layer, group in frame.groupby("layer_index", sort=True):
        subsets = [(ALL, group)] + [(c, g) for c, g in group.groupby("category", sort=True) if c]
        for category, g in subsets:
            named = g[g["broden_name"] != ""]
            row = {
                "model": model,
                "layer": int(layer),
                "category": category,
                "n_units": len(g),
                "share_broden": len(named) / len(g),
            }
            for column in ("auprc", "base_rate"):
                values = named[column] if column in named else pd.Series(dtype=float)
                row[f"median_{column}"] = float(values.median()) if len(values) else np.nan
            for column in ("agree_exact", "agree_synset"):
                row[column] = float(g[column].mean()) if column in g else np.nan
            rows.append(row)
    return rows


def summarise_ground_truth(
    csvs: Mapping[str, PathLike],
    mapping: Mapping[str, str],
    out_csv: PathLike | None = None,
    wordnet_dir: str | Path | None = None,
) -> pd.DataFrame:
    """:data:`SUMMARY_COLUMNS` of every ground-truth CSV (``{model: csv}``, a model key may
    name a unit kind: ``model.kind``); ``mapping`` is ``{concept: category}``."""
    same = synset_matcher(wordnet_dir)
    rows = []
    for model, csv in csvs.items():
        frame = read_ground_truth(csv)
        pairs = list(zip(frame["label"], frame["best_name"], strict=True))
        exact = [normalise(a) == normalise(b) for a, b in pairs]
        frame["agree_exact"] = np.asarray(exact, dtype=float)
        frame["agree_synset"] = np.asarray([same(a, b) for a, b in pairs], dtype=float)
        rows += _rows(frame, model, mapping)
    return _write(rows, out_csv)


def summarise_published(
    label_csvs: Mapping[str, PathLike],
    names: Sequence[str],
    synonyms: Sequence[Sequence[str]] | None,
    mapping: Mapping[str, str],
    out_csv: PathLike | None = None,
) -> pd.DataFrame:
    """What published labels allow without activations: per layer and category, the share of
    labels naming a Broden concept (``names``: Broden's, suffixes stripped); the scores that
    need activations stay NaN."""
    lookup = name_lookup(names, synonyms)
    rows = []
    for model, csv in label_csvs.items():
        labels = read_labels(csv, images=False)
        frame = pd.DataFrame(
            {
                "layer_index": labels["layer_index"],
                "label": labels["description"].astype(str),
                "broden_name": [lookup.get(normalise(x), "") for x in labels["description"]],
            }
        )
        rows += _rows(frame, model, mapping)
    return _write(rows, out_csv)


def _write(rows: list[dict], out_csv: PathLike | None) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    if out_csv is not None:
        Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
        out.to_csv(out_csv, index=False, lineterminator="\n", float_format="%.6g")
    return out
