"""Broden annotations as ground truth: reading a generated Broden folder, scoring planted and
noise units, the presence file, bad input, and the per-layer summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vitconcepts.errors import InputDataError
from vitconcepts.formats import read_ground_truth, read_presence, write_presence
from vitconcepts.ground_truth import (
    average_precision,
    broden_presence,
    mask_numbers,
    score_labels,
    strip_suffix,
    summarise_ground_truth,
    summarise_published,
)
from vitconcepts.synthetic import BRODEN_LABELS, make_synthetic_broden

NAMES = [strip_suffix(name) for _, name, _, _ in BRODEN_LABELS]


@pytest.fixture(scope="module")
def broden(tmp_path_factory):
    root, truth = make_synthetic_broden(tmp_path_factory.mktemp("broden"), n=300, seed=3)
    return root, truth


def test_presence_equals_planted_truth(broden):
    root, truth = broden
    data = broden_presence(root, threads=2)
    assert data.names == NAMES  # suffixes stripped, number order
    assert list(data.numbers) == [number for number, *_ in BRODEN_LABELS]
    assert max(data.numbers) > 255  # read through the mask's G channel
    assert data.presence.dtype == bool and np.array_equal(data.presence, truth)
    assert data.synonyms[NAMES.index("car")][:2] == ["auto", "automobile"]
    assert len(data.images) == 300 and data.images[0] == "synth/00000.jpg"


def test_presence_file_round_trip(broden, tmp_path):
    data = broden_presence(broden[0])
    back = read_presence(write_presence(tmp_path / "presence.npz", data))
    assert np.array_equal(back.presence, data.presence) and back.names == data.names
    assert back.synonyms == data.synonyms and back.provenance["n_images"] == 300
    with pytest.raises(InputDataError, match="not a Broden presence file"):
        (tmp_path / "bad.npz").write_bytes(b"junk")
        read_presence(tmp_path / "bad.npz")


def _units(truth, rng, planted):
    """Planted units (a concept's presence plus noise) followed by pure-noise units."""
    n = truth.shape[0]
    planted_acts = [2.5 * truth[:, NAMES.index(c)] + rng.normal(size=n) * 0.5 for c in planted]
    noise = rng.normal(size=(n, 40))
    return np.column_stack([*planted_acts, noise])


def test_planted_units_are_found_and_noise_sits_at_chance(broden):
    root, truth = broden
    data = broden_presence(root)
    rng = np.random.default_rng(0)
    planted = ["dog", "wood", "kitchen", "striped", "wheel"]
    acts = _units(truth, rng, planted)
    labels = [*planted, *(["grass"] * 40)]
    frame = score_labels(acts, data.presence, data.names, labels, alpha=0.05)
    hits = frame.iloc[: len(planted)]
    assert (hits["auprc"] >= 0.9).all(), hits
    reachable = np.minimum(1.0, hits["base_rate"] * 300 / 15)  # k = ceil(0.05 x 300)
    assert (hits["precision"] >= reachable - 0.1).all()
    assert hits["best_name"].tolist() == planted
    noise = frame.iloc[len(planted) :]
    base = noise["base_rate"].iloc[0]
    assert abs(noise["auprc"].mean() - base) < 0.06
    assert abs(noise["precision"].mean() - base) < 0.08


def test_label_matching_synonyms_and_repeated_names(broden):
    root, truth = broden
    data = broden_presence(root)
    acts = np.random.default_rng(1).normal(size=(300, 5))
    labels = ["Automobile", "orange", "nothing at all", "Red", "Canis familiaris"]
    frame = score_labels(acts, data.presence, data.names, labels, synonyms=data.synonyms)
    assert frame["broden_name"].tolist() == ["car", "orange", "", "red", "dog"]
    # orange is a colour and an object: one concept present where either is
    either = truth[:, [i for i, name in enumerate(NAMES) if name == "orange"]].any(axis=1)
    assert frame.loc[1, "base_rate"] == pytest.approx(either.mean())
    assert np.isnan(
        frame.loc[2, ["iou", "f1", "precision", "auprc", "base_rate"]].astype(float)
    ).all()


def test_average_precision_matches_definition():
    scores = np.array([[0.9], [0.8], [0.7], [0.6]])
    targets = np.array([[True], [False], [True], [False]])
    assert average_precision(scores, targets)[0] == pytest.approx((1 + 2 / 3) / 2)


def test_truncated_and_missing_masks_named_in_one_message(broden, tmp_path):
    import shutil

    root = tmp_path / "broden1_224"
    shutil.copytree(broden[0], root)
    masks = sorted((root / "images" / "synth").glob("*_object.png"))
    masks[0].write_bytes(masks[0].read_bytes()[:60])
    masks[1].unlink()
    with pytest.raises(InputDataError) as error:
        broden_presence(root)
    message = str(error.value)
    assert "2 annotation mask(s)" in message and masks[0].name in message
    assert masks[1].name in message and "missing" in message and "Fix:" in message
    (root / "label.csv").unlink()
    with pytest.raises(InputDataError, match="label.csv does not exist"):
        broden_presence(root)


def test_mask_numbers_reads_r_plus_256_g(tmp_path):
    pixels = np.zeros((4, 4, 3), dtype=np.uint8)
    pixels[0, 0] = (44, 1, 0)  # 300
    pixels[1, 1] = (7, 0, 0)
    Image.fromarray(pixels).save(tmp_path / "m.png")
    assert mask_numbers(tmp_path / "m.png").tolist() == [7, 300]


def _ground_truth_csv(path, rows):
    columns = ["layer", "unit", "label", "broden_name", "iou", "f1", "precision", "auprc"]
    columns += ["base_rate", "best_name", "best_score"]
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)
    return path


