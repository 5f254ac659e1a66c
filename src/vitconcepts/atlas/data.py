"""The data of a model's atlas page: its units' labels, scores, categories, runner-up concepts,
top images and reliability (q, held-out correlation and AUPRC, stability, stable concepts),
read from the label CSV, the top-k
file, the categories CSV and the reliability CSV."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vitconcepts.analysis import load_categories
from vitconcepts.categories import CATEGORIES
from vitconcepts.errors import InputDataError
from vitconcepts.formats import (
    parse_images,
    parse_stable_concepts,
    read_ground_truth,
    read_labels,
    read_linear,
    read_reliability,
    read_topk,
)
from vitconcepts.style import category_color, model_name
from vitconcepts.validity import VALID_AUPRC_RATIO, VALID_Q

PathLike = str | Path

#: Runner-up concepts shown per card (ranks 2..N_NEXT+1 of the top-k file).
N_NEXT = 5
#: "Reliable only" on a page: q (held-out permutation null, BH) below this and held-out AUPRC
#: at least :data:`RELIABLE_AUPRC_RATIO` x its chance level, the valid labels of
#: :func:`vitconcepts.validity.valid_units` (the page's filter uses the same numbers, written
#: into its data).
RELIABLE_Q = VALID_Q
RELIABLE_AUPRC_RATIO = VALID_AUPRC_RATIO


def read_unit_labels(path: PathLike) -> pd.DataFrame:
    """A label CSV's rows sorted by layer position, then unit (``unit`` as int); the
    ``images`` column may be absent (published labels of other labelers)."""
    frame = read_labels(path, images=False)
    frame["unit"] = pd.to_numeric(frame["unit"]).astype(int)
    return frame.sort_values(["layer_index", "unit"], kind="stable").reset_index(drop=True)


def top_image_samples(label_csvs: Sequence[PathLike]) -> list[int]:
    """Sorted union of the top-image sample indices of every unit of every label file."""
    samples: set[int] = set()
    for path in label_csvs:
        frame = read_unit_labels(path)
        for cell in frame["images"] if "images" in frame else []:
            samples.update(parse_images(cell))
    return sorted(samples)


def _read_categories(categories_csv: PathLike | None) -> dict[str, str]:
    if not categories_csv:
        return {}
    return load_categories(categories_csv)


def _aligned_topk(topk_nc: PathLike, frame: pd.DataFrame, labels_csv: PathLike):
    """(concept strings [unit, k], scores [unit, k]) aligned with ``frame``'s rows."""
    path = Path(topk_nc)
    topk = read_topk(path)
    index, score = topk.concept_index, np.asarray(topk.score, dtype=np.float64)
    concepts = np.asarray(topk.concepts, dtype=object)
    n_layers = index.shape[0]
    if n_layers != frame["layer_index"].nunique():
        raise InputDataError(
            f"Top-k file {path} has {n_layers} layers but {labels_csv} has "
            f"{frame['layer_index'].nunique()}.",
            "rebuild both with label_units (they are written together).",
        )
    li = frame["layer_index"].to_numpy()
    un = frame["unit"].to_numpy()
    if un.max(initial=0) >= index.shape[1]:
        raise InputDataError(
            f"{labels_csv} has unit {int(un.max())} but the top-k file {path} only "
            f"{index.shape[1]} units per layer.",
            "rebuild both with label_units.",
        )
    idx = index[li, un]  # [row, rank]
    return np.where(idx >= 0, concepts[np.clip(idx, 0, None)], ""), score[li, un]


def _aligned_reliability(reliability_csv: PathLike, frame: pd.DataFrame, labels_csv: PathLike):
    """The reliability CSV's rows in ``frame``'s order (matched by layer name and unit)."""
    table = read_reliability(reliability_csv)
    table["unit"] = pd.to_numeric(table["unit"]).astype(int)
    table = table.set_index(["layer", "unit"])
    keys = pd.MultiIndex.from_arrays([frame["layer"].astype(str), frame["unit"]])
    missing = keys.difference(table.index)
    if len(missing):
        layer, unit = missing[0]
        raise InputDataError(
            f"The reliability file {reliability_csv} has no row for {len(missing)} units of "
            f"{labels_csv} (e.g. layer {layer} unit {unit}).",
            f"rebuild it from these labels: snakemake {reliability_csv} --forcerun assess_labels",
        )
    return table.loc[keys].reset_index()


