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
from workflow_copy import TINY_CONFIG, copy_workflow, run_snakemake, snakemake_env, workflow_exists

from vitconcepts.analysis import concepts_per_layer, load_labels
from vitconcepts.errors import InputDataError
from vitconcepts.figures import read_label_csv
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


@pytest.mark.parametrize("reader", [load_labels, read_label_csv], ids=["analysis", "figures"])
@pytest.mark.parametrize(("why", "text", "says"), BAD_LABELS, ids=[b[0] for b in BAD_LABELS])
def test_bad_label_file_is_named_with_its_rule(tmp_path, reader, why, text, says):
    path = tmp_path / "results" / "labels" / "test" / "vit.csv"
    path.parent.mkdir(parents=True)
    path.write_text(GOOD)
    assert len(reader(path)) == 4  # the good file reads
    path.write_text(text)
    with pytest.raises(InputDataError) as info:
        reader(path)
    message = str(info.value)
    assert str(path) in message and says in message, message
    assert f"--forcerun label_units -- {path}" in message


def test_published_label_file_fix_names_the_fetch_rule(tmp_path):
    path = tmp_path / "resources" / "published" / "labels" / "vit.csv"
    path.parent.mkdir(parents=True)
    path.write_text(GOOD.replace("0.25", "nan"))
    with pytest.raises(InputDataError, match="--forcerun fetch_published_labels"):
        load_labels(path)


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
    frame = load_labels(csv)
    assert len(frame) == 18 and np.isfinite(frame["similarity"]).all()
    assert pd.read_csv(csv)["unit"].tolist()[:3] == [0, 1, 2]


@pytest.mark.skipif(not workflow_exists(), reason="no Snakefile/.test/config.yaml yet")
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
