"""Logging for rule scripts: everything a job prints goes to its Snakemake log file.

Usage in a rule script::

    from vitconcepts.logs import rule_log

    with rule_log(snakemake):
        dump_activations(...)

Errors a user can fix (:class:`~vitconcepts.errors.VitconceptsError`) are written as one
paragraph to the log and to the console, without a traceback, and the job exits non-zero.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Any

from .errors import VitconceptsError


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
    try:
        with redirect:
            logger.info("rule %s: start", getattr(smk, "rule", "?"))
            yield logger
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


@contextlib.contextmanager
def _redirected(handle: Any) -> Iterator[None]:
    with contextlib.redirect_stdout(handle), contextlib.redirect_stderr(handle):
        yield
