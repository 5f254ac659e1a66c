"""The rule step ``label_units``: score every layer (resumably), write the CSV and top-k file."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ..device import DeviceLike, resolve_device
from ..errors import ConfigError, InputDataError
from ..formats import (
    LABEL_COLUMNS,
    format_images,
    read_topk,
    topk_writer,
    write_labels,
    write_topk_layer,
)
from ..io_errors import require_finite
from ..ncstream import ShardedNetCDFWriter
from ..provenance import provenance_json, sha256_file, sha256_json, write_sidecar
from ._inputs import (
    LabelingInputs,
    file_identity,
    hash_strings,
    load_inputs,
    read_layer_checked,
    scorer_note,
)
from ._similarity import LAZY_METHODS, METHODS, EmbeddingSimilarity, top_image_indices
from ._tiling import log_memory_plan

log = logging.getLogger(__name__)


def method_and_params(method: str, params: dict[str, Any] | None) -> tuple[Callable, dict]:
    if method not in METHODS:
        raise ConfigError(
            f"labeling.method is {method!r}; allowed values are {', '.join(METHODS)}.",
            "set labeling.method in the config.",
        )
    fn = METHODS[method]
    params = dict(params or {})
    allowed = [
        n
        for n in inspect.signature(fn).parameters
        if n not in ("similarity", "activations", "device", "block_units")
    ]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ConfigError(
            f"labeling.params has {', '.join(unknown)}, which method {method!r} does not take "
            f"(it takes {', '.join(allowed)}).",
            "remove them or change labeling.method.",
        )
    return fn, params


def check_counts(params: dict[str, Any], n_top_images: int, n_samples: int) -> None:
    top_k = params.get("top_k")
    if top_k is not None and not 1 <= int(top_k) <= n_samples:
        raise ConfigError(
            f"labeling.params.top_k={top_k} but the probe has {n_samples} images.",
            f"set labeling.params.top_k to at most {n_samples}.",
        )
    if not 1 <= n_top_images <= n_samples:
        raise ConfigError(
            f"labeling.n_top_images={n_top_images} but the probe has {n_samples} images.",
            f"set labeling.n_top_images between 1 and {n_samples}.",
        )


def probe_similarity(
    inputs: LabelingInputs, method: str, dev: torch.device, params: dict[str, Any] | None = None
) -> Any:
    """The ``[images, concepts]`` similarity: lazy rows for the top-k methods, else dense.
    Prints the memory plan of the widest layer first (``params``: the method's, for top_k)."""
    image_t, concept_t = torch.from_numpy(inputs.image_emb), torch.from_numpy(inputs.concept_emb)
    if dev.type != "cpu":  # the embeddings are small: the similarity rows are computed there
        image_t, concept_t = image_t.to(dev), concept_t.to(dev)
    n_samples, dim = inputs.image_emb.shape
    top_k = (params or {}).get("top_k", _default_top_k(method))
    n_units = int(inputs.n_units.max())
    dense = method not in LAZY_METHODS
    log_memory_plan(dev, n_samples, len(inputs.concepts), n_units, dim, int(top_k), dense)
    if method in LAZY_METHODS:  # only top-k rows are read: never build the [N, C] matrix
        return EmbeddingSimilarity(image_t, concept_t)
    return image_t @ concept_t.T  # [N, C]


def _default_top_k(method: str) -> int:
    default = inspect.signature(METHODS[method]).parameters.get("top_k")
    return int(default.default) if default is not None else 1


def layer_activations(activations_nc: str | Path, layer: str, nu: int, n_samples: int):
    """One layer's ``[samples, nu]`` float32 tensor, checked for its length and finiteness."""
    acts = read_layer_checked(activations_nc, layer)
    if acts.shape[0] != n_samples:
        raise InputDataError(
            f"Layer {layer} of {activations_nc} has {acts.shape[0]} samples, expected {n_samples}.",
            "regenerate the activations with dump_activations.",
        )
    acts_t = torch.from_numpy(np.ascontiguousarray(acts[:, :nu], dtype=np.float32))
    require_finite(
        acts_t.numpy(),
        activations_nc,
        f"layer {layer} ({nu} units)",
        cause="either the file is damaged (its writer checksums every shard, so "
        "suspect a copy from elsewhere) or the model itself overflowed (with "
        "dump.dtype float16, try float32)",
    )
    return acts_t


def _label_layer(
    score: Callable[[torch.Tensor], torch.Tensor], acts_t, samples, n_rank, n_top_images
):
    """``(concept_index, score, top_images)`` of one layer's real units."""
    scores = score(acts_t).float()
    best_scores, best_idx = torch.topk(scores, k=n_rank, dim=1)
    top_imgs = top_image_indices(acts_t, n_top_images)  # in unit blocks: no copy of the layer
    del scores
    return (
        best_idx.cpu().numpy(),
        best_scores.cpu().numpy(),
        samples[top_imgs.cpu().numpy()],
    )


def _label_frame(partial_path: Path, inputs: LabelingInputs) -> pd.DataFrame:
    """The label CSV's rows (best concept of every unit) from the finished top-k file."""
    topk = read_topk(partial_path)
    rows_layer, rows_unit, rows_desc, rows_sim, rows_img = [], [], [], [], []
    for li, layer in enumerate(inputs.layers):
        nu = int(inputs.n_units[li])
        rows_layer += [layer] * nu
        rows_unit += list(range(nu))
        rows_desc += [inputs.concepts[i] for i in topk.concept_index[li, :nu, 0]]
        rows_sim.append(topk.score[li, :nu, 0])
        rows_img += [format_images(topk.top_images[li, u]) for u in range(nu)]
    return pd.DataFrame(
        {
            "layer": rows_layer,
            "unit": rows_unit,
            "description": rows_desc,
            "similarity": np.concatenate(rows_sim).astype(np.float32),
            "images": rows_img,
        },
        columns=list(LABEL_COLUMNS),
    )


def _label_layers(
    writer: ShardedNetCDFWriter,
    score: Callable[[torch.Tensor], torch.Tensor],
    inputs: LabelingInputs,
    activations_nc: str | Path,
    n_rank: int,
    n_top_images: int,
) -> None:
    """Score the layers the top-k file does not hold yet, one finished layer at a time."""
    n_layers = len(inputs.layers)
    if writer.start:
        log.info(
            "resuming %s: %d of %d layers already labelled", writer.out_path, writer.start, n_layers
        )
    for li in tqdm(
        range(writer.start, n_layers),
        desc="label_units",
        unit="layer",
        initial=writer.start,
        total=n_layers,
    ):
        layer, nu = inputs.layers[li], int(inputs.n_units[li])
        acts_t = layer_activations(activations_nc, layer, nu, len(inputs.samples))
        arrays = _label_layer(score, acts_t, inputs.samples, n_rank, n_top_images)
        write_topk_layer(writer, li, *arrays)


def _fingerprint(settings: dict[str, Any], inputs: LabelingInputs, paths: Sequence) -> str:
    """What a resumed top-k file must have been started with. Threads only change speed
    (each layer's tiles are reduced in a fixed order), so they stay out: a rerun with other
    --cores resumes the finished layers."""
    return sha256_json(
        {
            "settings": settings,
            "inputs": [file_identity(p) for p in paths],
            "concepts": hash_strings(inputs.concepts),
        }
    )


def finish_step(
    writer: ShardedNetCDFWriter,
    out_csv: Path,
    step: str,
    settings: dict[str, Any],
    activations_nc: str | Path,
    image_emb_nc: str | Path,
    concept_emb_nc: str | Path,
    concepts_txt: str | Path,
) -> None:
    """Record a labeling step's provenance (settings, threads, inputs, the random-scorer note
    if any) in the sidecar of ``out_csv`` and in ``writer``'s file, then finalize that file."""
    extra = {
        "step": step,
        "settings": settings,
        "threads": torch.get_num_threads(),
        "activations": str(activations_nc),
        "image_embeddings": str(image_emb_nc),
        "concept_embeddings": str(concept_emb_nc),
        "concepts_sha256": sha256_file(concepts_txt),
    }
    note = scorer_note(image_emb_nc, concept_emb_nc)
    if note:
        extra["random_clip_scorer"] = note
    write_sidecar(out_csv, **extra)
    writer.finalize({"provenance": provenance_json(**extra)})


def label_units(
    activations_nc: str | Path,
    image_emb_nc: str | Path,
    concept_emb_nc: str | Path,
    concepts_txt: str | Path,
    out_csv: str | Path,
    out_topk_nc: str | Path,
    method: str = "soft_wpmi",
    params: dict[str, Any] | None = None,
    n_top_images: int = 5,
    n_top_concepts: int = 10,
    device: DeviceLike = "auto",
    threads: int | None = None,
) -> Path:
    """Label every unit of every layer with its best concept; write the CSV and top-k file.

    ``out_csv`` gets exactly the authors' columns ``layer, unit, description, similarity,
    images`` (``similarity`` = best score, ``images`` = the ``n_top_images`` most activating
    sample indices, printed like a numpy int array) plus a ``.provenance.json`` sidecar.
    ``out_topk_nc`` holds ``concept_index`` and ``score`` ``(layer, unit, rank)`` for the
    ``n_top_concepts`` best concepts, ``top_images (layer, unit, image_rank)``, coords
    ``n_units(layer)`` and ``concept``, and attr ``provenance``.

    Resumable per layer: finished layers are kept in ``<out_topk_nc>.partial`` (outside the
    outputs) and skipped by a rerun with the same inputs and settings. Deterministic: two runs
    with the same inputs and device write identical bytes to ``out_csv``, whatever ``threads``.
    """
    fn, params = method_and_params(method, params)
    if threads:
        torch.set_num_threads(int(threads))
    dev = resolve_device(device)
    inputs = load_inputs(activations_nc, image_emb_nc, concept_emb_nc, concepts_txt)
    check_counts(params, n_top_images, len(inputs.samples))
    n_rank = int(min(max(1, n_top_concepts), len(inputs.concepts)))
    similarity = probe_similarity(inputs, method, dev, params)
    settings = {
        "method": method,
        "params": params,
        "n_top_images": n_top_images,
        "n_top_concepts": n_rank,
        "device": dev.type,
    }
    writer = topk_writer(
        out_topk_nc,
        inputs.layers,
        inputs.n_units,
        inputs.concepts,
        n_rank,
        n_top_images,
        _fingerprint(settings, inputs, (activations_nc, image_emb_nc, concept_emb_nc)),
    )
    with writer:

        def score(acts: torch.Tensor) -> torch.Tensor:
            return fn(similarity, acts, **params, device=dev)

        _label_layers(writer, score, inputs, activations_nc, n_rank, n_top_images)
        # every layer is in the partial file: build the CSV from it, then finalize
        out_csv = write_labels(_label_frame(writer.partial_path, inputs), out_csv)
        paths = (activations_nc, image_emb_nc, concept_emb_nc, concepts_txt)
        finish_step(writer, out_csv, "label_units", settings, *paths)
    return out_csv
