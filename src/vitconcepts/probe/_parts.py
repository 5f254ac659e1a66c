"""Part kinds of a probe: each reader returns the part's root folder and its image files in
torchvision ``ImageFolder`` order (downloads and unpacking included)."""

from __future__ import annotations

import io
import os
import pickle
import shutil
import tarfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..download import fetch_url
from ..errors import ConfigError, InputDataError
from ..provenance import sha256_file

# torchvision.datasets.folder.IMG_EXTENSIONS (kept literal: the order must not silently change)
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
PART_KINDS = (
    "imagenet_val",
    "broden",
    "cifar100_test",
    "image_folder",
    "synthetic",
    "synthetic_broden",
)
CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"


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
def _folder(path: Any, key: str) -> Path:
    """The folder of config key ``key``. The workflow checks it, with a fix, before any job
    (rules/plan_inputs.py); this short error is for a folder that vanished since."""
    root = Path(str(path or "")).expanduser()
    if not path or not root.is_dir():
        raise InputDataError(
            f"The config key `{key}` is {str(path or '')!r}, which is not a folder.",
            f"point `{key}` at the folder and run snakemake again (it checks the path first).",
        )
    return root


def _imagenet_val(part: Mapping[str, Any], work_dir: Path, key: str) -> tuple[Path, list[str]]:
    root = _folder(part.get("path"), "imagenet_val")
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
        root = _folder(part["path"], f"{key}.path")
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
    root = _folder(part.get("path"), f"{key}.path")
    return root, image_folder_files(root)


def _synthetic(part: Mapping[str, Any], work_dir: Path, key: str) -> tuple[Path, list[str]]:
    """Deterministic pattern images drawn on the fly (the tiny offline config)."""
    from ..synthetic import make_synthetic_images

    n, size, seed = int(part.get("n", 64)), int(part.get("size", 32)), int(part.get("seed", 0))
    out = work_dir / f"synthetic_n{n}_s{size}_seed{seed}"
    if not out.exists():
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        make_synthetic_images(tmp, n=n, size=size, seed=seed)
        os.replace(tmp, out)
    return out, image_folder_files(out)


def _synthetic_broden(part: Mapping[str, Any], work_dir: Path, key: str) -> tuple[Path, list[str]]:
    """A generated Broden-format folder (:func:`vitconcepts.synthetic.make_synthetic_broden`),
    indexed like a Broden part without masks: its photos only."""
    from ..synthetic import make_synthetic_broden

    n, size, seed = int(part.get("n", 32)), int(part.get("size", 32)), int(part.get("seed", 0))
    out = work_dir / f"synthetic_broden_n{n}_s{size}_seed{seed}"
    if not out.exists():
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        make_synthetic_broden(tmp, n=n, size=size, seed=seed)
        os.replace(tmp, out)
    root = out / "broden1_224"
    return root, image_folder_files(root, (".jpg", ".jpeg"))


PART_READERS: dict[str, Callable[[Mapping[str, Any], Path, str], tuple[Path, list[str]]]] = {
    "imagenet_val": _imagenet_val,
    "broden": _broden,
    "cifar100_test": _cifar100_test,
    "image_folder": _image_folder,
    "synthetic": _synthetic,
    "synthetic_broden": _synthetic_broden,
}
