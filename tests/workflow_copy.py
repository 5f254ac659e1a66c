"""Helpers for the end-to-end tests: run the real workflow in a private copy of the repo.

The copy holds what git would (tracked + untracked-but-not-ignored files, minus tests/), so
results/, resources/, logs/ and .snakemake/ of the developer's tree are neither read nor
written, and tests can run while someone else works in the repository.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
TINY_CONFIG = ".test/config.yaml"


def require_workflow() -> None:
    """Fail (never skip) when the checkout lacks the Snakefile or the tiny test config."""
    missing = [name for name in ("Snakefile", TINY_CONFIG) if not (ROOT / name).is_file()]
    assert not missing, (
        f"the workflow tests need {', '.join(missing)} in {ROOT}: they are part of the "
        "project; restore them (git checkout -- Snakefile .test) or update TINY_CONFIG in "
        "tests/workflow_copy.py if they moved."
    )


def copy_workflow(dest: Path) -> Path:
    """Copy the repository's sources (as git sees them) to ``dest``; return ``dest``.

    Fails with a clear message when the Snakefile or the tiny config is missing."""
    require_workflow()
    dest.mkdir(parents=True, exist_ok=True)
    files = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in files:
        if not rel or rel.startswith("tests/"):
            continue
        src = ROOT / rel
        target = dest / rel
        if src.is_symlink():  # scripts/vitconcepts -> ../src/vitconcepts
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.readlink(src), target)
            continue
        if not src.is_file():  # deleted in the work tree but still in the index
            continue
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
    workdir: Path,
    *args: str,
    timeout: float = 600,
    log_name: str | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run snakemake in ``workdir``; keep its output in ``workdir/<log_name>``."""
    cmd = snakemake_cmd(*args)
    proc = subprocess.run(
        cmd,
        cwd=workdir,
        env=env or snakemake_env(),
        capture_output=True,
        text=True,
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


# ------------------------------------------------------------------ tiny-config runs


def tiny_config(work: Path) -> dict:
    import yaml

    return yaml.safe_load((work / TINY_CONFIG).read_text())


def label_targets(work: Path) -> list[str]:
    """The labels CSV of every model of the tiny config (everything up to labeling; the
    paper itself needs LaTeX, which the test machine may lack)."""
    cfg = tiny_config(work)
    return [f"results/labels/{cfg['probe']}/{m}.csv" for m in cfg["models"]]


_REFERENCE: dict[str, Path] = {}


def reference_run(tmp_path_factory) -> Path:
    """One uninterrupted local run of the tiny config, shared by every test of the session
    (do not modify it): the whole DAG to paper/main.pdf where LaTeX is installed, else up to
    the labels."""
    if "tiny" not in _REFERENCE:
        work = copy_workflow(tmp_path_factory.mktemp("reference") / "wf")
        targets = [] if shutil.which("latexmk") else label_targets(work)
        run_snakemake(
            work,
            "--configfile",
            TINY_CONFIG,
            "--cores",
            "2",
            *targets,
            log_name="snakemake.out",
            timeout=900,
        )
        _REFERENCE["tiny"] = work
    return _REFERENCE["tiny"]


def assert_same_results(ref: Path, other: Path, targets: list[str]) -> None:
    """Labels CSVs byte-identical; activations equal to float tolerance."""
    import filecmp

    import numpy as np
    import xarray as xr

    for t in targets:
        assert (other / t).is_file(), f"{t} missing in {other}"
        assert filecmp.cmp(ref / t, other / t, shallow=False), f"{t} differs from reference"
    ncs = sorted((ref / "results" / "activations").rglob("*.nc"))
    assert ncs, "reference run has no activations"
    for nc in ncs:
        rel = nc.relative_to(ref)
        with xr.open_dataset(nc) as a, xr.open_dataset(other / rel) as b:
            assert list(a["layer"].values) == list(b["layer"].values), rel
            np.testing.assert_allclose(
                a["activations"].values,
                b["activations"].values,
                rtol=1e-5,
                atol=1e-6,
                equal_nan=True,
                err_msg=str(rel),
            )


# ------------------------------------------------------------------ dry-run parsing


def planned_jobs(output: str) -> list[tuple[str, str]]:
    """[(rule, wildcards text)] of the jobs a `snakemake -n` output lists."""
    import re

    jobs = []
    blocks = re.split(r"^(?:local)?(?:rule|checkpoint) (\w+):\s*$", output, flags=re.M)
    # blocks = [preamble, rule1, body1, rule2, body2, ...]
    for rule, body in zip(blocks[1::2], blocks[2::2], strict=True):
        m = re.search(r"^\s+wildcards: (.*)$", body, re.M)
        jobs.append((rule, m.group(1).strip() if m else ""))
    return jobs


# ------------------------------------------------------------------ interrupting a job


def read_completed(partial: Path) -> int | None:
    """The finished-entry count of a ShardedNetCDFWriter partial file, from the
    ``<partial>.progress`` file it rewrites after every shard (None while there is none).
    Reading the HDF5 file itself while its writer has it open is not reliable."""
    progress = Path(str(partial) + ".progress")
    try:
        return int(progress.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def interrupt_when_partial(
    proc: subprocess.Popen,
    partial: Path,
    script_name: str,
    sig: int,
    min_done: int = 1,
    timeout: float = 600,
    slice_s: float = 0.005,
    action=None,
) -> int:
    """Interrupt a snakemake run (started with start_new_session=True) once the rule job
    running ``script_name`` has recorded ``min_done`` finished shards in ``partial``.

    The job is throttled with SIGSTOP/SIGCONT (runs ``slice_s`` at a time) and inspected
    while stopped, so the interruption lands between shards however fast the machine is.
    ``sig`` = SIGKILL: snakemake and all its descendants die at once (a node failure; the
    stale lock needs `snakemake --unlock`). SIGTERM: only the job's processes get it, as
    from SLURM at a time limit or scancel; snakemake sees the job fail, finishes the rest
    (keep-going) and exits non-zero. Returns the completed count seen before the signal.
    With ``action`` (a callable), it is called while the job is stopped instead of sending
    a signal (e.g. to fill the disk), then the job continues.
    """
    import signal

    import psutil

    root = psutil.Process(proc.pid)
    deadline = time.monotonic() + timeout

    def job_procs():
        found = []
        try:
            for p in root.children(recursive=True):
                try:
                    cmd = p.cmdline()
                    # the interpreter running the rule script (not the shell around it)
                    if (
                        cmd
                        and "python" in Path(cmd[0]).name
                        and any(script_name in part for part in cmd)
                    ):
                        found.append(p)
                except (psutil.NoSuchProcess, psutil.ZombieProcess):
                    pass
        except psutil.NoSuchProcess:
            pass
        return found

    jobs: list = []
    while True:
        if proc.poll() is not None:
            raise AssertionError(
                f"snakemake ended (rc {proc.returncode}) before {partial.name} had "
                f"{min_done} finished shard(s)"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {partial}")
        # looking processes up is slow; do it only until the job is found (or has ended)
        if not jobs or not all(p.is_running() for p in jobs):
            jobs = job_procs()
        if not jobs:
            time.sleep(0.01)
            continue
        for p in jobs:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.suspend()
        done = read_completed(partial) if partial.exists() else None
        if done is not None and done >= min_done:
            if action is not None:
                action()
                for p in jobs:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        p.resume()
                return done
            if sig == signal.SIGKILL:
                tree = [root, *root.children(recursive=True)]
                for p in tree:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        p.kill()
                proc.wait(timeout=120)
                _wait_gone(tree)
            else:
                for p in jobs:  # a stopped process gets the signal once continued
                    with contextlib.suppress(psutil.NoSuchProcess):
                        p.send_signal(sig)
                        p.resume()
                _wait_gone(jobs)
                proc.wait(timeout=timeout)
            return done
        for p in jobs:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.resume()
        time.sleep(slice_s)


def _wait_gone(procs, timeout: float = 60) -> None:
    import psutil

    gone, alive = psutil.wait_procs(procs, timeout=timeout)
    for p in alive:  # only processes of the run we started
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(alive, timeout=10)


def start_snakemake(workdir: Path, *args: str, log_name: str) -> subprocess.Popen:
    log = open(workdir / log_name, "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        snakemake_cmd(*args),
        cwd=workdir,
        env=snakemake_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
