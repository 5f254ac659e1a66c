"""Tests for the resumable streaming NetCDF writer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from vitconcepts.ncstream import ShardedNetCDFWriter


def _make(path, n=10, fingerprint="fp", dtype="float32"):
    layers = ["blocks.0", "blocks.1", "blocks.2"]
    return ShardedNetCDFWriter(
        path,
        dims={"layer": 3, "unit": 4, "sample": n},
        coords={
            "layer": (("layer",), np.array(layers)),
            "unit": (("unit",), np.arange(4)),
            "sample": (("sample",), np.arange(n)),
            "sample_id": (("sample",), np.array([f"img/{i}.png" for i in range(n)])),
            "n_units": (("layer",), np.array([4, 3, 2])),
        },
        variables={"activations": (("layer", "unit", "sample"), dtype, (1, 4, 4))},
        stream_dim="sample",
        fingerprint=fingerprint,
    )


def _data(n=10):
    rng = np.random.default_rng(0)
    return rng.normal(size=(3, 4, n)).astype(np.float32)


def test_write_finalize_opens_with_xarray(tmp_path):
    out = tmp_path / "a.nc"
    data = _data()
    with _make(out) as writer:
        assert writer.start == 0
        for begin in range(0, 10, 4):
            end = min(begin + 4, 10)
            writer.write("activations", begin, data[:, :, begin:end])
            writer.mark_done(end)
        writer.finalize({"provenance": {"model_id": "x"}, "normalised": True})
    assert out.exists() and not (tmp_path / "a.nc.partial").exists()
    with xr.open_dataset(out) as ds:
        assert ds["activations"].dims == ("layer", "unit", "sample")
        assert list(ds["layer"].values) == ["blocks.0", "blocks.1", "blocks.2"]
        assert ds["sample_id"].dims == ("sample",)
        assert "sample_id" in ds.coords and "n_units" in ds.coords
        assert ds["sample_id"].values[3] == "img/3.png"
        assert list(ds["n_units"].values) == [4, 3, 2]
        assert json.loads(ds.attrs["provenance"]) == {"model_id": "x"}
        assert ds.attrs["normalised"] == 1
        np.testing.assert_array_equal(ds["activations"].values, data)


def test_float16_rounds_values_and_unwritten_is_nan(tmp_path):
    out = tmp_path / "h.nc"
    data = _data()
    with _make(out, dtype="float16") as writer:
        writer.write({"activations": data[:, :, :4]}, 0)
        writer.mark_done(4)
        with pytest.raises(RuntimeError, match="only 4 of 10"):
            writer.finalize()
        writer.write("activations", 4, data[:, :, 4:])
        writer.mark_done(10)
        writer.finalize()
    with xr.open_dataset(out) as ds:
        np.testing.assert_array_equal(
            ds["activations"].values, data.astype(np.float16).astype(np.float32)
        )
        assert ds["activations"].attrs["stored_precision"] == "float16"


def test_resume_same_fingerprint_and_restart_on_change(tmp_path):
    out = tmp_path / "r.nc"
    data = _data()
    writer = _make(out)
    writer.write("activations", 0, data[:, :, :4])
    writer.mark_done(4)
    writer.write("activations", 4, data[:, :, 4:8])  # written but not marked done
    writer.close()  # "killed" here

    writer = _make(out)
    assert writer.start == 4
    writer.write("activations", 4, data[:, :, 4:])
    writer.mark_done(10)
    writer.finalize()
    with xr.open_dataset(out) as ds:
        np.testing.assert_array_equal(ds["activations"].values, data)

    # a partial made for another configuration is discarded
    writer = _make(tmp_path / "s.nc", fingerprint="old")
    writer.write("activations", 0, data[:, :, :4])
    writer.mark_done(4)
    writer.close()
    writer = _make(tmp_path / "s.nc", fingerprint="new")
    assert writer.start == 0
    with xr.open_dataset(writer.partial_path) as ds:  # fresh file: nothing written yet
        assert np.isnan(ds["activations"].values).all()
    writer.close()


def test_corrupt_partial_starts_over(tmp_path):
    out = tmp_path / "c.nc"
    (tmp_path / "c.nc.partial").write_bytes(b"not a netcdf file")
    writer = _make(out)
    assert writer.start == 0
    writer.close()


def test_write_outside_range_raises(tmp_path):
    with _make(tmp_path / "o.nc") as writer:
        with pytest.raises(IndexError):
            writer.write("activations", 8, _data()[:, :, :4])
        with pytest.raises(IndexError):
            writer.mark_done(11)


def test_non_streamed_variables_and_other_stream_dim(tmp_path):
    """The CLIP concept-embedding layout: stream over `concept`, string dimension coord."""
    out = tmp_path / "e.nc"
    concepts = np.array(["red", "dog", "grass"])
    emb = np.random.default_rng(1).normal(size=(3, 5)).astype(np.float32)
    with ShardedNetCDFWriter(
        out,
        dims={"concept": 3, "dim": 5},
        coords={"concept": (("concept",), concepts)},
        variables={"embedding": (("concept", "dim"), "float32", None)},
        stream_dim="concept",
        fingerprint="x",
    ) as writer:
        writer.write("embedding", 0, emb[:2])
        writer.write("embedding", 2, emb[2:])
        writer.mark_done(3)
        writer.finalize({"normalised": 1})
    with xr.open_dataset(out) as ds:
        assert list(ds["concept"].values) == list(concepts)
        np.testing.assert_array_equal(ds["embedding"].values, emb)


def test_progress_file_follows_mark_done_and_goes_with_finalize(tmp_path):
    out = tmp_path / "p.nc"
    data = _data()
    writer = _make(out)
    assert not writer.progress_path.exists()
    writer.write("activations", 0, data[:, :, :4])
    writer.mark_done(4)
    assert writer.progress_path.read_text() == "4 10\n"
    writer.close()
    assert _make(out).progress_path.read_text() == "4 10\n"  # resumed: still valid
    writer = _make(out, fingerprint="other")  # started over: stale progress removed
    assert writer.start == 0 and not writer.progress_path.exists()
    writer.write("activations", 0, data)
    writer.mark_done(10)
    writer.finalize()
    assert out.exists() and not writer.progress_path.exists()
