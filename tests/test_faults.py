"""Fault injection: damaged outputs, bad label files, a full disk, a stray installed library.

Each test asserts the message (file named, the rule that wrote it, a fix that works as
printed) and that no finished data is lost. The streamed writer's own faults (failed sync,
damaged shards, a real full tmpfs) are in test_ncstream.py; rule_log's in test_logs.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from test_labeling import run_label, write_inputs
from workflow_copy import (
    TINY_CONFIG,
    copy_workflow,
    read_completed,
    run_snakemake,
    snakemake_env,
    tiny_config,
)

from vitconcepts.analysis import concepts_per_layer
from vitconcepts.errors import InputDataError
from vitconcepts.formats import read_labels
from vitconcepts.tables import table_models

GOOD = """layer,unit,description,similarity,images
blocks.0,0,red,0.5,[1 2 3 4 5]
blocks.0,1,dog,0.25,[1 2 3 4 5]
blocks.1,0,sky,0.75,[1 2 3 4 5]
blocks.1,1,car,0.125,[1 2 3 4 5]
"""

# (what is wrong, the file's text, what the message must say)
BAD_LABELS = [
    ("NaN similarity", GOOD.replace("0.25", "nan"), "NaN/inf or empty similarity, first line 3"),
    ("empty similarity", GOOD.replace("0.25", ""), "NaN/inf or empty similarity, first line 3"),
    ("text similarity", GOOD.replace("0.25", "high"), "not a number, first line 3"),
    ("inf similarity", GOOD.replace("0.25", "inf"), "NaN/inf"),
    ("unit beyond the layer", GOOD.replace("blocks.1,1,", "blocks.1,2,"), "out of range: [2]"),
    (
        "repeated unit (768--769 units)",
        GOOD + "blocks.1,1,cat,0.5,[1 2 3 4 5]\n",
        "repeated: [1]",
    ),
    ("unit not an integer", GOOD.replace("blocks.0,1,", "blocks.0,one,"), "not an integer"),
    ("missing column", GOOD.replace(",similarity", ",score"), "lacks"),
]


@pytest.mark.parametrize(("why", "text", "says"), BAD_LABELS, ids=[b[0] for b in BAD_LABELS])
def test_bad_label_file_is_named_with_its_rule(tmp_path, why, text, says):
    """The one label-CSV reader (analysis, figures, tables, atlas, agreement all use it)."""
    path = tmp_path / "results" / "labels" / "test" / "vit.csv"
    path.parent.mkdir(parents=True)
    path.write_text(GOOD)
    assert len(read_labels(path)) == 4  # the good file reads
    path.write_text(text)
    with pytest.raises(InputDataError) as info:
        read_labels(path)
    message = str(info.value)
    assert str(path) in message and says in message, message
    assert f"--forcerun label_units -- {path}" in message


def test_published_label_file_fix_names_the_fetch_rule(tmp_path):
    path = tmp_path / "resources" / "published" / "labels" / "vit.csv"
    path.parent.mkdir(parents=True)
    path.write_text(GOOD.replace("0.25", "nan"))
    with pytest.raises(InputDataError, match="--forcerun fetch_published_labels"):
        read_labels(path)


def test_no_table_or_count_from_a_damaged_label_file(tmp_path):
    """The fault sweep's "768--769 units" row and its all-NaN counts cannot be produced."""
    path = tmp_path / "vit.csv"
    path.write_text(GOOD + "blocks.1,1,cat,0.5,[1 2 3 4 5]\n")
    entry = {"source": "timm", "weights": "w", "arch": "vit", "preprocessing": "paper"}
    with pytest.raises(InputDataError, match="repeated"):
        table_models({"vit": entry}, tmp_path / "models.tex", {"vit": path})
    path.write_text(GOOD.replace("0.5", "nan").replace("0.25", "nan"))
    with pytest.raises(InputDataError, match="NaN"):
        concepts_per_layer({"vit": path}, tmp_path / "counts.csv")
    assert not (tmp_path / "counts.csv").exists()


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("which", [0, 1, 2], ids=["activations", "images", "concepts"])
def test_label_units_names_a_truncated_input(tmp_path, which):
    inputs = list(write_inputs(tmp_path / "in"))
    _truncate(inputs[which])
    with pytest.raises(InputDataError) as info:
        run_label(inputs, tmp_path / "out")
    message = str(info.value)
    assert str(inputs[which]) in message and "truncated or corrupt" in message
    assert not (tmp_path / "out" / "vit.csv").exists()


@pytest.mark.parametrize("which", [1, 2], ids=["images", "concepts"])
def test_label_units_rejects_nan_embeddings(tmp_path, which):
    inputs = list(write_inputs(tmp_path / "in"))
    with xr.open_dataset(inputs[which]) as ds:
        damaged = ds.load()
    values = damaged["embedding"].values.copy()
    values[3] = np.nan
    damaged["embedding"].values = values
    target = inputs[which].with_name(f"nan_{inputs[which].name}")
    damaged.to_netcdf(target)
    inputs[which] = target
    with pytest.raises(InputDataError, match=r"NaN/inf values in the (image|concept) embed"):
        run_label(inputs, tmp_path / "out")


