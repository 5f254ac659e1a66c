"""Paper Fig. 4: example units, each with its label and its top-activating probe images."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from PIL import Image

from vitconcepts import style
from vitconcepts.errors import ConfigError, InputDataError
from vitconcepts.figures.drawing import panels
from vitconcepts.figures.inputs import PathLike, warn_skipped, write_source_csv
from vitconcepts.formats import parse_images, read_labels, read_probe_index

#: Thumbnail edge in pixels for example-unit images.
THUMBNAIL_PX = 128


def _thumbnail(path: str) -> np.ndarray:
    from vitconcepts.probe import decode_image

    try:
        img = decode_image(path)  # the probe loader (modes converted like every rule)
    except (OSError, ValueError) as exc:
        raise InputDataError(
            f"Cannot read the probe image {path} ({exc}).",
            "check that the probe images are still where the probe index says; if they "
            "moved or changed, add `--forcerun prepare_probe` at the end of your snakemake "
            "command.",
        ) from exc
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side))
    img = img.resize((THUMBNAIL_PX, THUMBNAIL_PX), Image.Resampling.BILINEAR)
    return np.asarray(img)


def _shorten(text: str, n: int = 28) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


def _chosen_layers(labels: pd.DataFrame, layers: Sequence[int], labels_csv: PathLike) -> list[int]:
    """The requested layers that exist, in the given order; warn about the others."""
    n_layers = int(labels["layer_index"].max()) + 1
    chosen = []
    for layer in layers:
        if 0 <= int(layer) < n_layers:
            chosen.append(int(layer))
        else:
            warn_skipped(
                f"Figure example_units: layer {layer} does not exist in {labels_csv} "
                f"({n_layers} layers); skipped."
            )
    if not chosen:
        raise ConfigError(
            f"None of the example-unit layers {list(layers)} exist in {labels_csv} "
            f"({n_layers} layers, 0-based).",
            "Set `analysis.example_units.layers` to 0-based layer indices of the model.",
        )
    return chosen


def _example_rows(
    labels: pd.DataFrame,
    index: pd.DataFrame,
    chosen: Sequence[int],
    units_per_layer: int,
    n_images: int,
    sources: tuple[PathLike, PathLike],
) -> pd.DataFrame:
    """One row per (unit, image rank) of the best-scored units of each chosen layer."""
    labels_csv, index_csv = sources
    rows = []
    for layer in dict.fromkeys(chosen):
        d = labels[labels["layer_index"] == layer]
        d = d.sort_values(["similarity", "unit"], ascending=[False, True], kind="mergesort")
        for _, r in d.head(units_per_layer).iterrows():
            samples = parse_images(r["images"])[:n_images]
            for rank, sample in enumerate(samples):
                if sample not in index.index:
                    raise InputDataError(
                        f"The unit labels file {labels_csv} refers to probe sample {sample}, "
                        f"which the probe index {index_csv} does not have.",
                        "The labels were computed on another probe; label the units with this "
                        "probe or use its index.",
                    )
                rows.append(
                    {
                        "layer": layer,
                        "layer_name": r["layer"],
                        "unit": int(r["unit"]),
                        "description": r["description"],
                        "similarity": float(r["similarity"]),
                        "rank": rank,
                        "sample": sample,
                        "sample_id": index.loc[sample, "sample_id"],
                        "_path": index.loc[sample, "path"],
                    }
                )
    return pd.DataFrame(rows)


def _draw_example_units(data: pd.DataFrame, out_pdf: PathLike) -> None:
    """A row of thumbnails per unit, titled with its layer, unit, label and score."""
    units = data[["layer", "unit", "description", "similarity"]].drop_duplicates(["layer", "unit"])
    ncols = int(data["rank"].max()) + 1
    with style.style_context():
        cell = (style.FULL_WIDTH - 0.2) / ncols
        fig, axes = panels(len(units), ncols, len(units) * (cell + 0.3))
        for row, (_, u) in zip(axes, units.iterrows(), strict=True):
            imgs = data[(data["layer"] == u["layer"]) & (data["unit"] == u["unit"])]
            for ax in row:
                ax.axis("off")
            for _, im in imgs.iterrows():
                ax = row[int(im["rank"])]
                ax.imshow(_thumbnail(str(im["_path"])), interpolation="nearest")
            row[0].set_title(
                f"layer {u['layer']}, unit {u['unit']}: “{_shorten(u['description'])}” "
                f"(score {u['similarity']:.3f})",
                loc="left",
                fontsize=8,
            )
        style.save_figure(fig, out_pdf)


def plot_example_units(
    labels_csv: PathLike,
    index_csv: PathLike,
    layers: Sequence[int],
    units_per_layer: int,
    out_pdf: PathLike,
    n_images: int = 5,
) -> pd.DataFrame:
    """Paper Fig. 4: top-activating probe images of example units with their labels.

    For each chosen layer (0-based, network order) the ``units_per_layer`` units with the
    highest label score (``similarity``; ties: lower unit first) are shown, one row per unit
    with its ``n_images`` top-activating images. Layers beyond the model's depth are skipped
    with a warning. Source CSV columns: ``layer, layer_name, unit, description, similarity,
    rank, sample, sample_id``.
    """
    if units_per_layer < 1 or n_images < 1:
        raise ConfigError(
            f"example_units needs units_per_layer >= 1 and n_images >= 1 "
            f"(got {units_per_layer}, {n_images}).",
            "Set `analysis.example_units.units_per_layer` to a positive number.",
        )
    labels = read_labels(labels_csv)
    index = read_probe_index(index_csv).set_index("sample")
    chosen = _chosen_layers(labels, layers, labels_csv)
    data = _example_rows(labels, index, chosen, units_per_layer, n_images, (labels_csv, index_csv))
    _draw_example_units(data, out_pdf)
    data = data.drop(columns="_path")
    write_source_csv(data, out_pdf, [labels_csv, index_csv])
    return data