def _reliability_data(reliability_csv, frame, labels_csv, sid) -> dict[str, Any]:
    """Columns ``q``, ``hr`` (held-out correlation), ``auprc``, ``chance`` (AUPRC's chance
    level), ``stab``, ``stable`` (``[[concept string id, share], ...]``)."""
    table = _aligned_reliability(reliability_csv, frame, labels_csv)
    return {
        "q": [_round(x) for x in table["q_null"].astype(float)],
        "hr": [_round(x, 3) for x in table["heldout_correlation"].astype(float)],
        "auprc": [_round(x, 3) for x in table["heldout_auprc"].astype(float)],
        "chance": [_round(x, 3) for x in table["auprc_chance"].astype(float)],
        "stab": [_round(x, 3) for x in table["stability"].astype(float)],
        "stable": [
            [[sid(str(c)), _round(share, 3)] for c, share in parse_stable_concepts(cell)]
            for cell in table["stable_concepts"]
        ],
    }


def _ground_truth_data(ground_truth_csv, frame, labels_csv, sid) -> dict[str, Any]:
    """Columns ``gt_best`` (NetDissect's answer: Broden concept string id), ``gt_best_score``
    (its IoU), ``gt_broden`` (the Broden concept the label names, or None), ``gt_auprc``,
    ``gt_prec``, ``gt_base`` (:mod:`vitconcepts.ground_truth`)."""
    table = read_ground_truth(ground_truth_csv).set_index(["layer", "unit"])
    keys = pd.MultiIndex.from_arrays([frame["layer"].astype(str), frame["unit"].astype(int)])
    missing = keys.difference(table.index)
    if len(missing):
        raise InputDataError(
            f"The ground-truth file {ground_truth_csv} has no row for {len(missing)} units of "
            f"{labels_csv} (e.g. layer {missing[0][0]} unit {missing[0][1]}).",
            f"rebuild it: snakemake {ground_truth_csv} --forcerun score_ground_truth",
        )
    table = table.loc[keys]
    return {
        "gt_best": [sid(str(x)) for x in table["best_name"]],
        "gt_best_score": [_round(x, 3) for x in table["best_score"].astype(float)],
        "gt_broden": [sid(str(x)) if x else None for x in table["broden_name"]],
        "gt_auprc": [_round(x, 3) for x in table["auprc"].astype(float)],
        "gt_prec": [_round(x, 3) for x in table["precision"].astype(float)],
        "gt_base": [_round(x, 3) for x in table["base_rate"].astype(float)],
    }


def _linear_data(linear_csv: PathLike, frame: pd.DataFrame, sid) -> dict[str, Any]:
    """Columns ``expl`` (``[[concept string id, weight], ...]``, largest ``|weight|`` first)
    and ``expl_corr`` (the explanation's test correlation) in ``frame``'s order; a unit the
    explanation file lacks gets an empty explanation."""
    table = read_linear(linear_csv).set_index(["layer", "unit"])
    expl, corr = [], []
    for layer, unit in zip(frame["layer"].astype(str), frame["unit"], strict=True):
        if (layer, int(unit)) not in table.index:
            expl.append([])
            corr.append(None)
            continue
        row = table.loc[(layer, int(unit))]
        pairs = zip(row["concepts"], row["weights"], strict=True)
        expl.append([[sid(str(c)), _round(w, 3)] for c, w in pairs])
        corr.append(_round(float(row["test_correlation"]), 3))
    return {"linear": True, "expl": expl, "expl_corr": corr}


def _round(x: float, digits: int = 4) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