def test_summaries_per_layer_and_category(tmp_path):
    csv = _ground_truth_csv(
        tmp_path / "m.csv",
        [
            ["b0", 0, "dog", "dog", 0.2, 0.3, 0.9, 0.95, 0.3, "dog", 0.2],
            ["b0", 1, "red", "red", 0.1, 0.1, 0.3, 0.3, 0.3, "car", 0.1],
            ["b1", 0, "automobile", "car", 0.1, 0.1, 0.5, 0.6, 0.3, "car", 0.1],
            ["b1", 1, "zebra", "", "", "", "", "", "", "dog", 0.05],
        ],
    )
    assert read_ground_truth(csv)["layer_index"].tolist() == [0, 0, 1, 1]
    mapping = {"dog": "animals", "red": "colors", "automobile": "machines"}
    out = summarise_ground_truth({"m": csv}, mapping, tmp_path / "s.csv")
    overall = out[out["category"] == "all"].set_index("layer")
    assert overall.loc[0, "share_broden"] == 1 and overall.loc[1, "share_broden"] == 0.5
    assert overall.loc[0, "agree_exact"] == 0.5 and overall.loc[0, "median_auprc"] == 0.625
    # automobile and car share a WordNet synset: not exact, within one synset
    assert overall.loc[1, "agree_exact"] == 0 and overall.loc[1, "agree_synset"] == 0.5
    colours = out[(out["category"] == "colors")]
    assert colours["n_units"].tolist() == [1]


def test_published_summary_needs_no_activations(tmp_path):
    labels = tmp_path / "labels.csv"
    pd.DataFrame(
        {
            "layer": ["b0", "b0", "b1"],
            "unit": [0, 1, 0],
            "description": ["dog", "zebra", "Auto"],
            "similarity": [1.0, 1.0, 1.0],
        }
    ).to_csv(labels, index=False)
    syns = [["auto"] if n == "car" else [] for n in NAMES]
    out = summarise_published({"m": labels}, NAMES, syns, {"dog": "animals"})
    overall = out[out["category"] == "all"]
    assert overall["share_broden"].tolist() == [0.5, 1.0]
    assert overall[["median_auprc", "agree_exact"]].isna().all().all()


def test_atlas_cards_carry_netdissect_answer_and_scores(tmp_path):
    from vitconcepts.atlas.data import model_data

    labels = tmp_path / "labels.csv"
    pd.DataFrame(
        {
            "layer": ["b0", "b0"],
            "unit": [0, 1],
            "description": ["dog", "zebra"],
            "similarity": [1.0, 0.5],
            "images": ["[0 1]", "[1 0]"],
        }
    ).to_csv(labels, index=False)
    csv = _ground_truth_csv(
        tmp_path / "gt.csv",
        [
            ["b0", 1, "zebra", "", "", "", "", "", "", "striped", 0.05],
            ["b0", 0, "dog", "dog", 0.2, 0.3, 0.9, 0.95, 0.3, "dog", 0.2],
        ],
    )
    data = model_data("m", labels, images=False, ground_truth_csv=csv)
    strings = data["strings"]
    assert data["ground_truth"] and [strings[i] for i in data["gt_best"]] == ["dog", "striped"]
    assert data["gt_broden"][1] is None and strings[data["gt_broden"][0]] == "dog"
    assert data["gt_auprc"] == [0.95, None] and data["gt_prec"][0] == 0.9
    assert not model_data("m", labels, images=False)["ground_truth"]


