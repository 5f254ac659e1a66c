"""Run workflows through a real (one-node) SLURM with `--profile profiles/slurm`.

Opt-in: VITCONCEPTS_SLURM=1 (needs root; tests/slurm/start_slurm.sh installs and starts
munge + slurmctld + slurmd on 127.0.0.1 and is idempotent).

Checks that every non-local job went through sbatch -- the SLURM job ids that snakemake
reports appear, COMPLETED and named with snakemake's run id, in the cluster's job-completion
log -- and that the outputs equal those of a local run.

The test cluster has no slurmdbd, so `sacct` has no data: the plugin is told to poll with
`squeue` (`--slurm-status-command squeue`); start_slurm.sh sets MinJobAge=3600 so finished
jobs stay visible to squeue. Sites with slurmdbd need nothing of this.
"""

from __future__ import annotations

import filecmp
import os
import re
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from workflow_copy import (
    ROOT,
    TINY_CONFIG,
    copy_workflow,
    run_snakemake,
    snakemake_env,
)

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("VITCONCEPTS_SLURM") != "1",
        reason="SLURM tests are opt-in: set VITCONCEPTS_SLURM=1 (root; "
        "tests/slurm/start_slurm.sh starts a one-node cluster)",
    ),
]

START = ROOT / "tests" / "slurm" / "start_slurm.sh"
STOP = ROOT / "tests" / "slurm" / "stop_slurm.sh"
SUBMITTED_RE = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+)")
RUN_ID_RE = re.compile(r"SLURM run ID: (\S+)")
SLURM_VARS = [
    "VITCONCEPTS_SLURM_PARTITION",
    "VITCONCEPTS_SLURM_ACCOUNT",
    "VITCONCEPTS_SLURM_QOS",
    "VITCONCEPTS_SLURM_GPU_PARTITION",
    "VITCONCEPTS_SLURM_GPU_MODEL",
]


