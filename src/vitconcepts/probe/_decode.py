"""Decoding probe images: every PIL mode to 8-bit RGB, scaled rather than clipped."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps

from ..errors import InputDataError

# modes holding integers wider than 8 bits (16-bit PNG/TIFF greyscale, 32-bit integer TIFF)
WIDE_INT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")

log = logging.getLogger(__name__)


def to_rgb(image: Image.Image) -> Image.Image:
    """``image`` (any PIL mode) as 8-bit RGB, scaled rather than clipped.

    * 8-bit modes (``1``, ``L``, ``P`` without transparency, ``RGB``, ``CMYK``, ``YCbCr``):
      PIL's ``convert("RGB")``, exactly as torchvision's default loader.
    * ``I;16``/``I;16B``/``I;16L`` (16-bit PNG/TIFF greyscale) and ``I`` (32-bit integer,
      read as the 16-bit range): 0..65535 scaled to 0..255 (PIL's own conversion clips,
      which turns most 16-bit images white).
    * ``F`` (float): values in [0, 1] scaled by 255, anything else clipped to 0..255.
    * modes with alpha (``RGBA``, ``LA``, ``PA``, ``P`` with transparency): composited over
      white (the colour stored under transparent pixels is arbitrary).
    """
    mode = image.mode
    if mode in WIDE_INT_MODES:
        pixels = np.asarray(image).astype(np.float64)
        pixels = np.clip(pixels, 0, 65535) / 257.0
        return Image.fromarray(np.rint(pixels).astype(np.uint8), "L").convert("RGB")
    if mode == "F":
        pixels = np.asarray(image, dtype=np.float64)
        finite = pixels[np.isfinite(pixels)]
        if finite.size and finite.min() >= 0 and finite.max() <= 1:
            pixels = pixels * 255.0
        pixels = np.clip(np.nan_to_num(pixels), 0, 255)
        return Image.fromarray(np.rint(pixels).astype(np.uint8), "L").convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in ALPHA_MODES:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def decode_image(data: bytes | str | Path, exif_transpose: bool = False) -> Image.Image:
    """Fully decode an image (file path or bytes) to 8-bit RGB; raises what PIL raises.

    A truncated file raises (``ImageFile.LOAD_TRUNCATED_IMAGES`` is switched off if another
    library turned it on). EXIF orientation is ignored unless ``exif_transpose``.
    """
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        log.warning("PIL's LOAD_TRUNCATED_IMAGES was on; switching it off")
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    with Image.open(source) as image:
        image.load()
        if exif_transpose:
            image = ImageOps.exif_transpose(image) or image
        return to_rgb(image)


def load_rgb(path: str, exif_transpose: bool = False) -> Image.Image:
    """Open a probe image as RGB (:func:`decode_image`); InputDataError naming it.

    The one loader of every rule that reads probe images.
    """
    try:
        return decode_image(path, exif_transpose)
    except Exception as error:
        raise InputDataError(
            f"Cannot read probe image {path} ({type(error).__name__}: {error}); it decoded "
            "when prepare_probe indexed it, so it changed since.",
            "restore or replace the file, then rebuild the probe index: add "
            "`--forcerun prepare_probe` at the end of your snakemake command (the probe hash "
            "changes, so activations and embeddings are recomputed).",
        ) from error
