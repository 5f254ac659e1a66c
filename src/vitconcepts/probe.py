"""The probe set: an ordered, hashed index of images, and a Dataset reading it.

The order reproduces the authors' ``ConcatDataset([ImageFolder(imagenet_val),
ImageFolder(broden1_224)])``: parts in config order, each part ordered exactly like
torchvision's ``ImageFolder`` (sorted class folders; inside each, ``sorted(os.walk(...,
followlinks=True))`` and sorted file names; torchvision's ``IMG_EXTENSIONS``), so sample
indices match theirs.

Part kinds (``parts`` entries of ``config["probes"][probe]``):

* ``imagenet_val {path}``: an ImageNet validation folder with one sub-folder per class.
* ``broden {url, sha256?, include_masks=false, path?}``: the Broden zip is downloaded into
  ``work_dir`` and unpacked; ``broden1_224/`` is indexed in ImageFolder order. By default only
  the ``.jpg`` photos are kept: the authors' published labels index 113,305 probe images,
  ImageNet-val's 50,000 followed by Broden's 63,305 photos. ``include_masks: true`` also
  indexes the ``.png`` segmentation masks. ``path`` may point at an unpacked
  ``broden1_224`` folder instead of downloading.
* ``cifar100_test {url?, sha256?}``: the CIFAR-100 python tarball; the test images are written
  as PNGs in dataset order.
* ``image_folder {path}``: any ImageFolder tree, or a flat folder of images (sorted names).

Every part takes ``exif_transpose`` (default false). Like torchvision's ``ImageFolder``, the
paper's probe ignores EXIF orientation tags (ImageNet and Broden images are stored upright);
``exif_transpose: true`` rotates/flips each image of that part as its EXIF tag says (phone
photos in a user folder).

Images are decoded by :func:`load_rgb` everywhere (index check, activations, CLIP embeddings,
image complexity, figures), which converts every PIL mode to 8-bit RGB by scaling, not
clipping (see :func:`to_rgb`).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import pickle
import shutil
import tarfile
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .download import fetch_url
from .errors import ConfigError, InputDataError
from .provenance import provenance, sha256_file

# torchvision.datasets.folder.IMG_EXTENSIONS (kept literal: the order must not silently change)
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
PART_KINDS = ("imagenet_val", "broden", "cifar100_test", "image_folder", "synthetic")
INDEX_COLUMNS = ["sample", "sample_id", "path", "part"]
CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
MAX_LISTED = 20
BAD_IMAGES_FILE = "bad_images.tsv"
# modes holding integers wider than 8 bits (16-bit PNG/TIFF greyscale, 32-bit integer TIFF)
WIDE_INT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")

log = logging.getLogger(__name__)


def _is_image(name: str, extensions: Sequence[str] = IMG_EXTENSIONS) -> bool:
    return name.lower().endswith(tuple(extensions))


def image_folder_files(root: str | Path, extensions: Sequence[str] = IMG_EXTENSIONS) -> list[str]:
    """Image paths under ``root`` in torchvision ``ImageFolder`` order.

    A folder without sub-folders is read as a flat folder of images (sorted file names).
    """
    root = os.fspath(root)
    classes = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
    if not classes:
        return [
            os.path.join(root, name)
            for name in sorted(os.listdir(root))
            if _is_image(name, extensions) and os.path.isfile(os.path.join(root, name))
        ]
    files = []
    for cls in classes:
        for folder, _, names in sorted(os.walk(os.path.join(root, cls), followlinks=True)):
            files += [os.path.join(folder, n) for n in sorted(names) if _is_image(n, extensions)]
    return files


# -- parts -----------------------------------------------------------------------------------
def _set_key_fix(key: str, example: str) -> str:
    """How to set config key ``key`` so that it works when pasted."""
    if "." not in key:  # a top-level key: --config takes it
        return (
            f"run with `--config {key}={example}` (after the targets), or set `{key}: "
            f"{example}` in config.yaml."
        )
    # Snakemake's --config only sets top-level keys: nested ones need a YAML --configfile
    parts = key.split(".")
    probe, index = parts[1], parts[2].split("[")[1].rstrip("]")
    field = parts[-1]
    return (
        f"set `{field}: {example}` in part {index} of probe `{probe}` in your config file "
        f"(the YAML given with --configfile), e.g. `probes: {{{probe}: {{parts: [{{kind: ..., "
        f"{field}: {example}}}]}}}}`."
    )


def _require_folder(path: Any, key: str, what: str, example: str = "/path/to/folder") -> Path:
    if not path or not Path(str(path)).expanduser().is_dir():
        if not path:
            shown = "is not set"
        elif Path(str(path)).expanduser().exists():
            shown = f"is {str(path)!r}, which is a file, not a folder"
        else:
            shown = f"is {str(path)!r}, which does not exist"
        raise InputDataError(
            f"The config key `{key}` {shown}; it must point at {what}.",
            _set_key_fix(key, example),
        )
    return Path(str(path)).expanduser()


def _first_image(root: Path, extensions: Sequence[str] = IMG_EXTENSIONS) -> str | None:
    """Some image file under ``root`` (searched class folder by class folder), or None."""
    for folder, _, names in os.walk(root, followlinks=True):
        for name in names:
            if _is_image(name, extensions):
                return os.path.join(folder, name)
    return None


def _check_imagenet_root(root: Path) -> None:
    classes = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
    if not classes:
        raise InputDataError(
            f"The config key `imagenet_val` points at {root}, which has no class sub-folders.",
            "ImageNet val must be laid out for ImageFolder (val/n01440764/*.JPEG, ...); "
            "sort the flat val images into class folders (e.g. with the valprep.sh script).",
        )
    if _first_image(root / classes[0]) is None and _first_image(root) is None:
        raise InputDataError(
            f"The config key `imagenet_val` points at {root}, whose {len(classes)} class "
            f"folder(s) hold no images ({', '.join(IMG_EXTENSIONS)}).",
            "point imagenet_val at the folder that holds the class folders with the JPEGs "
            "(e.g. `--config imagenet_val=/data/imagenet/val`).",
        )


def _imagenet_val(part: Mapping[str, Any], work_dir: Path, key: str) -> tuple[Path, list[str]]:
    root = _require_folder(
        part.get("path"),
        "imagenet_val",
        "the ImageNet validation images (one sub-folder per class, as torchvision ImageFolder)",
        "/data/imagenet/val",
    )
    _check_imagenet_root(root)
    return root, image_folder_files(root)


def _unpack(archive: Path, dest: Path, opener: Callable[[Path, Path], None]) -> Path:
    """Unpack ``archive`` into ``dest`` once (atomically, via a temporary folder)."""
    marker = dest / ".unpacked"
    if marker.exists() and marker.read_text() == sha256_file(archive):
        return dest
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    opener(archive, tmp)
    (tmp / ".unpacked").write_text(sha256_file(archive))
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    return dest


def _unzip(archive: Path, dest: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as handle:
            handle.extractall(dest)
    except zipfile.BadZipFile as error:
        raise InputDataError(
            f"{archive} is not a valid zip file ({error}).",
            f"delete it (`rm {archive}`) and run the same snakemake command again (it is "
            "downloaded anew).",
        ) from error


def _broden(part: Mapping[str, Any], work_dir: Path, key: str) -> tuple[Path, list[str]]:
    if part.get("path"):
        root = _require_folder(part["path"], f"{key}.path", "an unpacked broden1_224 folder")
    else:
        url = part.get("url")
        if not url:
            raise ConfigError(
                "A probe part of kind broden has neither `url` nor `path`.",
                "set url: http://netdissect.csail.mit.edu/data/broden1_224.zip (or path: an "
                "unpacked broden1_224 folder).",
            )
        archive = work_dir / Path(str(url).split("?")[0]).name
        fetch_url(url, archive, part.get("sha256"))
        unpacked = _unpack(archive, work_dir / "broden", _unzip)
        candidates = [p for p in unpacked.rglob("broden1_224") if p.is_dir()]
        root = candidates[0] if candidates else unpacked
    extensions = IMG_EXTENSIONS if part.get("include_masks", False) else (".jpg", ".jpeg")
    return root, image_folder_files(root, extensions)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only (CIFAR's python format)."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        return super().find_class(module, name)


def _cifar100_test(part: Mapping[str, Any], work_dir: Path, key: str) -> tuple[Path, list[str]]:
    url = part.get("url") or CIFAR100_URL
    archive = work_dir / Path(str(url).split("?")[0]).name
    fetch_url(url, archive, part.get("sha256"))
    out = work_dir / "cifar100_test"
    marker = out / ".written"
    digest = sha256_file(archive)
    if not (marker.exists() and marker.read_text() == digest):
        try:
            with tarfile.open(archive) as tar:
                member = next(m for m in tar.getmembers() if m.name.endswith("/test"))
                handle = tar.extractfile(member)
                assert handle is not None
                batch = _ArrayUnpickler(io.BytesIO(handle.read()), encoding="latin1").load()
        except (tarfile.TarError, StopIteration, pickle.UnpicklingError, AssertionError) as err:
            raise InputDataError(
                f"{archive} (from {url}) is not the CIFAR-100 python tarball ({err!r}).",
                f"delete {archive} and check `{key}.url` in the config.",
            ) from err
        images = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for i, pixels in enumerate(images.transpose(0, 2, 3, 1)):
            Image.fromarray(pixels).save(tmp / f"{i:05d}.png")
        (tmp / ".written").write_text(digest)
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
    return out, image_folder_files(out)


def _image_folder(part: Mapping[str, Any], work_dir: Path, key: str) -> tuple[Path, list[str]]:
    root = _require_folder(
        part.get("path"),
        f"{key}.path",
        "a folder of images (flat, or one sub-folder per class)",
        "/data/my_images",
    )
    return root, image_folder_files(root)


def _synthetic(part: Mapping[str, Any], work_dir: Path, key: str) -> tuple[Path, list[str]]:
    """Deterministic pattern images drawn on the fly (the tiny offline config)."""
    from .synthetic import make_synthetic_images

    n, size, seed = int(part.get("n", 64)), int(part.get("size", 32)), int(part.get("seed", 0))
    out = work_dir / f"synthetic_n{n}_s{size}_seed{seed}"
    if not out.exists():
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        make_synthetic_images(tmp, n=n, size=size, seed=seed)
        os.replace(tmp, out)
    return out, image_folder_files(out)


PART_READERS: dict[str, Callable[[Mapping[str, Any], Path, str], tuple[Path, list[str]]]] = {
    "imagenet_val": _imagenet_val,
    "broden": _broden,
    "cifar100_test": _cifar100_test,
    "image_folder": _image_folder,
    "synthetic": _synthetic,
}


# -- decoding ------------------------------------------------------------------------------
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


# -- index -----------------------------------------------------------------------------------
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

    index = pd.DataFrame(rows, columns=["sample_id", "path", "part"])
    index.insert(0, "sample", np.arange(len(index)))
    # EXIF transposition changes the pixels a model sees, so it enters the hash (only when
    # on: hashes of existing indices stay valid)
    hashes = [
        digest + ("\0exif" if flip else "") for (digest, _), flip in zip(checks, exif, strict=True)
    ]
    sha = hash_samples(index["sample_id"], hashes)
    out_csv, out_json = Path(out_csv), Path(out_json)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    index.to_csv(out_csv, index=False)
    meta = {
        "probe": probe_key,
        "n_samples": len(index),
        "sha256": sha,
        "parts": part_info,
        "provenance": provenance(config={"parts": [dict(p) for p in parts]}),
    }
    out_json.write_text(json.dumps(meta, indent=2, sort_keys=True, default=str))
    return index


# -- parse-time checks and input fingerprints ---------------------------------------------------
def check_part_paths(probe_key: str, parts: Sequence[Mapping[str, Any]]) -> None:
    """Cheap checks of the local folders a probe reads (no listing of all images).

    Run when the workflow is parsed, so a wrong path stops the run before any job starts.
    """
    for i, part in enumerate(parts):
        key = f"probes.{probe_key}.parts[{i}]"
        kind = part.get("kind")
        if kind == "imagenet_val":
            root = _require_folder(
                part.get("path"),
                "imagenet_val",
                "the ImageNet validation images (one sub-folder per class, as torchvision "
                "ImageFolder)",
                "/data/imagenet/val",
            )
            _check_imagenet_root(root)
        elif kind == "image_folder":
            root = _require_folder(
                part.get("path"),
                f"{key}.path",
                "a folder of images (flat, or one sub-folder per class)",
                "/data/my_images",
            )
            if _first_image(root) is None:
                raise InputDataError(
                    f"The config key `{key}.path` points at {root}, which holds no images "
                    f"({', '.join(IMG_EXTENSIONS)}).",
                    _set_key_fix(f"{key}.path", "/data/my_images"),
                )
        elif kind == "broden" and part.get("path"):
            _require_folder(part["path"], f"{key}.path", "an unpacked broden1_224 folder")


def files_fingerprint(paths: Iterable[str | Path], root: str | Path | None = None) -> str:
    """sha256 of the names, sizes and mtimes of ``paths`` (cheap: one stat per file)."""
    digest = hashlib.sha256()
    for path in paths:
        try:
            stat = os.stat(path)
            entry = f"{stat.st_size}\0{stat.st_mtime_ns}"
        except OSError:
            entry = "missing"
        name = os.path.relpath(path, root) if root is not None else os.fspath(path)
        digest.update(f"{name}\0{entry}\n".encode())
    return digest.hexdigest()


def parts_fingerprint(parts: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """{part index: fingerprint} of the user folders among ``parts`` (``image_folder``, and
    ``broden`` given as a local ``path``): names, sizes and mtimes of every image.

    Given to prepare_probe as a param, so adding, removing or editing an image makes
    Snakemake re-index the probe (params rerun trigger). The paper's ImageNet folder is not
    listed (50,000 stats at every start; it does not change).
    """
    out = {}
    for i, part in enumerate(parts):
        kind = part.get("kind")
        path = part.get("path")
        if kind not in ("image_folder", "broden") or not path:
            continue
        root = Path(str(path)).expanduser()
        if not root.is_dir():
            out[str(i)] = "missing"
            continue
        extensions = IMG_EXTENSIONS
        if kind == "broden" and not part.get("include_masks", False):
            extensions = (".jpg", ".jpeg")
        out[str(i)] = files_fingerprint(image_folder_files(root, extensions), root)
    return out


# -- reading ---------------------------------------------------------------------------------
def load_index(index_csv: str | Path) -> pd.DataFrame:
    """Read a probe index CSV (checking its columns and sample numbering)."""
    path = Path(index_csv)
    if not path.exists():
        raise InputDataError(
            f"Probe index {path} does not exist.",
            f"build it with snakemake (rule prepare_probe), e.g. `snakemake --cores all {path}`.",
        )
    index = pd.read_csv(path, dtype={"sample_id": str, "path": str, "part": str})
    missing = [c for c in INDEX_COLUMNS if c not in index.columns]
    if missing or not np.array_equal(index["sample"].to_numpy(), np.arange(len(index))):
        raise InputDataError(
            f"{path} is not a probe index (needs columns {', '.join(INDEX_COLUMNS)} and "
            "samples numbered 0..N-1).",
            f"delete it and run snakemake again (`rm {path}`; prepare_probe rebuilds it).",
        )
    return index


def load_index_meta(index_csv: str | Path) -> dict[str, Any]:
    """The ``index.json`` written beside ``index.csv`` (empty dict if absent)."""
    path = Path(index_csv).with_suffix(".json")
    return json.loads(path.read_text()) if path.exists() else {}


def exif_flags(index_csv: str | Path, index: pd.DataFrame | None = None) -> list[bool]:
    """Per sample: whether its part asked for ``exif_transpose`` (from ``index.json``)."""
    index = load_index(index_csv) if index is None else index
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
        index = load_index(index_csv)
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
