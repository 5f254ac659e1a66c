"""profiles/default (the workflow profile) and profiles/slurm parse, use only options that
snakemake 9 + the slurm plugin accept, and turn the VITCONCEPTS_SLURM_* variables into the
plugin's resource keys."""

from __future__ import annotations

import io
import os
import textwrap
from pathlib import Path

import pytest
from snakemake.cli import get_argument_parser
from snakemake.profiles import ProfileConfigFileParser
from workflow_copy import (
    ROOT,
    TINY_CONFIG,
    copy_workflow,
    run_snakemake,
    snakemake_env,
)

DEFAULT = ROOT / "profiles" / "default"
SLURM = ROOT / "profiles" / "slurm"
PROFILES = [DEFAULT, SLURM]
SLURM_VARS = [
    "VITCONCEPTS_SLURM_PARTITION",
    "VITCONCEPTS_SLURM_ACCOUNT",
    "VITCONCEPTS_SLURM_QOS",
    "VITCONCEPTS_SLURM_GPU_PARTITION",
    "VITCONCEPTS_SLURM_GPU_MODEL",
    "VITCONCEPTS_SLURM_JOBS",
]
ALL_SET = {
    "VITCONCEPTS_SLURM_PARTITION": "cpu_part",
    "VITCONCEPTS_SLURM_ACCOUNT": "acct42",
    "VITCONCEPTS_SLURM_QOS": "normal",
    "VITCONCEPTS_SLURM_GPU_PARTITION": "gpu_part",
    "VITCONCEPTS_SLURM_GPU_MODEL": "a100",
    "VITCONCEPTS_SLURM_JOBS": "7",
}
GPU_RULES = ["dump_activations", "embed_images", "embed_concepts", "label_units"]


def _parse(profile: Path, monkeypatch, env: dict[str, str]) -> dict:
    for var in SLURM_VARS:
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    path = profile / "config.yaml"
    stream = io.StringIO(path.read_text())
    stream.name = str(path)
    return dict(ProfileConfigFileParser().parse(stream))


def _option_names() -> set[str]:
    parser = get_argument_parser()
    return {
        opt[2:]
        for action in parser._actions
        for opt in action.option_strings
        if opt.startswith("--")
    }


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
@pytest.mark.parametrize("env", [{}, ALL_SET], ids=["no-env", "all-env"])
def test_profile_keys_are_snakemake_options(profile, env, monkeypatch):
    parsed = _parse(profile, monkeypatch, env)
    assert parsed, f"{profile} parsed to nothing"
    unknown = sorted(set(parsed) - _option_names())
    assert not unknown, f"{profile.name}: not snakemake 9 options: {unknown}"


def test_default_profile_holds_no_site_settings(monkeypatch):
    """profiles/default is loaded for EVERY run, on top of --profile profiles/slurm, and wins
    key by key: executor, resources or job limits here would silently override the cluster
    profile (e.g. its default-resources with the partition)."""
    parsed = _parse(DEFAULT, monkeypatch, {})
    forbidden = {
        "executor",
        "jobs",
        "default-resources",
        "set-resources",
        "resources",
        "set-threads",
        "software-deployment-method",
        "sdm",
        "use-conda",
        "use-apptainer",
        "latency-wait",
        "max-jobs-per-timespan",
        "retries",
        "profile",
    }
    assert not (set(parsed) & forbidden), sorted(set(parsed) & forbidden)
    assert not [k for k in parsed if k.startswith("slurm-")]
    assert parsed.get("rerun-incomplete") in (True, "True")


def test_slurm_profile_without_env_adds_no_site_values(monkeypatch):
    parsed = _parse(SLURM, monkeypatch, {})
    assert parsed["executor"] == "slurm"
    defaults = " ".join(parsed["default-resources"])
    assert "mem_mb=" in defaults and "runtime=" in defaults
    for key in ("slurm_partition", "slurm_account", "qos"):
        assert key not in defaults
    assert "set-resources" not in parsed
    assert parsed["jobs"] == "50"


