"""Linear Explanations on constructed layers: planted concepts (with near-synonyms in the
vocabulary), one-concept units, noise units; the lazy similarity; the label frame."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from vitconcepts.labeling import (
    EmbeddingSimilarity,
    label_correlation,
    linear_explanations,
    probe_split,
    soft_wpmi,
)

N_BASE = 120  # concept i and i + N_BASE are near-synonyms


@functools.lru_cache(maxsize=1)
def _layer():
    """Image/concept embeddings and a layer of 20 units each of 1, 2, 3 planted concepts
    (weighted sums of their CLIP similarities, plus noise) and 10 noise units."""
    g = torch.Generator().manual_seed(0)
    dim, n_images = 64, 3000
    base = torch.nn.functional.normalize(torch.randn(N_BASE, dim, generator=g), dim=1)
    synonyms = torch.nn.functional.normalize(base + 0.08 * torch.randn(N_BASE, dim, generator=g))
    concepts = torch.cat([base, synonyms])
    images = torch.nn.functional.normalize(torch.randn(n_images, dim, generator=g), dim=1)
    sim = images @ concepts.T
    planted, acts = [], []
    for u in range(60):
        chosen = torch.randperm(N_BASE, generator=g)[: 1 + u % 3]
        weights = 0.5 + torch.rand(len(chosen), generator=g)
        y = (sim[:, chosen] * weights).sum(1)
        acts.append(y / y.std() + 0.4 * torch.randn(n_images, generator=g))
        planted.append(set(chosen.tolist()))
    for _ in range(10):
        acts.append(torch.randn(n_images, generator=g))
        planted.append(set())
    return images, concepts, sim, torch.stack(acts, 1), planted


@functools.lru_cache(maxsize=1)
def _explained():
    _images, _concepts, sim, acts, _planted = _layer()
    return linear_explanations(sim, acts)


def test_synonyms_are_close():
    sim = _layer()[2]
    assert torch.corrcoef(sim[:, [0, N_BASE]].T)[0, 1] > 0.85


def test_planted_concepts_found_up_to_a_synonym():
    frame, planted = _explained(), _layer()[4]
    found = [
        {c % N_BASE for c in row.concepts} >= want
        for row, want in zip(frame.itertuples(), planted, strict=True)
        if want
    ]
    assert np.mean(found) >= 0.85


def test_explanation_length_follows_planted_count():
    frame, planted = _explained(), _layer()[4]
    for k in (1, 2, 3):
        pairs = zip(frame.itertuples(), planted, strict=True)
        lengths = [len(r.concepts) for r, p in pairs if len(p) == k]
        assert abs(np.mean(lengths) - k) <= 0.35, (k, lengths)


def test_one_concept_unit_is_its_concept_alone():
    frame, planted = _explained(), _layer()[4]
    singles = [(r, p) for r, p in zip(frame.itertuples(), planted, strict=True) if len(p) == 1]
    ok = [len(r.concepts) == 1 and r.concepts[0] % N_BASE in p for r, p in singles]
    assert np.mean(ok) >= 0.9
    assert all(r.weights[0] > 0 for r, _ in singles)


def test_noise_units_sit_at_zero_and_real_units_do_not():
    frame = _explained()
    noise, real = frame.iloc[60:], frame.iloc[:60]
    assert noise.test_correlation.abs().max() < 0.1
    assert real.test_correlation.min() > 0.5
    assert (noise.concepts.map(len) >= 1).all()  # at least one concept always


def test_beats_clip_dissect_label_on_multi_concept_units():
    _images, _concepts, sim, acts, planted = _layer()
    frame = _explained()
    label = soft_wpmi(sim, acts).argmax(1).numpy()
    test_rows = probe_split(sim.shape[0])[2]
    label_corr = label_correlation(sim, acts, label, test_rows)
    multi = np.array([len(p) >= 2 for p in planted])
    assert frame.test_correlation[multi].median() > np.median(label_corr[multi]) + 0.05
    # one concept, one label: no worse than the label
    single = np.array([len(p) == 1 for p in planted])
    assert frame.test_correlation[single].median() > np.median(label_corr[single]) - 0.02


def test_lazy_similarity_gives_the_same_explanations():
    images, concepts, sim, acts, _planted = _layer()
    lazy = linear_explanations(EmbeddingSimilarity(images, concepts), acts[:, :12])
    dense = _explained().iloc[:12]
    assert list(lazy.concepts) == list(dense.concepts)
    np.testing.assert_allclose(lazy.test_correlation, dense.test_correlation, atol=1e-6)


def test_split_is_seeded_and_disjoint():
    a, b, c = probe_split(100, seed=3)
    assert len(a) == 60 and len(b) == 20 and len(c) == 20
    assert len(set(a.tolist()) | set(b.tolist()) | set(c.tolist())) == 100
    assert torch.equal(probe_split(100, seed=3)[0], a)
    assert not torch.equal(probe_split(100, seed=4)[0], a)
    with pytest.raises(ValueError, match="split"):
        probe_split(100, split=(0.5, 0.5, 0.5))


def test_max_concepts_and_tolerance_bound_the_length():
    sim, acts = _layer()[2], _layer()[3][:, 2:9:3]  # three-concept units
    one = linear_explanations(sim, acts, max_concepts=1)
    assert (one.concepts.map(len) == 1).all()
    loose = linear_explanations(sim, acts, tolerance=0.5)
    assert (loose.concepts.map(len) == 1).all()


def test_explanation_csv_round_trips_in_les_layout_and_gives_a_label_frame(tmp_path):
    from vitconcepts.formats import linear_label_frame, read_linear, write_linear

    frame = _explained().iloc[:3].copy()
    frame["concepts"] = [tuple(f"c{i}, x" for i in c) for c in frame["concepts"]]
    frame.insert(0, "layer", "blocks.0")
    frame["label_test_correlation"] = 0.1
    path = write_linear(frame, tmp_path / "le.csv")
    header = path.read_text().splitlines()[0].split(",")
    k = max(len(c) for c in frame["concepts"])
    assert header[:3] == ["layer", "unit", "concept0"] and header[2 + k] == "weight0"
    back = read_linear(path)
    assert list(back["concepts"]) == list(frame["concepts"])  # padding "0" dropped
    np.testing.assert_allclose(back["test_correlation"], frame["test_correlation"])
    labels = linear_label_frame(back)
    assert list(labels["description"]) == [c[0] for c in frame["concepts"]]
    assert list(labels["similarity"]) == list(back["test_correlation"])
    assert list(labels["n_concepts"]) == [len(c) for c in frame["concepts"]]