def _layer_table(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``name``, first row ``start`` and ``units`` of each layer, in network order."""
    layers = []
    for _, group in frame.groupby("layer_index", sort=True):
        layers.append({"name": str(group["layer"].iloc[0]), "start": int(group.index[0])})
        layers[-1]["units"] = len(group)
    return layers


def _add_next_concepts(data: dict[str, Any], topk, labels, n_next: int, sid) -> None:
    """Each unit's next-best concepts (the top-k file's, minus its label) and their scores."""
    names, scores = topk
    for row in range(len(labels)):
        pairs = [
            (str(n), s)
            for n, s in zip(names[row], scores[row], strict=True)
            if n and math.isfinite(s)
        ]
        pairs = [p for p in pairs if p[0] != labels[row]][:n_next]
        data["next"].append([sid(n) for n, _ in pairs])
        data["next_score"].append([_round(s) for _, s in pairs])


def model_data(
    model: str,
    labels_csv: PathLike,
    topk_nc: PathLike | None = None,
    categories_csv: PathLike | None = None,
    images: bool = True,
    summary: str | None = None,
    probe: str = "",
    n_next: int = N_NEXT,
    reliability_csv: PathLike | None = None,
    kind: str | None = None,
    ground_truth_csv: PathLike | None = None,
    linear_csv: PathLike | None = None,
) -> dict[str, Any]:
    """The JSON-able data of one model page (columns, with a string table for concepts).

    ``linear_csv``: the units' Linear Explanations (``expl``, ``expl_corr``; ``linear`` true).

    ``kind``: the unit kind of a page for a model's extra kind (``None``: the default kind);
    ``reliability_csv``: adds ``q``, ``hr``, ``auprc``, ``chance``, ``stab``, ``stable`` per
    unit (``reliability`` true); ``ground_truth_csv``: adds NetDissect's answer and the
    Broden scores per unit (``ground_truth`` true, :func:`_ground_truth_data`)."""
    frame = read_unit_labels(labels_csv)
    cat_map = _read_categories(categories_csv)
    strings: dict[str, int] = {}

    def sid(text: str) -> int:
        return strings.setdefault(text, len(strings))

    labels = frame["description"].astype(str).tolist()
    cats = [cat_map.get(label, "unknown") for label in labels]
    categories = [c for c in CATEGORIES if c in set(cats)] + sorted(set(cats) - set(CATEGORIES))
    cat_id = {c: i for i, c in enumerate(categories)}
    layer_of_row = frame["layer_index"].astype(int).tolist()
    data: dict[str, Any] = {
        "model": model,
        "kind": kind,
        "title": model_name(model),
        "probe": probe,
        "images": bool(images and "images" in frame),
        "summary": summary,
        "categories": categories,
        "category_colors": [category_color(c) for c in categories],
        "layers": _layer_table(frame),
        "layer": layer_of_row,
        "unit": frame["unit"].astype(int).tolist(),
        "label": [sid(x) for x in labels],
        "score": [_round(x) for x in frame["similarity"].astype(float)],
        "cat": [cat_id[c] for c in cats],
        "next": [],
        "next_score": [],
        "img": [],
        "reliability": bool(reliability_csv),
        "reliable_q": RELIABLE_Q,
        "reliable_auprc_ratio": RELIABLE_AUPRC_RATIO,
        "linear": False,
        "expl": [],
        "expl_corr": [],
    }
    if linear_csv:
        data.update(_linear_data(linear_csv, frame, sid))
    if reliability_csv:
        data.update(_reliability_data(reliability_csv, frame, labels_csv, sid))
    data["ground_truth"] = bool(ground_truth_csv)
    if ground_truth_csv:
        data.update(_ground_truth_data(ground_truth_csv, frame, labels_csv, sid))
    if topk_nc:
        _add_next_concepts(data, _aligned_topk(topk_nc, frame, labels_csv), labels, n_next, sid)
    if data["images"]:
        data["img"] = [parse_images(cell) for cell in frame["images"]]
    data["strings"] = list(strings)
    return data
