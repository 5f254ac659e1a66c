"""CLIP-Dissect similarity functions and label_units (formula checks, planted concepts, I/O)."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from vitconcepts import labeling
from vitconcepts.errors import ConfigError, InputDataError
from vitconcepts.formats import format_images
from vitconcepts.labeling import (
    cos_similarity,
    cos_similarity_cubed,
    label_units,
    rank_reorder,
    soft_wpmi,
    wpmi,
)
from vitconcepts.ncstream import ShardedNetCDFWriter

# --------------------------------------------------------------------------------------------
# slow references written straight from the formulas (loops over units and ranks)
# --------------------------------------------------------------------------------------------


def _order(column: torch.Tensor) -> list[int]:
    return torch.topk(column, k=len(column)).indices.tolist()


def ref_soft_wpmi(sim, act, top_k=100, a=10, lam=1, p_start=0.998, p_end=0.97, min_prob=1e-7):
    sim, act = sim.double(), act.double()
    probs = torch.softmax(a * sim, dim=1)
    n_units, n_concepts = act.shape[1], sim.shape[1]
    log_pcu = torch.zeros(n_units, n_concepts, dtype=torch.float64)
    for u in range(n_units):
        top = _order(act[:, u])[:top_k]
        for i, image in enumerate(top):
            p_i = p_start - (p_start - p_end) * i / top_k
            for c in range(n_concepts):
                log_pcu[u, c] += math.log(1 + p_i * (float(probs[image, c]) - 1) + min_prob)
    log_pc = torch.logsumexp(log_pcu, dim=0) - math.log(n_units)
    return log_pcu - lam * log_pc


def ref_wpmi(sim, act, top_k=28, a=2, lam=0.6, min_prob=1e-7):
    sim, act = sim.double(), act.double()
    probs = torch.softmax(a * sim, dim=1)
    n_units, n_concepts = act.shape[1], sim.shape[1]
    log_pcu = torch.zeros(n_units, n_concepts, dtype=torch.float64)
    for u in range(n_units):
        for image in _order(act[:, u])[:top_k]:
            for c in range(n_concepts):
                log_pcu[u, c] += math.log(float(probs[image, c]) + min_prob)
    log_pc = torch.logsumexp(log_pcu, dim=0) - math.log(n_units)
    return log_pcu - lam * log_pc


def ref_cos(sim, act, cubed=False, min_norm=1e-3):
    sim, act = sim.double(), act.double()
    out = torch.zeros(act.shape[1], sim.shape[1], dtype=torch.float64)
    for u in range(act.shape[1]):
        x = act[:, u]
        if cubed:
            x = (x - x.mean()) ** 3
        x = x / (max(float(x.norm()), min_norm) if cubed else float(x.norm()))
        for c in range(sim.shape[1]):
            y = sim[:, c]
            if cubed:
                y = (y - y.mean()) ** 3
            y = y / (max(float(y.norm()), min_norm) if cubed else float(y.norm()))
            out[u, c] = float((x * y).sum())
    return out


def ref_rank_reorder(sim, act, p=3, top_fraction=0.05, scale_p=0.5):
    sim, act = sim.double(), act.double()
    n = int(sim.shape[0] * top_fraction)
    out = torch.zeros(act.shape[1], sim.shape[1], dtype=torch.float64)
    for u in range(act.shape[1]):
        top = _order(act[:, u])[:n]
        t = [float(act[j, u]) for j in top]  # descending
        ascending = sorted(t)
        baseline = sum(abs(x - y) ** p for x in t for y in t) / n**2
        for c in range(sim.shape[1]):
            s = [float(sim[j, c]) for j in top]
            rank = {j: r for r, j in enumerate(sorted(range(n), key=lambda j: (s[j], j)))}
            err = sum(abs(t[j] - ascending[rank[j]]) ** p for j in range(n)) / n
            out[u, c] = -err / baseline / (sum(s) / n) ** scale_p
    return out


def _random_inputs(n_images=120, n_concepts=23, n_units=17, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    image = torch.nn.functional.normalize(torch.randn(n_images, 8, generator=g, dtype=dtype), dim=1)
    text = torch.nn.functional.normalize(
        torch.randn(n_concepts, 8, generator=g, dtype=dtype), dim=1
    )
    sim = image @ text.T
    act = torch.randn(n_images, n_units, generator=g, dtype=dtype)
    return sim, act


def _rel_err(x: torch.Tensor, ref: torch.Tensor) -> float:
    return float(((x.double() - ref).abs() / ref.abs().clamp_min(1e-12)).max())


# --------------------------------------------------------------------------------------------
# formula agreement
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lam", [1.0, 0.6])
@pytest.mark.parametrize("a", [10.0, 50.0])
def test_soft_wpmi_matches_formula(lam, a):
    sim, act = _random_inputs()
    ref = ref_soft_wpmi(sim, act, top_k=30, a=a, lam=lam)
    got = soft_wpmi(sim, act, top_k=30, a=a, lam=lam)
    assert got.shape == (17, 23)
    assert _rel_err(got, ref) < 1e-5
    # the result does not depend on the unit blocking
    blocked = soft_wpmi(sim, act, top_k=30, a=a, lam=lam, block_units=4)
    assert _rel_err(blocked, ref) < 1e-5


def test_soft_wpmi_default_params_and_float32():
    sim, act = _random_inputs(n_images=150, n_concepts=11, n_units=9, seed=1)
    ref = ref_soft_wpmi(sim, act)
    assert _rel_err(soft_wpmi(sim, act), ref) < 1e-5
    got32 = soft_wpmi(sim.float(), act.float())
    assert got32.dtype == torch.float32
    # float32 accuracy: absolute error well below the spread of scores
    assert float((got32.double() - ref).abs().max()) < 1e-4


def test_soft_wpmi_validates():
    sim, act = _random_inputs()
    with pytest.raises(ValueError, match="top_k"):
        soft_wpmi(sim, act, top_k=1000)
    with pytest.raises(ValueError, match="images"):
        soft_wpmi(sim[:10], act)
    with pytest.raises(ValueError, match="p_start"):
        soft_wpmi(sim, act, top_k=5, p_start=1.5, min_prob=0)


def test_wpmi_matches_formula():
    sim, act = _random_inputs(seed=2)
    assert _rel_err(wpmi(sim, act), ref_wpmi(sim, act)) < 1e-5
    got = wpmi(sim, act, top_k=10, a=5, lam=1, block_units=3)
    assert _rel_err(got, ref_wpmi(sim, act, top_k=10, a=5, lam=1)) < 1e-5


def test_cos_similarities_match_formula():
    sim, act = _random_inputs(seed=3)
    assert _rel_err(cos_similarity(sim, act), ref_cos(sim, act)) < 1e-5
    got = cos_similarity_cubed(sim, act)
    ref = ref_cos(sim, act, cubed=True)
    assert float((got - ref).abs().max()) < 1e-10


def test_rank_reorder_matches_formula():
    sim, act = _random_inputs(n_images=200, n_concepts=9, n_units=7, seed=4)
    sim = sim.abs() + 0.05  # positive mean similarity (the score divides by its square root)
    ref = ref_rank_reorder(sim, act)
    assert _rel_err(rank_reorder(sim, act), ref) < 1e-5
    assert _rel_err(rank_reorder(sim, act, block_units=2), ref) < 1e-5


# --------------------------------------------------------------------------------------------
# planted concepts
# --------------------------------------------------------------------------------------------


def planted(n_concepts=40, n_planted=12, per_concept=30, n_other=120, seed=0):
    """Images of concepts 0..n_planted-1 (``per_concept`` each) plus unrelated images.

    Unit ``u`` fires (graded by strength) on images of concept ``target[u]``; CLIP similarity
    to that concept rises with the same strength. Returns similarity, activations, target.
    """
    rng = np.random.default_rng(seed)
    n_images = n_planted * per_concept + n_other
    label = np.full(n_images, -1)
    label[: n_planted * per_concept] = np.repeat(np.arange(n_planted), per_concept)
    strength = rng.uniform(0.5, 1.0, n_images)
    sim = 0.2 + 0.01 * rng.standard_normal((n_images, n_concepts))
    target = rng.permutation(n_planted)  # unit u -> concept target[u]
    act = 0.05 * rng.standard_normal((n_images, n_planted))
    for i in range(n_images):
        if label[i] >= 0:
            sim[i, label[i]] += 0.1 * strength[i]
            act[i, np.flatnonzero(target == label[i])] += strength[i]
    return torch.tensor(sim, dtype=torch.float32), torch.tensor(act, dtype=torch.float32), target


@pytest.mark.parametrize(
    "fn, kwargs",
    [
        (soft_wpmi, {"top_k": 20}),
        (soft_wpmi, {}),
        (wpmi, {}),
        (cos_similarity, {}),
        (cos_similarity_cubed, {}),
        (rank_reorder, {}),
    ],
    ids=["soft_wpmi_k20", "soft_wpmi_default", "wpmi", "cos", "cos_cubed", "rank_reorder"],
)
def test_planted_concepts_are_found(fn, kwargs):
    sim, act, target = planted(per_concept=30 if kwargs.get("top_k") else 110)
    scores = fn(sim, act, **kwargs)
    assert scores.shape == (act.shape[1], sim.shape[1])
    assert torch.isfinite(scores).all()
    np.testing.assert_array_equal(scores.argmax(dim=1).numpy(), target)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_soft_wpmi_cuda_matches_cpu():
    sim, act = _random_inputs(n_images=400, n_concepts=300, n_units=50, dtype=torch.float32)
    cpu = soft_wpmi(sim, act, top_k=50)
    gpu = soft_wpmi(sim, act, top_k=50, device="cuda")
    assert gpu.device.type == "cuda"
    assert float((gpu.cpu() - cpu).abs().max()) < 1e-4
    assert torch.equal(wpmi(sim, act, device="cuda").argmax(1).cpu(), wpmi(sim, act).argmax(1))


# --------------------------------------------------------------------------------------------
# label_units end to end
# --------------------------------------------------------------------------------------------

WORDS = [f"concept{i}" for i in range(30)]


def write_inputs(root: Path, seed: int = 0, n_per=20, n_planted=8, dim=32):
    """Synthetic activations / CLIP embeddings / concepts in the design.md layout.

    Layer ``blocks.0`` (8 units, NaN-padded to 10) has unit u planted on concept
    ``2 * u``; layer ``blocks.1`` (10 units) is random. Returns the four paths and planted map.
    """
    rng = np.random.default_rng(seed)
    n = n_planted * n_per + 40
    label = np.full(n, -1)
    label[: n_planted * n_per] = np.repeat(2 * np.arange(n_planted), n_per)
    strength = rng.uniform(0.5, 1.0, n)
    text = rng.standard_normal((len(WORDS), dim))
    text /= np.linalg.norm(text, axis=1, keepdims=True)
    image = rng.standard_normal((n, dim)) * 0.5
    for i in range(n):
        if label[i] >= 0:
            image[i] += 2.0 * strength[i] * text[label[i]]
    image /= np.linalg.norm(image, axis=1, keepdims=True)
    acts = np.full((2, 10, n), np.nan, dtype=np.float32)
    acts[0, :8] = 0.05 * rng.standard_normal((8, n))
    for i in range(n):
        if label[i] >= 0:
            acts[0, label[i] // 2, i] += strength[i]
    acts[1] = rng.standard_normal((10, n))
    sample_ids = [f"part/img_{i:04d}.png" for i in range(n)]
    root.mkdir(parents=True, exist_ok=True)
    act_nc, img_nc, txt_nc, concepts = (
        root / "acts.nc",
        root / "img.nc",
        root / "txt.nc",
        root / "concepts.txt",
    )
    xr.Dataset(
        {"activations": (("layer", "unit", "sample"), acts)},
        coords={
            "layer": ["blocks.0", "blocks.1"],
            "unit": np.arange(10),
            "sample": np.arange(n),
            "sample_id": ("sample", sample_ids),
            "n_units": ("layer", [8, 10]),
        },
        attrs={"provenance": "{}"},
    ).to_netcdf(act_nc)
    xr.Dataset(
        {"embedding": (("sample", "dim"), image.astype(np.float32))},
        coords={"sample": np.arange(n), "sample_id": ("sample", sample_ids)},
        attrs={"normalised": 1},
    ).to_netcdf(img_nc)
    xr.Dataset(
        {"embedding": (("concept", "dim"), text.astype(np.float32))},
        coords={"concept": WORDS},
        attrs={"normalised": 1},
    ).to_netcdf(txt_nc)
    concepts.write_text("\n".join(WORDS) + "\n")
    return act_nc, img_nc, txt_nc, concepts


PARAMS = {"top_k": 15, "a": 10, "lam": 1, "p_start": 0.998, "p_end": 0.97, "min_prob": 1e-7}


def run_label(inputs, out: Path, **kwargs):
    csv, topk = out / "vit.csv", out / "vit_topk.nc"
    options = {"method": "soft_wpmi", "params": PARAMS, "device": "cpu"} | kwargs
    label_units(*inputs, csv, topk, **options)
    return csv, topk


def test_label_units_end_to_end(tmp_path):
    inputs = write_inputs(tmp_path / "in")
    csv, topk = run_label(inputs, tmp_path / "out")
    frame = pd.read_csv(csv)
    assert list(frame.columns) == ["layer", "unit", "description", "similarity", "images"]
    assert len(frame) == 18
    assert frame["layer"].tolist() == ["blocks.0"] * 8 + ["blocks.1"] * 10
    first = frame[frame["layer"] == "blocks.0"]
    assert first["description"].tolist() == [f"concept{2 * u}" for u in range(8)]
    # images: 5 top-activating sample indices, printed like numpy; planted images come first
    acts = xr.open_dataset(inputs[0])["activations"].values
    for u in range(8):
        expected = np.argsort(-acts[0, u], kind="stable")[:5]
        assert first["images"].iloc[u] == format_images(expected)
        assert all(2 * u == 2 * (i // 20) for i in expected)
    assert format_images([72237, 75859, 27664, 72329, 2480]) == "[72237 75859 27664 72329  2480]"
    with xr.open_dataset(topk) as ds:
        assert ds["concept_index"].dims == ("layer", "unit", "rank")
        assert ds["score"].shape == (2, 10, 10)
        assert ds["concept_index"].values[0, :8, 0].tolist() == [2 * u for u in range(8)]
        assert (ds["concept_index"].values[0, 8:] == -1).all()
        np.testing.assert_allclose(
            ds["score"].values[:, :, 0][~np.isnan(ds["score"].values[:, :, 0])],
            frame["similarity"].to_numpy(),
            rtol=1e-6,
        )
        assert np.all(np.diff(ds["score"].values[0, :8], axis=1) <= 0)
        assert "provenance" in ds.attrs
    assert Path(str(csv) + ".provenance.json").exists()
    assert not Path(str(topk) + ".partial").exists()
    # the best score equals soft_wpmi on the same inputs
    img = xr.open_dataset(inputs[1])["embedding"].values
    txt = xr.open_dataset(inputs[2])["embedding"].values
    sim = torch.from_numpy(img) @ torch.from_numpy(txt).T
    scores = soft_wpmi(sim, torch.from_numpy(np.ascontiguousarray(acts[0, :8].T)), **PARAMS)
    np.testing.assert_allclose(first["similarity"], scores.max(1).values.numpy(), rtol=1e-6)


def test_label_units_is_deterministic(tmp_path):
    inputs = write_inputs(tmp_path / "in")
    csv_a, topk_a = run_label(inputs, tmp_path / "a")
    csv_b, _ = run_label(inputs, tmp_path / "b")
    assert csv_a.read_bytes() == csv_b.read_bytes()


def test_label_units_other_methods(tmp_path):
    inputs = write_inputs(tmp_path / "in")
    csv, _ = run_label(inputs, tmp_path / "out", method="wpmi", params={"top_k": 15})
    frame = pd.read_csv(csv)
    assert frame["description"].tolist()[:8] == [f"concept{2 * u}" for u in range(8)]


def test_label_units_checks_inputs(tmp_path):
    inputs = write_inputs(tmp_path / "in")
    with pytest.raises(ConfigError, match="labeling.method"):
        run_label(inputs, tmp_path / "out", method="nope")
    with pytest.raises(ConfigError, match="p_start"):
        run_label(inputs, tmp_path / "out", method="wpmi")
    with pytest.raises(ConfigError, match="top_k"):
        run_label(inputs, tmp_path / "out", params=PARAMS | {"top_k": 10_000})
    # image embeddings for other samples (order changed)
    with xr.open_dataset(inputs[1]) as ds:
        shuffled = ds.load().isel(sample=np.r_[1, 0, 2 : ds.sizes["sample"]])
    bad = tmp_path / "in" / "img_shuffled.nc"
    shuffled.assign_coords(sample=np.arange(shuffled.sizes["sample"])).to_netcdf(bad)
    with pytest.raises(InputDataError, match="sample_id"):
        run_label((inputs[0], bad, inputs[2], inputs[3]), tmp_path / "out")
    # concept list that does not match the concept embeddings
    other = tmp_path / "in" / "other.txt"
    other.write_text("\n".join(reversed(WORDS)))
    with pytest.raises(InputDataError, match="concepts"):
        run_label((inputs[0], inputs[1], inputs[2], other), tmp_path / "out")
    assert not (tmp_path / "out" / "vit.csv").exists()


def test_label_units_resumes_finished_layers(tmp_path, monkeypatch):
    inputs = write_inputs(tmp_path / "in")
    reference, _ = run_label(inputs, tmp_path / "ref")
    calls: list[int] = []
    real = labeling.METHODS["soft_wpmi"]

    @functools.wraps(real)  # keeps the signature that label_units checks params against
    def failing(sim, act, **kwargs):
        calls.append(act.shape[1])
        if len(calls) == 2:
            raise KeyboardInterrupt("killed while labelling the second layer")
        return real(sim, act, **kwargs)

    monkeypatch.setitem(labeling.METHODS, "soft_wpmi", failing)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_label(inputs, out)
    partial = out / "vit_topk.nc.partial"
    assert partial.exists() and not (out / "vit.csv").exists()
    assert ShardedNetCDFWriter.read_completed(partial) == 1

    calls.clear()

    @functools.wraps(real)
    def counting(sim, act, **kwargs):
        calls.append(act.shape[1])
        return real(sim, act, **kwargs)

    monkeypatch.setitem(labeling.METHODS, "soft_wpmi", counting)
    csv, topk = run_label(inputs, out)
    assert calls == [10]  # only the unfinished layer was labelled again
    assert csv.read_bytes() == reference.read_bytes()
    assert topk.exists() and not partial.exists()
    # a different setting does not reuse the partial file
    calls.clear()
    run_label(inputs, tmp_path / "out2", params=PARAMS | {"top_k": 12})
    assert len(calls) == 2


@pytest.mark.parametrize("method", ["soft_wpmi", "wpmi"])
def test_embedding_similarity_equals_dense_matrix(method):
    """label_units' lazy similarity (rows on demand) gives the dense path's scores."""
    from vitconcepts.labeling import METHODS, EmbeddingSimilarity

    gen = torch.Generator().manual_seed(7)
    images = torch.nn.functional.normalize(torch.randn(300, 16, generator=gen), dim=1)
    concepts = torch.nn.functional.normalize(torch.randn(90, 16, generator=gen), dim=1)
    activations = torch.randn(300, 24, generator=gen)
    lazy = METHODS[method](EmbeddingSimilarity(images, concepts), activations, top_k=10)
    dense = METHODS[method](images @ concepts.T, activations, top_k=10)
    torch.testing.assert_close(lazy, dense, rtol=1e-5, atol=1e-5)
    assert torch.equal(lazy.argmax(dim=1), dense.argmax(dim=1))


def test_label_units_resumes_across_thread_counts(tmp_path, monkeypatch, caplog):
    """--cores does not enter the fingerprint: a partial written with 1 thread is resumed
    with 2, and the result equals uninterrupted runs with either count."""
    inputs = write_inputs(tmp_path / "in")
    one, _ = run_label(inputs, tmp_path / "one", threads=1)
    two, _ = run_label(inputs, tmp_path / "two", threads=2)
    assert one.read_bytes() == two.read_bytes()
    real = labeling.METHODS["soft_wpmi"]
    calls: list[int] = []

    @functools.wraps(real)
    def failing(sim, act, **kwargs):
        calls.append(act.shape[1])
        if len(calls) == 2:
            raise KeyboardInterrupt("killed while labelling the second layer")
        return real(sim, act, **kwargs)

    monkeypatch.setitem(labeling.METHODS, "soft_wpmi", failing)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_label(inputs, out, threads=1)
    monkeypatch.setitem(labeling.METHODS, "soft_wpmi", real)
    with caplog.at_level("INFO", logger="vitconcepts"):
        csv, _ = run_label(inputs, out, threads=2)
    assert "1 of 2 layers already labelled" in caplog.text
    assert "discarding" not in caplog.text
    assert csv.read_bytes() == one.read_bytes()
