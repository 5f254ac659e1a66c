"""The ground-truth rules' steps: the presence file of a probe's Broden part, and one model's
labels scored against it (rows aligned through the probe index)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputDataError
from ..formats import (
    GROUND_TRUTH_COLUMNS,
    BrodenPresence,
    read_activation_layout,
    read_labels,
    read_layer,
    read_presence,
    read_probe_index,
    write_ground_truth,
    write_presence,
)
from ..io_errors import open_netcdf
from ._broden import broden_presence
from ._scoring import score_labels

log = logging.getLogger(__name__)

#: Probe part kinds holding a Broden folder (``rules/plan_config.py`` knows them too).
BRODEN_KINDS = ("broden", "synthetic_broden")


def broden_part(index_csv: str | Path) -> dict:
    """The probe's first Broden part (its entry in ``index.json`` beside the index, written
    by prepare_probe: name, kind, root). Read here without the probe package (torch)."""
    meta_path = Path(index_csv).with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    parts = [p for p in meta.get("parts", []) if p.get("kind") in BRODEN_KINDS]
    if not parts:
        raise InputDataError(
            f"The probe index {index_csv} has no Broden part, so there are no annotations "
            "to score labels against.",
            "add a part `{kind: broden, url: http://netdissect.csail.mit.edu/data/"
            "broden1_224.zip}` to the probe in your config, or leave the ground-truth "
            "targets out.",
        )
    if len(parts) > 1:
        log.warning("probe has %d Broden parts; the first (%s) is used", len(parts), parts[0])
    return parts[0]


def build_presence(index_csv: str | Path, out_npz: str | Path, threads: int = 2) -> Path:
    """Read the annotations of the probe's Broden part (unpacked by prepare_probe, masks
    included whatever ``include_masks`` says: it only decides what is indexed) and write
    the presence file."""
    part = broden_part(index_csv)
    data = broden_presence(part["root"], threads=threads, progress=True)
    data.provenance["probe_part"] = part["name"]
    log.info("%d images x %d names, %d present", *data.presence.shape, int(data.presence.sum()))
    return write_presence(out_npz, data)


def broden_rows(data: BrodenPresence, index_csv: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(probe samples, presence rows) of the Broden images the probe indexed, in presence
    order: sample id ``<part>/images/<image>``."""
    part = data.provenance.get("probe_part") or broden_part(index_csv)["name"]
    index = read_probe_index(index_csv)
    sample_of = dict(zip(index["sample_id"], index["sample"], strict=True))
    keys = [f"{part}/images/{image}" for image in data.images]
    rows = np.array([i for i, key in enumerate(keys) if key in sample_of], dtype=np.int64)
    if len(rows) == 0:
        raise InputDataError(
            f"None of the {len(keys)} Broden images (e.g. {keys[:1]}) is in the probe index "
            f"{index_csv}.",
            "rebuild the probe index and the presence file (`--forcerun prepare_probe`).",
        )
    if len(rows) < len(keys):
        log.warning("%d Broden images are not in the probe index", len(keys) - len(rows))
    return np.array([sample_of[keys[i]] for i in rows], dtype=np.int64), rows


def score_model(
    activations_nc: str | Path,
    labels_csv: str | Path,
    presence_npz: str | Path,
    index_csv: str | Path,
    out_csv: str | Path,
    alpha: float = 0.01,
) -> pd.DataFrame:
    """Every unit of a model's label file scored against Broden (:func:`score_labels`, on
    the Broden images only), layer by layer; writes ``out_csv``
    (:data:`GROUND_TRUTH_COLUMNS`)."""
    data = read_presence(presence_npz)
    labels = read_labels(labels_csv, images=False)
    samples, rows = broden_rows(data, index_csv)
    layout = read_activation_layout(activations_nc)
    position = {int(s): i for i, s in enumerate(layout.samples)}
    missing = [int(s) for s in samples if int(s) not in position]
    if missing:
        raise InputDataError(
            f"{activations_nc} lacks {len(missing)} Broden samples of the probe (e.g. "
            f"{missing[:3]}).",
            f"rebuild it: `rm {activations_nc}` and run snakemake again.",
        )
    take = np.array([position[int(s)] for s in samples], dtype=np.int64)
    presence = data.presence[rows]
    frames = []
    with open_netcdf(activations_nc) as ds:
        for layer, group in labels.groupby("layer", sort=False):
            acts = read_layer(ds, str(layer))[take][:, group["unit"].to_numpy()]
            frame = score_labels(
                acts,
                presence,
                data.names,
                group["description"].tolist(),
                alpha=alpha,
                synonyms=data.synonyms,
            )
            frame["unit"] = group["unit"].to_numpy()
            frame.insert(0, "layer", str(layer))
            frames.append(frame)
    out = pd.concat(frames, ignore_index=True)[list(GROUND_TRUTH_COLUMNS)]
    write_ground_truth(out, out_csv)
    return out
