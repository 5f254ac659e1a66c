"""Tests of vitconcepts.analysis: concepts per layer, category shares, finetuning means."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vitconcepts.analysis import (
    category_shares,
    concepts_per_layer,
    layer_category_shares,
)
from vitconcepts.categories import CATEGORIES, categorise_concepts
from vitconcepts.errors import InputDataError
from vitconcepts.formats import read_labels

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "paper-reference"
VITS = ("vit", "dinov2", "clip", "mae")


@pytest.fixture(scope="module")
def reference() -> Path:
    if not (REFERENCE / "vit.csv").is_file():
        pytest.skip(f"authors' reference files not found at {REFERENCE}")
    return REFERENCE


def reference_models(root: Path) -> dict[str, Path]:
    return {path.stem: path for path in sorted(root.glob("*.csv"))}


def write_labels(path: Path, rows: list[tuple[str, int, str, float]]) -> Path:
    """A label CSV with the authors' columns from ``(layer, unit, description, similarity)``."""
    frame = pd.DataFrame(rows, columns=["layer", "unit", "description", "similarity"])
    frame["images"] = "[0 1 2 3 4]"
    frame.to_csv(path, index=False)
    return path


def write_categories(path: Path, mapping: dict[str, str]) -> Path:
    rows = [(word, category, "curated") for word, category in mapping.items()]
    pd.DataFrame(rows, columns=["concept", "category", "source"]).to_csv(path, index=False)
    return path


# --- independent implementations of the definitions (plain groupbys) ----------------------


def expected_concepts(csv: Path) -> list[int]:
    """Distinct descriptions strictly above the layer median, layers in file order."""
    frame = pd.read_csv(csv, keep_default_na=False)
    order = list(dict.fromkeys(frame["layer"]))
    median = frame.groupby("layer")["similarity"].transform("median")
    above = frame[frame["similarity"] > median]
    counts = above.groupby("layer")["description"].nunique()
    return [int(counts.get(layer, 0)) for layer in order]


def expected_shares(csv: Path, mapping: dict[str, str]) -> pd.DataFrame:
    """Share of categories among units strictly above the layer mean, layers in file order.

    Labels outside ``mapping`` count in no category but stay in the denominator (the
    authors' notebook)."""
    frame = pd.read_csv(csv, keep_default_na=False)
    order = list(dict.fromkeys(frame["layer"]))
    mean = frame.groupby("layer")["similarity"].transform("mean")
    above = frame[frame["similarity"] > mean].copy()
    kept = above.groupby("layer").size().reindex(order)
    above["category"] = above["description"].map(mapping)
    counts = pd.crosstab(above["layer"], above["category"])
    counts = counts.reindex(index=order, columns=list(CATEGORIES), fill_value=0)
    shares = counts.div(kept, axis=0)
    shares.index = range(len(order))
    return shares


# --- the authors' published labels ---------------------------------------------------------


def test_concepts_per_layer_on_published_labels(reference: Path, tmp_path: Path) -> None:
    csvs = reference_models(reference)
    out = tmp_path / "concepts.csv"
    table = concepts_per_layer(csvs, out)
    assert list(table.columns) == ["model", "layer", "n_concepts"]
    assert table.equals(pd.read_csv(out))
    for model, csv in csvs.items():
        got = table[table["model"] == model]
        assert got["layer"].tolist() == list(range(len(got)))
        assert got["n_concepts"].tolist() == expected_concepts(csv), model


def test_published_vit_concepts_per_layer(reference: Path) -> None:
    table = concepts_per_layer({"vit": reference / "vit.csv"})
    assert table["n_concepts"].tolist() == [46, 77, 93, 113, 114, 115, 136, 142, 161, 183, 191, 172]


def test_category_shares_on_published_labels(reference: Path, tmp_path: Path) -> None:
    curated_json = reference / "words_per_category_curated.json"
    categories_csv = tmp_path / "categories.csv"
    categorise_concepts(reference / "20k.txt", curated_json, categories_csv, automatic="none")
    mapping = {w: c for c, words in json.loads(curated_json.read_text()).items() for w in words}
    csvs = {model: reference / f"{model}.csv" for model in (*VITS, "resnet")}
    out = tmp_path / "shares.csv"
    table = category_shares(csvs, categories_csv, out)
    assert list(table.columns) == ["model", "layer", "category", "share"]
    assert len(pd.read_csv(out)) == len(table)
    for model, csv in csvs.items():
        got = table[table["model"] == model].pivot(
            index="layer", columns="category", values="share"
        )
        got = got[list(CATEGORIES)]
        got.columns.name = None
        got.index.name = None
        want = expected_shares(csv, mapping)
        want.columns.name = None
        pd.testing.assert_frame_equal(got, want, check_exact=True, check_dtype=False)


