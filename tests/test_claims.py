"""The paper's claims as statistics (vitconcepts.claims) on constructed label frames."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from vitconcepts import claims as C

MAPPING = {
    "red": "colors",
    "blue": "colors",
    "fur": "textures and materials",
    "dog": "natural elements and organisms",
    "car": "objects and machines",
    "bird": "natural elements and organisms",
}


def frame(layers: list[list[str]], scores: list[list[float]] | None = None) -> pd.DataFrame:
    """A label frame: one list of unit descriptions per layer (scores 0..1 ascending)."""
    rows = []
    for li, words in enumerate(layers):
        s = scores[li] if scores else np.linspace(0.0, 1.0, len(words))
        rows += [(li, u, w, float(x)) for u, (w, x) in enumerate(zip(words, s, strict=True))]
    return pd.DataFrame(rows, columns=["layer_index", "unit", "description", "similarity"])


def early_late_model(n_layers: int = 6) -> pd.DataFrame:
    """Colour units early, object units late (all units above the mean are the top half)."""
    early = ["x", "x", "red", "blue"]
    late = ["x", "x", "car", "dog"]
    return frame([early] * (n_layers // 2) + [late] * (n_layers - n_layers // 2))


def test_edge_layers_are_the_first_and_last_three() -> None:
    assert C.edge_layers(12) == ([0, 1, 2], [9, 10, 11])
    assert C.edge_layers(5) == ([0, 1, 2], [2, 3, 4])  # ResNet-50's stages: as the paper
    assert C.edge_layers(3) == ([0], [2])
    assert C.edge_layers(2) == ([0], [1])


def test_early_minus_late_is_the_share_difference() -> None:
    f = early_late_model()
    # top half above the mean: red, blue early (share 1.0 of colours), car, dog late (0)
    assert C.early_minus_late(f, C.EARLY_CATEGORIES, MAPPING) == pytest.approx(1.0)
    assert -C.early_minus_late(f, C.LATE_CATEGORIES, MAPPING) == pytest.approx(1.0)


def test_concepts_depth_rho_is_spearman_of_unique_counts() -> None:
    rising = frame([["a"] * 4, ["a", "b", "c", "c"], ["a", "b", "c", "d"]])
    # above the median: layer 0 -> 1 concept, layer 1 -> 1 (c, c), layer 2 -> 2 (c, d)
    assert C.concepts_depth_rho(rising) == pytest.approx(
        pd.Series([0, 1, 2]).corr(pd.Series([1, 1, 2]), method="spearman")
    )
    assert math.isnan(C.concepts_depth_rho(frame([["a"] * 4] * 3)))


def test_last_layer_concepts_and_late_share() -> None:
    f = frame([["a", "b", "c", "d"], ["x", "y", "dog", "bird"]])
    assert C.last_layer_concepts(f) == 2
    assert C.late_share(f, ("natural elements and organisms",), MAPPING) == pytest.approx(1.0)


def test_cramers_v_is_one_for_separated_and_zero_for_identical_models() -> None:
    assert C.cramers_v(np.array(["a", "a", "b", "b"]), np.array(["x", "x", "y", "y"])) == 1.0
    same = C.cramers_v(np.array(["a", "a", "b", "b"]), np.array(["x", "y", "x", "y"]))
    assert same == pytest.approx(0.0)
    assert math.isnan(C.cramers_v(np.array(["a", "a"]), np.array(["x", "y"])))


def test_pretraining_v_against_the_permutation_null() -> None:
    colours = frame([["x"] * 20] * 3 + [["x"] * 10 + ["red"] * 10] * 3)
    objects = frame([["x"] * 20] * 3 + [["x"] * 10 + ["car"] * 10] * 3)
    frames = {"m1": colours, "m2": objects}
    v = C.pretraining_v(frames, MAPPING)
    assert v == pytest.approx(1.0)
    assert C.permutation_null(frames, MAPPING, n_permutations=50) < 0.5


@pytest.mark.parametrize(
    ("value", "low", "high", "side", "expected"),
    [
        (0.3, 0.1, 0.5, 1, "holds"),
        (0.3, -0.1, 0.5, 1, "inconclusive"),
        (-0.3, -0.5, -0.1, 1, "contradicted"),
        (-0.3, -0.5, -0.1, -1, "holds"),
        (0.2, math.nan, math.nan, 1, "holds"),  # no resamples: the sign decides
        (-0.2, math.nan, math.nan, 1, "contradicted"),
        (0.0, math.nan, math.nan, 1, "inconclusive"),
        (math.nan, 0.1, 0.2, 1, "inconclusive"),
    ],
)
def test_verdict(value, low, high, side, expected) -> None:
    assert C.verdict(value, low, high, side) == expected


def test_verdict_against_a_threshold() -> None:
    assert C.verdict(0.5, 0.4, 0.6, 1, threshold=0.3) == "holds"
    assert C.verdict(0.2, 0.1, 0.25, 1, threshold=0.3) == "contradicted"


def _roles(**kw) -> C.ClaimRoles:
    return C.ClaimRoles(
        vits=["v1", "v2"],
        models=["v1", "v2", "ft"],
        finetuned={"ft": ("v1", "cub")},
        **kw,
    )


def test_claims_table_rows_columns_and_published_verdicts() -> None:
    frames = {"v1": early_late_model(), "v2": early_late_model()}
    frames["ft"] = frame([["x", "x", "red", "blue"]] * 3 + [["x", "x", "dog", "dog"]] * 3)
    table = C.claims_table(frames, MAPPING, _roles())
    assert list(table.columns) == list(C.CLAIM_COLUMNS)
    assert set(table["labeler"]) == {"clip_dissect"}
    assert list(dict.fromkeys(table["claim"])) == list(C.CLAIMS)
    row = table.set_index(["claim", "model"]).loc[("early_colors_textures", "v1")]
    assert row["value"] == pytest.approx(1.0) and row["verdict"] == "holds"
    assert math.isnan(row["ci_low"]) and row["n_boot"] == 0 and math.isnan(row["control_value"])
    ft = table.set_index(["claim", "model"]).loc[("finetuning_reduces_concepts", "ft")]
    assert ft["value"] == -1.0 and ft["verdict"] == "holds"  # dog alone vs car, dog
    shift = table.set_index(["claim", "model"]).loc[("finetuning_shifts_categories", "ft")]
    assert shift["value"] == pytest.approx(0.5)
    linear = C.claims_table(frames, MAPPING, _roles(), labeler="linear")
    assert set(linear["labeler"]) == {"linear"}


def test_claims_table_intervals_and_controls() -> None:
    frames = {"v1": early_late_model(), "v2": early_late_model()}
    flat = frame([["x", "x", "red", "car"]] * 6)  # an untrained network: no trend
    frames |= {"v1_random": flat, "v2_random": flat}
    rng = np.random.default_rng(0)

    def jitter(f):
        return f.assign(similarity=f["similarity"] + rng.normal(0, 0.01, len(f)))

    boots = {m: [jitter(f) for _ in range(20)] for m, f in frames.items()}
    roles = C.ClaimRoles(["v1", "v2"], ["v1", "v2"], {}, {"v1_random": "v1", "v2_random": "v2"})
    table = C.claims_table(frames, MAPPING, roles, boots).set_index(["claim", "model"])
    row = table.loc[("early_colors_textures", "v1")]
    assert row["n_boot"] == 20 and row["ci_low"] <= row["value"] <= row["ci_high"]
    assert row["control_value"] == pytest.approx(0.0) and not row["control_holds"]
    v = table.loc[("pretraining_shapes_categories", "all")]
    assert math.isfinite(v["control_value"]) and math.isfinite(v["threshold"])
    assert "v1_random" not in table.index.get_level_values("model")


def test_a_claim_that_holds_for_the_control_is_flagged() -> None:
    frames = {"v1": early_late_model(), "v1_random": early_late_model()}
    roles = C.ClaimRoles(["v1"], ["v1"], {}, {"v1_random": "v1"})
    table = C.claims_table(frames, MAPPING, roles).set_index(["claim", "model"])
    assert table.loc[("early_colors_textures", "v1"), "control_holds"]


def test_claims_tex_and_sentences(tmp_path) -> None:
    frames = {"v1": early_late_model(), "v2": early_late_model()}
    frames["v_2$"] = early_late_model()
    roles = C.ClaimRoles(["v1", "v2", "v_2$"], ["v1"], {}, {})
    csv = tmp_path / "claims.csv"
    C.claims_table(frames, MAPPING, roles).to_csv(csv, index=False)
    table, text = C.write_claims_tex(csv, tmp_path / "claims.tex", tmp_path / "text.tex")
    assert r"\toprule" in table.read_text() and r"v\_2\$" in table.read_text()
    body = text.read_text()
    assert r"\renewcommand{\vcclaimsentences}" in body
    assert "sign of each statistic decides" in body
    assert body.count(r"\item") == 4  # early, late, rise, pretraining
