"""Concept sets: the list of words CLIP-Dissect chooses unit descriptions from.

``build_concept_set(entry, out_txt)`` writes one concept a line. Kinds (``config["concept_sets"]``):

* ``url {url, sha256}``: a published list (the paper's 20k words from CLIP-Dissect), fetched
  with :func:`vitconcepts.download.fetch_url` and checked against ``sha256``;
* ``file {path}``: the user's own text file, one concept a line;
* ``wordfreq {n, lang='en', min_length=2}``: the ``n`` most frequent alphabetic words of
  ``lang`` from the ``wordfreq`` package (deterministic for a given wordfreq version), so an
  offline user still has a real concept set;
* ``labels``: the distinct descriptions found in label CSVs (``label_csvs``), in order of
  first appearance (e.g. the authors' published labels).

Every kind is normalised the same way: lines stripped, empty lines dropped, duplicates
dropped keeping the first occurrence. ``read_concepts(path)`` reads a written set back.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import ConfigError, InputDataError


def normalise_concepts(lines: Iterable[str]) -> list[str]:
    """Strip each line, drop empty ones and duplicates (first occurrence kept, order kept)."""
    seen: set[str] = set()
    out: list[str] = []
    for line in lines:
        concept = line.strip()
        if concept and concept not in seen:
            seen.add(concept)
            out.append(concept)
    return out


def read_concepts(path: str | Path) -> list[str]:
    """The concepts of a concept-set text file (normalised as in :func:`normalise_concepts`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputDataError(
            f"Cannot read the concept set {path}: {error}.",
            "rebuild it (rule concept_set) or point the config at a UTF-8 text file with one "
            "concept per line.",
        ) from error
    concepts = normalise_concepts(text.splitlines())
    if not concepts:
        raise InputDataError(
            f"The concept set {path} holds no concepts.",
            "give a UTF-8 text file with one concept per line.",
        )
    return concepts


def _write_lines(concepts: Sequence[str], out_txt: str | Path) -> Path:
    out = Path(out_txt)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=out.name, suffix=".part")
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
        handle.write("".join(f"{c}\n" for c in concepts))
    os.replace(tmp, out)
    return out


def wordfreq_concepts(n: int, lang: str = "en", min_length: int = 2) -> list[str]:
    """The ``n`` most frequent alphabetic words of ``lang`` with at least ``min_length``
    characters, most frequent first (``wordfreq``'s 'best' list)."""
    import wordfreq

    out: list[str] = []
    seen: set[str] = set()
    for word in wordfreq.iter_wordlist(lang, wordlist="best"):
        word = word.strip()
        if len(word) >= min_length and word.isalpha() and word not in seen:
            seen.add(word)
            out.append(word)
            if len(out) == n:
                break
    return out


def _key(entry: Mapping[str, Any], field: str, out_txt: str | Path | None = None) -> str:
    """``concept_sets.<name>.<field>``; the name is the output's stem (``{concepts}.txt``)."""
    name = entry.get("_key") or entry.get("name") or (Path(out_txt).stem if out_txt else "<key>")
    return f"concept_sets.{name}.{field}"


def _from_url(entry: Mapping[str, Any], out: Path, label_csvs: Any) -> list[str]:
    url, sha256 = entry.get("url"), entry.get("sha256")
    if not url:
        raise ConfigError(f"{_key(entry, 'url', out)} is missing.", "give the list's URL.")
    from .download import fetch_url

    raw = Path(str(out) + ".download")
    fetch_url(str(url), raw, sha256=sha256)
    concepts = read_concepts(raw)
    raw.unlink(missing_ok=True)
    return concepts


def _from_file(entry: Mapping[str, Any], out: Path, label_csvs: Any) -> list[str]:
    path = entry.get("path")
    if not path:
        raise ConfigError(
            f"{_key(entry, 'path', out)} is missing.",
            "give the path of a text file with one concept per line.",
        )
    path = Path(str(path)).expanduser()
    if not path.is_file():
        raise InputDataError(
            f"{_key(entry, 'path', out)} points to {path}, which is not a readable file.",
            "fix the path in the config (one concept per line, UTF-8).",
        )
    try:
        concepts = normalise_concepts(path.read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError) as error:
        raise InputDataError(
            f"{_key(entry, 'path', out)}: cannot read {path} as UTF-8 text ({error}).",
            "give a UTF-8 text file with one concept per line.",
        ) from error
    if not concepts:
        raise InputDataError(
            f"{_key(entry, 'path', out)}: {path} holds no concepts (only empty lines).",
            "give a text file with one concept per line.",
        )
    return concepts


def _from_wordfreq(entry: Mapping[str, Any], out: Path, label_csvs: Any) -> list[str]:
    n = int(entry.get("n", 20000))
    lang = str(entry.get("lang", "en"))
    min_length = int(entry.get("min_length", 2))
    if n < 1:
        raise ConfigError(f"{_key(entry, 'n', out)} is {n}.", "set it to a positive integer.")
    try:
        concepts = wordfreq_concepts(n, lang, min_length)
    except (LookupError, ValueError) as error:
        raise ConfigError(
            f"{_key(entry, 'lang', out)}={lang!r} is not available in wordfreq ({error}).",
            "use a language code wordfreq supports, e.g. 'en'.",
        ) from error
    if len(concepts) < n:
        raise ConfigError(
            f"wordfreq has only {len(concepts)} alphabetic {lang!r} words of length >= "
            f"{min_length}, fewer than {_key(entry, 'n', out)}={n}.",
            "lower n or min_length.",
        )
    return concepts


def _from_labels(
    entry: Mapping[str, Any], out: Path, label_csvs: Sequence[str | Path] | None
) -> list[str]:
    from .formats import read_labels

    if not label_csvs:
        raise ConfigError(
            f"{_key(entry, 'kind', out)} is 'labels' but no label CSVs were given.",
            "use kind labels only with labels_source: published or computed labels.",
        )
    descriptions: list[str] = []
    for csv in label_csvs:
        descriptions.extend(read_labels(csv, images=False)["description"].astype(str))
    return normalise_concepts(descriptions)


_BUILDERS = {
    "url": _from_url,
    "file": _from_file,
    "wordfreq": _from_wordfreq,
    "labels": _from_labels,
}

KINDS = tuple(_BUILDERS)


def build_concept_set(
    entry: Mapping[str, Any], out_txt: str | Path, label_csvs: Sequence[str | Path] | None = None
) -> Path:
    """Write the concept set described by ``entry`` to ``out_txt`` (one concept a line).

    ``label_csvs`` are only used by kind ``labels``. Raises :class:`ConfigError` for a bad
    entry and :class:`InputDataError` for a missing/unreadable/empty source.
    """
    out = Path(out_txt)
    kind = entry.get("kind")
    if kind not in KINDS:
        raise ConfigError(
            f"{_key(entry, 'kind', out)} is {kind!r}; allowed kinds are {', '.join(KINDS)}.",
            "set the concept set's kind in the config.",
        )
    return _write_lines(_BUILDERS[kind](entry, out, label_csvs), out)
