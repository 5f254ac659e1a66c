"""Downloads: plain URLs with checksums, and model weights from the Hugging Face hub.

``fetch_url`` streams a URL to ``<dest>.part``, checks its sha256 and renames it atomically.
``download_model`` fetches a model's weights through ``huggingface_hub`` (so ``HF_ENDPOINT``,
``HF_HOME``/``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE`` apply, read at call time), places the files
under ``out_dir`` (hard links into the hub cache where possible) and writes
``out_dir/manifest.json``::

    {"model": key, "source": "timm" | "transformers", "weights": <weights id>,
     "repo_id": <hub repo>, "revision": <revision or null>, "weights_file": <relpath or null>,
     "files": {relpath: sha256}, "weights_sha256": <sha256 of weights_file or null>}

A model with ``pretrained: false`` gets a manifest with no files (random init, for tests).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .constants import MODEL_SOURCES
from .errors import ConfigError, InputDataError
from .provenance import sha256_file

CHUNK = 1 << 20
# Files a model needs; weights in safetensors where the repo has them, else PyTorch pickles.
HUB_PATTERNS = ["*.json", "*.safetensors"]
HUB_FALLBACK_PATTERNS = ["*.json", "pytorch_model*.bin"]
HUB_IGNORE = ["*.msgpack", "*.h5", "*.onnx", "*.ot", "tf_*", "flax_*", "coreml/*", "onnx/*"]
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt")


def fetch_url(url: str, dest: str | Path, sha256: str | None = None, timeout: float = 60) -> str:
    """Download ``url`` to ``dest`` (atomically) and return the file's sha256.

    If ``dest`` exists and matches ``sha256`` (or no ``sha256`` is given) nothing is fetched.
    Raises :class:`InputDataError` naming the URL when it is unreachable or returns an error,
    and naming the expected and actual hashes on a checksum mismatch.
    """
    dest = Path(dest)
    if dest.exists():
        have = sha256_file(dest)
        if sha256 is None or have == sha256.lower():
            return have
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = Path(str(dest) + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            for chunk in iter(lambda: response.read(CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError, ValueError) as error:
        part.unlink(missing_ok=True)
        reason = getattr(error, "reason", None) or error
        if isinstance(error, urllib.error.HTTPError):
            reason = f"HTTP {error.code} {error.reason}"
        raise InputDataError(
            f"Could not download {url} to {dest}: {reason}.",
            f"check that the URL is reachable from this machine (proxy, firewall, compute "
            f"nodes without internet); or download the file elsewhere and place it at {dest} "
            f"(it is used as is when its sha256 matches).",
        ) from error
    got = digest.hexdigest()
    if sha256 is not None and got != sha256.lower():
        part.unlink(missing_ok=True)
        raise InputDataError(
            f"Checksum mismatch for {url}: expected sha256 {sha256.lower()}, got {got}.",
            "the file on the server changed or the download was corrupted; retry, or update "
            "the sha256 in the config if the new file is intended.",
        )
    os.replace(part, dest)
    return got


def hub_repo_id(key: str, entry: Mapping[str, Any]) -> str:
    """The hub repository holding a model's weights (timm weights live in ``timm/<name>``)."""
    source = entry.get("source", "timm")
    if source not in MODEL_SOURCES:
        raise ConfigError(
            f"models.{key}.source is {source!r}; allowed values are {', '.join(MODEL_SOURCES)}.",
            f"set models.{key}.source in the config to one of them.",
        )
    weights = entry.get("weights")
    if not weights:
        raise ConfigError(
            f"models.{key}.weights is missing.",
            f"set models.{key}.weights to a timm model name with pretrained tag "
            "(e.g. vit_base_patch16_224.orig_in21k) or a Hugging Face repo id.",
        )
    if source == "timm" and "/" not in weights:
        return f"timm/{weights}"
    return str(weights).removeprefix("hf-hub:").removeprefix("hf_hub:")


def _hub_cache_dir() -> Path:
    """The hub cache as the environment says now (``HF_HUB_CACHE`` or ``HF_HOME/hub``)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface"
    return Path(home) / "hub"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _snapshot(repo_id: str, revision: str | None, patterns: list[str]) -> Path:
    from huggingface_hub import snapshot_download

    return Path(
        snapshot_download(
            repo_id,
            revision=revision,
            cache_dir=_hub_cache_dir(),
            allow_patterns=patterns,
            ignore_patterns=HUB_IGNORE,
            local_files_only=_offline(),
            endpoint=os.environ.get("HF_ENDPOINT") or None,
        )
    )


def _weights_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES)


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def download_model(key: str, entry: Mapping[str, Any], out_dir: str | Path) -> Path:
    """Fetch the weights of ``config["models"][key]`` into ``out_dir``; return the manifest path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "model": key,
        "source": entry.get("source", "timm"),
        "weights": entry.get("weights"),
        "repo_id": None,
        "revision": entry.get("revision"),
        "weights_file": None,
        "files": {},
        "weights_sha256": None,
    }
    random = entry.get("pretrained", True) is False or entry.get("random_init", False)
    if not random:
        repo_id = hub_repo_id(key, entry)
        manifest["repo_id"] = repo_id
        snapshot = _download_snapshot(key, repo_id, entry.get("revision"))
        for path in sorted(p for p in snapshot.rglob("*") if p.is_file()):
            rel = path.relative_to(snapshot).as_posix()
            _link_or_copy(path.resolve(), out_dir / rel)
            manifest["files"][rel] = sha256_file(out_dir / rel)
        weights = _weights_files(out_dir)
        weights = [w for w in weights if w.relative_to(out_dir).as_posix() in manifest["files"]]
        if not weights:
            raise InputDataError(
                f"models.{key}: the hub repo {repo_id} has no weights file "
                f"(*.safetensors or pytorch_model*.bin).",
                f"check models.{key}.weights.",
            )
        main = weights[0].relative_to(out_dir).as_posix()
        manifest["weights_file"] = main
        manifest["weights_sha256"] = manifest["files"][main]
    path = out_dir / "manifest.json"
    tmp = path.with_suffix(".json.part")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    os.replace(tmp, path)
    return path


def _download_snapshot(key: str, repo_id: str, revision: str | None) -> Path:
    """Snapshot of the needed files of ``repo_id``; clear InputDataError when unavailable."""
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    try:
        snapshot = _snapshot(repo_id, revision, HUB_PATTERNS)
        if not _weights_files(snapshot):
            snapshot = _snapshot(repo_id, revision, HUB_FALLBACK_PATTERNS)
        return snapshot
    except (RepositoryNotFoundError, RevisionNotFoundError) as error:
        raise InputDataError(
            f"models.{key}: the hub has no repo {repo_id}"
            f"{f' at revision {revision}' if revision else ''} ({endpoint}).",
            f"check models.{key}.weights (and models.{key}.revision).",
        ) from error
    except (LocalEntryNotFoundError, OfflineModeIsEnabled, HfHubHTTPError, OSError) as error:
        raise InputDataError(
            f"models.{key}: could not fetch the weights {repo_id} from the Hugging Face hub "
            f"at {endpoint} and they are not in the hub cache {_hub_cache_dir()} "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}).",
            "make the hub reachable (set HF_ENDPOINT to a mirror if huggingface.co is "
            "blocked), or pre-download on a machine with internet "
            f"(`hf download {repo_id}`) and copy the cache, then run with HF_HOME pointing "
            "at it and HF_HUB_OFFLINE=1.",
        ) from error
