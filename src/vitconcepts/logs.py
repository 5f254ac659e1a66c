"""Logging for rule scripts: everything a job prints goes to its Snakemake log file.

Usage in a rule script::

    from vitconcepts.logs import rule_log

    with rule_log(snakemake):
        dump_activations(...)

Errors a user can fix (:class:`~vitconcepts.errors.VitconceptsError`) are written as one
paragraph to the log and to the console, without a traceback, and the job exits non-zero.

On success every output file that does not carry its own provenance (NetCDF files hold it as
an attr, label CSVs get a richer sidecar from ``label_units``) gets a
``<output>.provenance.json`` sidecar: rule, wildcards, params (the config entries used),
and the sha256 of each input file (its size alone above 256 MB).

When the run's labels come from a randomly initialised CLIP scorer (``clip_models.<key>.
pretrained: false``, :func:`vitconcepts.config.random_clip_scorer`), every sidecar gets a
``random_clip_scorer`` entry and every figure saved by the job is watermarked with
:data:`vitconcepts.config.RANDOM_SCORER_NOTE`.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import VitconceptsError
from .provenance import sha256_file, write_sidecar

HASH_LIMIT = 256 * 1024 * 1024


@contextlib.contextmanager
def rule_log(smk: Any) -> Iterator[logging.Logger]:
    """Send logging, stdout and stderr of the block to ``smk.log[0]`` (if the rule has a log)."""
    console = sys.__stderr__
    log_path = smk.log[0] if len(smk.log) else None
    handle = open(log_path, "a", buffering=1) if log_path else None
    logger = logging.getLogger("vitconcepts")
    handler = logging.StreamHandler(handle or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    redirect = contextlib.ExitStack() if handle is None else _redirected(handle)
    started = time.time()
    note = _scorer_note(smk)
    if note:
        from . import style

        style.set_watermark(note)
    try:
        with redirect:
            logger.info("rule %s: start", getattr(smk, "rule", "?"))
            if note:
                logger.warning(
                    "%s (clip_models.%s.pretrained: false)", note, smk.config["clip_model"]
                )
            yield logger
            write_rule_provenance(smk, since=started)
            logger.info("rule %s: done", getattr(smk, "rule", "?"))
    except VitconceptsError as error:
        message = f"vitconcepts error in rule {getattr(smk, 'rule', '?')}: {error}"
        if handle is not None:
            handle.write(message + "\n")
        print(message, file=console)
        raise SystemExit(1) from None
    finally:
        logger.removeHandler(handler)
        if handle is not None:
            handle.close()
        if note:
            from . import style

            style.set_watermark(None)


@contextlib.contextmanager
def _redirected(handle: Any) -> Iterator[None]:
    with contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
        yield


def _fresh(path: Path, since: float) -> bool:
    return path.exists() and path.stat().st_mtime >= since


def _input_fingerprints(paths: list[str]) -> dict[str, str]:
    fingerprints = {}
    for path in map(Path, paths):
        if path.is_file():
            size = path.stat().st_size
            fingerprints[str(path)] = (
                f"sha256:{sha256_file(path)}" if size <= HASH_LIMIT else f"bytes:{size}"
            )
        elif path.is_dir() and (path / "manifest.json").is_file():
            fingerprints[str(path)] = f"manifest sha256:{sha256_file(path / 'manifest.json')}"
    return fingerprints


def _scorer_note(smk: Any) -> str | None:
    """The random-scorer note when the run's config scores with a random CLIP, else None."""
    from .config import RANDOM_SCORER_NOTE, random_clip_scorer

    config = getattr(smk, "config", None)
    if not hasattr(config, "get"):
        return None
    return RANDOM_SCORER_NOTE if random_clip_scorer(config) else None


def write_rule_provenance(smk: Any, since: float = 0.0) -> list[Path]:
    """Write sidecars for the outputs of ``smk`` that carry no provenance of their own.

    A sidecar the job itself wrote (modified at or after ``since``) is kept; an older one,
    left by an earlier run of the rule, is replaced.
    """
    written = []
    outputs = [Path(p) for p in smk.output]
    pending = [
        p
        for p in outputs
        if p.is_file()
        and p.suffix != ".nc"
        and not _fresh(Path(str(p) + ".provenance.json"), since)
    ]
    if not pending:
        return written
    params = dict(smk.params.items())
    record = {
        "rule": getattr(smk, "rule", None),
        "wildcards": dict(smk.wildcards.items()),
        "params": params,
        "inputs": _input_fingerprints([str(p) for p in smk.input]),
    }
    note = _scorer_note(smk)
    if note:
        record["random_clip_scorer"] = note
    for path in pending:
        written.append(write_sidecar(path, **record))
    return written
