"""Errors that reach the user.

Every error raised for bad input is ONE paragraph that names the file or config key at fault
and says how to fix it. Rule scripts let these propagate: Snakemake prints them in the log.
"""

from __future__ import annotations


class VitconceptsError(Exception):
    """Base class for errors a user can fix."""

    def __init__(self, what: str, fix: str | None = None):
        message = " ".join(what.split())
        fix = " ".join((fix or "").split())
        if fix.lower().startswith("fix:"):
            fix = fix[4:].lstrip()
        if fix:
            # ``what`` may quote another VitconceptsError (wrapping); keep one "Fix:" that
            # gives the inner, more specific fix first, then the outer one.
            head, sep, inner = message.partition(" Fix: ")
            if sep:
                message = f"{head} Fix: {inner.rstrip('.')}; or {fix}"
            else:
                message = f"{message} Fix: {fix}"
        super().__init__(message)


class ConfigError(VitconceptsError):
    """A config key is missing, unknown or inconsistent."""


class InputDataError(VitconceptsError):
    """An input file (image, download, index) is missing, corrupt or unreachable."""


class StorageError(VitconceptsError):
    """Writing an output failed: disk full, no permission, or an I/O error."""