def test_category_share_rows_complete_and_ordered(reference: Path, tmp_path: Path) -> None:
    categories_csv = tmp_path / "categories.csv"
    categorise_concepts(
        reference / "20k.txt",
        reference / "words_per_category_curated.json",
        categories_csv,
        automatic="none",
    )
    table = category_shares({"resnet": reference / "resnet.csv"}, categories_csv)
    assert len(table) == 5 * len(CATEGORIES)
    assert table["category"].tolist() == list(CATEGORIES) * 5
    sums = table.groupby("layer")["share"].sum()
    assert (sums <= 1 + 1e-12).all()
    exclude = category_shares(
        {"resnet": reference / "resnet.csv"}, categories_csv, missing="exclude"
    )
    assert np.allclose(exclude.groupby("layer")["share"].sum(), 1.0)


# --- hand-made label files with known answers ----------------------------------------------


def test_layer_order_is_first_appearance(tmp_path: Path) -> None:
    layers = [f"vit.encoder.layer[{i}]" for i in range(12)]
    rows = [(layer, u, f"c{i}_{u}", 0.1 * u) for i, layer in enumerate(layers) for u in range(3)]
    frame = read_labels(write_labels(tmp_path / "m.csv", rows))
    index = dict(zip(frame["layer"], frame["layer_index"], strict=False))
    assert index["vit.encoder.layer[10]"] == 10
    assert index["vit.encoder.layer[2]"] == 2
    assert sorted(index.values()) == list(range(12))


def test_layer_order_not_sorted(tmp_path: Path) -> None:
    rows = [("b", 0, "x", 0.1), ("a", 0, "y", 0.2), ("c", 0, "z", 0.3)]
    frame = read_labels(write_labels(tmp_path / "m.csv", rows))
    assert frame["layer_index"].tolist() == [0, 1, 2]


def test_median_edge_cases(tmp_path: Path) -> None:
    rows = [
        # layer 0: median 0.25, two units above, one repeated description -> 1 concept
        ("l0", 0, "red", 0.1),
        ("l0", 1, "blue", 0.2),
        ("l0", 2, "dog", 0.3),
        ("l0", 3, "dog", 0.4),
        # layer 1: all equal -> nothing strictly above the median
        ("l1", 0, "red", 0.5),
        ("l1", 1, "blue", 0.5),
        ("l1", 2, "car", 0.5),
        # layer 2: odd count, median is the middle unit (0.3) which is not counted
        ("l2", 0, "a", 0.1),
        ("l2", 1, "b", 0.3),
        ("l2", 2, "c", 0.9),
    ]
    table = concepts_per_layer({"m": write_labels(tmp_path / "m.csv", rows)})
    assert table["n_concepts"].tolist() == [1, 0, 1]
    assert table["layer"].tolist() == [0, 1, 2]


def test_descriptions_stay_words(tmp_path: Path) -> None:
    rows = [("l0", 0, "null", 0.1), ("l0", 1, "na", 0.9), ("l0", 2, "nan", 0.8)]
    frame = read_labels(write_labels(tmp_path / "m.csv", rows))
    assert frame["description"].tolist() == ["null", "na", "nan"]


def test_shares_mean_edge_cases_and_widths(tmp_path: Path) -> None:
    rows = [
        # layer 0 (2 units): mean 0.3, one unit above (dog)
        ("stage1", 0, "red", 0.2),
        ("stage1", 1, "dog", 0.4),
        # layer 1 (5 units): mean 0.3; 0.3 is not strictly above; three above
        ("stage2", 0, "car", 0.1),
        ("stage2", 1, "church", 0.3),
        ("stage2", 2, "car", 0.35),
        ("stage2", 3, "red", 0.4),
        ("stage2", 4, "zzz", 0.35),
    ]
    labels = write_labels(tmp_path / "cnn.csv", rows)
    categories = write_categories(
        tmp_path / "cat.csv",
        {
            "red": "colors",
            "dog": "natural elements and organisms",
            "car": "objects and machines",
            "church": "places and buildings",
        },
    )
    table = category_shares({"cnn": labels}, categories)
    assert len(table) == 2 * len(CATEGORIES)
    shares = table.set_index(["layer", "category"])["share"]
    assert shares[(0, "natural elements and organisms")] == 1.0
    assert shares[(0, "colors")] == 0.0
    assert shares[(1, "objects and machines")] == pytest.approx(1 / 3)
    assert shares[(1, "colors")] == pytest.approx(1 / 3)
    assert shares[(1, "unknown")] == 0.0  # zzz is not in the table: denominator only
    assert shares[(1, "places and buildings")] == 0.0


