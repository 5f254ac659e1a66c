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
    assert writer.progress_path.read_text().splitlines()[0] == "4 10"
    writer.close()
    assert ShardedNetCDFWriter.read_completed(writer.partial_path) == 4
    assert _make(out).progress_path.read_text().splitlines()[0] == "4 10"  # resumed: valid
    writer = _make(out, fingerprint="other")  # started over: stale progress removed
    assert writer.start == 0 and not writer.progress_path.exists()
    writer.write("activations", 0, data)
    writer.mark_done(10)
    writer.finalize()
    assert out.exists() and not writer.progress_path.exists()


# ------------------------------------------------------------------ faults


def test_failed_sync_does_not_advance_the_count(tmp_path, monkeypatch):
    import errno

    from vitconcepts import ncstream
    from vitconcepts.errors import StorageError

    out = tmp_path / "f.nc"
    data = _data()
    writer = _make(out)
    writer.write("activations", 0, data[:, :, :4])
    writer.mark_done(4)
    real = ncstream.fsync_path

    def full(path, directory=False):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(ncstream, "fsync_path", full)
    writer.write("activations", 4, data[:, :, 4:8])
    with pytest.raises(StorageError, match=r"ENOSPC.*f\.nc\.partial.*disk full on /") as info:
        writer.mark_done(8)
    assert "4 of 10 sample entries" in str(info.value) and "Fix: free space" in str(info.value)
    assert writer.completed == 4
    with pytest.raises(RuntimeError, match="earlier write failed"):
        writer.mark_done(8)
    writer.close()
    monkeypatch.setattr(ncstream, "fsync_path", real)
    assert ShardedNetCDFWriter.read_completed(writer.partial_path) == 4
    writer = _make(out)
    assert writer.start == 4
    writer.close()


def test_resume_redoes_shards_whose_data_is_damaged(tmp_path, caplog):
    import netCDF4

    out = tmp_path / "d.nc"
    data = _data()
    writer = _make(out)
    for begin in (0, 4):
        writer.write("activations", begin, data[:, :, begin : begin + 4])
        writer.mark_done(begin + 4)
    writer.close()
    with netCDF4.Dataset(writer.partial_path, "a") as ds:  # a hole, as after a full disk
        ds["activations"][:, :, 5] = np.nan
    with caplog.at_level("WARNING", logger="vitconcepts.ncstream"):
        writer = _make(out)
    assert writer.start == 4
    assert "[4, 8) is damaged" in caplog.text and "redoing from sample 4" in caplog.text
    writer.write("activations", 4, data[:, :, 4:])
    writer.mark_done(10)
    writer.finalize()
    with xr.open_dataset(out) as ds:
        np.testing.assert_array_equal(ds["activations"].values, data)


def test_discarded_partial_says_why(tmp_path, caplog):
    out = tmp_path / "w.nc"
    writer = _make(out, fingerprint="one")
    writer.write("activations", 0, _data()[:, :, :4])
    writer.mark_done(4)
    writer.close()
    with caplog.at_level("WARNING", logger="vitconcepts.ncstream"):
        _make(out, fingerprint="two").close()
    assert "discarding" in caplog.text and "other inputs or settings" in caplog.text


_FILL_SCRIPT = """
import sys
import numpy as np
from vitconcepts.ncstream import ShardedNetCDFWriter
n = 4096
data = np.random.default_rng(0).standard_normal((n, 64)).astype(np.float32)
writer = ShardedNetCDFWriter(
    sys.argv[1], dims={"sample": n, "dim": 64}, coords={"sample": (("sample",), np.arange(n))},
    variables={"embedding": (("sample", "dim"), "float32", (256, 64))}, fingerprint="x",
)
print("start", writer.start, flush=True)
with writer:
    for begin in range(writer.start, n, 256):
        writer.write("embedding", begin, data[begin : begin + 256])
        writer.mark_done(begin + 256)
    writer.finalize()
"""


def test_disk_full_on_real_tmpfs_then_resume(small_tmpfs):
    """A 256 KB tmpfs fills up mid-stream: the error names ENOSPC, the file and the mount;
    after space is freed the rerun resumes from the shards on disk and the file equals the
    data, no NaN."""
    import subprocess
    import sys

    mount = small_tmpfs(256)
    out = mount / "e.nc"
    script = [sys.executable, "-c", _FILL_SCRIPT, str(out)]
    first = subprocess.run(script, capture_output=True, text=True)
    assert first.returncode != 0
    assert "StorageError" in first.stderr and "ENOSPC" in first.stderr, first.stderr
    assert f"{out}.partial" in first.stderr and f"disk full on {mount}" in first.stderr
    done = ShardedNetCDFWriter.read_completed(f"{out}.partial")
    assert done and 0 < done < 4096
    subprocess.run(["mount", "-o", "remount,size=8m", str(mount)], check=True)
    second = subprocess.run(script, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert f"start {done}" in second.stdout
    data = np.random.default_rng(0).standard_normal((4096, 64)).astype(np.float32)
    with xr.open_dataset(out) as ds:
        assert np.isfinite(ds["embedding"].values).all()
        np.testing.assert_array_equal(ds["embedding"].values, data)
