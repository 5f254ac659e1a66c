"""vitconcepts.reliability held-out validity: average precision, cross-fitting, and a
significance test that grows with the evidence (issue 19's constructed regimes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import kstest

from vitconcepts.labeling import EmbeddingSimilarity
from vitconcepts.reliability import HELDOUT_COLUMNS, assess_layer, average_precision


def brute_force_ap(scores: np.ndarray, positive: np.ndarray) -> float:
    """scikit-learn's ``average_precision_score``, threshold by threshold."""
    total, recall_before = 0.0, 0.0
    for threshold in np.unique(scores)[::-1]:
        chosen = scores >= threshold
        precision = positive[chosen].sum() / chosen.sum()
        recall = positive[chosen].sum() / positive.sum()
        total += (recall - recall_before) * precision
        recall_before = recall
    return total


def test_average_precision_matches_brute_force_with_ties():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 6, size=(40, 30)).astype(np.float64)  # many ties
    scores[:, :10] = rng.standard_normal((40, 10))  # no ties
    positive = rng.random((40, 30)) < 0.2
    positive[0] = True  # every column has a positive
    got = average_precision(torch.tensor(scores), torch.tensor(positive)).numpy()
    expected = [brute_force_ap(scores[:, u], positive[:, u]) for u in range(30)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    perfect = average_precision(torch.tensor([[3.0], [2.0], [1.0]]), torch.tensor([[1], [0], [0]]))
    assert perfect.item() == 1.0
    tied = average_precision(torch.ones(4, 1), torch.tensor([[1], [0], [0], [0]]))
    assert tied.item() == pytest.approx(0.25)  # one threshold: precision = positives' share
    assert torch.isnan(average_precision(torch.ones(3, 1), torch.zeros(3, 1, dtype=torch.bool)))


def planted_layer(n_images, n_concepts, strengths, concepts, n_noise, seed):
    """A similarity from random unit-norm 512-d embeddings (as CLIP's cosines: concepts nearly
    orthogonal); unit i = strengths[i] x concept i's standardised similarity + N(0, 1); then
    ``n_noise`` N(0, 1) units."""
    g = torch.Generator().manual_seed(seed)
    image = torch.nn.functional.normalize(torch.randn(n_images, 512, generator=g), dim=1)
    text = torch.nn.functional.normalize(torch.randn(n_concepts, 512, generator=g), dim=1)
    s = image @ text[concepts].T
    s = (s - s.mean(0)) / s.std(0)
    planted = strengths * s + torch.randn(s.shape, generator=g)
    acts = torch.cat([planted, torch.randn(n_images, n_noise, generator=g)], dim=1)
    return EmbeddingSimilarity(image, text), acts


def test_small_layer_planted_units_are_significant_and_valid_noise_at_chance():
    """Issue 19, regime (a): 40 units against 400 concepts, where soft-WPMI saturates at
    log U and the old null gave p = 0.476 to every planted unit."""
    concepts = torch.randperm(400, generator=torch.Generator().manual_seed(5))[:20]
    sim, acts = planted_layer(3000, 400, torch.full((20,), 3.0), concepts, 20, seed=0)
    result = assess_layer(sim, acts, params={"top_k": 20}, n_null=20, n_boot=2, device="cpu")
    frame = result.frame()
    assert list(frame.columns[-3:]) == list(HELDOUT_COLUMNS)
    planted, noise = frame.iloc[:20], frame.iloc[20:]
    np.testing.assert_array_equal(planted["concept"], concepts.numpy())
    assert planted["score"].min() > np.log(40) - 0.2  # soft-WPMI at its ceiling: saturated
    assert (planted["q_null"] < 0.05).mean() >= 0.9
    assert (noise["p_null"] < 0.05).mean() <= 0.2
    assert (planted["heldout_correlation"] >= 0.5).all()
    assert (planted["heldout_auprc"] >= 5 * planted["auprc_chance"]).all()
    # noise at chance: no correlation; AUPRC near the positives' share (its small-sample
    # expectation with 15 positives in 1,500 images is ~1.5 x the share), below 2 x
    assert noise["heldout_correlation"].abs().max() < 0.1
    assert (noise["heldout_auprc"] / noise["auprc_chance"]).mean() < 2.0
    np.testing.assert_allclose(frame["auprc_chance"], 15 / 1500)


def test_large_layer_graded_shared_and_noise_units():
    """Issue 19, regime (b): 768 units, 5,000 images, 2,000 concepts; 256 graded units
    (strength 0.2..3, own concept), 200 units sharing 20 concepts in tens, 312 noise units."""
    order = torch.randperm(2000, generator=torch.Generator().manual_seed(6))
    concepts = torch.cat([order[:256], order[256:276].repeat_interleave(10)])
    strengths = torch.cat([torch.linspace(0.2, 3.0, 256), torch.ones(200)])
    sim, acts = planted_layer(5000, 2000, strengths, concepts, 312, seed=1)
    result = assess_layer(sim, acts, params={"top_k": 20}, n_null=10, n_boot=0, device="cpu")
    p, q = result.p_null, result.q_null
    weakest, strongest = slice(0, 64), slice(192, 256)
    assert (q[strongest] < 0.05).all()
    assert p[strongest].mean() < p[weakest].mean()
    shared = slice(256, 456)
    assert (result.concept[shared] == concepts[256:].numpy()).mean() >= 0.8
    assert (q[shared] < 0.05).mean() >= 0.8
    assert kstest(p[456:], "uniform").pvalue > 0.01
    assert abs(np.mean(result.heldout_correlation[456:])) < 0.01


def test_heldout_columns_are_nan_when_a_half_is_smaller_than_top_k():
    sim, acts = planted_layer(30, 50, torch.ones(3), torch.arange(3), 2, seed=2)
    frame = assess_layer(sim, acts, params={"top_k": 20}, n_null=3, n_boot=2, device="cpu").frame()
    for column in (*HELDOUT_COLUMNS, "p_null", "q_null"):
        assert frame[column].isna().all(), column
    with pytest.raises(ValueError, match="alpha"):
        assess_layer(sim, acts, params={"top_k": 5}, alpha=1.5, device="cpu")
