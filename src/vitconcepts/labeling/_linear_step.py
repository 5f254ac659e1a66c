"""The rule step ``explain_units``: Linear Explanations of every layer (resumable per layer)
beside the test correlation of each unit's CLIP-Dissect label on the same test images."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from ..device import DeviceLike, resolve_device
from ..formats import LINEAR_FRAME_COLUMNS, read_labels, read_linear, write_linear
from ..provenance import sha256_file, sha256_json, write_sidecar
from ._inputs import LabelingInputs, file_identity, hash_strings, load_inputs, scorer_note
from ._linear import label_correlation, linear_explanations, probe_split
from ._similarity import EmbeddingSimilarity
from ._step import layer_activations

log = logging.getLogger(__name__)


def _label_concepts(labels_csv: str | Path, inputs: LabelingInputs) -> dict[str, list[int]]:
    """{layer: concept index of each unit's CLIP-Dissect label (-1: not in the concept set)}."""
    labels = read_labels(labels_csv, images=False)
    index = {c: i for i, c in enumerate(inputs.concepts)}
    return {
        str(layer): [index.get(str(d), -1) for d in group.sort_values("unit")["description"]]
        for layer, group in labels.groupby("layer", sort=False)
    }


def _explain_layer(similarity, acts: torch.Tensor, label_index, inputs, settings, dev):
    """One layer's frame (:data:`LINEAR_FRAME_COLUMNS` less ``layer``), concept words."""
    frame = linear_explanations(
        similarity, acts, **{k: settings[k] for k in _ALGORITHM}, device=dev
    )
    frame["concepts"] = [tuple(inputs.concepts[i] for i in c) for c in frame["concepts"]]
    test_rows = probe_split(acts.shape[0], settings["seed"], settings["split"])[2]
    label_corr = [float("nan")] * acts.shape[1]
    known = [u for u, c in enumerate(label_index[: acts.shape[1]]) if c >= 0]
    if known:
        corr = label_correlation(
            similarity, acts[:, known], [label_index[u] for u in known], test_rows
        )
        for u, value in zip(known, corr, strict=True):
            label_corr[u] = float(value)
    frame["label_test_correlation"] = label_corr
    return frame


_ALGORITHM = ("seed", "max_concepts", "tolerance", "width", "split")


def explain_units(
    activations_nc: str | Path,
    image_emb_nc: str | Path,
    concept_emb_nc: str | Path,
    concepts_txt: str | Path,
    labels_csv: str | Path,
    out_csv: str | Path,
    *,
    seed: int = 0,
    max_concepts: int = 10,
    tolerance: float = 0.02,
    width: int = 10,
    split: Sequence[float] = (0.6, 0.2, 0.2),
    device: DeviceLike = "auto",
    threads: int | None = None,
) -> Path:
    """Explain every unit of every layer; write ``out_csv`` (:mod:`vitconcepts.formats`'
    Linear Explanations CSV) and its provenance sidecar.

    ``labels_csv`` (the same units' CLIP-Dissect labels) gives ``label_test_correlation``:
    Pearson of the unit and its label's CLIP similarity on LE's test images. Resumable per
    layer: finished layers wait in ``<out_csv>.partial/`` and a rerun with the same inputs and
    settings skips them.
    """
    if threads:
        torch.set_num_threads(int(threads))
    dev = resolve_device(device)
    settings = {
        "seed": int(seed),
        "max_concepts": int(max_concepts),
        "tolerance": float(tolerance),
        "width": int(width),
        "split": [float(s) for s in split],
    }
    inputs = load_inputs(activations_nc, image_emb_nc, concept_emb_nc, concepts_txt)
    label_index = _label_concepts(labels_csv, inputs)
    image_t, concept_t = torch.from_numpy(inputs.image_emb), torch.from_numpy(inputs.concept_emb)
    similarity = EmbeddingSimilarity(image_t.to(dev), concept_t.to(dev))
    paths = (activations_nc, image_emb_nc, concept_emb_nc, labels_csv)
    partial = _partial_dir(out_csv, settings, inputs, paths)
    frames = []
    for li, layer in enumerate(tqdm(inputs.layers, desc="explain_units", unit="layer")):
        done = partial / f"layer{li}.csv"
        if not done.is_file():
            acts = layer_activations(
                activations_nc, layer, int(inputs.n_units[li]), len(inputs.samples)
            )
            frame = _explain_layer(
                similarity, acts, label_index.get(layer, []), inputs, settings, dev
            )
            frame.insert(0, "layer", layer)
            write_linear(frame, done)
        frames.append(read_linear(done))
    out = write_linear(pd.concat(frames, ignore_index=True)[list(LINEAR_FRAME_COLUMNS)], out_csv)
    extra = {
        "step": "explain_units",
        "settings": settings,
        "device": dev.type,
        "activations": str(activations_nc),
        "image_embeddings": str(image_emb_nc),
        "concept_embeddings": str(concept_emb_nc),
        "labels": str(labels_csv),
        "concepts_sha256": sha256_file(concepts_txt),
    }
    note = scorer_note(image_emb_nc, concept_emb_nc)
    if note:
        extra["random_clip_scorer"] = note
    write_sidecar(out, **extra)
    shutil.rmtree(partial)
    return out


def _partial_dir(out_csv, settings, inputs: LabelingInputs, paths) -> Path:
    """``<out_csv>.partial/`` for finished layers; emptied when its fingerprint differs."""
    partial = Path(str(out_csv) + ".partial")
    fingerprint = sha256_json(
        {
            "settings": settings,
            "inputs": [file_identity(p) for p in paths],
            "concepts": hash_strings(inputs.concepts),
        }
    )
    stamp = partial / "fingerprint.json"
    if partial.is_dir() and (not stamp.is_file() or json.loads(stamp.read_text()) != fingerprint):
        log.info("discarding %s: its inputs or settings differ", partial)
        shutil.rmtree(partial)
    if partial.is_dir():
        log.info("resuming %s from %s", out_csv, partial)
    partial.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps(fingerprint))
    return partial
