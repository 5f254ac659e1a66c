"""The final-layer check: a classifier's output (logit) units labelled with its class names.

CLIP-Dissect validates its labeler this way (Oikarinen & Weng, ICLR 2023, Table 3; its
``experiments/table3_similarity_comparison.ipynb``): the concept set is the model's class
names, one a line in output-unit order (``data/imagenet_labels.txt`` for ImageNet-1k), and a
unit's label is right when it is the unit's own class name. ResNet-50's ``fc`` with soft-WPMI
scores 95.5 % top-1 / 98.9 % top-5 on the ImageNet-val probe, 95.4 % / 99.0 % on ImageNet-val
+ Broden and 70.7 % / 90.0 % on Broden alone.

The logits come from the ordinary dump (``models.<key>.layers: [fc]``), the labels from
``vitconcepts.labeling.label_units`` with the class names as the concept set; this module
only scores the result (:func:`check_final_layer`, rule ``check_final_layer``): per unit its
``class``, ``label``, whether the label is the class (``top1``), whether the class is among
the unit's 5 best concepts (``top5``), and the CLIP text cosine between label and class
(``cosine``). :func:`summarise_final_layer` condenses one model's file into a table row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .agreement import load_concept_embeddings
from .concepts import read_concepts
from .errors import InputDataError
from .formats import read_topk
from .io_errors import require_columns

PathLike = str | Path
#: columns of the per-unit CSV (rule check_final_layer)
COLUMNS = ("unit", "class", "label", "score", "top1", "top5", "rank", "cosine")
#: the paper's reference: CLIP-Dissect's soft-WPMI on ResNet-50 ``fc`` (ImageNet class names)
CLIP_DISSECT_TARGET = {
    "imagenet_val": (0.955, 0.989),
    "imagenet_val+broden": (0.954, 0.990),
    "broden": (0.707, 0.900),
}
TOP_K = 5


def _check_shapes(topk: Any, classes: list[str], topk_nc: PathLike, classes_txt: PathLike) -> int:
    if len(topk.layers) != 1:
        raise InputDataError(
            f"{topk_nc} holds {len(topk.layers)} layers; the final-layer check labels one "
            "layer, the model's output units.",
            "set one module in `final_layer.models.<model>.module` (e.g. fc).",
        )
    n_units = int(topk.n_units[0])
    if n_units != len(classes):
        raise InputDataError(
            f"The final layer {topk.layers[0]!r} of {topk_nc} has {n_units} units, but the "
            f"class-name list {classes_txt} has {len(classes)} distinct names: they must "
            "match one to one, in output-unit order (a repeated name counts once).",
            "point `final_layer.models.<model>.classes` at the concept set of this model's "
            "class names, one a line in the order of its output units, every name distinct.",
        )
    if topk.concept_index.shape[2] < TOP_K:
        raise InputDataError(
            f"{topk_nc} keeps {topk.concept_index.shape[2]} best concepts per unit; the "
            f"top-{TOP_K} check needs {TOP_K}.",
            f"rerun label_final_layer (it keeps at least {TOP_K}).",
        )
    return n_units


def score_final_layer(
    concept_index: np.ndarray,
    score: np.ndarray,
    classes: list[str],
    embeddings: tuple[dict[str, int], np.ndarray] | None = None,
) -> pd.DataFrame:
    """The per-unit table from ``concept_index [unit, rank]`` (indices into ``classes``,
    best first) and the best ``score [unit]``: unit ``u``'s class is ``classes[u]``."""
    n_units = concept_index.shape[0]
    best = concept_index[:, :TOP_K]
    own = np.arange(n_units)[:, None]
    hits = best == own
    rank = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, 0)
    labels = [classes[i] for i in concept_index[:, 0]]
    cosine = np.full(n_units, np.nan, dtype=np.float32)
    if embeddings is not None:
        index, emb = embeddings
        rows_label = [index.get(name, -1) for name in labels]
        rows_class = [index.get(name, -1) for name in classes]
        for u, (a, b) in enumerate(zip(rows_label, rows_class, strict=True)):
            if a >= 0 and b >= 0:
                cosine[u] = float(emb[a] @ emb[b])
    return pd.DataFrame(
        {
            "unit": np.arange(n_units),
            "class": classes,
            "label": labels,
            "score": np.asarray(score, dtype=np.float32),
            "top1": rank == 1,
            "top5": rank > 0,
            "rank": rank,
            "cosine": cosine,
        },
        columns=list(COLUMNS),
    )


def check_final_layer(
    topk_nc: PathLike,
    concept_emb_nc: PathLike,
    classes_txt: PathLike,
    out_csv: PathLike,
) -> pd.DataFrame:
    """Score the labels of a model's output units against its class names; write
    ``out_csv`` (:data:`COLUMNS`, one row per unit) with a ``.provenance.json`` sidecar."""
    from .provenance import sha256_file, write_sidecar

    topk = read_topk(topk_nc)
    classes = read_concepts(classes_txt)
    n_units = _check_shapes(topk, classes, topk_nc, classes_txt)
    if list(topk.concepts) != classes:
        raise InputDataError(
            f"The concepts of {topk_nc} are not the class names of {classes_txt}.",
            "rerun label_final_layer with that class-name list.",
        )
    table = score_final_layer(
        topk.concept_index[0, :n_units],
        topk.score[0, :n_units, 0],
        classes,
        load_concept_embeddings(concept_emb_nc),
    )
    out = Path(out_csv)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, lineterminator="\n")
    summary = summarise_final_layer(table)
    write_sidecar(
        out,
        step="check_final_layer",
        layer=topk.layers[0],
        topk=str(topk_nc),
        topk_sha256=sha256_file(topk_nc),
        classes=str(classes_txt),
        classes_sha256=sha256_file(classes_txt),
        concept_embeddings=str(concept_emb_nc),
        summary=summary,
    )
    return table


def summarise_final_layer(table: pd.DataFrame) -> dict[str, float]:
    """``{n_units, top1, top5, cosine}``: shares of hits and the mean label-class cosine."""
    return {
        "n_units": int(len(table)),
        "top1": float(np.mean(table["top1"].astype(bool))),
        "top5": float(np.mean(table["top5"].astype(bool))),
        "cosine": float(np.nanmean(table["cosine"])) if table["cosine"].notna().any() else np.nan,
    }


def read_final_layer(path: PathLike) -> pd.DataFrame:
    """A per-unit CSV written by :func:`check_final_layer`."""
    try:
        table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise InputDataError(
            f"Cannot read the final-layer check {path}: {error}.", "rerun check_final_layer."
        ) from error
    require_columns(
        table,
        COLUMNS,
        lambda missing: f"The final-layer check {path} lacks the columns {', '.join(missing)}.",
        "rerun check_final_layer.",
    )
    return table
