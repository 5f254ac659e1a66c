"""One plotting style for every figure: fixed colours, fonts and deterministic savers.

Category colours follow Paul Tol's colour-blind-safe "muted" scheme (grey for `unknown`);
model colours follow the Okabe-Ito palette. Every figure uses the same colour for the same
category or model, so figures can be compared at a glance.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from . import categories  # noqa: E402

#: Category names in the order of the authors' curated map; also the stacking/legend order.
CATEGORIES = categories.CATEGORIES

#: Paul Tol "muted" (colour-blind safe); pale grey marks `unknown`.
CATEGORY_COLORS: dict[str, str] = {
    "colors": "#CC6677",
    "textures and materials": "#DDCC77",
    "natural elements and organisms": "#117733",
    "objects and machines": "#332288",
    "places and buildings": "#88CCEE",
    "activities": "#AA4499",
    "names": "#882255",
    "abstract": "#44AA99",
    "unknown": "#BBBBBB",
}

#: Okabe-Ito colours for the pretrained models of the paper.
MODEL_COLORS: dict[str, str] = {
    "vit": "#0072B2",
    "dinov2": "#E69F00",
    "clip": "#009E73",
    "mae": "#CC79A7",
    "resnet": "#D55E00",
}

#: Human-readable model names for legends and panel titles.
MODEL_NAMES: dict[str, str] = {
    "vit": "ViT",
    "dinov2": "DINOv2",
    "clip": "CLIP",
    "mae": "MAE",
    "resnet": "ResNet-50",
}

#: Colours and line styles of the pretrained/finetuned variants of one base model.
DATASET_COLORS: dict[str, str] = {
    "pretrained": "#000000",
    "cub": "#E69F00",
    "bloodmnist": "#56B4E9",
}
DATASET_LINESTYLES: dict[str, str] = {"pretrained": "-", "cub": "--", "bloodmnist": ":"}
DATASET_NAMES: dict[str, str] = {
    "pretrained": "pretrained",
    "cub": "CUB",
    "bloodmnist": "BloodMNIST",
}

#: Fallback colours (Okabe-Ito remainder + Tol extras) for keys not listed above.
_FALLBACK = ("#56B4E9", "#F0E442", "#000000", "#999933", "#661100", "#6699CC", "#888888")

#: matplotlib rc settings used by every figure.
RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#E5E5E5",
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.5,
    "lines.markersize": 3.5,
    "pdf.fonttype": 42,
    "savefig.dpi": 200,
    "figure.dpi": 100,
    "svg.hashsalt": "vitconcepts",
}

#: Width of a full-width figure in inches (fits the paper's text block).
FULL_WIDTH = 6.5


def _fallback(key: str) -> str:
    digest = hashlib.sha256(key.encode()).digest()
    return _FALLBACK[digest[0] % len(_FALLBACK)]


def category_color(category: str) -> str:
    """Colour of a concept category (stable fallback for unexpected names)."""
    return CATEGORY_COLORS.get(category, _fallback(category))


def model_color(model: str) -> str:
    """Colour of a model; finetuned keys like ``vit_cub`` get their base model's colour."""
    if model in MODEL_COLORS:
        return MODEL_COLORS[model]
    base = model.split("_", 1)[0]
    return MODEL_COLORS.get(base, _fallback(model))


def model_name(model: str) -> str:
    """Display name of a model key (``vit_cub`` -> ``ViT (CUB)``)."""
    if model in MODEL_NAMES:
        return MODEL_NAMES[model]
    base, _, rest = model.partition("_")
    if base in MODEL_NAMES and rest:
        return f"{MODEL_NAMES[base]} ({DATASET_NAMES.get(rest, rest)})"
    return model


def model_sort_key(model: str) -> tuple[int, str, int, str]:
    """Canonical model order: paper base models first (ViT, DINOv2, CLIP, MAE, ResNet-50),
    each followed by its finetuned variants (CUB, BloodMNIST, others); unknown keys last."""
    bases = list(MODEL_COLORS)
    base, _, rest = model.partition("_")
    if base not in bases:
        return (len(bases), model, 0, "")
    variants = [v for v in DATASET_NAMES if v != "pretrained"]
    vidx = 0 if not rest else 1 + (variants.index(rest) if rest in variants else len(variants))
    return (bases.index(base), base, vidx, rest)


def dataset_color(dataset: str) -> str:
    """Colour of a finetuning dataset (``pretrained`` for the base model)."""
    return DATASET_COLORS.get(dataset, _fallback(dataset))


def dataset_linestyle(dataset: str) -> str:
    """Line style of a finetuning dataset."""
    return DATASET_LINESTYLES.get(dataset, "-.")


def ordered_categories(present: Iterable[str]) -> list[str]:
    """Known categories in canonical order, then any unexpected ones sorted."""
    present = set(present)
    known = [c for c in CATEGORIES if c in present]
    return known + sorted(present - set(CATEGORIES))


def style_context() -> Any:
    """Context manager applying :data:`RC` (leaves global matplotlib state untouched)."""
    return plt.rc_context(RC)


#: Text stamped across every figure saved while it is set (see :func:`set_watermark`).
_WATERMARK: str | None = None


def set_watermark(text: str | None) -> None:
    """Stamp ``text`` on every figure :func:`save_figure` writes from now on (None: stop).

    ``vitconcepts.rule_job.rule_log`` sets it for runs whose labels come from a random CLIP
    scorer, so no such figure can be mistaken for a result.
    """
    global _WATERMARK
    _WATERMARK = text or None


def save_figure(fig: Figure, out_pdf: str | Path) -> tuple[Path, Path]:
    """Save ``fig`` as vector PDF and 200-dpi PNG with fixed metadata; close it.

    Returns the PDF and PNG paths. Output is byte-identical across reruns. With a
    :func:`set_watermark` text, the text is drawn across the figure in red and stored in the
    PDF's ``Subject`` and the PNG's ``Description`` metadata.
    """
    out_pdf = Path(out_pdf)
    out_pdf.parent.mkdir(parents=True, exist_ok=True)
    out_png = out_pdf.with_suffix(".png")
    pdf_meta: dict[str, Any] = {"CreationDate": None, "ModDate": None}
    png_meta: dict[str, Any] = {"Software": None}
    if _WATERMARK:
        fig.text(
            0.5,
            0.5,
            _WATERMARK,
            ha="center",
            va="center",
            rotation=18,
            fontsize=13,
            color="#CC0000",
            alpha=0.55,
            zorder=1000,
        )
        pdf_meta["Subject"] = _WATERMARK
        png_meta["Description"] = _WATERMARK
    fig.savefig(out_pdf, format="pdf", metadata=pdf_meta)
    fig.savefig(out_png, format="png", dpi=200, metadata=png_meta)
    plt.close(fig)
    return out_pdf, out_png
