"""The reliability outputs of a labelling: the per-unit CSV, its ``stable_concepts`` cell and
the per-layer bootstrap file.

**Reliability CSV** (``results/reliability/{probe}/{model}.csv``), one row per unit, layers in
network order: :data:`RELIABILITY_COLUMNS` =
``layer, unit, concept, description, score, p_null, q_null, stability, stable_concepts,
heldout_correlation, heldout_auprc, auprc_chance``.
``concept`` is the index of the full-probe label in the concept list, ``description`` that
concept, ``score`` its score; ``p_null``/``q_null`` the p-value of the cross-fitted held-out
correlation against its permutation null and its Benjamini-Hochberg q-value over the layer's
units; ``stability`` the share of bootstrap resamples whose best concept is the label;
``stable_concepts`` a cell written by :func:`format_stable_concepts`;
``heldout_correlation`` (Pearson between the unit's activation and the CLIP similarity of the
label chosen on the other split half, over the held-out half's images), ``heldout_auprc``
(average precision of that similarity for the unit's top-``alpha`` held-out images) and
``auprc_chance`` (their share: AUPRC's chance level), each the mean of the two folds; empty
(NaN) where undefined (a half smaller than ``top_k``).

**stable_concepts cell**: a JSON array of ``[concept, share]`` pairs, largest share first
(ties: by concept), e.g. ``[["dog", 0.85], ["puppy", 0.15]]`` in the CSV (concept strings) or
``[[12, 0.85], [407, 0.15]]`` in :func:`vitconcepts.reliability.label_reliability`'s frame
(concept indices). ``[]`` when no concept reaches the threshold.

**Bootstrap file** (``results/reliability/{probe}/{model}_boot.nc``), NetCDF4 with dims
``layer x unit x resample`` (and ``concept``):

* ``boot_concept_index (layer, unit, resample)`` int32: each unit's best concept on each
  bootstrap resample of the probe (-1 in the padding of narrower layers);
* ``boot_score (layer, unit, resample)`` float32: its score (NaN in the padding);
* ``concept_index``, ``score`` ``(layer, unit)``: the full-probe label and score;
  ``p_null``, ``q_null``, ``heldout_correlation``, ``heldout_auprc``, ``auprc_chance``
  ``(layer, unit)`` float64;
* ``split_half_agreement (layer)`` float64: share of units whose labels on two random halves
  of the probe agree;
* coords ``layer``, ``unit``, ``resample``, ``n_units(layer)``, ``concept``; attr ``provenance``.

Written layer by layer (resumable) by :func:`boot_writer` + :func:`write_boot_layer`, read by
:func:`read_boot`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputDataError
from ..io_errors import open_netcdf, require_columns
from ..ncstream import ShardedNetCDFWriter

PathLike = str | Path

#: The columns of a reliability CSV, in the order they are written.
RELIABILITY_COLUMNS = (
    "layer",
    "unit",
    "concept",
    "description",
    "score",
    "p_null",
    "q_null",
    "stability",
    "stable_concepts",
    "heldout_correlation",
    "heldout_auprc",
    "auprc_chance",
)
#: The per-unit variables of a bootstrap file (``(layer, unit)``) and their dtypes.
BOOT_UNIT_VARIABLES = {
    "concept_index": "int32",
    "score": "float32",
    "p_null": "float64",
    "q_null": "float64",
    "heldout_correlation": "float64",
    "heldout_auprc": "float64",
    "auprc_chance": "float64",
}


def format_stable_concepts(pairs: Sequence[tuple[int | str, float]]) -> str:
    """A ``stable_concepts`` cell: ``[[concept, share], ...]`` as compact JSON."""
    items = [[c if isinstance(c, str) else int(c), round(float(s), 6)] for c, s in pairs]
    return json.dumps(items, ensure_ascii=False, separators=(", ", ": "))


def parse_stable_concepts(cell: object) -> list[tuple[int | str, float]]:
    """The ``(concept, share)`` pairs of a ``stable_concepts`` cell (see the module doc)."""
    text = str(cell).strip()
    if text in ("", "nan"):
        return []
    try:
        items = json.loads(text)
        return [(c, float(s)) for c, s in items]
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"stable_concepts cell {cell!r} is not a JSON array of [concept, share] pairs"
        ) from error


def write_reliability(frame: pd.DataFrame, out_csv: PathLike) -> Path:
    """Write a reliability CSV (columns :data:`RELIABILITY_COLUMNS`, in that order)."""
    missing = [c for c in RELIABILITY_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"reliability frame lacks columns {missing}")
    out = Path(out_csv)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(out) + ".part")
    frame[list(RELIABILITY_COLUMNS)].to_csv(tmp, index=False, lineterminator="\n")
    tmp.replace(out)
    return out


def read_reliability(csv: PathLike) -> pd.DataFrame:
    """Read a reliability CSV; adds ``layer_index`` (0-based, network order).

    A missing file or one without the columns raises :class:`InputDataError` naming it.
    """
    path = Path(csv)
    if not path.is_file():
        raise InputDataError(f"Reliability file {path} does not exist.", "run assess_labels.")
    frame = pd.read_csv(path, keep_default_na=False, dtype={"description": str, "layer": str})
    require_columns(
        frame,
        RELIABILITY_COLUMNS,
        lambda missing: (
            f"Reliability file {path} lacks columns {missing}; found {list(frame.columns)}."
        ),
        f"regenerate it: snakemake {path} --forcerun assess_labels",
    )
    numeric = ("score", "p_null", "q_null", "stability")
    for column in (*numeric, "heldout_correlation", "heldout_auprc", "auprc_chance"):
        frame[column] = pd.to_numeric(frame[column].replace("", np.nan))
    order = {layer: i for i, layer in enumerate(pd.unique(frame["layer"]))}
    frame["layer_index"] = frame["layer"].map(order).astype(int)
    return frame


@dataclass(frozen=True)
class ReliabilityBoot:
    """A bootstrap file in memory (arrays padded to the widest layer, see the module doc)."""

    layers: list[str]
    n_units: np.ndarray  # [layer]
    concepts: list[str]  # [concept]
    concept_index: np.ndarray  # [layer, unit]
    score: np.ndarray  # [layer, unit]
    p_null: np.ndarray  # [layer, unit]
    q_null: np.ndarray  # [layer, unit]
    heldout_correlation: np.ndarray  # [layer, unit]
    heldout_auprc: np.ndarray  # [layer, unit]
    auprc_chance: np.ndarray  # [layer, unit]
    boot_concept_index: np.ndarray  # [layer, unit, resample]
    boot_score: np.ndarray  # [layer, unit, resample]
    split_half_agreement: np.ndarray  # [layer]

    @property
    def n_boot(self) -> int:
        return int(self.boot_concept_index.shape[2])


def boot_writer(
    out_nc: PathLike,
    layers: Sequence[str],
    n_units: Sequence[int] | np.ndarray,
    concepts: Sequence[str],
    n_boot: int,
    fingerprint: str = "",
) -> ShardedNetCDFWriter:
    """The resumable writer of a bootstrap file, streamed over ``layer``: for each layer from
    ``writer.start`` call :func:`write_boot_layer`, then ``writer.finalize({...})``."""
    n_units = np.asarray(n_units, dtype=np.int64)
    width, n_boot = int(n_units.max()), max(1, int(n_boot))
    variables = {
        name: (("layer", "unit"), dtype, (1, width)) for name, dtype in BOOT_UNIT_VARIABLES.items()
    }
    variables["boot_concept_index"] = (("layer", "unit", "resample"), "int32", (1, width, n_boot))
    variables["boot_score"] = (("layer", "unit", "resample"), "float32", (1, width, n_boot))
    variables["split_half_agreement"] = (("layer",), "float64", (1,))
    return ShardedNetCDFWriter(
        Path(out_nc),
        dims={"layer": len(layers), "unit": width, "resample": n_boot, "concept": len(concepts)},
        coords={
            "layer": (("layer",), np.asarray(layers, dtype=object)),
            "unit": (("unit",), np.arange(width, dtype=np.int64)),
            "resample": (("resample",), np.arange(n_boot, dtype=np.int64)),
            "n_units": (("layer",), n_units),
            "concept": (("concept",), np.asarray(concepts, dtype=object)),
        },
        variables=variables,
        stream_dim="layer",
        fingerprint=fingerprint,
    )


def _padded(values: np.ndarray, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    fill = -1 if np.dtype(dtype).kind == "i" else np.nan
    out = np.full((1, *shape), fill, dtype=dtype)
    out[(0, *[slice(0, n) for n in values.shape])] = values
    return out


def write_boot_layer(
    writer: ShardedNetCDFWriter,
    layer: int,
    unit_values: dict[str, np.ndarray],
    boot_concept_index: np.ndarray,
    boot_score: np.ndarray,
    split_half_agreement: float,
) -> None:
    """Write layer ``layer``: ``unit_values`` holds the :data:`BOOT_UNIT_VARIABLES` (``[unit]``),
    ``boot_*`` are ``[unit, resample]``; the padding is filled here; the layer is marked done."""
    width, n_boot = writer.dims["unit"], writer.dims["resample"]
    data = {
        name: _padded(np.asarray(unit_values[name]), (width,), dtype)
        for name, dtype in BOOT_UNIT_VARIABLES.items()
    }
    data["boot_concept_index"] = _padded(np.asarray(boot_concept_index), (width, n_boot), "int32")
    data["boot_score"] = _padded(np.asarray(boot_score), (width, n_boot), "float32")
    data["split_half_agreement"] = np.asarray([split_half_agreement], dtype=np.float64)
    writer.write(data, layer)
    writer.mark_done(layer + 1)


def read_boot(boot_nc: PathLike) -> ReliabilityBoot:
    """Read a bootstrap file (or the ``.partial`` of one being written) into memory."""
    with open_netcdf(boot_nc) as ds:
        missing = [name for name in BOOT_UNIT_VARIABLES if name not in ds.variables]
        if missing:
            raise InputDataError(
                f"Bootstrap file {boot_nc} lacks variables {missing} (written before the "
                "held-out columns).",
                f"regenerate it: snakemake {boot_nc} --forcerun assess_labels",
            )
        values = {name: np.asarray(ds[name].values) for name in BOOT_UNIT_VARIABLES}
        return ReliabilityBoot(
            layers=[str(v) for v in ds["layer"].values],
            n_units=np.asarray(ds["n_units"].values, dtype=np.int64),
            concepts=[str(v) for v in ds["concept"].values],
            concept_index=values["concept_index"].astype(np.int64),
            score=values["score"].astype(np.float32),
            p_null=values["p_null"].astype(np.float64),
            q_null=values["q_null"].astype(np.float64),
            heldout_correlation=values["heldout_correlation"].astype(np.float64),
            heldout_auprc=values["heldout_auprc"].astype(np.float64),
            auprc_chance=values["auprc_chance"].astype(np.float64),
            boot_concept_index=np.asarray(ds["boot_concept_index"].values, dtype=np.int64),
            boot_score=np.asarray(ds["boot_score"].values, dtype=np.float32),
            split_half_agreement=np.asarray(ds["split_half_agreement"].values, np.float64),
        )
