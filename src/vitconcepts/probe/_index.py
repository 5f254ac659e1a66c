"""The probe index: every image fully decoded and hashed, written as ``index.csv`` and
``index.json`` (the CSV through :func:`vitconcepts.formats.write_probe_index`); and
:class:`ProbeDataset`, which reads it."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from PIL import Image, UnidentifiedImageError

from ..errors import ConfigError, InputDataError
from ..formats import read_probe_index, write_probe_index
from ..provenance import provenance
from ._decode import decode_image, load_rgb
from ._parts import IMG_EXTENSIONS, PART_KINDS, PART_READERS

MAX_LISTED = 20
BAD_IMAGES_FILE = "bad_images.tsv"

log = logging.getLogger(__name__)


def _check_image(item: tuple[str, bool]) -> tuple[str, str | None]:
    """(sha256 of the file, None), or ("", reason) if it cannot be fully decoded to RGB."""
    path, exif = item
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        if not data:
            return "", "empty file (0 bytes)"
        decode_image(data, exif)
        return hashlib.sha256(data).hexdigest(), None
    except UnidentifiedImageError:
        return "", "not an image file PIL can identify"
    except Exception as error:  # PIL raises many types for broken files
        return "", f"{type(error).__name__}: {error}"


def _bad_files_error(
    bad: Sequence[tuple[str, str]], probe_key: str, n_total: int, listing: Path | None
) -> InputDataError:
    listed = "; ".join(f"{path} ({why})" for path, why in bad[:MAX_LISTED])
    more = f"; and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
    where = f" All {len(bad)} are listed (path, reason) in {listing}." if listing else ""
    return InputDataError(
        f"Probe {probe_key}: {len(bad)} of {n_total} image file(s) cannot be decoded: "
        f"{listed}{more}.{where}",
        "re-download or replace these files (or delete them and accept changed sample "
        "indices), then run the same snakemake command again (prepare_probe re-checks "
        "every image).",
    )


def check_images(
    paths: Sequence[str],
    exif: Sequence[bool] | None = None,
    threads: int = 4,
    progress: bool = True,
) -> list[tuple[str, str | None]]:
    """Fully decode every image, ``threads`` at a time; ``[(sha256 or "", reason or None)]``.

    PIL's decoders and hashlib release the GIL, so threads decode in parallel.
    """
    from tqdm import tqdm

    exif = list(exif) if exif is not None else [False] * len(paths)
    items = list(zip(paths, exif, strict=True))
    with (
        ThreadPoolExecutor(max_workers=max(1, int(threads))) as pool,
        tqdm(
            total=len(items),
            desc="decoding probe images",
            unit="img",
            disable=not progress,
            mininterval=2.0,
        ) as bar,
    ):
        results = []
        for result in pool.map(_check_image, items, chunksize=32):
            results.append(result)
            bar.update(1)
    return results


def hash_samples(sample_ids: Iterable[str], file_hashes: Iterable[str]) -> str:
    """The probe hash: sample ids and file contents (their sha256), in order."""
    digest = hashlib.sha256()
    for sample_id, file_hash in zip(sample_ids, file_hashes, strict=True):
        digest.update(f"{sample_id}\0{file_hash}\n".encode())
    return digest.hexdigest()


def _part_name(part: Mapping[str, Any], seen: dict[str, int]) -> str:
    name = str(part.get("name") or part.get("kind"))
    seen[name] = seen.get(name, 0) + 1
    return name if seen[name] == 1 else f"{name}_{seen[name]}"


def _read_parts(
    probe_key: str, parts: Sequence[Mapping[str, Any]], work_dir: Path
) -> tuple[list[tuple[str, str, str]], list[bool], list[dict[str, Any]]]:
    """Every part's images in order: rows ``(sample_id, path, part)``, their EXIF flags and
    one ``index.json`` entry per part."""
    if not parts:
        raise ConfigError(f"probes.{probe_key}.parts is empty.", "list at least one part.")
    rows: list[tuple[str, str, str]] = []
    exif: list[bool] = []
    part_info = []
    seen: dict[str, int] = {}
    for i, part in enumerate(parts):
        kind = part.get("kind")
        key = f"probes.{probe_key}.parts[{i}]"
        if kind not in PART_READERS:
            raise ConfigError(
                f"`{key}.kind` is {kind!r}; allowed values are {', '.join(PART_KINDS)}.",
                f"set `kind:` of part {i} of probe `{probe_key}` in your config file.",
            )
        name = _part_name(part, seen)
        root, files = PART_READERS[kind](part, work_dir, key)
        if not files:
            raise InputDataError(
                f"Probe {probe_key}: part {i} ({kind}) at {root} contains no images "
                f"({', '.join(IMG_EXTENSIONS)}).",
                f"check the folder or URL given in `{key}` of your config file.",
            )
        flip = bool(part.get("exif_transpose", False))
        for path in files:
            rel = Path(os.path.relpath(path, root)).as_posix()
            rows.append((f"{name}/{rel}", os.path.abspath(path), name))
            exif.append(flip)
        part_info.append(
            {
                "name": name,
                "kind": kind,
                "root": str(root),
                "n_samples": len(files),
                "exif_transpose": flip,
            }
        )
    return rows, exif, part_info


def build_probe_index(
    probe_key: str,
    parts: Sequence[Mapping[str, Any]],
    out_csv: str | Path,
    out_json: str | Path,
    work_dir: str | Path,
    threads: int = 4,
) -> pd.DataFrame:
    """Write ``out_csv`` (``sample, sample_id, path, part``) and ``out_json``; return the index.

    Every image is fully decoded (``threads`` in parallel, with a progress bar); all files
    that fail are reported in one InputDataError (and listed in ``work_dir/bad_images.tsv``)
    before anything is written.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    rows, exif, part_info = _read_parts(probe_key, parts, work_dir)

    log.info("probe %s: decoding %d images with %d threads", probe_key, len(rows), threads)
    checks = check_images([path for _, path, _ in rows], exif, threads=threads)
    bad = [(path, why) for (_, path, _), (_, why) in zip(rows, checks, strict=True) if why]
    listing = work_dir / BAD_IMAGES_FILE
    if bad:
        listing.write_text("".join(f"{path}\t{why}\n" for path, why in bad))
        for path, why in bad:
            log.error("cannot decode %s: %s", path, why)
        raise _bad_files_error(bad, probe_key, len(rows), listing)
    listing.unlink(missing_ok=True)

    sample_ids, paths, names = (list(column) for column in zip(*rows, strict=True))
    index = write_probe_index(out_csv, sample_ids, paths, names)
    # EXIF transposition changes the pixels a model sees, so it enters the hash (only when
    # on: hashes of existing indices stay valid)
    hashes = [
        digest + ("\0exif" if flip else "") for (digest, _), flip in zip(checks, exif, strict=True)
    ]
    sha = hash_samples(index["sample_id"], hashes)
    meta = {
        "probe": probe_key,
        "n_samples": len(index),
        "sha256": sha,
        "parts": part_info,
        "provenance": provenance(config={"parts": [dict(p) for p in parts]}),
    }
    Path(out_json).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
    return index


