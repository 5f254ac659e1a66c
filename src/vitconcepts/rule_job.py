"""Running a rule's job: its log, its errors as one paragraph, and its provenance sidecars.

Everything a job prints goes to its Snakemake log file.

Usage in a rule script::

    from vitconcepts.rule_job import rule_log

    with rule_log(snakemake):
        dump_activations(...)

Errors a user can fix (:class:`~vitconcepts.errors.VitconceptsError`) are written as one
paragraph to the log and to the console, without a traceback, and the job exits non-zero.
Any other exception is written to the log with its traceback, then explained in one
paragraph (:func:`explain`): a full disk, or an input that cannot be read (named, with the
rule that wrote it and a ``--forcerun`` command), or else what failed and where the
traceback is. A failed job leaves no provenance sidecar beside its (deleted) outputs.

On success every output file that does not carry its own provenance (NetCDF files hold it as
an attr, label CSVs get a richer sidecar from ``label_units``) gets a
``<output>.provenance.json`` sidecar: rule, wildcards, params (the config entries used),
and the sha256 of each input file (its size alone above 256 MB).

When the run's labels come from a randomly initialised CLIP scorer (``clip_models.<key>.
pretrained: false``, :func:`vitconcepts.config.random_clip_scorer`), every sidecar gets a
``random_clip_scorer`` entry and every figure saved by the job is watermarked with
:data:`vitconcepts.constants.RANDOM_SCORER_NOTE`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import InputDataError, VitconceptsError
from .io_errors import is_disk_full, producing_rule, storage_error, unreadable
from .provenance import sha256_file, write_sidecar

HASH_LIMIT = 256 * 1024 * 1024
LABEL_RULES = ("label_units", "fetch_published_labels")


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
    except Exception as error:
        _remove_sidecars(smk)
        where = ""
        if not isinstance(error, VitconceptsError):
            trace = traceback.format_exc()
            if handle is not None:
                handle.write(trace)
                where = f" (traceback above in {log_path})"
            else:
                print(trace, file=console)
            error = explain(error, smk)
        message = f"vitconcepts error in rule {getattr(smk, 'rule', '?')}: {error}{where}"
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


def _remove_sidecars(smk: Any) -> None:
    """Snakemake deletes the outputs of a failed job; their sidecars must go with them."""
    for output in getattr(smk, "output", []):
        Path(str(output) + ".provenance.json").unlink(missing_ok=True)


def _input_files(smk: Any) -> list[Path]:
    files = []
    for item in getattr(smk, "input", []):
        path = Path(str(item))
        if path.is_file():
            files.append(path)
    return files


def _damaged(path: Path) -> BaseException | None:
    """Why ``path`` cannot be read as what its suffix says (None if it reads)."""
    try:
        if path.suffix == ".nc":
            import netCDF4

            with netCDF4.Dataset(path, "r") as ds:
                for var in ds.variables.values():  # touch every variable's data
                    if var.ndim and var.size:
                        var[(slice(0, 1),) * var.ndim]
        elif path.suffix == ".csv" and producing_rule(path) in LABEL_RULES:
            from .formats import read_labels

            read_labels(path)
    except InputDataError as error:
        return error
    except Exception as error:  # noqa: BLE001 - any reader failure marks the file damaged
        return error
    return None


def explain(error: BaseException, smk: Any) -> VitconceptsError:
    """One paragraph for an exception the library did not anticipate."""
    outputs = [str(p) for p in getattr(smk, "output", [])]
    if isinstance(error, OSError | RuntimeError):
        path = getattr(error, "filename", None) or (outputs[0] if outputs else ".")
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return storage_error(path, error)
        if "HDF" in str(error) and outputs and is_disk_full(outputs[0], error):
            return storage_error(outputs[0], error)
    for path in _input_files(smk):
        problem = _damaged(path)
        if problem is not None:
            if isinstance(problem, InputDataError):
                return problem
            return unreadable(path, problem)
    filename = getattr(error, "filename", None)
    about = f" on {filename}" if filename else ""
    return VitconceptsError(
        f"the job failed with {type(error).__name__}{about}: {str(error).strip()}; its input "
        "files all open fine.",
        "read the traceback in the rule log. If it points at a file, delete that file and "
        "rerun the same snakemake command; otherwise report it with the log.",
    )


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
    from .config import random_clip_scorer
    from .constants import RANDOM_SCORER_NOTE

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
