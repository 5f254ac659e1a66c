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
"""

from __future__ import annotations

import hashlib
import io
import json
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
from PIL import Image

from .download import fetch_url
from .errors import ConfigError, InputDataError
from .provenance import provenance, sha256_file

# torchvision.datasets.folder.IMG_EXTENSIONS (kept literal: the order must not silently change)
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
PART_KINDS = ("imagenet_val", "broden", "cifar100_test", "image_folder", "synthetic")
INDEX_COLUMNS = ["sample", "sample_id", "path", "part"]
CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
MAX_LISTED = 10


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
def _require_folder(path: Any, key: str, what: str) -> Path:
    if not path or not Path(str(path)).is_dir():
        shown = f"{path!r} is not a folder" if path else "is not set"
        raise InputDataError(
            f"The config key `{key}` {shown}; it must point at {what}.",
            f"set it in config.yaml or on the command line with `--config {key}=/path/to/"
            f"folder` (a folder with one sub-folder per class, as torchvision ImageFolder).",
        )
    return Path(str(path))


def _imagenet_val(part: Mapping[str, Any], work_dir: Path) -> tuple[Path, list[str]]:
    root = _require_folder(part.get("path"), "imagenet_val", "the ImageNet validation images")
    if not any(entry.is_dir() for entry in os.scandir(root)):
        raise InputDataError(
            f"The config key `imagenet_val` points at {root}, which has no class sub-folders.",
            "ImageNet val must be laid out for ImageFolder (val/n01440764/*.JPEG, ...); "
            "sort the flat val images into class folders (e.g. with the valprep.sh script).",
        )
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
            f"{archive} is not a valid zip file ({error}).", f"delete {archive} and rerun."
        ) from error


def _broden(part: Mapping[str, Any], work_dir: Path) -> tuple[Path, list[str]]:
    if part.get("path"):
        root = _require_folder(part["path"], "probes.<probe>.parts[broden].path", "broden1_224")
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


def _cifar100_test(part: Mapping[str, Any], work_dir: Path) -> tuple[Path, list[str]]:
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
                f"delete {archive} and check probes.<probe>.parts[cifar100_test].url.",
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


def _image_folder(part: Mapping[str, Any], work_dir: Path) -> tuple[Path, list[str]]:
    root = _require_folder(part.get("path"), "probes.<probe>.parts[image_folder].path", "images")
    return root, image_folder_files(root)


def _synthetic(part: Mapping[str, Any], work_dir: Path) -> tuple[Path, list[str]]:
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


PART_READERS: dict[str, Callable[[Mapping[str, Any], Path], tuple[Path, list[str]]]] = {
    "imagenet_val": _imagenet_val,
    "broden": _broden,
    "cifar100_test": _cifar100_test,
    "image_folder": _image_folder,
    "synthetic": _synthetic,
}


# -- index -----------------------------------------------------------------------------------
def _check_image(path: str) -> tuple[str, str | None]:
    """(sha256 of the file, None) or ("", error) if PIL cannot read it."""
    try:
        digest = sha256_file(path)
        with Image.open(path) as image:
            image.verify()
        return digest, None
    except Exception as error:  # PIL raises many types for broken files
        return "", f"{type(error).__name__}: {error}"


def _bad_files_error(bad: Sequence[tuple[str, str]], probe_key: str) -> InputDataError:
    listed = "; ".join(f"{path} ({why})" for path, why in bad[:MAX_LISTED])
    more = f" and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
    return InputDataError(
        f"Probe {probe_key}: {len(bad)} image file(s) cannot be read: {listed}{more}.",
        "re-download or replace these files (or remove them and accept changed sample "
        "indices), then rerun prepare_probe.",
    )


def hash_samples(sample_ids: Iterable[str], file_hashes: Iterable[str]) -> str:
    """The probe hash: sample ids and file contents (their sha256), in order."""
    digest = hashlib.sha256()
    for sample_id, file_hash in zip(sample_ids, file_hashes, strict=True):
        digest.update(f"{sample_id}\0{file_hash}\n".encode())
    return digest.hexdigest()


def build_probe_index(
    probe_key: str,
    parts: Sequence[Mapping[str, Any]],
    out_csv: str | Path,
    out_json: str | Path,
    work_dir: str | Path,
    threads: int = 4,
) -> pd.DataFrame:
    """Write ``out_csv`` (``sample, sample_id, path, part``) and ``out_json``; return the index.

    Every image is opened and verified with PIL; unreadable files raise one InputDataError
    listing them.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    if not parts:
        raise ConfigError(f"probes.{probe_key}.parts is empty.", "list at least one part.")
    rows: list[tuple[str, str, str]] = []
    part_info = []
    seen: dict[str, int] = {}
    for i, part in enumerate(parts):
        kind = part.get("kind")
        if kind not in PART_READERS:
            raise ConfigError(
                f"probes.{probe_key}.parts[{i}].kind is {kind!r}; allowed values are "
                f"{', '.join(PART_KINDS)}.",
                f"fix probes.{probe_key}.parts[{i}].kind.",
            )
        name = str(part.get("name") or kind)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name}_{seen[name]}"
        root, files = PART_READERS[kind](part, work_dir)
        if not files:
            raise InputDataError(
                f"Probe {probe_key}: part {i} ({kind}) at {root} contains no images "
                f"({', '.join(IMG_EXTENSIONS)}).",
                f"check the folder or URL given in probes.{probe_key}.parts[{i}].",
            )
        for path in files:
            rel = Path(os.path.relpath(path, root)).as_posix()
            rows.append((f"{name}/{rel}", os.path.abspath(path), name))
        part_info.append({"name": name, "kind": kind, "root": str(root), "n_samples": len(files)})

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        checks = list(pool.map(_check_image, [path for _, path, _ in rows], chunksize=64))
    bad = [(path, why) for (_, path, _), (_, why) in zip(rows, checks, strict=True) if why]
    if bad:
        raise _bad_files_error(bad, probe_key)

    index = pd.DataFrame(rows, columns=["sample_id", "path", "part"])
    index.insert(0, "sample", np.arange(len(index)))
    sha = hash_samples(index["sample_id"], (digest for digest, _ in checks))
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


