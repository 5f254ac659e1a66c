"""The claims under two labelers (vitconcepts.claims): Linear Explanations' frames, the unit
bootstrap of their intervals, and the flag of a claim that holds under one labeler only."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from test_claims import MAPPING, early_late_model, frame

from vitconcepts import claims as C
from vitconcepts.formats import write_linear


def stable_model(n_layers: int = 6, n_units: int = 20) -> pd.DataFrame:
    """Every early unit a colour, every late unit an object (scores all distinct)."""
    early, late = ["red", "blue"] * (n_units // 2), ["car", "dog"] * (n_units // 2)
    scores = [list(np.linspace(0.1, 0.9, n_units))] * n_layers
    return frame([early] * (n_layers // 2) + [late] * (n_layers - n_layers // 2), scores)


def test_unit_resamples_draw_each_layers_units_with_replacement() -> None:
    f = stable_model(n_layers=4, n_units=10)
    draws = C.unit_resamples(f, 5, seed=3)
    assert len(draws) == 5
    for d in draws:
        assert d["layer_index"].value_counts().sort_index().tolist() == [10] * 4
        for layer, units in d.groupby("layer_index"):
            assert set(units["unit"]) <= set(f.loc[f["layer_index"] == layer, "unit"])
    assert any(d["unit"].duplicated().any() for d in draws)  # with replacement
    again = C.unit_resamples(f, 5, seed=3)
    assert all(a.equals(b) for a, b in zip(draws, again, strict=True))  # seeded
    assert not draws[0].equals(C.unit_resamples(f, 5, seed=4)[0])


def test_unit_bootstrap_intervals_contain_a_stable_value() -> None:
    frames = {"v1": stable_model(), "v2": stable_model()}
    boots = {m: C.unit_resamples(f, 20, seed=i) for i, (m, f) in enumerate(frames.items())}
    roles = C.ClaimRoles(["v1", "v2"], ["v1", "v2"])
    table = C.claims_table(frames, MAPPING, roles, boots, labeler="linear")
    row = table.set_index(["claim", "model"]).loc[("early_colors_textures", "v1")]
    assert row["value"] == pytest.approx(1.0) and row["n_boot"] == 20
    assert row["ci_low"] <= row["value"] <= row["ci_high"] and row["verdict"] == "holds"
    assert table["labelers_agree"].isna().all()  # one labeler: nothing to agree with


def _two_labelers() -> pd.DataFrame:
    """CLIP-Dissect sees colours early and objects late; LE sees the same concept in every
    layer (a flat network): the early/late claims hold under CLIP-Dissect only."""
    roles = C.ClaimRoles(["v1", "v2"], ["v1", "v2"])
    clip = {"v1": early_late_model(), "v2": early_late_model()}
    flat = frame([["x", "x", "red", "car"]] * 6)
    linear = {"v1": flat, "v2": early_late_model()}
    return C.combine_labelers(
        [
            C.claims_table(clip, MAPPING, roles),
            C.claims_table(linear, MAPPING, roles, labeler="linear"),
        ]
    )


def test_a_claim_that_holds_under_one_labeler_only_is_flagged() -> None:
    table = _two_labelers()
    assert list(table.columns) == list(C.CLAIM_COLUMNS)
    assert list(dict.fromkeys(table["claim"])) == [c for c in C.CLAIMS if c in set(table["claim"])]
    pair = table[(table["claim"] == "early_colors_textures") & (table["model"] == "v1")]
    assert list(pair["labeler"]) == ["clip_dissect", "linear"]  # side by side
    assert list(pair["verdict"]) == ["holds", "inconclusive"]
    assert list(pair["labelers_agree"]) == [False, False]  # on both rows of the pair
    both = table[(table["claim"] == "early_colors_textures") & (table["model"] == "v2")]
    assert list(both["labelers_agree"]) == [True, True]


def test_one_labeler_only_in_the_table_and_the_sentences(tmp_path) -> None:
    csv = tmp_path / "claims.csv"
    _two_labelers().to_csv(csv, index=False)
    tex, text = C.write_claims_tex(csv, tmp_path / "claims.tex", tmp_path / "text.tex")
    lines = tex.read_text().splitlines()
    marked = [line for line in lines if r"$^{\ddagger}$" in line]
    # early and late hold under CLIP-Dissect only (v1); V differs under LE only (v1 flat)
    assert [line.split(" & ")[2] for line in marked] == ["CLIP-Dissect", "CLIP-Dissect", "LE"]
    body = text.read_text()
    assert "under CLIP-Dissect and" in body and "under Linear Explanations" in body
    early = next(s for s in body.splitlines() if "early: colours" in s)
    assert "v1 1.00 (holds) under CLIP-Dissect and" in early
    assert early.count("holds under CLIP-Dissect only") == 1  # v1, not v2
    pretraining = next(s for s in body.splitlines() if "pretraining shapes" in s)
    assert "holds under Linear Explanations only" in pretraining
    assert "under CLIP-Dissect, " in pretraining  # each labeler's permutation null


def _label_csv(path, f: pd.DataFrame) -> None:
    f.assign(layer=f["layer_index"].map(lambda i: f"block{i}")).to_csv(path, index=False)


def _linear_csv(path, f: pd.DataFrame) -> None:
    explanation = f.assign(
        layer=f["layer_index"].map(lambda i: f"block{i}"),
        concepts=[(w, "fur") for w in f["description"]],
        weights=[(0.9, 0.1)] * len(f),
        bias=0.0,
        val_correlation=f["similarity"],
        test_correlation=f["similarity"],
        label_test_correlation=f["similarity"] / 2,
    )
    write_linear(explanation, path)


def test_claims_from_files_adds_the_linear_rows(tmp_path) -> None:
    categories = tmp_path / "categories.csv"
    rows = [(w, c, "curated") for w, c in MAPPING.items()]
    pd.DataFrame(rows, columns=["concept", "category", "source"]).to_csv(categories, index=False)
    labels, linear = {}, {}
    for m in ("v1", "v2", "v1_random"):
        f = stable_model() if m != "v1_random" else frame([["red", "car"] * 10] * 6)
        labels[m], linear[m] = tmp_path / f"{m}.csv", tmp_path / f"{m}.linear.csv"
        _label_csv(labels[m], f)
        _linear_csv(linear[m], f)
    roles = C.ClaimRoles(["v1", "v2"], ["v1", "v2"], {}, {"v1_random": "v1"})
    out = tmp_path / "claims.csv"
    C.claims_from_files(labels, categories, roles, linear_csvs=linear, n_boot=20, out_csv=out)
    table = pd.read_csv(out)
    assert list(table.columns) == list(C.CLAIM_COLUMNS)
    cd, le = (table[table["labeler"] == name] for name in C.LABELERS)
    assert len(cd) == len(le) and list(cd["claim"]) == list(le["claim"])
    assert (le["n_boot"] == 20).all() and (cd["n_boot"] == 0).all()
    early = le.set_index(["claim", "model"]).loc[("early_colors_textures", "v1")]
    assert early["ci_low"] <= early["value"] <= early["ci_high"]
    assert math.isfinite(early["control_value"])
    assert table["labelers_agree"].notna().all()
