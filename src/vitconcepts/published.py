"""The authors' published files (per-unit labels, curated category map), local or downloaded.

Config (``config.yaml``)::

    published_labels: ""          # or a local folder (--config published_labels=DIR)
    published:
      base_url: https://raw.githubusercontent.com/teresa-sc/concepts_in_ViTs/<commit>
      categories: {path: data/words_per_category_curated.json, sha256: ...}
      labels: {vit: {path: results/vit.csv, sha256: ...}, ...}

With a local folder the file is copied from ``<dir>/<path>`` (the authors' repo layout, e.g.
``results/vit.csv``) or ``<dir>/<basename>`` (a flat folder such as ../shared/paper-reference);
otherwise it is downloaded from ``<base_url>/<path>``. Either way the sha256 is checked when
one is given.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from .errors import ConfigError, InputDataError
from .provenance import sha256_file

PathLike = str | Path


def local_candidates(relpath: str, local_dir: PathLike) -> list[Path]:
    """Where ``relpath`` may sit in ``local_dir``: repo layout first, then flat."""
    root = Path(local_dir)
    candidates = [root / relpath]
    flat = root / Path(relpath).name
    if flat != candidates[0]:
        candidates.append(flat)
    return candidates


def _copy_atomic(source: Path, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    os.close(handle)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fetch_published(
    relpath: str | Mapping[str, str],
    sha256: str | None = None,
    base_url: str | None = None,
    local_dir: PathLike | None = None,
    out: PathLike | None = None,
) -> Path:
    """Copy or download one published file to ``out`` and return ``out``.

    ``relpath`` is the file's path in the authors' repository (``results/vit.csv``), or a
    config entry ``{"path": ..., "sha256": ...}`` (then ``sha256`` defaults to the entry's;
    pass the other arguments by keyword). With ``local_dir`` the file is copied from there
    (see :func:`local_candidates`); else ``download.fetch_url(base_url + "/" + relpath, out,
    sha256)`` fetches it. A wrong sha256 or a missing file raises an error naming the
    ``published_labels`` config key.
    """
    if isinstance(relpath, Mapping):
        entry = relpath
        if "path" not in entry:
            raise ConfigError(
                f"A published-file entry {dict(entry)} has no 'path'.",
                "Give every entry under `published` a path (and sha256).",
            )
        relpath = str(entry["path"])
        sha256 = sha256 if sha256 is not None else entry.get("sha256")
    if out is None:
        raise ValueError("fetch_published needs `out`")
    out = Path(out)
    expected = sha256.lower() if sha256 else None

    if local_dir:
        found = next((p for p in local_candidates(relpath, local_dir) if p.is_file()), None)
        if found is None:
            tried = [str(p) for p in local_candidates(relpath, local_dir)]
            raise InputDataError(
                f"Published file {relpath} was not found in the folder given by the config "
                f"key published_labels ({local_dir}); looked for {tried}.",
                "Point published_labels at a copy of the authors' repository (results/, "
                "data/) or at a flat folder holding the files, or leave published_labels "
                "empty to download them.",
            )
        if expected:
            got = sha256_file(found)
            if got != expected:
                raise InputDataError(
                    f"Published file {found} (config key published_labels) has sha256 {got}, "
                    f"expected {expected} for {relpath}.",
                    "Replace it with the authors' file at the pinned commit "
                    "(published.base_url), or fix the sha256 in config.yaml.",
                )
        _copy_atomic(found, out)
        return out

    if not base_url:
        raise ConfigError(
            f"Cannot fetch the published file {relpath}: neither published_labels (a local "
            "folder) nor published.base_url is set.",
            "run with `--config published_labels=DIR` (a folder holding the authors' files), "
            "or set `published: {base_url: URL}` in your config file.",
        )
    from .download import fetch_url

    url = base_url.rstrip("/") + "/" + relpath.lstrip("/")
    try:
        fetch_url(url, out, expected)
    except InputDataError as error:
        raise InputDataError(
            f"Downloading the published file {relpath} failed: {error}",
            "Check the network or set the config key published_labels to a local folder "
            "holding the authors' files.",
        ) from error
    return out
