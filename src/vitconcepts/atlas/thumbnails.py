"""The atlas thumbnails: one small JPEG per probe image that is a top image of any unit."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from vitconcepts.atlas.data import top_image_samples
from vitconcepts.complexity import top_image_paths
from vitconcepts.errors import InputDataError

PathLike = str | Path

#: Thumbnail edge (pixels) and JPEG quality.
THUMB_PX = 96
THUMB_QUALITY = 80


def _thumb(args: tuple[int, str, Path, int, int]) -> int:
    from PIL import Image

    sample, src, out_dir, size, quality = args
    try:
        with Image.open(src) as img:
            img.draft("RGB", (size * 2, size * 2))  # JPEG: decode at a reduced scale
            img = img.convert("RGB")
            w, h = img.size
            side = min(w, h)
            left, top = (w - side) // 2, (h - side) // 2
            img = img.crop((left, top, left + side, top + side))
            img = img.resize((size, size), Image.Resampling.BICUBIC)
            tmp = out_dir / f".{sample}.jpg.part"
            img.save(tmp, format="JPEG", quality=quality, optimize=True)
            os.replace(tmp, out_dir / f"{sample}.jpg")
    except (OSError, ValueError) as exc:
        raise InputDataError(
            f"Cannot read the probe image {src} (sample {sample}) for its atlas thumbnail ({exc}).",
            "check that the probe images are still where the probe index says; rebuild the "
            "probe index (snakemake --forcerun prepare_probe) if they moved.",
        ) from exc
    return sample


def make_thumbnails(
    label_csvs: Sequence[PathLike],
    index_csv: PathLike,
    out_dir: PathLike,
    size: int = THUMB_PX,
    quality: int = THUMB_QUALITY,
    threads: int = 1,
) -> int:
    """Write ``out_dir/{sample}.jpg`` (centre square, ``size`` px) for every probe image that
    is a top image of a unit in any of ``label_csvs``; images already there are kept.

    Returns the number of thumbnails. A sample index missing from the probe index raises
    :class:`InputDataError` naming both files.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    samples = top_image_samples(label_csvs)
    paths = top_image_paths(index_csv, samples, label_csvs)
    todo = [(s, paths[s], out, size, quality) for s in samples if not (out / f"{s}.jpg").is_file()]
    with ThreadPoolExecutor(max(1, int(threads))) as pool:
        for _ in pool.map(_thumb, todo, chunksize=64):
            pass
    return len(samples)
