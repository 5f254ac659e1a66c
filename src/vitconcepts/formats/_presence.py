"""The Broden presence file: which annotated concept appears in which Broden image.

A compressed ``.npz`` (numpy only, no pickles) holding

* ``presence``: the boolean matrix ``[image, name]`` packed 8 names to a byte along the name
  axis (``numpy.packbits``; 63,305 x 1,197 booleans take ~9.5 MB packed, less compressed);
* ``images``: Broden ``index.csv``'s ``image`` column, in file order;
* ``names``: ``label.csv``'s names in label-number order with Broden's category suffixes
  (``-c``, ``-s``, ...) stripped; ``numbers`` their label numbers; ``categories`` their
  Broden categories (``color;object``, ...); ``synonyms`` their ``syns`` (``;``-separated);
* ``provenance``: a JSON string (versions, source folder, counts).

Written by :func:`write_presence`, read by :func:`read_presence`.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputDataError

PathLike = str | Path

#: The arrays of a presence file.
PRESENCE_KEYS = ("presence", "n_names", "images", "names", "numbers", "categories", "synonyms")


@dataclass
class BrodenPresence:
    """Broden's annotations at image level: ``presence[i, j]`` is true when concept
    ``names[j]`` is marked anywhere in image ``images[i]``."""

    images: list[str]
    names: list[str]
    presence: np.ndarray  # bool [image, name]
    numbers: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    categories: list[str] = field(default_factory=list)
    synonyms: list[list[str]] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n_names = len(self.names)
        if not self.categories:
            self.categories = [""] * n_names
        if not self.synonyms:
            self.synonyms = [[] for _ in range(n_names)]
        if not len(self.numbers):
            self.numbers = np.arange(1, n_names + 1, dtype=np.int64)
        if self.presence.shape != (len(self.images), n_names):
            raise ValueError(
                f"presence has shape {self.presence.shape}, expected "
                f"({len(self.images)}, {n_names}) (images x names)"
            )


def write_presence(out_npz: PathLike, data: BrodenPresence) -> Path:
    """Write ``data`` to ``out_npz`` atomically (a ``.tmp`` file renamed into place)."""
    out = Path(out_npz)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    arrays = {
        "presence": np.packbits(np.asarray(data.presence, dtype=bool), axis=1),
        "n_names": np.int64(len(data.names)),
        "images": np.asarray(data.images, dtype=str),
        "names": np.asarray(data.names, dtype=str),
        "numbers": np.asarray(data.numbers, dtype=np.int64),
        "categories": np.asarray(data.categories, dtype=str),
        "synonyms": np.asarray([";".join(s) for s in data.synonyms], dtype=str),
        "provenance": np.asarray(json.dumps(data.provenance, sort_keys=True, default=str)),
    }
    # numpy.savez_compressed stamps each member with the current time: a fixed date keeps
    # the bytes a function of the contents
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.asanyarray(value), allow_pickle=False)
    os.replace(tmp, out)
    return out


def read_presence(npz: PathLike) -> BrodenPresence:
    """Read a presence file; InputDataError naming it when missing or not one."""
    path = Path(npz)
    fix = f"delete it and rebuild it with snakemake (`rm {path}`; rule broden_presence)."
    if not path.is_file():
        raise InputDataError(f"Broden presence file {path} does not exist.", fix)
    try:
        with np.load(path, allow_pickle=False) as handle:
            arrays = {key: handle[key] for key in (*PRESENCE_KEYS, "provenance")}
    except (OSError, ValueError, KeyError, EOFError) as error:
        raise InputDataError(
            f"{path} is not a Broden presence file ({type(error).__name__}: {error}).", fix
        ) from error
    n_names = int(arrays["n_names"])
    presence = np.unpackbits(arrays["presence"], axis=1, count=n_names).astype(bool)
    return BrodenPresence(
        images=[str(x) for x in arrays["images"]],
        names=[str(x) for x in arrays["names"]],
        presence=presence,
        numbers=np.asarray(arrays["numbers"], dtype=np.int64),
        categories=[str(x) for x in arrays["categories"]],
        synonyms=[[s for s in str(x).split(";") if s] for x in arrays["synonyms"]],
        provenance=json.loads(str(arrays["provenance"])),
    )
