"""Reading a Broden folder (NetDissect's ``broden1_224`` layout) into image-level presence.

The layout, as NetDissect's ``loadseg.py`` reads it:

* ``index.csv``: ``image, split, ih, iw, sh, sw, color, object, part, material, scene,
  texture``; ``image`` is a path under ``images/``; each category cell is a ``;``-separated
  list whose entries are either a mask file under ``images/`` (PNG, label number per pixel =
  R + 256 x G, 0 = unlabelled) or a bare label number covering the whole image (``scene`` and
  ``texture`` are such numbers).
* ``label.csv``: ``number, name, category, frequency, coverage, syns``; names carry a
  category suffix (``red-c``, ``kitchen-s``) that is stripped here; ``syns`` is ``;``-separated.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

from ..errors import InputDataError
from ..formats import BrodenPresence
from ..provenance import provenance

log = logging.getLogger(__name__)

INDEX_META = ("image", "split", "ih", "iw", "sh", "sw")
INDEX_CATEGORIES = ("color", "object", "part", "material", "scene", "texture")
LABEL_COLUMNS = ("number", "name", "category", "frequency", "coverage", "syns")
_SUFFIX = re.compile(r"-[a-z]$")
MAX_LISTED = 10


def strip_suffix(name: str) -> str:
    """``red-c`` -> ``red``, ``kitchen-s`` -> ``kitchen`` (Broden's category suffixes)."""
    return _SUFFIX.sub("", name.strip())


def _read_csv(path: Path, columns: Sequence[str], what: str) -> list[dict[str, str]]:
    fix = f"re-download or re-unpack the Broden archive so that {path} is complete."
    if not path.is_file():
        raise InputDataError(f"Broden's {what} {path} does not exist.", fix)
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    missing = [c for c in columns if rows and c not in rows[0]]
    if not rows or missing:
        raise InputDataError(
            f"Broden's {what} {path} lacks the columns {', '.join(missing or columns)} "
            f"(needs {', '.join(columns)}).",
            fix,
        )
    return rows


def read_broden_labels(
    root: str | Path,
) -> tuple[np.ndarray, list[str], list[str], list[list[str]]]:
    """``label.csv`` of the Broden folder ``root`` (or that file itself): (numbers, names
    without suffix, categories, synonyms), in number order."""
    csv_path = Path(root) if Path(root).is_file() else Path(root) / "label.csv"
    rows = _read_csv(csv_path, LABEL_COLUMNS, "label list")
    try:
        rows = sorted(rows, key=lambda r: int(r["number"]))
    except ValueError as error:
        raise InputDataError(
            f"Broden's label list {csv_path} has a non-integer number ({error}).",
            "re-download or re-unpack the Broden archive.",
        ) from error
    rows = [r for r in rows if int(r["number"]) > 0]
    numbers = np.array([int(r["number"]) for r in rows], dtype=np.int64)
    names = [strip_suffix(r["name"]) for r in rows]
    categories = [";".join(c.split("(")[0] for c in r["category"].split(";") if c) for r in rows]
    synonyms = [[s.strip() for s in (r["syns"] or "").split(";") if s.strip()] for r in rows]
    return numbers, names, categories, synonyms


def read_broden_index(root: str | Path) -> tuple[list[str], list[list[str]]]:
    """``index.csv``: image paths and, per image, its annotation entries (mask files or
    label numbers), in file order."""
    rows = _read_csv(Path(root) / "index.csv", INDEX_META + INDEX_CATEGORIES, "image index")
    images = [r["image"] for r in rows]
    entries = [[e for c in INDEX_CATEGORIES for e in (r[c] or "").split(";") if e] for r in rows]
    return images, entries


def mask_numbers(path: str | Path) -> np.ndarray:
    """The label numbers (R + 256 x G, 0 dropped) carried by a mask PNG's pixels."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    with Image.open(path) as image:
        image.load()
        rgb = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    codes = rgb[..., 0].astype(np.int32) + 256 * rgb[..., 1].astype(np.int32)
    numbers = np.flatnonzero(np.bincount(codes.ravel()))
    return numbers[numbers > 0].astype(np.int64)


def _image_numbers(item: tuple[Path, list[str]]) -> tuple[np.ndarray, list[str]]:
    """(label numbers of one image, problems)."""
    folder, entries = item
    found, problems = [], []
    for entry in entries:
        if entry.isdigit():
            found.append(np.array([int(entry)], dtype=np.int64))
            continue
        try:
            found.append(mask_numbers(folder / entry))
        except FileNotFoundError:
            problems.append(f"{folder / entry} (missing)")
        except Exception as error:  # PIL raises many types for damaged files
            problems.append(f"{folder / entry} ({type(error).__name__}: {error})")
    numbers = np.unique(np.concatenate(found)) if found else np.zeros(0, np.int64)
    return numbers, problems


def _problem_error(problems: list[str], root: Path) -> InputDataError:
    listed = "; ".join(problems[:MAX_LISTED])
    more = f"; and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
    return InputDataError(
        f"Broden folder {root}: {len(problems)} annotation mask(s) cannot be read: "
        f"{listed}{more}. No label has been scored.",
        "re-unpack the Broden archive (delete the unpacked folder and its `.unpacked` marker "
        "beside the zip, then run the same snakemake command again), or restore these files.",
    )


def broden_presence(root: str | Path, threads: int = 2, progress: bool = False) -> BrodenPresence:
    """Image-level presence of every Broden concept in every image of ``root/index.csv``.

    A concept is present in an image when any pixel of any of its masks carries its number
    or the image lists it as a whole-image label (``scene``, ``texture``). Every mask is read
    once, ``threads`` at a time (PIL's PNG decoder releases the GIL). Every missing or
    truncated mask is checked before anything is returned: all of them are named in one
    InputDataError. Numbers absent from ``label.csv`` are counted (provenance) and ignored.
    """
    from tqdm import tqdm

    root = Path(root)
    numbers, names, categories, synonyms = read_broden_labels(root)
    images, entries = read_broden_index(root)
    column = np.full(int(max(numbers.max(initial=0), 1)) + 1, -1, dtype=np.int64)
    column[numbers] = np.arange(len(numbers))
    presence = np.zeros((len(images), len(numbers)), dtype=bool)
    problems: list[str] = []
    unknown: set[int] = set()
    folder = root / "images"
    with ThreadPoolExecutor(max_workers=max(1, int(threads))) as pool:
        results = pool.map(_image_numbers, ((folder, e) for e in entries), chunksize=64)
        for i, (found, bad) in enumerate(
            tqdm(results, total=len(images), desc="reading Broden masks", disable=not progress)
        ):
            problems += bad
            known = found[found < len(column)]
            cols = column[known]
            unknown.update(int(n) for n in found[found >= len(column)])
            unknown.update(int(n) for n in known[cols < 0])
            presence[i, cols[cols >= 0]] = True
    if problems:
        raise _problem_error(problems, root)
    if unknown:
        log.warning("%d label numbers in %s are not in label.csv: ignored", len(unknown), root)
    meta = provenance(
        broden_root=str(root),
        n_images=len(images),
        n_names=len(names),
        unknown_numbers=sorted(unknown)[:100],
    )
    return BrodenPresence(images, names, presence, numbers, categories, synonyms, meta)