@pytest.fixture(scope="module")
def slurm():
    """The one-node cluster: {'dir', 'conf', 'jobcomp', 'cpus', 'mem_mb'}."""
    slurm_dir = Path(os.environ.get("VITCONCEPTS_SLURM_DIR", "/tmp/vitconcepts-slurm"))
    was_up = (
        subprocess.run(["sinfo", "-h"], capture_output=True).returncode == 0
        if _which("sinfo")
        else False
    )
    proc = subprocess.run(["bash", str(START)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"start_slurm.sh failed:\n{proc.stdout}\n{proc.stderr}"
    conf = slurm_dir / "slurm.conf"
    env = dict(os.environ, SLURM_CONF=str(conf))
    node = subprocess.run(
        ["sinfo", "-h", "-N", "-o", "%T %c %m"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.split()
    assert node and node[0].startswith(("idle", "mixed", "allocated")), node
    yield {
        "dir": slurm_dir,
        "conf": conf,
        "jobcomp": slurm_dir / "jobcomp.log",
        "cpus": int(node[1]),
        "mem_mb": int(node[2]),
    }
    if not was_up:
        subprocess.run(["bash", str(STOP)], capture_output=True, timeout=120)


def _which(name: str) -> bool:
    from shutil import which

    return which(name) is not None


def _slurm_args(slurm, set_resources: list[str] = (), max_threads: int | None = None) -> list[str]:
    args = [
        "--profile",
        str(ROOT / "profiles" / "slurm"),
        "--workflow-profile",
        str(ROOT / "profiles" / "default"),
        # no slurmdbd on the test cluster (see module doc)
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--slurm-keep-successful-logs",
        # the node has few cores: cap the rules' threads (= --cpus-per-task) to fit
        "--max-threads",
        str(max_threads or slurm["cpus"]),
        "--latency-wait",
        "10",
    ]
    if set_resources:
        args += ["--set-resources", *set_resources]
    return args


def _slurm_env(slurm) -> dict[str, str]:
    return snakemake_env(SLURM_CONF=str(slurm["conf"]), **{k: "" for k in SLURM_VARS})


def _jobcomp(slurm) -> dict[str, dict[str, str]]:
    """{job id: {field: value}} from the jobcomp/filetxt log."""
    jobs = {}
    for line in slurm["jobcomp"].read_text().splitlines():
        fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        if "JobId" in fields:
            jobs[fields["JobId"]] = fields
    return jobs


def _assert_went_through_sbatch(slurm, out: str, min_jobs: int) -> list[str]:
    run_ids = RUN_ID_RE.findall(out)
    assert run_ids, "no 'SLURM run ID' in snakemake's output: slurm executor not used?"
    submitted = SUBMITTED_RE.findall(out)
    assert len(submitted) >= min_jobs, f"only {len(submitted)} sbatch submissions:\n{out[-3000:]}"
    jobcomp = _jobcomp(slurm)
    slurm_ids = [sid for _, sid in submitted]
    for sid in slurm_ids:
        assert sid in jobcomp, f"SLURM job {sid} missing from {slurm['jobcomp']}"
        rec = jobcomp[sid]
        assert rec["JobState"] == "COMPLETED", rec
        assert rec["Name"] in run_ids, rec  # the plugin names jobs with the run id
        assert rec["Partition"] == "debug"
    return slurm_ids


# --------------------------------------------------------------- stand-alone workflow

STANDALONE = textwrap.dedent(
    """
    SAMPLES = ["a", "b", "c"]

    localrules: all

    rule all:
        input: "out/summary.txt"

    rule dump_activations:           # a 'GPU rule' name: gets the profile's GPU settings
        output: "out/{s}.txt"
        threads: 2
        resources: gpu=0, mem_mb=200, runtime=5
        shell:
            "python -c \\"import hashlib; print(hashlib.sha256(b'{wildcards.s}').hexdigest())\\""
            " > {output}; echo ${{SLURM_JOB_ID:-local}} > {output}.jobid"

    rule summarise:
        input: expand("out/{s}.txt", s=SAMPLES)
        output: "out/summary.txt"
        resources: mem_mb=200, runtime=5
        shell: "cat {input} | sort > {output}"
    """
)


def test_standalone_workflow_through_sbatch(slurm, tmp_path):
    local, cluster = tmp_path / "local", tmp_path / "slurm"
    for d in (local, cluster):
        d.mkdir()
        (d / "Snakefile").write_text(STANDALONE)
    run_snakemake(
        local,
        "--cores",
        "2",
        "--workflow-profile",
        str(ROOT / "profiles" / "default"),
        log_name="snakemake.out",
        timeout=120,
    )
    proc = run_snakemake(
        cluster, *_slurm_args(slurm), env=_slurm_env(slurm), log_name="snakemake.out", timeout=400
    )
    out = proc.stdout + proc.stderr
    slurm_ids = _assert_went_through_sbatch(slurm, out, min_jobs=4)
    assert len(slurm_ids) == 4  # 3 x dump_activations + summarise; `all` is local
    # each job really ran inside its SLURM allocation
    seen = {(cluster / "out" / f"{s}.txt.jobid").read_text().strip() for s in "abc"}
    assert seen <= set(slurm_ids) and len(seen) == 3
    assert filecmp.cmp(
        local / "out" / "summary.txt", cluster / "out" / "summary.txt", shallow=False
    )
    # SLURM logs of successful jobs were kept (--slurm-keep-successful-logs)
    assert list((cluster / ".snakemake" / "slurm_logs").rglob("*.log"))


# --------------------------------------------------------------- the real tiny workflow


def _tiny_targets(work: Path) -> list[str]:
    cfg = yaml.safe_load((work / TINY_CONFIG).read_text())
    probe = cfg["probe"]
    return [f"results/labels/{probe}/{m}.csv" for m in cfg["models"]]


def _mem_caps(cap_mb: int) -> list[str]:
    """--set-resources lowering any rule's mem_mb above ``cap_mb``: the paper-sized requests
    (16-32 GB) do not fit the test node, or not two at a time (a site setting, like a
    partition: the rules keep the paper's sizes)."""
    caps = []
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        text = smk.read_text()
        for m in re.finditer(r"^rule (\w+):(.*?)(?=^\S|\Z)", text, re.M | re.S):
            mem = re.search(r"mem_mb\s*=\s*(\d+)", m.group(2))
            if mem and int(mem.group(1)) > cap_mb:
                caps.append(f"{m.group(1)}:mem_mb={cap_mb}")
    return caps


def test_tiny_workflow_through_sbatch_equals_local(slurm, tmp_path):
    local = copy_workflow(tmp_path / "local")
    cluster = copy_workflow(tmp_path / "slurm")
    targets = _tiny_targets(local)
    run_snakemake(
        local,
        "--configfile",
        TINY_CONFIG,
        "--cores",
        "2",
        *targets,
        log_name="snakemake.out",
        timeout=900,
    )
    cap = min(4000, slurm["mem_mb"] // 2)
    proc = run_snakemake(
        cluster,
        *targets,  # before the options: --set-resources takes all values that follow
        "--configfile",
        TINY_CONFIG,
        # two jobs at a time on the node: half its cores and at most half its memory each
        *_slurm_args(slurm, _mem_caps(cap), max_threads=max(1, slurm["cpus"] // 2)),
        env=_slurm_env(slurm),
        log_name="snakemake.out",
        timeout=1200,
    )
    out = proc.stdout + proc.stderr
    slurm_ids = _assert_went_through_sbatch(slurm, out, min_jobs=len(targets))
    jobcomp = _jobcomp(slurm)
    assert all(jobcomp[s]["JobState"] == "COMPLETED" for s in slurm_ids)
    # labels: byte-identical to the local run
    for t in targets:
        assert filecmp.cmp(local / t, cluster / t, shallow=False), f"{t} differs"
    # activations: equal to float tolerance
    import xarray as xr

    for nc in sorted((local / "results" / "activations").rglob("*.nc")):
        rel = nc.relative_to(local)
        with xr.open_dataset(nc) as a, xr.open_dataset(cluster / rel) as b:
            np.testing.assert_allclose(
                a["activations"].values,
                b["activations"].values,
                rtol=1e-5,
                atol=1e-6,
                equal_nan=True,
            )
