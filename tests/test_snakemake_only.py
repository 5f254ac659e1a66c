"""The workflow definition needs nothing but Snakemake, and each rule kind's env holds what its
scripts import: runs in fresh venvs (built once per session; pip's cache usually has the
wheels, else they come from PyPI)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from workflow_copy import TINY_CONFIG, copy_workflow, snakemake_env

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = "snakemake==9.27.1"
SHARED_REFERENCE = ROOT.parent / "shared" / "paper-reference"

pytestmark = pytest.mark.slow


def _venv(where: Path, packages: list[str]) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    pip = [
        str(where / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
    ]
    proc = subprocess.run([*pip, *packages], capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return where / "bin"


def _run(bin_dir: Path, work: Path, *args: str, timeout: float = 600) -> str:
    env = snakemake_env()
    env["PATH"] = f"{bin_dir}:{env['PATH'].split(':', 1)[1]}"  # the venv's, not the project's
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [str(bin_dir / "snakemake"), *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"snakemake {' '.join(args)} failed:\n{out[-6000:]}"
    return out


@pytest.fixture(scope="session")
def snakemake_only(tmp_path_factory) -> Path:
    return _venv(tmp_path_factory.mktemp("venv") / "snakemake", [SNAKEMAKE])


@pytest.fixture(scope="session")
def analysis_env(tmp_path_factory) -> Path:
    env = yaml.safe_load((ROOT / "envs/analysis.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    return _venv(tmp_path_factory.mktemp("venv") / "analysis", [*pip, SNAKEMAKE])


def _imports(bin_dir: Path, module: str) -> bool:
    env = {k: v for k, v in snakemake_env().items() if k != "PYTHONPATH"}
    proc = subprocess.run([str(bin_dir / "python"), "-c", f"import {module}"], env=env)
    return proc.returncode == 0


def test_the_venv_holds_nothing_of_the_analysis(snakemake_only):
    for module in ("numpy", "torch", "pandas", "vitconcepts"):
        assert not _imports(snakemake_only, module), f"{module} is in the Snakemake-only venv"


@pytest.mark.parametrize(
    "args", [("--cores", "1", "--configfile", TINY_CONFIG), ("--cores", "all")]
)
def test_dry_run_plans_with_snakemake_alone(snakemake_only, tmp_path, args):
    work = copy_workflow(tmp_path / "wf")
    out = _run(snakemake_only, work, "-n", *args)
    assert "This was a dry-run" in out and "dump_activations" in out and "build_paper" in out


def test_published_labels_run_to_the_paper_without_torch(analysis_env, tmp_path):
    if not SHARED_REFERENCE.is_dir():
        pytest.skip(f"the authors' published labels are not at {SHARED_REFERENCE}")
    if shutil.which("latexmk") is None:
        pytest.skip("latexmk is not installed (bash .ci/install installs Debian's texlive)")
    assert not _imports(analysis_env, "torch"), "torch is in the analysis env"
    work = copy_workflow(tmp_path / "wf")
    _run(
        analysis_env,
        work,
        "--cores",
        "2",
        "--configfile",
        "config/published.yaml",
        "--config",
        f"published_labels={SHARED_REFERENCE}",
        timeout=1800,
    )
    assert (work / "paper/main.pdf").stat().st_size > 50_000
