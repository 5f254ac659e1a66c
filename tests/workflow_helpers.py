"""Run the real workflow in a fresh copy of the repository, as a user would.

Tests that drive Snakemake copy the tracked files (plus new, not ignored ones) into a temp
folder, so their outputs never touch the checkout and every run starts clean.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
SHARED_REFERENCE = ROOT.parent / "shared" / "paper-reference"


def workflow_files() -> list[str]:
    """Files a clean clone would have (tracked, or new and not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    return [f for f in listed if (ROOT / f).exists() or (ROOT / f).is_symlink()]


def copy_workflow(dest: Path) -> Path:
    """Copy the workflow into ``dest`` (symlinks kept as links) and return it."""
    for name in workflow_files():
        source, target = ROOT / name, dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
        else:
            shutil.copy2(source, target)
    return dest


def run_snakemake(
    workdir: Path, *args: str, timeout: float = 900, check: bool = True, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run ``snakemake ARGS`` in ``workdir``; on failure (with check) raise with its output."""
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    result = subprocess.run(
        [*SNAKEMAKE, *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
        )
    return result


def planned_jobs(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count}."""
    jobs: dict[str, int] = {}
    lines = output.splitlines()
    if "Job stats:" not in lines:
        return jobs
    for line in lines[lines.index("Job stats:") + 3 :]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        if parts[0] != "total":
            jobs[parts[0]] = int(parts[1])
    return jobs
