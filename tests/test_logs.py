"""rule_log: logs, one-paragraph user errors, and provenance sidecars for every output."""

from __future__ import annotations

import json
import os
import time
from types import SimpleNamespace

import pytest

from vitconcepts.errors import ConfigError
from vitconcepts.rule_job import rule_log


class Items(dict):
    """Stands in for Snakemake's Namedlist: supports .items() and iteration over values."""

    def __iter__(self):
        return iter(self.values())


def fake_job(tmp_path, outputs, inputs=()):
    return SimpleNamespace(
        rule="demo",
        log=[str(tmp_path / "demo.log")],
        output=[str(tmp_path / name) for name in outputs],
        input=Items({f"in{i}": str(p) for i, p in enumerate(inputs)}),
        params=Items({"entry": {"kind": "wordfreq", "n": 3}}),
        wildcards=Items({"model": "vit"}),
    )


def test_output_gets_sidecar_with_inputs_and_params(tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("red\ngreen\n")
    job = fake_job(tmp_path, ["out.csv", "out.nc"], [source])
    with rule_log(job):
        print("to the log")
        (tmp_path / "out.csv").write_text("a\n1\n")
        (tmp_path / "out.nc").write_bytes(b"netcdf carries its own attrs")
    sidecar = json.loads((tmp_path / "out.csv.provenance.json").read_text())
    assert sidecar["rule"] == "demo" and sidecar["wildcards"] == {"model": "vit"}
    assert sidecar["params"]["entry"] == {"kind": "wordfreq", "n": 3}
    assert sidecar["inputs"][str(source)].startswith("sha256:")
    assert "torch" in sidecar["packages"]
    assert not (tmp_path / "out.nc.provenance.json").exists()
    log = (tmp_path / "demo.log").read_text()
    assert "to the log" in log and "rule demo: done" in log


def test_stale_sidecar_is_replaced_but_fresh_one_kept(tmp_path):
    stale = tmp_path / "old.csv.provenance.json"
    stale.write_text('{"stale": true}')
    old = time.time() - 3600
    os.utime(stale, (old, old))
    job = fake_job(tmp_path, ["old.csv", "own.csv"])
    with rule_log(job):
        (tmp_path / "old.csv").write_text("x\n")
        (tmp_path / "own.csv").write_text("y\n")
        (tmp_path / "own.csv.provenance.json").write_text('{"own": true}')
    assert "stale" not in json.loads(stale.read_text())
    assert json.loads((tmp_path / "own.csv.provenance.json").read_text()) == {"own": True}


def test_user_error_is_one_paragraph_on_console_and_log(tmp_path, capfd):
    job = fake_job(tmp_path, ["out.csv"])
    with pytest.raises(SystemExit) as info:
        with rule_log(job):
            raise ConfigError("Config key `models.x.source` is 'keras'.", "use timm.")
    assert info.value.code == 1
    console = capfd.readouterr().err
    assert "models.x.source" in console and "Traceback" not in console
    assert "Fix: use timm." in (tmp_path / "demo.log").read_text()
    assert not (tmp_path / "out.csv.provenance.json").exists()


def test_random_scorer_stamps_sidecars_and_figures(tmp_path):
    from PIL import Image

    from vitconcepts import style
    from vitconcepts.constants import RANDOM_SCORER_NOTE

    def figure_job(pretrained, name):
        job = fake_job(tmp_path, [f"{name}.csv", f"{name}.png"])
        job.config = {
            "labels_source": "computed",
            "clip_model": "c",
            "clip_models": {"c": {"arch": "ViT-B-16", "pretrained": pretrained}},
        }
        with rule_log(job):
            fig, ax = style.plt.subplots()
            ax.plot([0, 1])
            style.save_figure(fig, tmp_path / f"{name}.pdf")
            (tmp_path / f"{name}.csv").write_text("a\n1\n")
        style.set_watermark(None)
        sidecar = json.loads((tmp_path / f"{name}.csv.provenance.json").read_text())
        with Image.open(tmp_path / f"{name}.png") as image:
            description = image.text.get("Description")
        return sidecar.get("random_clip_scorer"), description, (tmp_path / "demo.log").read_text()

    note, description, log = figure_job(False, "random")
    assert note == description == RANDOM_SCORER_NOTE
    assert RANDOM_SCORER_NOTE in log
    assert figure_job("openai", "real")[:2] == (None, None)


def _truncated_nc(path):
    import numpy as np
    import xarray as xr

    path.parent.mkdir(parents=True, exist_ok=True)
    values = np.random.default_rng(0).normal(size=(200, 32)).astype("float32")
    xr.Dataset({"embedding": (("sample", "dim"), values)}).to_netcdf(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def test_foreign_error_names_the_truncated_input_and_the_rule(tmp_path, capfd):
    """A raw 'NetCDF: HDF error' becomes one paragraph naming the file, the rule that wrote
    it and a --forcerun command; the traceback goes to the rule log, and the failed job's
    stale sidecar goes with its output."""
    import netCDF4

    bad = _truncated_nc(tmp_path / "results" / "clip" / "test" / "tiny_clip.nc")
    job = fake_job(tmp_path, ["out.csv"], [bad])
    (tmp_path / "out.csv.provenance.json").write_text("{}")  # from an earlier run
    with pytest.raises(SystemExit) as info:
        with rule_log(job):
            netCDF4.Dataset(bad)
    assert info.value.code == 1
    console = capfd.readouterr().err
    assert str(bad) in console and "written by rule embed_images" in console
    assert f"--forcerun embed_images -- {bad}" in console and "truncated" in console
    assert "Traceback" not in console
    log = (tmp_path / "demo.log").read_text()
    assert "Traceback" in log and str(bad) in log.splitlines()[-1]
    assert not (tmp_path / "out.csv.provenance.json").exists()


def test_enospc_is_explained_as_a_full_disk(tmp_path, capfd):
    import errno

    job = fake_job(tmp_path, ["out.csv"])
    with pytest.raises(SystemExit):
        with rule_log(job):
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out.csv"))
    console = capfd.readouterr().err
    assert "ENOSPC" in console and "disk full on /" in console and "out.csv" in console
    assert "free space on" in console


def test_unexpected_error_points_at_the_log(tmp_path, capfd):
    job = fake_job(tmp_path, ["out.csv"])
    with pytest.raises(SystemExit):
        with rule_log(job):
            raise ValueError("something odd")
    console = capfd.readouterr().err
    assert "ValueError: something odd" in console and "demo.log" in console
    assert "Traceback" in (tmp_path / "demo.log").read_text()


def test_foreign_error_with_a_damaged_label_input_names_it(tmp_path, capfd):
    labels = tmp_path / "results" / "labels" / "test" / "vit.csv"
    labels.parent.mkdir(parents=True)
    labels.write_text("layer,unit,description,similarity,images\nb0,0,red,high,[1]\n")
    job = fake_job(tmp_path, ["out.csv"], [labels])
    with pytest.raises(SystemExit):
        with rule_log(job):
            float("high")  # a reader that trips over the value without naming the file
    console = capfd.readouterr().err
    assert str(labels) in console and "not a number, first line 2" in console
    assert f"--forcerun label_units -- {labels}" in console
