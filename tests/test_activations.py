"""Tests for dump_activations / read_layer: values, layout, padding, resume, validation."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
import xarray as xr
from test_models import (
    HF_VIT,
    TIMM_CNN,
    TIMM_VIT,
    reference_hf,
    reference_timm_resnet,
    reference_timm_vit,
)

import vitconcepts.activations as activations
from vitconcepts.activations import dump_activations
from vitconcepts.errors import ConfigError
from vitconcepts.formats import read_layer
from vitconcepts.models import build_transform, load_model, resolve_model_spec
from vitconcepts.ncstream import ShardedNetCDFWriter
from vitconcepts.probe import ProbeDataset


def _images(spec, model, csv):
    dataset = ProbeDataset(csv, build_transform(spec, model))
    return torch.stack([dataset[i][0] for i in range(len(dataset))])


def _dump(spec, csv, out, **kwargs):
    options = {"dtype": "float32", "batch_size": 5, "shard_size": 4, "device": "cpu"}
    return dump_activations(spec, csv, None, out, **{**options, **kwargs})


@pytest.mark.parametrize(
    ("entry", "reference"),
    [(TIMM_VIT, reference_timm_vit), (TIMM_CNN, reference_timm_resnet), (HF_VIT, reference_hf)],
    ids=["timm_vit", "timm_resnet", "hf_vit"],
)
def test_dump_equals_direct_forward(tmp_path, probe_csv, entry, reference):
    spec = resolve_model_spec("m", entry)
    path = _dump(spec, probe_csv, tmp_path / "acts.nc")
    model = load_model(spec)
    expected = [r.numpy() for r in reference(model, _images(spec, model, probe_csv))]
    with xr.open_dataset(path) as ds:
        assert ds["activations"].dims == ("layer", "unit", "sample")
        assert ds.sizes["sample"] == 12 and ds.sizes["layer"] == len(expected)
        assert ds["sample_id"].values[0] == "image_folder/cat/img_000.png"
        assert list(ds["n_units"].values) == [e.shape[1] for e in expected]
        record = json.loads(ds.attrs["provenance"])
        assert record["spec"]["weights"] == entry["weights"] and len(record["probe_sha256"]) == 64
        for i, ref in enumerate(expected):
            np.testing.assert_allclose(read_layer(ds, i), ref, rtol=1e-4, atol=1e-5)
            name = str(ds["layer"].values[i])
            np.testing.assert_array_equal(read_layer(path, name), read_layer(ds, i))
        if entry is TIMM_CNN:  # narrower stages are NaN-padded to the widest (512)
            stem = ds["activations"].isel(layer=0).values
            assert np.isnan(stem[64:]).all() and not np.isnan(stem[:64]).any()


def test_float16_and_read_layer_errors(tmp_path, probe_csv):
    spec = resolve_model_spec("m", TIMM_VIT)
    full = _dump(spec, probe_csv, tmp_path / "f32.nc")
    half = _dump(
        spec, probe_csv, tmp_path / "f16.nc", dtype="float16", batch_size=64, num_workers=2
    )
    np.testing.assert_array_equal(
        read_layer(half, -1), read_layer(full, 1).astype(np.float16).astype(np.float32)
    )
    with pytest.raises(KeyError):
        read_layer(full, "blocks.9")
    with pytest.raises(IndexError):
        read_layer(full, 2)


def test_wrong_layer_fails_before_any_work(tmp_path, probe_csv):
    spec = resolve_model_spec("m", {**TIMM_VIT, "layers": ["blocks.0", "block.1"]})
    out = tmp_path / "acts.nc"
    with pytest.raises(ConfigError, match=r"models\.m\.layers: 'block\.1'"):
        _dump(spec, probe_csv, out)
    assert not out.exists() and not (tmp_path / "acts.nc.partial").exists()


def test_resume_after_interruption(tmp_path, probe_csv, monkeypatch, caplog):
    spec = resolve_model_spec("m", TIMM_VIT)
    reference = _dump(spec, probe_csv, tmp_path / "reference.nc")

    forwarded: list[int] = []

    def counting_load_model(*args, **kwargs):
        model = load_model(*args, **kwargs)
        model.register_forward_pre_hook(lambda module, inputs: forwarded.append(len(inputs[0])))
        return model

    monkeypatch.setattr(activations, "load_model", counting_load_model)
    original_mark_done = ShardedNetCDFWriter.mark_done

    def crash_on_third_shard(self, upto):
        if upto > 8:
            raise KeyboardInterrupt("killed")
        original_mark_done(self, upto)

    monkeypatch.setattr(ShardedNetCDFWriter, "mark_done", crash_on_third_shard)
    out = tmp_path / "acts.nc"
    with pytest.raises(KeyboardInterrupt):
        _dump(spec, probe_csv, out)
    assert not out.exists() and (tmp_path / "acts.nc.partial").exists()

    monkeypatch.setattr(ShardedNetCDFWriter, "mark_done", original_mark_done)
    forwarded.clear()
    with caplog.at_level(logging.INFO, logger="vitconcepts"):
        _dump(spec, probe_csv, out)
    assert "acts.nc.partial at sample 8 of 12" in caplog.text
    # one probe image to size the layers, then only the 4 samples of the last shard
    assert forwarded == [1, 4]
    for layer in (0, 1):
        np.testing.assert_array_equal(read_layer(out, layer), read_layer(reference, layer))

    # a changed configuration does not resume: everything is recomputed
    with pytest.raises(KeyboardInterrupt):
        monkeypatch.setattr(ShardedNetCDFWriter, "mark_done", crash_on_third_shard)
        _dump(spec, probe_csv, tmp_path / "other.nc")
    monkeypatch.setattr(ShardedNetCDFWriter, "mark_done", original_mark_done)
    forwarded.clear()
    _dump(spec, probe_csv, tmp_path / "other.nc", dtype="float16")
    assert sum(forwarded) == 1 + 12
