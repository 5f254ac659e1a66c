"""Every figure's data from the authors' published labels equals their notebook's definition.

The reference values are recomputed here INDEPENDENTLY of vitconcepts, with plain pandas that
follows the cells of the authors' ``final_figures.ipynb`` (teresa-sc/concepts_in_ViTs) step by
step: ``pd.read_csv`` of ``results/<model>.csv``, ``layer.unique()`` order, units strictly above
the layer's median (concept counts) or mean (categories) similarity, ``word in
curated_dataset[category]`` over the kept units divided by their number, ``np.mean`` over
models. They are compared row for row with the CSVs our library functions write from the same
files (the functions the Snakemake rules call, on the categories table the published config
builds: curated map only, ``categories.automatic: none``).

Needs the authors' files in ``../shared/paper-reference`` (skipped otherwise).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "paper-reference"
PRETRAINED = ["vit", "dinov2", "clip", "mae"]
FINETUNED = {
    "pretrained": ["vit", "dinov2", "clip"],
    "cub": ["vit_cub", "dinov2_cub", "clip_cub"],
    "bloodmnist": ["vit_bloodmnist", "dinov2_bloodmnist", "clip_bloodmnist"],
}
ALL_MODELS = [
    *PRETRAINED,
    "resnet",
    *FINETUNED["cub"],
    *FINETUNED["bloodmnist"],
    "resnet_bloodmnist",
]
FIG1_CATEGORIES = [
    "colors",
    "textures and materials",
    "natural elements and organisms",
    "objects and machines",
]

pytestmark = pytest.mark.skipif(
    not (REFERENCE / "words_per_category_curated.json").is_file(),
    reason=f"the authors' published labels are not at {REFERENCE}",
)


# ------------------------------------------------------------------ the notebook, re-typed


def nb_curated() -> dict[str, list[str]]:
    with open(REFERENCE / "words_per_category_curated.json") as f:
        return json.load(f)


@functools.cache
def nb_results(model: str) -> pd.DataFrame:
    """``pd.read_csv(f"results/{model}.csv")`` as in the notebook (read once, never modified)."""
    return pd.read_csv(REFERENCE / f"{model}.csv")


def nb_num_concepts(model: str) -> list[int]:
    """Cells 'Figure 2' / 'Figure 8': distinct labels among units above the layer median."""
    df = nb_results(model)
    num_concepts = []
    for layer_name in df.layer.unique():
        layer = df[df["layer"] == layer_name]
        labels = layer[layer["similarity"] > layer["similarity"].median()]
        num_concepts.append(len(labels["description"].unique()))
    return num_concepts


def nb_histogram(model: str, value: list[str]) -> list[float]:
    """Cells 'Figure 3' / 'Figure 1' / 'Figure 6' / 'Figure 7' (fractions, not x100)."""
    results = nb_results(model)
    histogram = []
    for layer in results.layer.unique():
        layer_results = results[results["layer"] == layer]
        layer_filtered = layer_results[
            layer_results["similarity"] > layer_results["similarity"].mean()
        ]
        words_in_layer = [word for word in layer_filtered["description"] if word in value]
        histogram.append(len(words_in_layer) / len(layer_filtered["description"]))
    return histogram


def nb_histogram_percent(model: str, value: list[str]) -> list[float]:
    """The x100 form of Figs. 6 and 7, exactly as the notebook computes it."""
    results = nb_results(model)
    histogram = []
    for layer in results.layer.unique():
        layer_results = results[results["layer"] == layer]
        layer_filtered = layer_results[
            layer_results["similarity"] > layer_results["similarity"].mean()
        ]
        words_in_layer = [word for word in layer_filtered["description"] if word in value]
        histogram.append(len(words_in_layer) / len(layer_filtered["description"]) * 100)
    return histogram


# ------------------------------------------------------------------ our pipeline's CSVs


@pytest.fixture(scope="module")
def ours(tmp_path_factory) -> dict[str, Path]:
    """The CSVs our rules write for config/published.yaml, via the same library calls."""
    from vitconcepts.analysis import category_shares, concepts_per_layer
    from vitconcepts.categories import categorise_concepts
    from vitconcepts.concepts import build_concept_set
    from vitconcepts.figures import (
        plot_category_shares,
        plot_category_shares_resnet,
        plot_category_shares_vit_mean,
        plot_concepts_per_layer,
        plot_finetuning_category_shares,
        plot_finetuning_concepts_per_layer,
    )

    out = tmp_path_factory.mktemp("published")
    labels = {m: REFERENCE / f"{m}.csv" for m in ALL_MODELS}
    concepts = out / "concepts.txt"
    build_concept_set({"kind": "labels"}, concepts, label_csvs=list(labels.values()))
    categories = out / "categories.csv"
    categorise_concepts(
        concepts, REFERENCE / "words_per_category_curated.json", categories, automatic="none"
    )
    files = {
        "concepts_per_layer": out / "concepts_per_layer.csv",
        "category_shares": out / "category_shares.csv",
    }
    concepts_per_layer(labels, files["concepts_per_layer"])
    category_shares(labels, categories, files["category_shares"])
    plot_concepts_per_layer(files["concepts_per_layer"], PRETRAINED, out / "fig2.pdf")
    plot_category_shares(files["category_shares"], PRETRAINED, out / "fig3.pdf")
    plot_category_shares_vit_mean(files["category_shares"], PRETRAINED, out / "fig1.pdf")
    plot_category_shares_resnet(files["category_shares"], "resnet", out / "fig6.pdf")
    plot_finetuning_category_shares(files["category_shares"], FINETUNED, out / "fig7.pdf")
    plot_finetuning_concepts_per_layer(files["concepts_per_layer"], FINETUNED, out / "fig8.pdf")
    for name in ("fig1", "fig3", "fig6", "fig7", "fig8"):
        files[name] = out / f"{name}.csv"
    return files


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False)


# ------------------------------------------------------------------ comparisons


def test_concepts_per_layer_fig2(ours):
    table = read(ours["concepts_per_layer"])
    for model in ALL_MODELS:
        got = table[table.model == model].sort_values("layer")
        assert got["layer"].tolist() == list(range(len(got)))
        assert got["n_concepts"].tolist() == nb_num_concepts(model), model
    assert len(table) == sum(len(nb_num_concepts(m)) for m in ALL_MODELS)


def test_category_shares_fig3_every_category(ours):
    """All nine categories, every model and layer: exactly the notebook's fraction."""
    curated = nb_curated()
    table = read(ours["category_shares"]).set_index(["model", "layer", "category"])["share"]
    n = 0
    for model in ALL_MODELS:
        for category, words in curated.items():
            for layer, expected in enumerate(nb_histogram(model, words)):
                assert table[(model, layer, category)] == expected, (model, layer, category)
                n += 1
    assert n == len(table) == 1170  # 9 categories x (10 ViTs x 12 layers + 2 ResNets x 5)