def test_slurm_profile_env_vars_map_to_plugin_keys(monkeypatch):
    parsed = _parse(SLURM, monkeypatch, ALL_SET)
    defaults = parsed["default-resources"]
    assert "slurm_partition=cpu_part" in defaults
    assert "slurm_account=acct42" in defaults
    assert "qos=normal" in defaults
    assert parsed["jobs"] == "7"
    set_res = set(parsed["set-resources"])
    for rule in GPU_RULES:
        assert f"{rule}:slurm_partition=gpu_part" in set_res
        assert f"{rule}:gpu_model=a100" in set_res


TRIVIAL = textwrap.dedent(
    """
    RULES = ["dump_activations", "embed_images", "embed_concepts", "label_units", "plot"]

    rule all:
        input: expand("out/{r}.txt", r=RULES)

    for r in RULES:
        rule:
            name: r
            output: f"out/{r}.txt"
            threads: 1
            resources: gpu=1 if r != "plot" else 0, mem_mb=100, runtime=3
            shell: "echo '{resources}' > {output}"
    """
)


def _resources_seen(tmp_path: Path, env: dict[str, str]) -> dict[str, dict[str, str]]:
    """Run the trivial workflow with profiles/slurm but the local executor (CLI wins over
    profiles) and read back the resources each rule saw."""
    (tmp_path / "Snakefile").write_text(TRIVIAL)
    run_snakemake(
        tmp_path,
        "--profile",
        str(SLURM),
        "--workflow-profile",
        str(DEFAULT),
        "--executor",
        "local",
        "--cores",
        "1",
        "--quiet",
        env=snakemake_env(**env),
        log_name="snakemake.out",
        timeout=120,
    )
    seen = {}
    for f in (tmp_path / "out").glob("*.txt"):
        seen[f.stem] = f.read_text().split()
    return seen


def test_slurm_profile_resources_reach_jobs(tmp_path):
    env = {k: "" for k in SLURM_VARS} | ALL_SET
    seen = _resources_seen(tmp_path, env)
    assert set(seen) == set(GPU_RULES) | {"plot"}
    for rule in GPU_RULES:
        assert "gpu_part" in seen[rule] and "a100" in seen[rule], seen[rule]
        assert "cpu_part" not in seen[rule]
        assert "acct42" in seen[rule]
    assert "cpu_part" in seen["plot"] and "gpu_part" not in seen["plot"]
    assert "a100" not in seen["plot"]


def test_slurm_profile_without_env_runs(tmp_path):
    seen = _resources_seen(tmp_path, {k: "" for k in SLURM_VARS})
    assert not any("gpu_part" in v or "a100" in v for v in seen.values())


@pytest.mark.parametrize("profile", ["default", "slurm"])
def test_real_workflow_dry_run_with_profile(tmp_path, profile):
    """`snakemake -n` of the tiny config accepts each profile (slurm: plugin settings and
    resource keys are parsed; nothing is submitted in a dry run)."""
    work = copy_workflow(tmp_path / "wf")
    args = ["-n", "--configfile", TINY_CONFIG]
    if profile == "slurm":
        args += ["--profile", str(work / "profiles" / "slurm")]
    env = snakemake_env(**({k: "" for k in SLURM_VARS} | ALL_SET))
    proc = run_snakemake(work, *args, env=env, log_name="dryrun.out", timeout=300)
    out = proc.stdout + proc.stderr
    assert "workflow specific profile" in out and "profiles/default" in out
    assert "dump_activations" in out
    if profile == "slurm":
        assert "Using profile" in out


def test_profiles_are_not_executable_yaml_garbage():
    for p in PROFILES:
        text = (p / "config.yaml").read_text()
        assert "\t" not in text, f"{p}: tabs in YAML"
        assert os.access(p / "config.yaml", os.R_OK)
