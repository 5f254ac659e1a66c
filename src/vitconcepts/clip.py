"""CLIP (open_clip) models: weights download, loading, image and concept embeddings.

A CLIP entry is ``config["clip_models"][key]``: ``{arch, pretrained, seed}``.

* ``arch``: an open_clip model name (``ViT-B-16``) or a model-config dict (``embed_dim``,
  ``vision_cfg``, ``text_cfg``) that is registered with open_clip under a name derived from
  its hash (tests use tiny configs);
* ``pretrained``: an open_clip pretrained tag (``openai`` in the paper), or ``false`` for a
  random init seeded with ``seed`` (tests; nothing is downloaded; every output is stamped
  "random CLIP scorer"). Missing or null is a ConfigError.

Weights are fetched once by :func:`download_clip` into ``resources/clip/{clip}/`` with a
``manifest.json`` (``download.download_model``'s format plus ``arch`` / ``pretrained``); the
loader reads the weights from that local file only, applying the tag's settings
(QuickGELU, normalisation, interpolation) that open_clip would apply for the tag itself.

Embedding files (``docs/design.md``): ``embedding`` ``(sample, dim)`` or ``(concept, dim)``,
float32, L2-normalised (attr ``normalised=1``), attr ``provenance``; written batch by batch
through :class:`vitconcepts.ncstream.ShardedNetCDFWriter` (resumable). Concepts are encoded
as the bare word, like CLIP-Dissect.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import ConfigError, InputDataError

OPEN_CLIP_WEIGHT_NAMES = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.bin",
)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


# --------------------------------------------------------------------------------------------
# model identity
# --------------------------------------------------------------------------------------------


def model_name(clip_entry: Mapping[str, Any]) -> str:
    """The open_clip model name of an entry; a config-dict ``arch`` is registered first."""
    import open_clip

    arch = clip_entry.get("arch")
    if isinstance(arch, Mapping):
        if not all(k in arch for k in ("embed_dim", "vision_cfg", "text_cfg")):
            raise ConfigError(
                "The `arch` of a clip_models entry is a dict but lacks embed_dim, vision_cfg or "
                "text_cfg.",
                "set `arch:` of that entry under `clip_models:` in your config file to an "
                "open_clip model name (e.g. ViT-B-16) or a full open_clip model config.",
            )
        from .provenance import sha256_json

        name = f"vitconcepts-{sha256_json(dict(arch))[:16]}"
        if open_clip.get_model_config(name) is None:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"{name}.json"
                path.write_text(json.dumps(dict(arch)))
                open_clip.add_model_config(path)
        return name
    if not isinstance(arch, str) or not arch:
        raise ConfigError(
            f"The `arch` of a clip_models entry is {arch!r}.",
            "set `arch:` of that entry under `clip_models:` in your config file to an "
            "open_clip model name such as ViT-B-16.",
        )
    name = arch.replace("/", "-")
    if open_clip.get_model_config(name) is None:
        raise ConfigError(
            f"The `arch` {arch!r} of a clip_models entry is not an open_clip model.",
            "set `arch:` of that entry under `clip_models:` in your config file to a name "
            "from open_clip.list_models(), e.g. ViT-B-16.",
        )
    return name


def _pretrained_tag(clip_entry: Mapping[str, Any]) -> str | None:
    """The open_clip tag, or None for an explicit ``pretrained: false`` (random init).

    A missing, null or empty ``pretrained`` is a ConfigError: a scorer must never be random
    by accident (``vitconcepts.config.check_clip_models`` says the same before any job).
    """
    tag = clip_entry.get("pretrained")
    if tag is False:
        return None
    if isinstance(tag, str) and tag.strip():
        return tag
    state = "missing" if "pretrained" not in clip_entry else repr(tag)
    raise ConfigError(
        f"clip_models.<key>.pretrained is {state} for the CLIP entry with arch "
        f"{clip_entry.get('arch')!r}: a randomly initialised scorer gives meaningless labels.",
        "set `pretrained: openai` (or another open_clip tag), or `pretrained: false` for a "
        "random scorer in tests.",
    )


def _tag_cfg(name: str, tag: str | None) -> dict[str, Any]:
    import open_clip

    return dict(open_clip.get_pretrained_cfg(name, tag) or {}) if tag else {}


# --------------------------------------------------------------------------------------------
# download
# --------------------------------------------------------------------------------------------


def download_clip(key: str, clip_entry: Mapping[str, Any], out_dir: str | Path) -> Path:
    """Fetch the CLIP weights of ``config["clip_models"][key]`` into ``out_dir``.

    Writes ``out_dir/manifest.json`` (``download.download_model`` format, ``weights_file`` =
    the open_clip checkpoint, plus ``arch`` and ``pretrained``) and returns its path. A
    ``pretrained: false`` entry gets a manifest without files (random init).
    """
    from .download import download_model, fetch_url
    from .provenance import sha256_file

    out_dir = Path(out_dir)
    name = model_name(clip_entry)
    tag = _pretrained_tag(clip_entry)
    if tag is None:
        manifest_path = download_model(
            key, {"source": "timm", "weights": name, "pretrained": False}, out_dir
        )
    else:
        cfg = _tag_cfg(name, tag)
        if not cfg:
            import open_clip

            raise ConfigError(
                f"clip_models.{key}.pretrained={tag!r} is not an open_clip tag of {name}.",
                f"use one of {open_clip.list_pretrained_tags_by_model(name)} or false.",
            )
        hub = str(cfg.get("hf_hub") or "").strip("/")
        if hub:
            manifest_path = download_model(key, {"source": "timm", "weights": hub}, out_dir)
        else:
            url = cfg.get("url")
            if not url:
                raise ConfigError(
                    f"open_clip has no download location for {name}/{tag}.",
                    f"choose another clip_models.{key}.pretrained tag.",
                )
            dest = out_dir / Path(str(url).split("?")[0]).name
            fetch_url(str(url), dest, sha256=cfg.get("sha256"))
            manifest_path = out_dir / "manifest.json"
            rel = dest.name
            manifest_path.write_text(
                json.dumps(
                    {
                        "model": key,
                        "source": "url",
                        "weights": url,
                        "files": {rel: sha256_file(dest)},
                        "weights_file": rel,
                        "weights_sha256": sha256_file(dest),
                    }
                )
            )
    manifest = json.loads(Path(manifest_path).read_text())
    files = manifest.get("files", {})
    preferred = [f for f in files if Path(f).name in OPEN_CLIP_WEIGHT_NAMES]
    if preferred:
        preferred.sort(key=lambda f: OPEN_CLIP_WEIGHT_NAMES.index(Path(f).name))
        manifest["weights_file"] = preferred[0]
        manifest["weights_sha256"] = files[preferred[0]]
    manifest["arch"] = clip_entry.get("arch")
    manifest["pretrained"] = tag
    tmp = Path(str(manifest_path) + ".part")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
    os.replace(tmp, manifest_path)
    return Path(manifest_path)


def _weights_path(manifest_path: Path, manifest: Mapping[str, Any]) -> Path | None:
    rel = manifest.get("weights_file")
    files = manifest.get("files") or {}
    if not rel:
        candidates = [f for f in files if Path(f).name in OPEN_CLIP_WEIGHT_NAMES] or [
            f for f in files if f.endswith(WEIGHT_SUFFIXES)
        ]
        rel = sorted(candidates)[0] if candidates else None
    return manifest_path.parent / rel if rel else None


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------


def load_clip(
    clip_entry: Mapping[str, Any],
    manifest: str | Path,
    device: str | torch.device = "cpu",
) -> tuple[torch.nn.Module, Any, Any]:
    """``(model, preprocess, tokenizer)`` of a CLIP entry, in eval mode on ``device``.

    ``preprocess`` is CLIP's own inference transform (PIL image -> tensor). Pretrained weights
    come only from the local file named in ``manifest``; ``pretrained: false`` builds a random
    init seeded with ``clip_entry["seed"]`` (default 0).
    """
    import open_clip

    name = model_name(clip_entry)
    tag = _pretrained_tag(clip_entry)
    manifest_path = Path(manifest)
    weights: Path | None = None
    if tag is not None:
        try:
            record = json.loads(manifest_path.read_text())
        except (OSError, ValueError) as error:
            raise InputDataError(
                f"Cannot read the CLIP manifest {manifest_path}: {error}.",
                f"delete its folder (`rm -r {manifest_path.parent}`) and run the same "
                "snakemake command again (download_clip fetches it anew).",
            ) from error
        weights = _weights_path(manifest_path, record)
        if weights is None or not weights.is_file():
            raise InputDataError(
                f"The CLIP manifest {manifest_path} lists no readable weights file "
                f"({weights}) for {name}/{tag}.",
                f"delete its folder (`rm -r {manifest_path.parent}`) and run the same "
                "snakemake command again (download_clip fetches it anew).",
            )
    cfg = _tag_cfg(name, tag)
    kwargs: dict[str, Any] = {}
    if cfg.get("quick_gelu"):
        kwargs["force_quick_gelu"] = True
    for src, dst in (
        ("mean", "image_mean"),
        ("std", "image_std"),
        ("interpolation", "image_interpolation"),
        ("resize_mode", "image_resize_mode"),
    ):
        if cfg.get(src) is not None:
            kwargs[dst] = cfg[src]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(clip_entry.get("seed", 0) or 0))
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                name,
                pretrained=str(weights) if weights else None,
                device=torch.device(device),
                pretrained_text=False,
                **kwargs,
            )
        except RuntimeError as error:
            if weights is None:
                raise
            raise InputDataError(
                f"Cannot load CLIP weights {weights} into {name}: {error}.",
                f"check `arch` and `pretrained` of the clip_models entry with arch {name!r} "
                "in your config file; if they are right, delete the download "
                f"(`rm -r {manifest_path.parent}`) and run the same snakemake command again.",
            ) from error
    model.eval()
    tokenizer = open_clip.get_tokenizer(name)
    return model, preprocess, tokenizer


def clip_recipe(clip_entry: Mapping[str, Any]):
    """The pixel-cache recipe (``vitconcepts.pixels.Recipe``) of CLIP's own preprocessing,
    from the open_clip config alone (no weights); None if it cannot be cached."""
    import open_clip

    from .pixels import recipe_from_transform

    name = model_name(clip_entry)
    cfg = _tag_cfg(name, _pretrained_tag(clip_entry))
    size = open_clip.get_model_config(name)["vision_cfg"].get("image_size", 224)
    transform = open_clip.image_transform(
        size,
        is_train=False,
        mean=cfg.get("mean"),
        std=cfg.get("std"),
        resize_mode=cfg.get("resize_mode"),
        interpolation=cfg.get("interpolation"),
    )
    return recipe_from_transform(transform)


def embedding_dim(clip_entry: Mapping[str, Any]) -> int:
    """Width of the joint embedding space of a CLIP entry."""
    import open_clip

    return int(open_clip.get_model_config(model_name(clip_entry))["embed_dim"])


def _resolve(device: str | torch.device | None) -> torch.device:
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _identity(clip_entry: Mapping[str, Any], manifest: str | Path) -> dict[str, Any]:
    record: dict[str, Any] = {}
    if _pretrained_tag(clip_entry) is not None and Path(manifest).is_file():
        record = json.loads(Path(manifest).read_text())
    identity = {
        "arch": clip_entry.get("arch"),
        "pretrained": _pretrained_tag(clip_entry),
        "seed": clip_entry.get("seed", 0),
        "weights_sha256": record.get("weights_sha256"),
    }
    if identity["pretrained"] is None:
        from .constants import RANDOM_SCORER_NOTE

        identity["random_clip_scorer"] = RANDOM_SCORER_NOTE
    return identity


# --------------------------------------------------------------------------------------------
# embeddings
# --------------------------------------------------------------------------------------------


def embed_images(
    clip_entry: Mapping[str, Any],
    manifest: str | Path,
    index_csv: str | Path,
    out_nc: str | Path,
    batch_size: int = 256,
    device: str | torch.device = "auto",
    threads: int | None = None,
    num_workers: int | None = None,
    pixels: str | Path | None = None,
) -> Path:
    """L2-normalised CLIP image embeddings of a probe set -> ``out_nc``.

    ``pixels``: a pixel cache of CLIP's preprocessing recipe (``vitconcepts.pixels``), read
    instead of decoding the JPEGs and normalised on the device (identical embeddings).

    Variable ``embedding (sample, dim)`` float32, coords ``sample``, ``sample_id(sample)``;
    attrs ``normalised=1`` and ``provenance``. Images go through CLIP's own preprocessing, in
    batches, streamed to ``<out_nc>.partial`` and resumed from the last finished batch.
    ``num_workers`` (default ``threads - 1``, at most 8) decode images in parallel.
    """
    from tqdm import tqdm

    from .ncstream import ShardedNetCDFWriter
    from .probe import ProbeDataset, load_index, load_index_meta
    from .provenance import provenance_json, sha256_json

    if threads:
        torch.set_num_threads(int(threads))
    if num_workers is None:
        num_workers = min(8, max(0, int(threads or 1) - 1))
    dev = _resolve(device)
    index = load_index(index_csv)
    n = len(index)
    sample_ids = index["sample_id"].astype(str).to_numpy()
    probe_hash = load_index_meta(index_csv).get("sha256") or sha256_json(
        [list(sample_ids), index["path"].astype(str).tolist()]
    )
    identity = _identity(clip_entry, manifest)
    dim = embedding_dim(clip_entry)
    batch_size = int(max(1, batch_size))
    fingerprint = sha256_json({"clip": identity, "probe": probe_hash, "n": n, "dim": dim})
    writer = ShardedNetCDFWriter(
        out_nc,
        dims={"sample": n, "dim": dim},
        coords={
            "sample": (("sample",), np.arange(n, dtype=np.int64)),
            "sample_id": (("sample",), sample_ids.astype(object)),
        },
        variables={"embedding": (("sample", "dim"), "float32", (min(n, batch_size), dim))},
        stream_dim="sample",
        fingerprint=fingerprint,
    )
    with writer:
        if writer.start < n:
            model, preprocess, _ = load_clip(clip_entry, manifest, dev)
            normalise = None
            if pixels:
                from .pixels import check_pixel_cache, pixel_loader, recipe_from_transform

                recipe = recipe_from_transform(preprocess)
                if recipe is None:
                    raise ConfigError(
                        f"CLIP's preprocessing ({preprocess}) cannot read a pixel cache.",
                        "set `pixel_cache: false`.",
                    )
                check_pixel_cache(pixels, recipe, index_csv)
                normalise = recipe.normaliser(dev)
                loader = pixel_loader(pixels, range(writer.start, n), batch_size, num_workers, dev)
            else:
                dataset = ProbeDataset(index_csv, preprocess, samples=range(writer.start, n))
                loader = torch.utils.data.DataLoader(
                    dataset,
                    batch_size=batch_size,
                    shuffle=False,
                    num_workers=num_workers,
                    pin_memory=dev.type == "cuda",
                )
            begin = writer.start
            with (
                tqdm(total=n, initial=begin, desc="CLIP images", unit="img") as bar,
                torch.inference_mode(),
            ):
                for images, samples in loader:
                    if int(samples[0]) != begin:  # pragma: no cover - DataLoader keeps order
                        raise RuntimeError("probe batches arrived out of order")
                    images = normalise(images) if normalise else images.to(dev, non_blocking=True)
                    features = model.encode_image(images)
                    features = torch.nn.functional.normalize(features.float(), dim=-1)
                    writer.write("embedding", begin, features.cpu().numpy())
                    begin += len(samples)
                    writer.mark_done(begin)
                    bar.update(len(samples))
        out = writer.finalize(
            {
                "normalised": 1,
                "provenance": provenance_json(
                    step="embed_images", clip=identity, probe_sha256=probe_hash
                ),
            }
        )
    return out


def embed_concepts(
    clip_entry: Mapping[str, Any],
    manifest: str | Path,
    concepts_txt: str | Path,
    out_nc: str | Path,
    batch_size: int = 1024,
    device: str | torch.device = "auto",
    threads: int | None = None,
) -> Path:
    """L2-normalised CLIP text embeddings of a concept set -> ``out_nc``.

    Variable ``embedding (concept, dim)`` float32, coord ``concept`` (str); attrs
    ``normalised=1`` and ``provenance``. Each concept is tokenised as the bare word
    (CLIP-Dissect's choice); batched, streamed and resumable like :func:`embed_images`.
    """
    from tqdm import tqdm

    from .concepts import read_concepts
    from .ncstream import ShardedNetCDFWriter
    from .provenance import provenance_json, sha256_file, sha256_json

    if threads:
        torch.set_num_threads(int(threads))
    dev = _resolve(device)
    concepts = read_concepts(concepts_txt)
    n = len(concepts)
    identity = _identity(clip_entry, manifest)
    dim = embedding_dim(clip_entry)
    batch_size = int(max(1, batch_size))
    concepts_sha = sha256_file(concepts_txt)
    fingerprint = sha256_json({"clip": identity, "concepts": concepts_sha, "n": n, "dim": dim})
    writer = ShardedNetCDFWriter(
        out_nc,
        dims={"concept": n, "dim": dim},
        coords={"concept": (("concept",), np.asarray(concepts, dtype=object))},
        variables={"embedding": (("concept", "dim"), "float32", (min(n, batch_size), dim))},
        stream_dim="concept",
        fingerprint=fingerprint,
    )
    with writer:
        if writer.start < n:
            model, _, tokenizer = load_clip(clip_entry, manifest, dev)
            with (
                tqdm(total=n, initial=writer.start, desc="CLIP concepts", unit="concept") as bar,
                torch.inference_mode(),
            ):
                for begin in range(writer.start, n, batch_size):
                    end = min(n, begin + batch_size)
                    tokens = tokenizer(concepts[begin:end]).to(dev)
                    features = model.encode_text(tokens)
                    features = torch.nn.functional.normalize(features.float(), dim=-1)
                    writer.write("embedding", begin, features.cpu().numpy())
                    writer.mark_done(end)
                    bar.update(end - begin)
        out = writer.finalize(
            {
                "normalised": 1,
                "provenance": provenance_json(
                    step="embed_concepts", clip=identity, concepts_sha256=concepts_sha
                ),
            }
        )
    return out