def test_figure3_source_csv(ours):
    curated = nb_curated()
    table = read(ours["fig3"])
    assert set(table.model) == set(PRETRAINED)
    shares = table.set_index(["model", "layer", "category"])["share"]
    for model in PRETRAINED:
        for category, words in curated.items():
            for layer, expected in enumerate(nb_histogram(model, words)):
                assert shares[(model, layer, category)] == expected


def test_figure1_mean_over_four_vits(ours):
    """Cell 'Figure 1': np.mean over vit, dinov2, clip, mae of each layer's fraction."""
    curated = nb_curated()
    table = read(ours["fig1"]).set_index(["layer", "category"])["share"]
    for category in FIG1_CATEGORIES:
        histogram = []
        for model in PRETRAINED:
            histogram += nb_histogram(model, curated[category])
        mean_hist = np.mean(np.array(histogram).reshape(4, -1), axis=0)
        got = [table[(layer, category)] for layer in range(len(mean_hist))]
        assert got == mean_hist.tolist(), category


def test_figure6_resnet(ours):
    """Cell 'Figure 6' (ResNet alone, x100 there): fractions equal; x100 to 1e-12."""
    curated = nb_curated()
    table = read(ours["fig6"])
    assert set(table.model) == {"resnet"}
    shares = table.set_index(["layer", "category"])["share"]
    for category in FIG1_CATEGORIES:
        expected = nb_histogram("resnet", curated[category])
        got = [shares[(layer, category)] for layer in range(5)]
        assert got == expected
        np.testing.assert_allclose(
            np.array(got) * 100, nb_histogram_percent("resnet", curated[category]), rtol=1e-12
        )


def test_figure7_finetuning_category_shares(ours):
    """Cell 'Figure 7': np.mean over vit, dinov2, clip (or their copies) per condition."""
    curated = nb_curated()
    table = read(ours["fig7"])
    assert list(table.columns) == ["condition", "layer", "category", "share"]
    assert list(dict.fromkeys(table.condition)) == ["pretrained", "cub", "bloodmnist"]
    assert sorted(set(table.layer)) == list(range(12))
    shares = table.set_index(["condition", "layer", "category"])["share"]
    n = 0
    for condition, models in FINETUNED.items():
        for key, value in curated.items():
            fractions = np.mean([nb_histogram(m, value) for m in models], axis=0)
            percent = np.mean([nb_histogram_percent(m, value) for m in models], axis=0)
            got = np.array([shares[(condition, layer, key)] for layer in range(12)])
            assert got.tolist() == fractions.tolist(), (condition, key)
            np.testing.assert_allclose(got * 100, percent, rtol=1e-12, atol=1e-12)
            n += 12
    assert n == len(table) == 3 * 9 * 12


def test_figure8_finetuning_concepts_per_layer(ours):
    """Cell 'Figure 8': np.mean of the concept counts over the three models per condition."""
    table = read(ours["fig8"])
    assert list(table.columns) == ["condition", "layer", "n_concepts"]
    assert len(table) == 3 * 12
    for condition, models in FINETUNED.items():
        expected = np.mean([nb_num_concepts(m) for m in models], axis=0)
        got = table[table.condition == condition].sort_values("layer")
        assert got["layer"].tolist() == list(range(12))
        assert got["n_concepts"].tolist() == expected.tolist(), condition


def test_labels_outside_the_curated_map_stay_in_the_denominator(ours):
    """The point of the notebook's definition: a label outside the curated map counts in no
    category but stays in the denominator, so 1 - (sum of a layer's shares) is exactly the
    fraction of the layer's kept units (score above the layer mean) whose label the curated
    map does not hold, recomputed here by hand for every model and layer."""
    table = read(ours["category_shares"])
    totals = table.groupby(["model", "layer"])["share"].sum()
    curated = {word for words in nb_curated().values() for word in words}
    outside_any = False
    for model in ALL_MODELS:
        results = nb_results(model)
        for position, name in enumerate(results.layer.unique()):
            layer = results[results["layer"] == name]
            kept = layer[layer["similarity"] > layer["similarity"].mean()]["description"]
            outside = float(np.mean([word not in curated for word in kept]))
            assert 1 - totals[(model, position)] == pytest.approx(outside, abs=1e-12), (
                model,
                position,
            )
            outside_any |= outside > 0
    assert outside_any  # the published labels do hold words outside the curated map
    assert (totals <= 1 + 1e-12).all()
