"""Day-2 operations on a finished tiny run: a rerun has nothing to do, and changing one
model's layers re-runs only what depends on that model's activations."""

from __future__ import annotations

import shutil

import pytest
import yaml
from workflow_copy import (
    TINY_CONFIG,
    label_targets,
    planned_jobs,
    reference_run,
    run_snakemake,
    tiny_config,
)

pytestmark = [
    pytest.mark.slow,
]


@pytest.fixture
def finished_run(tmp_path, tmp_path_factory):
    """A private copy of the finished reference run (so tests may change it)."""
    ref = reference_run(tmp_path_factory)
    work = tmp_path / "wf"
    shutil.copytree(ref, work, symlinks=True)
    # .snakemake metadata records absolute paths of nothing we rely on; mtimes are kept
    return work


def test_rerun_of_finished_workflow_has_nothing_to_do(finished_run):
    targets = label_targets(finished_run)
    proc = run_snakemake(
        finished_run, "--configfile", TINY_CONFIG, "-n", *targets, log_name="noop.out"
    )
    out = proc.stdout + proc.stderr
    assert "Nothing to be done" in out, out[-3000:]
    assert planned_jobs(out) == []


def test_changing_a_models_layers_reruns_only_that_model(finished_run):
    cfg = tiny_config(finished_run)
    probe = cfg["probe"]
    changed = "tiny_cnn" if "tiny_cnn" in cfg["models"] else next(reversed(cfg["models"]))
    entry = cfg["models"][changed]
    assert entry.get("layers"), f"tiny config's {changed} names no layers"
    entry["layers"] = list(entry["layers"])[:-1] or entry["layers"]
    assert entry["layers"] != tiny_config(finished_run)["models"][changed]["layers"]
    new_config = finished_run / ".test" / "config_layers_changed.yaml"
    new_config.write_text(yaml.safe_dump(cfg, sort_keys=False))

    targets = label_targets(finished_run)
    proc = run_snakemake(
        finished_run, "--configfile", str(new_config), "-n", *targets, log_name="layers_changed.out"
    )
    out = proc.stdout + proc.stderr
    jobs = planned_jobs(out)
    planned = {(rule, wc) for rule, wc in jobs}
    rules_planned = {rule for rule, _ in jobs}
    # what must re-run: the changed model's activations and labels
    assert any(r == "dump_activations" and f"model={changed}" in wc for r, wc in planned), out
    assert any(r == "label_units" and f"model={changed}" in wc for r, wc in planned), out
    # what must not: other models, CLIP embeddings, probe, concepts, and the download of the
    # unchanged weights (layers do not change which weights are fetched)
    others = [m for m in cfg["models"] if m != changed]
    for rule, wc in planned:
        for m in others:
            assert f"model={m}" not in wc, f"{rule} re-runs for unchanged model {m}"
    for rule in (
        "embed_images",
        "embed_concepts",
        "prepare_probe",
        "concept_set",
        "download_clip",
        "download_model",
    ):
        assert rule not in rules_planned, f"{rule} re-runs although it does not use layers"
    assert probe