def load_index(index_csv: str | Path) -> pd.DataFrame:
    """Read a probe index CSV (checking its columns and sample numbering)."""
    path = Path(index_csv)
    if not path.exists():
        raise InputDataError(f"Probe index {path} does not exist.", "run prepare_probe first.")
    index = pd.read_csv(path, dtype={"sample_id": str, "path": str, "part": str})
    missing = [c for c in INDEX_COLUMNS if c not in index.columns]
    if missing or not np.array_equal(index["sample"].to_numpy(), np.arange(len(index))):
        raise InputDataError(
            f"{path} is not a probe index (needs columns {', '.join(INDEX_COLUMNS)} and "
            "samples numbered 0..N-1).",
            "delete it and rerun prepare_probe.",
        )
    return index


def load_index_meta(index_csv: str | Path) -> dict[str, Any]:
    """The ``index.json`` written beside ``index.csv`` (empty dict if absent)."""
    path = Path(index_csv).with_suffix(".json")
    return json.loads(path.read_text()) if path.exists() else {}


def load_rgb(path: str) -> Image.Image:
    """Open an image as RGB (like torchvision's default loader); InputDataError naming it."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except Exception as error:
        raise InputDataError(
            f"Cannot read probe image {path} ({type(error).__name__}: {error}).",
            "replace the file and rerun prepare_probe (the probe hash will change).",
        ) from error


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
        self.samples = list(range(len(index))) if samples is None else [int(s) for s in samples]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        sample = self.samples[i]
        image = load_rgb(self.paths[sample])
        return (self.transform(image) if self.transform else image), sample