def test_label_csv_written_by_label_units_passes_the_checks(tmp_path):
    csv, _ = run_label(write_inputs(tmp_path / "in"), tmp_path / "out")
    frame = read_labels(csv)
    assert len(frame) == 18 and np.isfinite(frame["similarity"]).all()
    assert pd.read_csv(csv)["unit"].tolist()[:3] == [0, 1, 2]


def test_rule_job_imports_the_checkouts_library(tmp_path):
    """A decoy `vitconcepts` ahead of the checkout on the path (as another checkout's
    editable install in a shared venv would be) is not what a rule job runs."""
    work = copy_workflow(tmp_path / "wf")
    decoy = tmp_path / "decoy" / "vitconcepts"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise ImportError('the decoy vitconcepts was imported')\n")
    env = snakemake_env(PYTHONPATH=str(decoy.parent))
    target = "resources/concepts/test.txt"
    run_snakemake(
        work, "--configfile", TINY_CONFIG, "--cores", "1", target, log_name="run.out", env=env
    )
    assert (work / target).is_file()
    assert "decoy" not in (work / "run.out").read_text()


def test_every_rule_script_imports_the_checkout_first():
    from workflow_copy import ROOT

    for script in sorted((ROOT / "scripts").glob("*.py")):
        if script.name == "_use_checkout.py":
            continue
        lines = script.read_text().splitlines()
        imports = [
            i
            for i, line in enumerate(lines)
            if line.startswith(("from vitconcepts", "import vitconcepts"))
        ]
        first = imports[0] if imports else None
        guard = next(
            (i for i, line in enumerate(lines) if line.startswith("import _use_checkout")), None
        )
        assert guard is not None and (first is None or guard < first), (
            f"{script.name} must `import _use_checkout` before importing vitconcepts"
        )


def _fill(directory):
    """Write a filler file into ``directory`` until its file system is full."""
    filler = directory / "filler.bin"
    block = b"\0" * 65536
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(block)
        except OSError:
            pass
    with open(filler, "ab", buffering=0) as handle:  # the last partial pages
        try:
            while True:
                handle.write(b"\0" * 512)
        except OSError:
            pass
    return filler


@pytest.mark.slow
def test_disk_full_during_embed_images_then_rerun(tmp_path, small_tmpfs):
    """results/ on a real tmpfs that fills up after embed_images' first shard: the job fails
    (exit non-zero) naming ENOSPC, the full mount and the file; a dump started on the still
    full disk says the same (not netCDF's "PermissionError ... .partial"); after space is
    freed the rerun resumes and its output equals an uninterrupted run's, with no NaN."""
    import shutil

    from workflow_copy import interrupt_when_partial, start_snakemake

    work = copy_workflow(tmp_path / "wf")
    results = small_tmpfs(4096)
    (work / "results").symlink_to(results, target_is_directory=True)
    out = "results/clip/test/tiny_clip.nc"
    # no pixel cache: the dump below must be the first job to write on the full disk
    config = ("--configfile", TINY_CONFIG, "--config", "pixel_cache=false", "--cores", "1")
    proc = start_snakemake(work, *config, out, log_name="full.out")
    try:
        done = interrupt_when_partial(
            proc,
            work / f"{out}.partial",
            "embed_images.py",
            sig=0,
            min_done=16,
            action=lambda: _fill(results),
        )
        assert proc.wait(timeout=600) != 0, "the run on a full disk exited 0"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # the tiny probe's images: its synthetic patterns and its synthetic Broden photos
    n_images = sum(part["n"] for part in tiny_config(work)["probes"]["test"]["parts"])
    assert 16 <= done < n_images
    log = (work / "logs" / "embed_images" / "test" / "tiny_clip.log").read_text()
    message = log.strip().splitlines()[-1]
    assert "ENOSPC" in message and f"disk full on {results}" in message, log[-3000:]
    assert f"{out}.partial" in message and "Fix: free space on" in message
    assert not (work / out).exists()
    kept = read_completed(work / f"{out}.partial")
    assert kept is not None and kept >= done  # the shards on disk are kept

    # another streamed output on the still-full disk: named as a full disk
    dump = run_snakemake(
        work, *config, "results/activations/test/tiny_vit.nc", log_name="dump.out", check=False
    )
    assert dump.returncode != 0
    dump_log = (work / "logs" / "dump_activations" / "test" / "tiny_vit.log").read_text()
    assert "disk full on" in dump_log.strip().splitlines()[-1], dump_log[-3000:]
    assert "PermissionError" not in dump_log.strip().splitlines()[-1]

    (results / "filler.bin").unlink()
    run_snakemake(work, *config, out, log_name="resumed.out")
    resumed = tmp_path / "resumed.nc"
    shutil.copy(work / out, resumed)
    log = (work / "logs" / "embed_images" / "test" / "tiny_clip.log").read_text()
    assert f"{kept}/{n_images}" in log.replace("\r", "\n"), "the rerun did not resume"
    run_snakemake(work, *config, "--forcerun", "embed_images", "--", out, log_name="ref.out")
    with xr.open_dataset(resumed) as a, xr.open_dataset(work / out) as b:
        assert np.isfinite(a["embedding"].values).all()
        np.testing.assert_array_equal(a["embedding"].values, b["embedding"].values)
        assert list(a["sample_id"].values) == list(b["sample_id"].values)
