"""A run killed inside dump_activations or label_units resumes from its finished shards.

The tiny config is run in a private copy of the repo; the run is interrupted once the rule's
``<output>.partial`` records at least one finished shard (the job is throttled with
SIGSTOP/SIGCONT and inspected while stopped, so this works on any machine speed), then
rerun with --rerun-incomplete. The rerun must say in the rule log that it resumed at the
recorded shard, not from zero, and its results must equal an uninterrupted run's.
"""

from __future__ import annotations

import re
import signal

import pytest
from workflow_copy import (
    TINY_CONFIG,
    assert_same_results,
    copy_workflow,
    interrupt_when_partial,
    label_targets,
    reference_run,
    run_snakemake,
    start_snakemake,
    tiny_config,
)

pytestmark = [
    pytest.mark.slow,
]

# "resuming <path> at sample 16 of 96" / "resuming <path>: 1 of 2 layers already labelled"
RESUME_RE = re.compile(r"resum\w*\b[^\n]*?(?:at sample |: )(\d+) of (\d+)", re.I)
# tqdm's first progress line of a bar started at `initial` ("... 16/96 [00:00<?, ?img/s]")
TQDM_START_RE = re.compile(r"\|\s*(\d+)/(\d+) \[00:00<\?")


def _resumed_at(log: str) -> tuple[int, int] | None:
    """(start, total) the rerun says it resumed at: the library's "resuming ..." message, or
    else the position at which the job's progress bar started."""
    found = RESUME_RE.findall(log) or TQDM_START_RE.findall(log.replace("\r", "\n"))[:1]
    return (int(found[-1][0]), int(found[-1][1])) if found else None


def _interrupt_and_resume(tmp_path, rule: str, partial_of, sig) -> tuple:
    work = copy_workflow(tmp_path / "wf")
    cfg = tiny_config(work)
    probe = cfg["probe"]
    model = next(iter(cfg["models"]))
    targets = label_targets(work)
    partial = work / partial_of(probe, model)
    # Only this model's jobs run in the interrupted run: with two dump (or label) jobs at a
    # time, the throttled job could be another model's while this one finished unobserved.
    own_target = f"results/labels/{probe}/{model}.csv"
    proc = start_snakemake(
        work, "--configfile", TINY_CONFIG, "--cores", "2", own_target, log_name="interrupted.out"
    )
    try:
        done = interrupt_when_partial(proc, partial, f"{rule}.py", sig)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert partial.exists(), f"{partial.name} vanished when the run was interrupted"
    assert not (work / partial_of(probe, model).removesuffix(".partial")).exists()
    # a hard kill leaves snakemake's lock behind, as after a node failure
    run_snakemake(work, "--configfile", TINY_CONFIG, "--unlock", log_name="unlock.out")
    run_snakemake(
        work,
        "--configfile",
        TINY_CONFIG,
        "--cores",
        "2",
        "--rerun-incomplete",
        *targets,
        log_name="resumed.out",
        timeout=900,
    )
    log = (work / "logs" / rule / probe / f"{model}.log").read_text()
    return work, targets, partial, done, log


@pytest.mark.parametrize("sig", [signal.SIGKILL], ids=["SIGKILL"])
def test_dump_activations_resumes_after_kill(tmp_path, tmp_path_factory, sig):
    work, targets, partial, done, log = _interrupt_and_resume(
        tmp_path,
        "dump_activations",
        lambda probe, model: f"results/activations/{probe}/{model}.nc.partial",
        sig,
    )
    assert done >= 1
    resumed = _resumed_at(log)
    assert resumed, f"the rerun did not log that it resumed:\n{log[-3000:]}"
    assert resumed[0] == done, f"resumed at {resumed}, the partial had {done} done"
    assert 0 < resumed[0] < resumed[1]
    assert not partial.exists()
    assert_same_results(reference_run(tmp_path_factory), work, targets)


@pytest.mark.parametrize("sig", [signal.SIGTERM], ids=["SIGTERM"])
def test_label_units_resumes_after_termination(tmp_path, tmp_path_factory, sig):
    work, targets, partial, done, log = _interrupt_and_resume(
        tmp_path,
        "label_units",
        lambda probe, model: f"results/labels/{probe}/{model}_topk.nc.partial",
        sig,
    )
    assert done >= 1
    resumed = _resumed_at(log)
    assert resumed, f"the rerun did not log that it resumed:\n{log[-3000:]}"
    assert resumed[0] == done, f"resumed at {resumed}, the partial had {done} done"
    assert not partial.exists()
    assert_same_results(reference_run(tmp_path_factory), work, targets)
