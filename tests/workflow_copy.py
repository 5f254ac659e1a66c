"""Helpers for the end-to-end tests: run the real workflow in a private copy of the repo.

The copy holds what git would (tracked + untracked-but-not-ignored files, minus tests/), so
results/, resources/, logs/ and .snakemake/ of the developer's tree are neither read nor
written, and tests can run while someone else works in the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
TINY_CONFIG = ".test/config.yaml"


def workflow_exists() -> bool:
    return (ROOT / "Snakefile").is_file() and (ROOT / TINY_CONFIG).is_file()


def copy_workflow(dest: Path) -> Path:
    """Copy the repository's sources (as git sees them) to ``dest``; return ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")
    for rel in files:
        if not rel or rel.startswith("tests/"):
            continue
        src = ROOT / rel
        if not src.is_file():  # deleted in the work tree but still in the index
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    return dest


def snakemake_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    # keep the workflow offline and quiet about hubs
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.update(extra)
    return env


def snakemake_cmd(*args: str) -> list[str]:
    return [str(VENV_BIN / "python"), "-m", "snakemake", *args]


def run_snakemake(
    workdir: Path, *args: str, timeout: float = 600, log_name: str | None = None,
    check: bool = True, env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run snakemake in ``workdir``; keep its output in ``workdir/<log_name>``."""
    cmd = snakemake_cmd(*args)
    proc = subprocess.run(
        cmd, cwd=workdir, env=env or snakemake_env(), capture_output=True, text=True,
        timeout=timeout,
    )
    out = proc.stdout + proc.stderr
    if log_name:
        (workdir / log_name).write_text(out)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed (rc {proc.returncode}) in {workdir}:\n"
            + out[-6000:]
        )
    return proc


def wait_for(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
