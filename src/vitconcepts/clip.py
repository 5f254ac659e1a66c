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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .clip_spec import embedding_dim, model_name, pretrained_tag, tag_cfg
from .concepts import read_concepts
from .device import resolve_device
from .errors import ConfigError, InputDataError
from .formats import read_probe_index
from .image_batches import ImageBatches
from .ncstream import ShardedNetCDFWriter
from .pixels import clip_recipe
from .probe import load_index_meta
from .provenance import provenance_json, sha256_file, sha256_json
from .shard_loop import sample_coords, write_batches

__all__ = [
    "clip_recipe",
    "download_clip",
    "embed_concepts",
    "embed_images",
    "embedding_dim",
    "load_clip",
    "model_name",
    "resolve_device",
]

#: ``clip_embedding.dtype``: float32 (ours) or float16 (the authors' scorer on CUDA)
EMBEDDING_DTYPES = ("float32", "float16")
OPEN_CLIP_WEIGHT_NAMES = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.bin",
)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


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

    out_dir = Path(out_dir)
    name = model_name(clip_entry)
    tag = pretrained_tag(clip_entry)
    if tag is None:
        manifest_path = download_model(
            key, {"source": "timm", "weights": name, "pretrained": False}, out_dir
        )
    else:
        cfg = tag_cfg(name, tag)
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
    tag = pretrained_tag(clip_entry)
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
    cfg = tag_cfg(name, tag)
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


def _identity(clip_entry: Mapping[str, Any], manifest: str | Path) -> dict[str, Any]:
    record: dict[str, Any] = {}
    if pretrained_tag(clip_entry) is not None and Path(manifest).is_file():
        record = json.loads(Path(manifest).read_text())
    identity = {
        "arch": clip_entry.get("arch"),
        "pretrained": pretrained_tag(clip_entry),
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
    dtype: str = "float32",
) -> Path:
    """L2-normalised CLIP image embeddings of a probe set -> ``out_nc``.

    ``dtype`` float16 rounds each raw embedding to float16 before it is normalised, as the
    authors' scorer gave them on CUDA (CLIP-Dissect keeps ``clip.load``'s fp16 weights there);
    float32 (the default) keeps them as computed.

    ``pixels``: a pixel cache of CLIP's preprocessing recipe (``vitconcepts.pixels``), read
    instead of decoding the JPEGs and normalised on the device (identical embeddings).

    Variable ``embedding (sample, dim)`` float32, coords ``sample``, ``sample_id(sample)``;
    attrs ``normalised=1`` and ``provenance``. Images go through CLIP's own preprocessing, in
    batches, streamed to ``<out_nc>.partial`` and resumed from the last finished batch.
    ``num_workers`` (default ``threads - 1``, at most 8) decode images in parallel.
    """
    if threads:
        torch.set_num_threads(int(threads))
    if num_workers is None:
        num_workers = min(8, max(0, int(threads or 1) - 1))
    dev = resolve_device(device)
    index = read_probe_index(index_csv)
    n = len(index)
    sample_ids = index["sample_id"].astype(str).to_numpy()
    probe_hash = load_index_meta(index_csv).get("sha256") or sha256_json(
        [list(sample_ids), index["path"].astype(str).tolist()]
    )
    batch_size = int(max(1, batch_size))

    def fill(writer: ShardedNetCDFWriter) -> None:
        model, preprocess, _ = load_clip(clip_entry, manifest, dev)
        source = ImageBatches(index_csv, preprocess, pixels, dev, owner="the CLIP scorer")
        batches = source.batches(writer.start, n, batch_size, num_workers)
        with torch.inference_mode():
            write_batches(
                writer,
                "embedding",
                batches,
                _encoder(model.encode_image, dtype),
                desc="CLIP images",
            )

    coords = sample_coords(sample_ids)
    return _embedding_file(
        clip_entry,
        manifest,
        out_nc,
        "sample",
        coords,
        batch_size,
        ("probe", probe_hash),
        fill,
        dtype,
    )


