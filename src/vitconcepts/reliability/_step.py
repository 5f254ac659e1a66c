"""The rule step ``assess_labels``: the reliability of every layer's labels (resumably), then
the reliability CSV and the bootstrap file (:mod:`vitconcepts.formats`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm import tqdm

from ..device import DeviceLike, resolve_device
from ..formats import (
    RELIABILITY_COLUMNS,
    boot_writer,
    read_boot,
    write_boot_layer,
    write_reliability,
)
from ..labeling import (
    check_counts,
    file_identity,
    finish_step,
    hash_strings,
    layer_activations,
    load_inputs,
    method_and_params,
    probe_similarity,
)
from ..provenance import sha256_json
from ._heldout import DEFAULT_ALPHA
from ._layer import HELDOUT_COLUMNS, LayerReliability, assess_layer, unit_frame

log = logging.getLogger(__name__)


def _reliability_frame(boot_nc: Path) -> pd.DataFrame:
    """The reliability CSV's rows from the (partial) bootstrap file."""
    boot = read_boot(boot_nc)
    frames = []
    for li, layer in enumerate(boot.layers):
        nu = int(boot.n_units[li])
        frame = unit_frame(
            boot.concept_index[li, :nu],
            boot.score[li, :nu],
            boot.p_null[li, :nu],
            boot.q_null[li, :nu],
            boot.boot_concept_index[li, :nu],
            boot.concepts,
            {name: getattr(boot, name)[li, :nu] for name in HELDOUT_COLUMNS},
        )
        frame.insert(0, "layer", layer)
        frame.insert(3, "description", [boot.concepts[i] for i in frame["concept"]])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)[list(RELIABILITY_COLUMNS)]


def _write_layer(writer, layer: int, result: LayerReliability) -> None:
    unit_values = {
        "concept_index": result.concept,
        "score": result.score,
        "p_null": result.p_null,
        "q_null": result.q_null,
        **result.heldout(),
    }
    write_boot_layer(
        writer, layer, unit_values, result.boot_concept, result.boot_score, result.split_half
    )


def assess_labels(
    activations_nc: str | Path,
    image_emb_nc: str | Path,
    concept_emb_nc: str | Path,
    concepts_txt: str | Path,
    out_csv: str | Path,
    out_boot_nc: str | Path,
    method: str = "soft_wpmi",
    params: dict[str, Any] | None = None,
    n_null: int = 10,
    n_boot: int = 20,
    seed: int = 0,
    alpha: float = DEFAULT_ALPHA,
    device: DeviceLike = "auto",
    threads: int | None = None,
) -> Path:
    """Assess the labels of every layer of one model; write the reliability CSV and the
    bootstrap file (formats in :mod:`vitconcepts.formats`), provenance beside/inside them.

    Same inputs and labeling settings as ``label_units`` (its input checks, device rule and
    memory plan); ``alpha`` the share of held-out images that are a unit's AUPRC positives
    (config ``reliability.alpha``). Resumable per layer: finished layers are kept in
    ``<out_boot_nc>.partial`` and skipped by a rerun with the same inputs and settings.
    """
    _, params = method_and_params(method, params)
    if threads:
        torch.set_num_threads(int(threads))
    dev = resolve_device(device)
    inputs = load_inputs(activations_nc, image_emb_nc, concept_emb_nc, concepts_txt)
    check_counts(params, 1, len(inputs.samples))
    similarity = probe_similarity(inputs, method, dev, params)
    settings = {
        "method": method,
        "params": params,
        "n_null": int(n_null),
        "n_boot": int(n_boot),
        "seed": int(seed),
        "alpha": float(alpha),
        "device": dev.type,
    }
    fingerprint = sha256_json(
        {
            "settings": settings,
            "inputs": [file_identity(p) for p in (activations_nc, image_emb_nc, concept_emb_nc)],
            "concepts": hash_strings(inputs.concepts),
        }
    )
    layers = inputs.layers
    options = {"method": method, "params": params, "n_null": n_null, "n_boot": n_boot}
    options |= {"seed": seed, "alpha": alpha, "device": dev}
    with boot_writer(
        out_boot_nc, layers, inputs.n_units, inputs.concepts, n_boot, fingerprint
    ) as writer:
        if writer.start:
            log.info("resuming %s: %d of %d layers done", out_boot_nc, writer.start, len(layers))
        for li in tqdm(range(writer.start, len(layers)), desc="assess_labels", unit="layer"):
            nu = int(inputs.n_units[li])
            acts = layer_activations(activations_nc, layers[li], nu, len(inputs.samples))
            _write_layer(writer, li, assess_layer(similarity, acts, **options))
        out_csv = write_reliability(_reliability_frame(writer.partial_path), out_csv)
        paths = (activations_nc, image_emb_nc, concept_emb_nc, concepts_txt)
        finish_step(writer, out_csv, "assess_labels", settings, *paths)
    return out_csv
