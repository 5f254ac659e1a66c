"""Two independent runs of the tiny config give identical labels (and activations)."""

from __future__ import annotations

import pytest
from workflow_copy import (
    TINY_CONFIG,
    assert_same_results,
    copy_workflow,
    label_targets,
    reference_run,
    run_snakemake,
)

pytestmark = [
    pytest.mark.slow,
]


def test_two_runs_give_identical_labels(tmp_path, tmp_path_factory):
    ref = reference_run(tmp_path_factory)
    work = copy_workflow(tmp_path / "wf")
    targets = label_targets(work)
    # one core this time: a different schedule and thread count must not change results
    run_snakemake(
        work,
        "--configfile",
        TINY_CONFIG,
        "--cores",
        "1",
        *targets,
        log_name="snakemake.out",
        timeout=900,
    )
    assert_same_results(ref, work, targets)
