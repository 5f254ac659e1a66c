"""Provenance records attached to every output (NetCDF attrs, CSV sidecars)."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from . import __version__

TRACKED_PACKAGES = (
    "torch",
    "torchvision",
    "timm",
    "transformers",
    "open-clip-torch",
    "numpy",
    "pandas",
    "xarray",
    "netCDF4",
    "matplotlib",
    "snakemake",
)


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    """Installed versions of the packages that shape our numbers ('absent' if missing)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_json(obj: Any) -> str:
    """Stable hash of a JSON-serialisable object (keys sorted)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def provenance(**extra: Any) -> dict[str, Any]:
    """A provenance record: our version, package versions, time, host, plus ``extra``.

    Callers add what identifies the output: ``model_id``, ``weights_sha256``,
    ``probe_sha256``, ``config`` (the config entries used), ...
    """
    record: dict[str, Any] = {
        "vitconcepts": __version__,
        "packages": package_versions(),
        "python": platform.python_version(),
        "host": platform.node(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    record.update(extra)
    return record


def provenance_json(**extra: Any) -> str:
    """``provenance(**extra)`` as a JSON string, for NetCDF attrs."""
    return json.dumps(provenance(**extra), sort_keys=True, default=str)


def write_sidecar(output: str | Path, **extra: Any) -> Path:
    """Write ``<output>.provenance.json`` beside a CSV/PDF/TeX output and return its path."""
    path = Path(str(output) + ".provenance.json")
    path.write_text(json.dumps(provenance(**extra), indent=2, sort_keys=True, default=str))
    return path