def test_missing_policies() -> None:
    units = pd.DataFrame({"description": ["a", "b", "zzz", "x"], "similarity": [1, 1, 1, 0]})
    mapping = {"a": "colors", "b": "abstract"}
    unknown = layer_category_shares(units, mapping, "unknown")
    exclude = layer_category_shares(units, mapping, "exclude")
    ignore = layer_category_shares(units, mapping, "ignore")
    assert unknown["unknown"] == pytest.approx(1 / 3)
    assert exclude["colors"] == 0.5 and exclude["unknown"] == 0.0
    assert ignore["colors"] == pytest.approx(1 / 3) and ignore["unknown"] == 0.0
    with pytest.raises(ValueError):
        layer_category_shares(units, mapping, "bogus")


def test_bad_category_table(tmp_path: Path) -> None:
    labels = write_labels(tmp_path / "m.csv", [("l0", 0, "red", 0.1)])
    bad = write_categories(tmp_path / "bad.csv", {"red": "colours"})
    with pytest.raises(InputDataError, match="unknown categories"):
        category_shares({"m": labels}, bad)
    with pytest.raises(InputDataError, match="does not exist"):
        category_shares({"m": labels}, tmp_path / "absent.csv")


def test_read_labels_errors(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="does not exist"):
        read_labels(tmp_path / "absent.csv")
    path = tmp_path / "bad.csv"
    pd.DataFrame({"layer": ["l0"], "unit": [0]}).to_csv(path, index=False)
    with pytest.raises(InputDataError, match="lacks column"):
        read_labels(path)


# --- finetuning means (paper Figs. 7 and 8) -------------------------------------------------

CONDITIONS = {"pretrained": ["a", "b"], "cub": ["a_cub", "b_cub"]}


def test_finetuning_concepts_per_layer_means_per_condition(tmp_path: Path) -> None:
    from vitconcepts.analysis import finetuning_concepts_per_layer

    counts = pd.DataFrame(
        [
            (m, layer, n)
            for m, ns in {"a": [1, 2], "b": [4, 4], "a_cub": [3, 0]}.items()
            for layer, n in enumerate(ns)
        ]
        + [("b_cub", 0, 1), ("b_cub", 1, 1), ("other", 0, 99), ("other", 1, 99)],
        columns=["model", "layer", "n_concepts"],
    )
    out = tmp_path / "f8.csv"
    table = finetuning_concepts_per_layer(counts, CONDITIONS, out)
    assert list(table.columns) == ["condition", "layer", "n_concepts"]
    assert table.values.tolist() == [
        ["pretrained", 0, 2.5],
        ["pretrained", 1, 3.0],
        ["cub", 0, 2.0],
        ["cub", 1, 0.5],
    ]
    assert pd.read_csv(out).equals(table)


def test_finetuning_category_shares_and_depth_mismatch() -> None:
    from vitconcepts.analysis import finetuning_category_shares

    rows = []
    for model, colors in {"a": 0.2, "b": 0.4, "a_cub": 0.0, "b_cub": 1.0}.items():
        for layer in range(2):
            for category in CATEGORIES:
                rows.append((model, layer, category, colors if category == "colors" else 0.0))
    shares = pd.DataFrame(rows, columns=["model", "layer", "category", "share"])
    table = finetuning_category_shares(shares, CONDITIONS)
    assert len(table) == 2 * 2 * len(CATEGORIES)
    got = table.set_index(["condition", "layer", "category"])["share"]
    assert got[("pretrained", 1, "colors")] == np.mean([0.2, 0.4])
    assert got[("cub", 0, "colors")] == 0.5 and got[("cub", 0, "activities")] == 0.0
    deeper = pd.concat(
        [shares, pd.DataFrame([("b", 2, c, 0.0) for c in CATEGORIES], columns=shares.columns)]
    )
    with pytest.raises(InputDataError, match="different numbers of layers"):
        finetuning_category_shares(deeper, CONDITIONS)


def test_default_rows_have_no_category(tmp_path: Path) -> None:
    """A concept the categorisers could not place (source default) counts in no category."""
    categories = tmp_path / "categories.csv"
    pd.DataFrame(
        {
            "concept": ["red", "zzz"],
            "category": ["colors", "unknown"],
            "source": ["curated", "default"],
        }
    ).to_csv(categories, index=False)
    labels = write_labels(
        tmp_path / "m.csv", [("l0", 0, "red", 0.9), ("l0", 1, "zzz", 0.8), ("l0", 2, "x", 0.0)]
    )
    shares = category_shares({"m": labels}, categories).set_index("category")["share"]
    assert shares["colors"] == 0.5 and shares["unknown"] == 0.0
