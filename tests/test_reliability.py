"""vitconcepts.reliability: p-values, bootstrap stability, the assess_labels step (held-out
validity and its null on issue 19's constructed regimes: tests/test_heldout.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import kstest
from test_labeling import PARAMS, WORDS, write_inputs

from vitconcepts.formats import (
    RELIABILITY_COLUMNS,
    format_stable_concepts,
    parse_stable_concepts,
    read_boot,
    read_reliability,
)
from vitconcepts.reliability import (
    FRAME_COLUMNS,
    assess_labels,
    assess_layer,
    label_reliability,
    permutation_p_values,
)


def constructed(n_concepts=60, n_planted=12, per_concept=30, n_other=360, n_noise=300, seed=0):
    """Units 0..n_planted-1 track concept u's similarity (graded by strength); the other
    ``n_noise`` units are pure noise. Returns similarity, activations, n_planted."""
    rng = np.random.default_rng(seed)
    n_images = n_planted * per_concept + n_other
    label = np.full(n_images, -1)
    label[: n_planted * per_concept] = np.repeat(np.arange(n_planted), per_concept)
    strength = rng.uniform(0.5, 1.0, n_images)
    sim = 0.2 + 0.01 * rng.standard_normal((n_images, n_concepts))
    act = rng.standard_normal((n_images, n_planted + n_noise))
    act[:, :n_planted] *= 0.05
    for i in np.flatnonzero(label >= 0):
        sim[i, label[i]] += 0.1 * strength[i]
        act[i, label[i]] += strength[i]
    return torch.tensor(sim, dtype=torch.float32), torch.tensor(act, dtype=torch.float32), n_planted


@pytest.fixture(scope="module")
def layer():
    sim, act, n_planted = constructed()
    result = assess_layer(
        sim, act, params={"top_k": 20}, n_null=10, n_boot=20, seed=0, device="cpu"
    )
    return sim, act, n_planted, result


def test_tracking_units_get_their_concept_significant_and_stable(layer):
    _, _, n_planted, result = layer
    frame = result.frame()
    assert list(frame.columns) == FRAME_COLUMNS
    tracking = frame.iloc[:n_planted]
    np.testing.assert_array_equal(tracking["concept"], np.arange(n_planted))
    assert (tracking["q_null"] < 0.05).all()
    assert (tracking["stability"] >= 0.9).all()
    for unit, cell in zip(tracking["unit"], tracking["stable_concepts"], strict=True):
        pairs = parse_stable_concepts(cell)
        assert pairs[0][0] == unit and pairs[0][1] >= 0.9
    noise = frame.iloc[n_planted:]
    assert noise["stability"].mean() < 0.6  # noise labels move under resampling
    assert (noise["q_null"] >= 0.05).mean() > 0.95


def test_noise_units_get_uniform_p_values(layer):
    _, _, n_planted, result = layer
    p = result.p_null[n_planted:]
    assert len(p) == 300
    assert kstest(p, "uniform").pvalue > 0.01
    assert abs(p.mean() - 0.5) < 0.05


def test_same_seed_same_result_other_seed_differs(layer):
    sim, act, _, result = layer
    options = {"params": {"top_k": 20}, "n_null": 10, "n_boot": 20, "device": "cpu"}
    again = label_reliability(sim.numpy(), act.numpy(), seed=0, **options)  # numpy accepted
    pd.testing.assert_frame_equal(again, result.frame())
    other = assess_layer(sim, act, seed=1, **options)
    assert not np.array_equal(other.p_null, result.p_null)
    assert not np.array_equal(other.boot_concept, result.boot_concept)
    assert 0.0 <= result.split_half <= 1.0


def test_p_values_and_cells():
    p = permutation_p_values(np.array([5.0, 0.0, 2.0]), np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(p, [1 / 4, 4 / 4, 3 / 4])
    cell = format_stable_concepts([("dog", 0.85), ("a, b", 0.15)])
    assert parse_stable_concepts(cell) == [("dog", 0.85), ("a, b", 0.15)]
    assert parse_stable_concepts(format_stable_concepts([])) == []
    with pytest.raises(ValueError, match="stable_concepts"):
        parse_stable_concepts("dog:0.5")


@pytest.mark.parametrize("method", ["wpmi", "cos_similarity"])
def test_other_methods(method):
    sim, act, n_planted = constructed(n_noise=40)
    frame = label_reliability(sim, act, method=method, n_null=3, n_boot=4, device="cpu")
    np.testing.assert_array_equal(frame["concept"][:n_planted], np.arange(n_planted))
    assert (frame["p_null"][:n_planted] < 0.05).all()


def test_assess_labels_writes_csv_and_boot_file_and_resumes(tmp_path, monkeypatch):
    act_nc, img_nc, txt_nc, concepts = write_inputs(tmp_path / "in")
    out_csv, out_nc = tmp_path / "out" / "vit.csv", tmp_path / "out" / "vit_boot.nc"
    options = {"method": "soft_wpmi", "params": PARAMS, "n_null": 4, "n_boot": 5, "seed": 0}
    assess_labels(act_nc, img_nc, txt_nc, concepts, out_csv, out_nc, device="cpu", **options)
    frame = read_reliability(out_csv)
    assert list(frame.columns[: len(RELIABILITY_COLUMNS)]) == list(RELIABILITY_COLUMNS)
    assert frame.groupby("layer", sort=False).size().tolist() == [8, 10]
    planted = frame[frame["layer"] == "blocks.0"]
    assert planted["description"].tolist() == [WORDS[2 * u] for u in range(8)]
    assert (planted["stability"] >= 0.8).all()
    assert list(frame.columns[len(RELIABILITY_COLUMNS) - 3 : len(RELIABILITY_COLUMNS)]) == [
        "heldout_correlation",
        "heldout_auprc",
        "auprc_chance",
    ]
    heldout = frame[["heldout_correlation", "heldout_auprc", "auprc_chance"]].to_numpy()
    assert np.isfinite(heldout).all()
    assert (out_csv.parent / "vit.csv.provenance.json").is_file()
    boot = read_boot(out_nc)
    assert boot.boot_concept_index.shape == (2, 10, 5)
    assert (boot.boot_concept_index[0, 8:] == -1).all()
    assert boot.n_boot == 5 and boot.split_half_agreement.shape == (2,)
    np.testing.assert_allclose(boot.heldout_correlation[0, :8], planted["heldout_correlation"])
    first = out_csv.read_bytes()

    # a rerun after a crash in layer 1 resumes from it (layer 0 is not assessed again)
    import vitconcepts.reliability._step as step

    calls = []
    real = step.assess_layer

    def assess(sims, acts, crash=False, **kwargs):
        calls.append(acts.shape[1])
        if crash and acts.shape[1] == 10:
            raise RuntimeError("killed")
        return real(sims, acts, **kwargs)

    out_csv.unlink()
    out_nc.unlink()
    monkeypatch.setattr(step, "assess_layer", lambda s, a, **k: assess(s, a, crash=True, **k))
    with pytest.raises(RuntimeError, match="killed"):
        assess_labels(act_nc, img_nc, txt_nc, concepts, out_csv, out_nc, device="cpu", **options)
    calls.clear()
    monkeypatch.setattr(step, "assess_layer", assess)
    assess_labels(act_nc, img_nc, txt_nc, concepts, out_csv, out_nc, device="cpu", **options)
    assert calls == [10]  # layer 0 was kept from the crashed run
    assert out_csv.read_bytes() == first