# -- reading ---------------------------------------------------------------------------------
def load_index_meta(index_csv: str | Path) -> dict[str, Any]:
    """The ``index.json`` written beside ``index.csv`` (empty dict if absent)."""
    path = Path(index_csv).with_suffix(".json")
    return json.loads(path.read_text()) if path.exists() else {}


def exif_flags(index_csv: str | Path, index: pd.DataFrame | None = None) -> list[bool]:
    """Per sample: whether its part asked for ``exif_transpose`` (from ``index.json``)."""
    index = read_probe_index(index_csv) if index is None else index
    parts = {
        p["name"]: bool(p.get("exif_transpose", False))
        for p in load_index_meta(index_csv).get("parts", [])
    }
    if not any(parts.values()):
        return [False] * len(index)
    return [parts.get(part, False) for part in index["part"].tolist()]


class ProbeDataset(torch.utils.data.Dataset):
    """Images of a probe index: ``dataset[i] -> (transform(image), sample)``."""

    def __init__(
        self,
        index_csv: str | Path,
        transform: Callable[[Image.Image], Any] | None = None,
        samples: Sequence[int] | None = None,
    ) -> None:
        index = read_probe_index(index_csv)
        self.paths = index["path"].tolist()
        self.exif = exif_flags(index_csv, index)
        self.samples = list(range(len(index))) if samples is None else [int(s) for s in samples]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        sample = self.samples[i]
        image = load_rgb(self.paths[sample], self.exif[sample])
        return (self.transform(image) if self.transform else image), sample
