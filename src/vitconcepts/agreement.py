"""How closely two per-unit label files agree, layer by layer (a run vs the published labels).

Layer names differ between code bases (``blocks.3``, ``vit.encoder.layer.3``,
``vit.encoder.layer[3]``), so layers are matched by **position** (0-based, network order =
order of first appearance in each file) and units by their ``unit`` index within the layer.
Both files must have the same number of layers and the same units in each layer, else
:class:`~vitconcepts.errors.InputDataError` names both files.

Per layer (:func:`compare_labels`):

* ``n_units``: units compared;
* ``label_match``: share of units whose two ``description`` strings are identical;
* ``semantic_match``: mean cosine similarity of the CLIP text embeddings of the two labels,
  read from a concept-embedding NetCDF (``results/clip/concepts/{concepts}/{clip}.nc``,
  variable ``embedding (concept, dim)``, coord ``concept``). Units whose label (either one)
  is not in that file are left out of the mean, and ``semantic_units`` says how many units
  it is over; the column is NaN (empty in a CSV) when no file is given or no unit has both
  labels embedded;
* ``similarity_spearman``: Spearman rank correlation of the two label-score columns
  (``similarity``) over the layer's units (NaN when either is constant);
* ``top_images_jaccard``: mean over units of the Jaccard index of the two sets of top images
  (the ``images`` column), NaN unless both files carry it for every unit.

:func:`compare_with_published` writes that table for one model (rule
``compare_with_published``); :func:`read_agreements` reads all models' tables back and
:func:`summarise` condenses them, for the paper's appendix figure
(:func:`vitconcepts.figures.plot_reproduction_agreement`) and table
(:func:`vitconcepts.tables.table_reproduction_agreement`).
``python -m vitconcepts.agreement OURS.csv THEIRS.csv`` prints the table.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputDataError, VitconceptsError
from .formats import parse_images, read_labels

PathLike = str | Path

COLUMNS = (
    "layer",
    "n_units",
    "label_match",
    "semantic_match",
    "semantic_units",
    "similarity_spearman",
    "top_images_jaccard",
)
#: The per-layer measures, with their axis / column titles.
MEASURES = {
    "label_match": "identical label",
    "semantic_match": "label cosine (CLIP text)",
    "similarity_spearman": "score rank correlation",
    "top_images_jaccard": "top-image Jaccard",
}


def _read(path: PathLike) -> pd.DataFrame:
    """A label file (``images`` optional) sorted by layer position, then unit."""
    frame = read_labels(path, images=False)
    frame["position"] = frame["layer_index"]
    return frame.sort_values(["position", "unit"], kind="stable").reset_index(drop=True)


def _image_sets(values: pd.Series) -> list[frozenset[int]] | None:
    """The sets of top-image indices, or None when any unit has none."""
    sets = [frozenset(parse_images(value)) for value in values]
    return sets if all(sets) else None


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 2:
        return math.nan
    ra = pd.Series(a[ok]).rank().to_numpy()
    rb = pd.Series(b[ok]).rank().to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def load_concept_embeddings(concept_emb_nc: PathLike) -> tuple[dict[str, int], np.ndarray]:
    """``({concept: row}, L2-normalised embeddings [concept, dim])`` of a concept NetCDF."""
    import xarray as xr

    path = Path(concept_emb_nc)
    if not path.is_file():
        raise InputDataError(
            f"Concept embedding file {path} does not exist.",
            "embed the concepts first (snakemake results/clip/concepts/<concepts>/<clip>.nc) "
            "or leave out --concept-emb.",
        )
    with xr.open_dataset(path) as ds:
        if "embedding" not in ds or "concept" not in ds.coords:
            raise InputDataError(
                f"Concept embedding file {path} has no variable `embedding` with coord `concept`.",
                "pass a file written by the embed_concepts rule.",
            )
        emb = np.asarray(ds["embedding"].values, dtype=np.float32)
        concepts = [str(c) for c in ds["concept"].values]
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    emb = emb / np.where(norms > 0, norms, 1.0)
    index: dict[str, int] = {}
    for i, concept in enumerate(concepts):
        index.setdefault(concept, i)
    return index, emb


def compare_labels(
    ours_csv: PathLike, theirs_csv: PathLike, concept_emb_nc: PathLike | None = None
) -> pd.DataFrame:
    """Per-layer agreement of two label files (see the module docstring for the columns).

    Layers are matched by position, units by index; a different number of layers or
    different units in a layer raises :class:`InputDataError` naming both files.
    """
    ours, theirs = _read(ours_csv), _read(theirs_csv)
    n_ours, n_theirs = ours["position"].nunique(), theirs["position"].nunique()
    if n_ours != n_theirs:
        raise InputDataError(
            f"Label files {ours_csv} ({n_ours} layers) and {theirs_csv} ({n_theirs} layers) "
            "have different numbers of layers, so their layers cannot be matched by position.",
            "compare labels of the same architecture with the same analysed layers (set the "
            "model's `layers` in the config to the published file's layers).",
        )
    embeddings = load_concept_embeddings(concept_emb_nc) if concept_emb_nc else None
    both_images = "images" in ours and "images" in theirs
    ours_layers = dict(tuple(ours.groupby("position", sort=True)))
    theirs_layers = dict(tuple(theirs.groupby("position", sort=True)))
    rows = []
    for position in range(n_ours):
        a, b = ours_layers[position], theirs_layers[position]
        if len(a) != len(b) or not np.array_equal(a["unit"].to_numpy(), b["unit"].to_numpy()):
            raise InputDataError(
                f"Layer {position} (0-based position) has {len(a)} units in {ours_csv} "
                f"(`{a['layer'].iloc[0]}`) but {len(b)} units in {theirs_csv} "
                f"(`{b['layer'].iloc[0]}`), or other unit indices, so units cannot be matched.",
                "compare labels of the same architecture: every layer needs the same units "
                "(0..n-1, each once) in both files.",
            )
        la, lb = a["description"].to_numpy(str), b["description"].to_numpy(str)
        semantic, semantic_units = math.nan, 0
        if embeddings is not None:
            index, emb = embeddings
            ia = np.array([index.get(x, -1) for x in la])
            ib = np.array([index.get(x, -1) for x in lb])
            ok = (ia >= 0) & (ib >= 0)
            semantic_units = int(ok.sum())
            if semantic_units:
                semantic = float(np.mean(np.sum(emb[ia[ok]] * emb[ib[ok]], axis=1)))
        jaccard = math.nan
        if both_images:
            sa, sb = _image_sets(a["images"]), _image_sets(b["images"])
            if sa is not None and sb is not None:
                jaccard = float(
                    np.mean([len(x & y) / len(x | y) for x, y in zip(sa, sb, strict=True)])
                )
        rows.append(
            {
                "layer": position,
                "n_units": len(a),
                "label_match": float(np.mean(la == lb)),
                "semantic_match": semantic,
                "semantic_units": semantic_units,
                "similarity_spearman": _spearman(
                    a["similarity"].to_numpy(float), b["similarity"].to_numpy(float)
                ),
                "top_images_jaccard": jaccard,
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def compare_with_published(
    ours_csv: PathLike,
    theirs_csv: PathLike,
    out_csv: PathLike,
    concept_emb_nc: PathLike | None = None,
) -> pd.DataFrame:
    """Write :func:`compare_labels` of a computed and a published label file to ``out_csv``
    (with a ``.provenance.json`` sidecar naming both files)."""
    from .provenance import sha256_file, write_sidecar

    table = compare_labels(ours_csv, theirs_csv, concept_emb_nc)
    out = Path(out_csv)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, lineterminator="\n")
    write_sidecar(
        out,
        step="compare_with_published",
        ours=str(ours_csv),
        ours_sha256=sha256_file(ours_csv),
        theirs=str(theirs_csv),
        theirs_sha256=sha256_file(theirs_csv),
        concept_embeddings=str(concept_emb_nc) if concept_emb_nc else None,
    )
    return table


# --------------------------------------------------------------------------- paper outputs


def read_agreements(agreement_csvs: Mapping[str, PathLike]) -> pd.DataFrame:
    """The per-layer tables of :func:`compare_with_published`, one per model, stacked with a
    ``model`` column first (mapping order)."""
    frames = []
    for model, path in agreement_csvs.items():
        path = Path(path)
        if not path.is_file():
            raise InputDataError(
                f"Agreement file {path} for model {model} does not exist.",
                f"run `snakemake {path}` first.",
            )
        frame = pd.read_csv(path)
        missing = [c for c in COLUMNS if c != "semantic_units" and c not in frame]
        if missing:
            raise InputDataError(
                f"Agreement file {path} lacks column(s) {', '.join(missing)}.",
                "delete it and rerun the compare_with_published rule.",
            )
        frame.insert(0, "model", model)
        frames.append(frame)
    if not frames:
        raise InputDataError(
            "No agreement files were given.",
            "label at least one model that has published labels, with `agreement: true`.",
        )
    return pd.concat(frames, ignore_index=True)


def summarise(data: pd.DataFrame) -> pd.DataFrame:
    """One row per model: layers, units and the unit-weighted mean of each measure."""
    rows = []
    for model, d in data.groupby("model", sort=False):
        w = d["n_units"].to_numpy(float)
        row = {"model": model, "layers": len(d), "units": int(w.sum())}
        for measure in MEASURES:
            v = d[measure].to_numpy(float)
            ok = np.isfinite(v)
            row[measure] = float(np.average(v[ok], weights=w[ok])) if ok.any() else math.nan
        row["label_match_min"] = float(d["label_match"].min())
        row["label_match_max"] = float(d["label_match"].max())
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vitconcepts.agreement",
        description="Per-layer agreement of two per-unit label files (layers matched by "
        "position, units by index).",
    )
    parser.add_argument("ours", help="label CSV (layer, unit, description, similarity, images)")
    parser.add_argument("theirs", help="label CSV to compare with, e.g. the published one")
    parser.add_argument(
        "--concept-emb",
        help="concept embedding NetCDF (results/clip/concepts/<concepts>/<clip>.nc) for "
        "semantic_match",
    )
    parser.add_argument("--out", help="also write the table to this CSV")
    args = parser.parse_args(argv)
    try:
        table = compare_labels(args.ours, args.theirs, args.concept_emb)
    except VitconceptsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False, lineterminator="\n")
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}", na_rep=""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
