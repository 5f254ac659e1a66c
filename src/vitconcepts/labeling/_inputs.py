"""The inputs of ``label_units``: activations, image and concept embeddings, the concept list.

Each file is checked against the others (same samples in the same order, same concepts, same
embedding width) before any scoring; a mismatch names both files and the rule that fixes it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..concepts import read_concepts
from ..errors import InputDataError
from ..formats import read_activation_layout, read_layer
from ..io_errors import open_netcdf, require_finite, unreadable


@dataclass(frozen=True)
class LabelingInputs:
    """What ``label_units`` reads once, before the first layer."""

    layers: list[str]
    n_units: np.ndarray  # int64, one per layer
    samples: np.ndarray  # int64 sample coordinate
    image_emb: np.ndarray  # float32 [samples, dim]
    concept_emb: np.ndarray  # float32 [concepts, dim]
    concepts: list[str]


def read_layer_checked(activations_nc: str | Path, layer: str) -> np.ndarray:
    """One layer as float32 ``[sample, unit]`` without padding; unreadable -> InputDataError."""
    try:
        return np.asarray(read_layer(activations_nc, layer), dtype=np.float32)
    except (OSError, RuntimeError, ValueError) as error:  # "NetCDF: HDF error" and kin
        raise unreadable(activations_nc, error) from error


def scorer_note(*embedding_ncs: str | Path) -> str | None:
    """The random-scorer note an embedding file's provenance carries (random CLIP), if any."""
    for path in embedding_ncs:
        with xr.open_dataset(path) as ds:
            record = json.loads(ds.attrs.get("provenance", "{}"))
        note = (record.get("clip") or {}).get("random_clip_scorer")
        if note:
            return str(note)
    return None


def file_identity(path: str | Path) -> dict[str, Any]:
    stat = os.stat(path)
    return {"path": os.path.abspath(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def hash_strings(values: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for value in values:
        digest.update(value.encode("utf-8") + b"\0")
    return digest.hexdigest()


def _embeddings(path: str | Path, names: str, rule: str) -> tuple[list[str], np.ndarray]:
    """The ``names`` coordinate (``sample_id`` or ``concept``) and the float32
    ``[item, dim]`` embeddings of an embedding file written by ``rule``."""
    item = "sample" if names == "sample_id" else names
    with open_netcdf(path) as ds:
        if "embedding" not in ds or names not in ds.coords:
            raise InputDataError(
                f"{path} lacks the variable 'embedding' or the coordinate '{names}'.",
                f"regenerate it with the {rule} rule.",
            )
        ids = [str(v) for v in ds[names].values]
        try:
            embedding = np.asarray(ds["embedding"].transpose(item, "dim").values, np.float32)
        except (OSError, RuntimeError, ValueError) as error:
            raise unreadable(path, error) from error
    what = "the image embeddings" if item == "sample" else "the concept embeddings"
    require_finite(embedding, path, what)
    return ids, embedding


def _check_same_samples(
    act_ids: list[str], img_ids: list[str], activations_nc: str | Path, image_emb_nc: str | Path
) -> None:
    if img_ids == act_ids:
        return
    mismatch = next(
        (i for i, (x, y) in enumerate(zip(act_ids, img_ids, strict=False)) if x != y),
        min(len(act_ids), len(img_ids)),
    )
    raise InputDataError(
        f"The samples of {activations_nc} ({len(act_ids)}) and {image_emb_nc} "
        f"({len(img_ids)}) differ, first at position {mismatch}: both must list the same "
        f"sample_ids in the same order.",
        "compute both from the same probe index: add `--forcerun "
        f"{activations_nc} {image_emb_nc}` at the end of your snakemake command.",
    )


def load_inputs(
    activations_nc: str | Path,
    image_emb_nc: str | Path,
    concept_emb_nc: str | Path,
    concepts_txt: str | Path,
) -> LabelingInputs:
    """Validate the inputs against each other and read what labeling needs of them."""
    for path in (activations_nc, image_emb_nc, concept_emb_nc, concepts_txt):
        if not Path(path).is_file():
            raise InputDataError(f"Input {path} does not exist.", "run the rule that makes it.")
    layout = read_activation_layout(activations_nc)
    img_ids, image_emb = _embeddings(image_emb_nc, "sample_id", "embed_images")
    _check_same_samples(layout.sample_ids, img_ids, activations_nc, image_emb_nc)
    concepts = read_concepts(concepts_txt)
    emb_concepts, concept_emb = _embeddings(concept_emb_nc, "concept", "embed_concepts")
    if emb_concepts != concepts:
        raise InputDataError(
            f"The concepts of {concept_emb_nc} ({len(emb_concepts)}) differ from those of "
            f"{concepts_txt} ({len(concepts)}).",
            "add `--forcerun embed_concepts` at the end of your snakemake command.",
        )
    if image_emb.shape[1] != concept_emb.shape[1]:
        raise InputDataError(
            f"Image embeddings in {image_emb_nc} have dimension {image_emb.shape[1]} but "
            f"concept embeddings in {concept_emb_nc} have {concept_emb.shape[1]}.",
            "embed images and concepts with the same CLIP model.",
        )
    return LabelingInputs(
        layout.layers, layout.n_units, layout.samples, image_emb, concept_emb, concepts
    )