def test_figure_and_table_from_computed_and_published_summaries(tmp_path):
    from vitconcepts.figures import plot_ground_truth
    from vitconcepts.tables import table_ground_truth

    rows = [
        ["vit", 0, "all", 10, 0.3, 0.6, 0.2, 0.1, 0.2],
        ["vit", 1, "all", 10, 0.5, 0.7, 0.2, 0.3, 0.4],
        ["vit", 1, "colors", 4, 1.0, 0.8, 0.3, 0.5, 0.5],
        ["vit_random", 0, "all", 10, 0.2, 0.2, 0.2, 0.0, 0.0],
    ]
    columns = ["model", "layer", "category", "n_units", "share_broden", "median_auprc"]
    columns += ["median_base_rate", "agree_exact", "agree_synset"]
    summary = tmp_path / "summary.csv"
    pd.DataFrame(rows, columns=columns).to_csv(summary, index=False)
    data = plot_ground_truth(summary, ["vit", "vit_random"], tmp_path / "fig/ground_truth.pdf")
    assert (tmp_path / "fig/ground_truth.png").is_file() and set(data["category"]) == {"all"}
    assert len(pd.read_csv(tmp_path / "fig/ground_truth.csv")) == 3
    table_ground_truth(summary, tmp_path / "t.tex", tmp_path / "t.csv")
    tex = (tmp_path / "t.tex").read_text()
    assert "vit\\_random" in tex or "random" in tex
    per_category = pd.read_csv(tmp_path / "t.csv")
    vit = per_category[(per_category["model"] == "vit") & (per_category["category"] == "all")]
    assert vit["share_broden"].iloc[0] == pytest.approx(0.4)  # unit-weighted over layers
    published = pd.DataFrame(rows, columns=columns)
    published[columns[5:]] = np.nan  # no activations: only the share naming Broden
    published.to_csv(summary, index=False)
    plot_ground_truth(summary, ["vit"], tmp_path / "pub/ground_truth.pdf")
    table_ground_truth(summary, tmp_path / "p.tex", tmp_path / "p.csv")
    assert "--" in (tmp_path / "p.tex").read_text()


def test_score_model_aligns_broden_rows_through_the_probe_index(tmp_path):
    """A probe of 10 pattern images then a synthetic Broden part: the activation file covers
    all 50 samples, a unit planted on `dog` over the Broden samples is scored on those only."""
    import xarray as xr

    from vitconcepts.ground_truth import build_presence, score_model
    from vitconcepts.probe import build_probe_index

    parts = [
        {"kind": "synthetic", "n": 10, "size": 16, "seed": 0},
        {"kind": "synthetic_broden", "n": 40, "size": 16, "seed": 2},
    ]
    index_csv = tmp_path / "index.csv"
    index = build_probe_index("p", parts, index_csv, tmp_path / "index.json", tmp_path, 1)
    assert index["sample_id"].iloc[10] == "synthetic_broden/images/synth/00000.jpg"
    build_presence(index_csv, tmp_path / "presence.npz")
    data = read_presence(tmp_path / "presence.npz")
    dog = data.presence[:, NAMES.index("dog")]
    rng = np.random.default_rng(0)
    acts = np.zeros((1, 2, 50), dtype=np.float32)
    acts[0, 0, 10:] = dog + 0.1 * rng.random(40)
    acts[0, 0, :10] = 5.0  # the pattern images must not enter
    acts[0, 1] = rng.random(50)
    nc = tmp_path / "acts.nc"
    xr.Dataset(
        {"activations": (("layer", "unit", "sample"), acts)},
        coords={
            "layer": ["blocks.0"],
            "unit": [0, 1],
            "sample": np.arange(50),
            "sample_id": ("sample", index["sample_id"].tolist()),
            "n_units": ("layer", [2]),
        },
    ).to_netcdf(nc)
    labels = tmp_path / "labels.csv"
    pd.DataFrame(
        {"layer": "blocks.0", "unit": [0, 1], "description": ["dog", "car"], "similarity": 1.0}
    ).to_csv(labels, index=False)
    out = score_model(nc, labels, tmp_path / "presence.npz", index_csv, tmp_path / "gt.csv", 0.1)
    assert out.loc[0, "auprc"] == pytest.approx(1.0) and out.loc[0, "best_name"] == "dog"
    assert out.loc[0, "base_rate"] == pytest.approx(dog.mean())
    assert read_ground_truth(tmp_path / "gt.csv")["broden_name"].tolist() == ["dog", "car"]
