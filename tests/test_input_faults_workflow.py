"""Fault injection on the inputs, through Snakemake: the paper config without ImageNet,
config typos, changed input folders and concept files, speed-only setting changes.

Each case asserts the message a user sees and, where the message prints a fix, runs it.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import write_images
from PIL import Image
from workflow_copy import (
    copy_workflow,
    label_targets,
    planned_jobs,
    reference_run,
    run_snakemake,
    tiny_config,
)


@pytest.fixture(scope="module")
def workflow(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("inputs") / "wf")


def _write(path: Path, config: dict) -> str:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return str(path)


def _rules(output: str) -> list[str]:
    return [rule for rule, _ in planned_jobs(output) if rule != "all"]


# -- the paper's ImageNet path ---------------------------------------------------------------
def test_paper_without_imagenet_plans_but_a_real_run_stops_before_any_job(workflow, tmp_path):
    dry = run_snakemake(workflow, "-n", "--cores", "all")
    out = dry.stdout + dry.stderr
    assert "Warning: The config key `imagenet_val` is not set" in out
    assert "prepare_probe" in _rules(out)

    real = run_snakemake(workflow, "--cores", "1", check=False, timeout=300)
    assert real.returncode != 0
    assert "The config key `imagenet_val` is not set" in real.stderr
    assert "--config imagenet_val=/data/imagenet/val` (after the targets)" in real.stderr
    assert "Traceback" not in real.stderr
    for started in ("resources", "results", "logs"):  # not one job ran (no download either)
        assert not (workflow / started).exists(), started


@pytest.mark.slow
def test_wrong_imagenet_folder_stops_and_the_printed_fix_works(tmp_path):
    workflow = copy_workflow(tmp_path / "wf")
    # a probe of ImageNet val alone, over the paper config (so the run needs no download)
    overlay = _write(
        tmp_path / "inet.yaml",
        {"probe": "inet", "probes": {"inet": {"parts": [{"kind": "imagenet_val"}]}}},
    )
    target = "resources/probes/inet/index.csv"
    flat = tmp_path / "flat_val"
    write_images(tmp_path, {"flat_val": 3}, ext=".JPEG")
    bad = run_snakemake(
        workflow,
        target,
        "--cores",
        "1",
        "--configfile",
        overlay,
        "--config",
        f"imagenet_val={flat}",
        check=False,
        timeout=300,
    )
    assert bad.returncode != 0
    assert f"`imagenet_val` points at {flat}, which has no class sub-folders" in bad.stderr
    assert not (workflow / "logs" / "prepare_probe").exists()

    # the fix as printed for an unset key, with a real folder put in
    unset = run_snakemake(
        workflow, target, "--cores", "1", "--configfile", overlay, check=False, timeout=300
    )
    fix = re.search(r"run with `([^`]*)`", unset.stderr).group(1)
    val = tmp_path / "val"
    write_images(val, {"n01440764": 2, "n01443537": 1}, ext=".JPEG")
    args = shlex.split(fix.replace("/data/imagenet/val", str(val)))
    good = run_snakemake(workflow, target, "--cores", "1", "--configfile", overlay, *args)
    assert good.returncode == 0
    index = (workflow / target).read_text().splitlines()
    assert len(index) == 1 + 3 and "n01440764/img_000.JPEG" in index[1]


# -- config typos ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        # the other levels are covered by test_input_faults.py (check_config itself)
        ({"dump": {"batchsize": 4}}, "`dump.batchsize` is not a config key (did you mean "),
    ],
)
def test_config_typos_stop_at_parse_time(workflow, tmp_path, edit, expected):
    config = tiny_config(workflow)
    for key, value in edit.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    result = run_snakemake(
        workflow,
        "-n",
        "--cores",
        "1",
        "--configfile",
        _write(tmp_path / "typo.yaml", config),
        check=False,
        timeout=300,
    )
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert expected in out
    assert "Traceback" not in out


def test_top_level_typo_in_an_overlay_does_not_plan_the_paper(workflow, tmp_path):
    """`modles:` used to load the 13 paper models silently (13 downloads planned)."""
    config = tiny_config(workflow)
    config["modles"] = config.pop("models")
    result = run_snakemake(
        workflow,
        "-n",
        "--configfile",
        _write(tmp_path / "modles.yaml", config),
        check=False,
        timeout=300,
    )
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "(did you mean `models`?)" in out
    assert "download_model" not in out


# -- changed inputs -------------------------------------------------------------------------
@pytest.mark.slow
def test_image_folder_and_concept_file_changes_are_planned(workflow, tmp_path):
    images = tmp_path / "imgs"
    paths = write_images(images, {"a": 3, "b": 3}, size=32)
    concepts = tmp_path / "concepts.txt"
    concepts.write_text("red\ngreen\nblue\n")
    config = tiny_config(workflow)
    config["probes"] = {"mine": {"parts": [{"kind": "image_folder", "path": str(images)}]}}
    config["probe"] = "mine"
    # added beside the tiny sets: the final-layer check still names its class-name set
    config["concept_sets"]["mine"] = {"kind": "file", "path": str(concepts)}
    config["concept_set"] = "mine"
    cfg = _write(tmp_path / "mine.yaml", config)
    targets = ["resources/probes/mine/index.csv", "resources/concepts/mine.txt"]
    work = copy_workflow(tmp_path / "wf")

    def plan() -> list[str]:
        result = run_snakemake(work, *targets, "-n", "--configfile", cfg)
        return sorted(_rules(result.stdout + result.stderr))

    run_snakemake(work, *targets, "--cores", "2", "--configfile", cfg)
    assert plan() == []

    Image.new("RGB", (32, 32), (9, 9, 9)).save(images / "b" / "new.png")  # added
    assert plan() == ["prepare_probe"]
    (images / "b" / "new.png").unlink()  # back as indexed
    assert plan() == []
    paths[0].unlink()  # removed
    assert plan() == ["prepare_probe"]
    run_snakemake(work, *targets, "--cores", "2", "--configfile", cfg)
    assert len((work / targets[0]).read_text().splitlines()) == 1 + 5
    assert plan() == []
    Image.new("RGB", (33, 33), (1, 2, 3)).save(paths[1])  # edited in place
    assert plan() == ["prepare_probe"]
    run_snakemake(work, *targets, "--cores", "2", "--configfile", cfg)

    concepts.write_text("red\ngreen\nblue\npurple\n")  # a concept added
    assert plan() == ["concept_set"]
    run_snakemake(work, *targets, "--cores", "2", "--configfile", cfg)
    assert (work / targets[1]).read_text().split() == ["red", "green", "blue", "purple"]
    assert plan() == []


# -- speed-only settings --------------------------------------------------------------------
@pytest.fixture
def finished_run(tmp_path, tmp_path_factory):
    ref = reference_run(tmp_path_factory)
    work = tmp_path / "wf"
    shutil.copytree(ref, work, symlinks=True)
    return work


@pytest.mark.slow
def test_speed_only_settings_plan_no_work(finished_run, tmp_path):
    config = tiny_config(finished_run)
    config["dump"].update(batch_size=3, num_workers=1, device="auto", shard_size=5)
    config["clip_embedding"].update(batch_size=5, text_batch_size=7)
    config["labeling"]["device"] = "auto"
    cfg = _write(tmp_path / "speed.yaml", config)
    targets = label_targets(finished_run)
    for cores in ("1", "2"):
        result = run_snakemake(finished_run, *targets, "-n", "--cores", cores, "--configfile", cfg)
        out = result.stdout + result.stderr
        assert "Nothing to be done" in out, out[-3000:]

    # a setting that changes the numbers still re-runs what it affects
    config["dump"]["dtype"] = "float16"
    cfg = _write(tmp_path / "dtype.yaml", config)
    result = run_snakemake(finished_run, *targets, "-n", "--configfile", cfg)
    planned = _rules(result.stdout + result.stderr)
    assert planned.count("dump_activations") == len(config["models"])
    assert "embed_images" not in planned and "prepare_probe" not in planned
