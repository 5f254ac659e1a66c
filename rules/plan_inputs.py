"""Parse-time plan of the workflow's inputs: probe parts, local data paths, fingerprints of
input folders and which passes read a pixel cache.

Standard library only (the workflow definition needs nothing but Snakemake). The checks of
the local data paths and their paste-able fixes live here only: they run before any job
(onstart, and as a warning at parse time for a dry run). ``vitconcepts.probe`` lists the
folders in torchvision ``ImageFolder`` order when it builds the index; a fingerprint only
needs a deterministic listing of the same files (a test checks they cover the same files).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from plan_config import ConfigError, InputDataError

# torchvision.datasets.folder.IMG_EXTENSIONS (kept literal: the order must not silently change)
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def _is_image(name: str, extensions: Sequence[str] = IMG_EXTENSIONS) -> bool:
    return name.lower().endswith(tuple(extensions))


def image_files(root: str | Path, extensions: Sequence[str] = IMG_EXTENSIONS) -> list[str]:
    """The image files the probe index reads under ``root``, sorted by path.

    The index reads the class sub-folders, or the top-level images of a folder without
    sub-folders (torchvision ``ImageFolder``); the order here is only deterministic.
    """
    root = os.fspath(root)
    walk = sorted(os.walk(root, followlinks=True))
    nested = len(walk) > 1
    return [
        os.path.join(folder, name)
        for folder, _, names in walk
        if folder != root or not nested
        for name in sorted(names)
        if _is_image(name, extensions)
    ]


# -- local data paths ------------------------------------------------------------------------
def probe_parts(config: Mapping[str, Any], probe: str) -> list[dict[str, Any]]:
    """The parts of ``probe`` with the top-level `imagenet_val` filled into imagenet_val parts."""
    parts = []
    for part in config["probes"][probe]["parts"]:
        part = dict(part)
        if part.get("kind") == "imagenet_val" and not part.get("path"):
            part["path"] = config.get("imagenet_val", "")
        parts.append(part)
    return parts


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


def data_path_problem(
    config: Mapping[str, Any],
    probes: list[str] | None = None,
    concept_sets: list[str] | None = None,
) -> str | None:
    """The first problem with the local data a run needs (ImageNet val, image folders,
    concept files), as one paragraph; None when all are usable.

    ``probes`` and ``concept_sets`` (default: `probe` and `concept_set`, when labels are
    computed) are the entries to check. Cheap: no image is listed beyond the first found.
    """
    computed = config.get("labels_source") != "published"
    if probes is None:
        probes = [config["probe"]] if computed else []
    if concept_sets is None:
        concept_sets = [config["concept_set"]] if computed else []
    try:
        for probe in probes:
            check_part_paths(probe, probe_parts(config, probe))
        for key in concept_sets:
            entry = config["concept_sets"][key]
            if entry.get("kind") != "file":
                continue
            path = entry.get("path")
            if not path or not Path(str(path)).expanduser().is_file():
                shown = f"is {str(path)!r}, which is not a file" if path else "is not set"
                raise InputDataError(
                    f"The config key `concept_sets.{key}.path` {shown}; it must point at a "
                    "text file with one concept per line.",
                    f"set `path:` of concept set `{key}` in your config file (the YAML given "
                    f"with --configfile), e.g. `concept_sets: {{{key}: {{kind: file, path: "
                    f"/data/concepts.txt}}}}`.",
                )
    except (ConfigError, InputDataError) as error:
        return str(error)
    return None


# -- input fingerprints ----------------------------------------------------------------------
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
        out[str(i)] = files_fingerprint(image_files(root, extensions), root)
    return out


# -- pixel cache: which passes share a preprocessing recipe -------------------------------------
PIXEL_CACHE_MODES = ("auto", True, False)
#: ``vitconcepts.pixels.FORMAT_VERSION``: part of every recipe key (a test checks they agree)
PIXEL_FORMAT_VERSION = 1
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def paper_recipe(input_size: int = 224) -> dict[str, Any]:
    """The authors' preprocessing (``vitconcepts.pixels.paper_recipe``) as a recipe dict."""
    return {
        "resize": round(input_size * 256 / 224),
        "crop": int(input_size),
        "interpolation": "bilinear",
        "antialias": True,
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
    }


def recipe_key(recipe: Mapping[str, Any]) -> str:
    """``r256c224bilinear-<hash>``, as ``vitconcepts.pixels.Recipe.key`` names the cache file."""
    data = {"format": PIXEL_FORMAT_VERSION, **recipe}
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
    return f"r{recipe['resize']}c{recipe['crop']}{recipe['interpolation']}-{digest[:8]}"


def model_recipe(entry: Mapping[str, Any]) -> dict[str, Any] | None:
    """The recipe of a model entry when the config alone fixes it (``preprocessing: paper``).

    A ``native`` model's recipe (timm's or the checkpoint's own) and the CLIP scorer's are
    known only to the library, so each such pass counts as a recipe of its own and decodes
    the JPEGs itself.
    """
    if entry.get("preprocessing", "paper") != "paper":
        return None
    return paper_recipe(int(entry.get("input_size", 224) or 224))


def pixel_cache_plan(mode: Any, entries: Mapping[str, Mapping[str, Any]]) -> dict[str, dict]:
    """{model key: recipe} of the passes that read a pixel cache, from the config alone.

    ``mode``: ``false`` -> none; ``true`` -> every pass whose recipe the config fixes;
    ``auto`` -> only recipes shared by two or more passes. Free disk is checked where the
    cache is written (rule cache_pixels), not on the machine that parses the workflow.
    """
    mode = {"true": True, "false": False}.get(mode, mode) if isinstance(mode, str) else mode
    if mode not in PIXEL_CACHE_MODES:
        raise ConfigError(
            f"pixel_cache is {mode!r}; allowed values are auto, true and false.",
            "set `pixel_cache: auto` (or true / false) in the config.",
        )
    if mode is False:
        return {}
    recipes = {key: model_recipe(entry) for key, entry in entries.items()}
    plan = {key: r for key, r in recipes.items() if r is not None}
    if mode == "auto":
        counts: dict[str, int] = {}
        for recipe in plan.values():
            counts[recipe_key(recipe)] = counts.get(recipe_key(recipe), 0) + 1
        plan = {key: r for key, r in plan.items() if counts[recipe_key(r)] >= 2}
    return plan