def _embedding_file(
    clip_entry: Mapping[str, Any],
    manifest: str | Path,
    out_nc: str | Path,
    axis: str,
    coords: Mapping[str, Any],
    batch_size: int,
    source: tuple[str, str],
    fill: Any,
    dtype: str = "float32",
) -> Path:
    """The resumable embedding file of :func:`embed_images` / :func:`embed_concepts`.

    ``axis`` (``sample`` or ``concept``) is streamed in ``batch_size`` rows; ``source`` is
    ``(name, sha256)`` of what is embedded (``probe`` or ``concepts``), in the fingerprint and
    the provenance; ``fill(writer)`` writes the rows from ``writer.start`` on.
    """
    n = len(coords[axis][1])
    identity = _identity(clip_entry, manifest)
    dim = embedding_dim(clip_entry)
    name, sha = source
    facts = {"clip": identity, name: sha, "n": n, "dim": dim}
    fingerprint = sha256_json({**facts, **_dtype_fact(dtype)})
    writer = ShardedNetCDFWriter(
        out_nc,
        dims={axis: n, "dim": dim},
        coords=coords,
        variables={"embedding": ((axis, "dim"), "float32", (min(n, batch_size), dim))},
        stream_dim=axis,
        fingerprint=fingerprint,
    )
    with writer:
        if writer.start < n:
            fill(writer)
        step = "embed_images" if axis == "sample" else "embed_concepts"
        provenance = provenance_json(
            step=step, clip=identity, dtype=dtype, **{f"{name}_sha256": sha}
        )
        return writer.finalize({"normalised": 1, "provenance": provenance})


def _dtype_fact(dtype: str) -> dict[str, str]:
    """The embedding dtype as a fingerprint fact (none for float32: files stay resumable)."""
    if dtype not in EMBEDDING_DTYPES:
        raise ConfigError(
            f"clip_embedding.dtype is {dtype!r}; allowed: {', '.join(EMBEDDING_DTYPES)}.",
            "set `clip_embedding: {dtype: float32}` (ours) or float16 (the authors' CUDA scorer).",
        )
    return {} if dtype == "float32" else {"dtype": dtype}


def round_embeddings(features: torch.Tensor, dtype: str = "float32") -> torch.Tensor:
    """Raw CLIP features -> float32 L2-normalised embeddings; ``dtype`` float16 rounds the
    raw features to float16 first (then normalises in float32, as CLIP-Dissect's scorer)."""
    _dtype_fact(dtype)
    if dtype == "float16":
        features = features.to(torch.float16)
    return torch.nn.functional.normalize(features.float(), dim=-1)


def _encoder(encode: Any, dtype: str = "float32") -> Any:
    """``(inputs, indices) -> float32 L2-normalised embeddings`` of a CLIP encode function."""

    def compute(inputs: Any, _indices: Any) -> np.ndarray:
        return round_embeddings(encode(inputs), dtype).cpu().numpy()

    return compute


def embed_concepts(
    clip_entry: Mapping[str, Any],
    manifest: str | Path,
    concepts_txt: str | Path,
    out_nc: str | Path,
    batch_size: int = 1024,
    device: str | torch.device = "auto",
    threads: int | None = None,
    dtype: str = "float32",
) -> Path:
    """L2-normalised CLIP text embeddings of a concept set -> ``out_nc``.

    ``dtype``: as for :func:`embed_images`.

    Variable ``embedding (concept, dim)`` float32, coord ``concept`` (str); attrs
    ``normalised=1`` and ``provenance``. Each concept is tokenised as the bare word
    (CLIP-Dissect's choice); batched, streamed and resumable like :func:`embed_images`.
    """
    if threads:
        torch.set_num_threads(int(threads))
    dev = resolve_device(device)
    concepts = read_concepts(concepts_txt)
    n = len(concepts)
    batch_size = int(max(1, batch_size))

    def fill(writer: ShardedNetCDFWriter) -> None:
        model, _, tokenizer = load_clip(clip_entry, manifest, dev)
        batches = (
            (tokenizer(concepts[b : b + batch_size]).to(dev), range(b, min(n, b + batch_size)))
            for b in range(writer.start, n, batch_size)
        )
        with torch.inference_mode():
            encode = _encoder(model.encode_text, dtype)
            write_batches(
                writer, "embedding", batches, encode, desc="CLIP concepts", unit="concept"
            )

    coords = {"concept": (("concept",), np.asarray(concepts, dtype=object))}
    source = ("concepts", sha256_file(concepts_txt))
    return _embedding_file(
        clip_entry, manifest, out_nc, "concept", coords, batch_size, source, fill, dtype
    )
