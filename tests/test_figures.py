"""Figures: each plot_<name> writes PDF + PNG + tidy CSV deterministically (synthetic CSVs)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vitconcepts import figures as F
from vitconcepts import style
from vitconcepts.errors import ConfigError, InputDataError

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "paper-reference"

CATS = list(style.CATEGORIES)
# model -> number of layers; tiny models as in the test config.
LAYERS = {
    "vit": 2,
    "dinov2": 3,
    "clip": 2,
    "mae": 2,
    "resnet": 2,
    "vit_cub": 2,
    "clip_bloodmnist": 3,
}
FINETUNED = {"vit_cub": ("vit", "cub"), "clip_bloodmnist": ("clip", "bloodmnist")}
VITS = ["vit", "dinov2", "clip", "mae"]
CONDITIONS = {"pretrained": ["vit", "clip"], "cub": ["vit_cub"], "bloodmnist": ["clip_bloodmnist"]}


def _concepts_df() -> pd.DataFrame:
    rows = []
    for i, (m, n) in enumerate(LAYERS.items()):
        rows += [(m, layer, 10 * (i + 1) + 7 * layer) for layer in range(n)]
    return pd.DataFrame(rows, columns=["model", "layer", "n_concepts"])


def _shares_df() -> pd.DataFrame:
    """Shares per (model, layer); some categories are absent (they count as 0)."""
    rng = np.random.default_rng(0)
    rows = []
    for m, n in LAYERS.items():
        for layer in range(n):
            cats = CATS[: 4 + layer]  # later layers have more categories
            w = rng.random(len(cats))
            for c, s in zip(cats, w / w.sum(), strict=True):
                rows.append((m, layer, c, float(s)))
    return pd.DataFrame(rows, columns=["model", "layer", "category", "share"])


@pytest.fixture()
def data(tmp_path: Path) -> dict[str, Path]:
    """Synthetic analysis CSVs, labels, probe index and tiny images."""
    d = tmp_path / "in"
    d.mkdir()
    paths = {"concepts": d / "concepts_per_layer.csv", "shares": d / "category_shares.csv"}
    _concepts_df().to_csv(paths["concepts"], index=False)
    _shares_df().to_csv(paths["shares"], index=False)
    rows = [
        (m, layer, 0.3 + 0.05 * layer + 0.01 * i, 10)
        for i, m in enumerate(VITS)
        for layer in range(2)
    ]
    paths["complexity"] = d / "complexity.csv"
    pd.DataFrame(rows, columns=["model", "layer", "complexity", "n_images"]).to_csv(
        paths["complexity"], index=False
    )
    # probe: 8 tiny images of different sizes/modes
    index = []
    for s in range(8):
        p = d / f"img{s}.png"
        arr = np.full((10 + s, 14, 3), 30 * s, np.uint8)
        Image.fromarray(arr).convert("L" if s % 2 else "RGB").save(p)
        index.append((s, f"part/img{s}.png", str(p), "part"))
    paths["index"] = d / "index.csv"
    pd.DataFrame(index, columns=["sample", "sample_id", "path", "part"]).to_csv(
        paths["index"], index=False
    )
    labels = [
        ("blocks.0", 0, "red", 0.20, "[0 1 2 3 4]"),
        ("blocks.0", 1, "blue_ish & co", 0.50, "[5 6 7 0 1]"),
        ("blocks.0", 2, "green", 0.50, "[2 3 4 5 6]"),  # tie with unit 1: unit 1 first
        ("blocks.1", 0, "dog", 0.90, "[7 6 5 4 3]"),
        ("blocks.1", 1, "cat", 0.10, "[1 2 3 4 5]"),
        ("blocks.1", 2, "car", 0.40, "[0 2 4 6 7]"),
    ]
    paths["labels"] = d / "vit_labels.csv"
    pd.DataFrame(labels, columns=["layer", "unit", "description", "similarity", "images"]).to_csv(
        paths["labels"], index=False
    )
    paths["labels2"] = d / "clip_labels.csv"
    lab2 = pd.DataFrame(labels, columns=["layer", "unit", "description", "similarity", "images"])
    lab2["similarity"] = lab2["similarity"] * 0.5
    lab2.to_csv(paths["labels2"], index=False)
    return paths


def _calls(p: dict[str, Path]) -> dict[str, Callable[[Path], pd.DataFrame]]:
    """name -> function(out_pdf) for every figure."""
    return {
        "category_shares_vit_mean": lambda o: F.plot_category_shares_vit_mean(p["shares"], VITS, o),
        "concepts_per_layer": lambda o: F.plot_concepts_per_layer(p["concepts"], VITS, o),
        "category_shares": lambda o: F.plot_category_shares(p["shares"], VITS, o),
        "example_units": lambda o: F.plot_example_units(p["labels"], p["index"], [0, 1], 2, o),
        "image_complexity": lambda o: F.plot_image_complexity(p["complexity"], VITS, o),
        "category_shares_resnet": lambda o: F.plot_category_shares_resnet(p["shares"], "resnet", o),
        "finetuned_category_shares": lambda o: F.plot_finetuned_category_shares(
            p["shares"], FINETUNED, o
        ),
        "finetuned_concepts_per_layer": lambda o: F.plot_finetuned_concepts_per_layer(
            p["concepts"], FINETUNED, o
        ),
        "finetuning_category_shares": lambda o: F.plot_finetuning_category_shares(
            p["shares"], CONDITIONS, o
        ),
        "finetuning_concepts_per_layer": lambda o: F.plot_finetuning_concepts_per_layer(
            p["concepts"], CONDITIONS, o
        ),
        "appendix_vit": lambda o: F.plot_appendix("vit", p["concepts"], p["shares"], o),
        "score_histograms": lambda o: F.plot_score_histograms(
            {"vit": p["labels"], "clip": p["labels2"]}, o
        ),
    }


FIGURES = [
    "category_shares_vit_mean",
    "concepts_per_layer",
    "category_shares",
    "example_units",
    "image_complexity",
    "category_shares_resnet",
    "finetuned_category_shares",
    "finetuned_concepts_per_layer",
    "finetuning_category_shares",
    "finetuning_concepts_per_layer",
    "appendix_vit",
    "score_histograms",
]


@pytest.mark.parametrize("name", FIGURES)
def test_figure_writes_pdf_png_csv_deterministically(name: str, data, tmp_path: Path) -> None:
    outs = []
    for run in ("a", "b"):
        out_pdf = tmp_path / run / f"{name}.pdf"
        result = _calls(data)[name](out_pdf)
        assert out_pdf.read_bytes().startswith(b"%PDF")
        png = out_pdf.with_suffix(".png")
        with Image.open(png) as im:
            assert im.format == "PNG" and im.size[0] > 500
        csv = out_pdf.with_suffix(".csv")
        assert csv.is_file()  # input CSVs live elsewhere, so the source CSV is written
        # the CSV holds exactly the plotted (returned) data
        pd.testing.assert_frame_equal(
            pd.read_csv(csv, keep_default_na=False).astype(str),
            result.reset_index(drop=True).astype(str).replace("nan", ""),
            check_dtype=False,
        )
        outs.append(out_pdf)
    for suffix in (".pdf", ".png", ".csv"):
        a, b = (o.with_suffix(suffix).read_bytes() for o in outs)
        assert a == b, f"{name}{suffix} differs between runs"


def test_fixed_name_input_csv_is_not_overwritten(data, tmp_path: Path) -> None:
    """concepts_per_layer.csv / category_shares.csv are the figure's own source data."""
    before_c = data["concepts"].read_bytes()
    before_s = data["shares"].read_bytes()
    out_dir = data["concepts"].parent
    F.plot_concepts_per_layer(data["concepts"], VITS, out_dir / "concepts_per_layer.pdf")
    F.plot_category_shares(data["shares"], VITS, out_dir / "category_shares.pdf")
    assert data["concepts"].read_bytes() == before_c
    assert data["shares"].read_bytes() == before_s
    assert (out_dir / "concepts_per_layer.png").is_file()


def test_vit_mean_values(data, tmp_path: Path) -> None:
    out = F.plot_category_shares_vit_mean(data["shares"], VITS, tmp_path / "m.pdf")
    shares = _shares_df()
    # dinov2 has 3 layers: layer 2 is the mean of dinov2 alone
    row = out[(out["layer"] == 2) & (out["category"] == "colors")].iloc[0]
    expect = shares.query("model == 'dinov2' and layer == 2 and category == 'colors'")["share"]
    assert row["n_models"] == 1 and row["share"] == pytest.approx(float(expect.iloc[0]))
    # layer 0: mean over 4 ViTs, absent categories count as 0
    for cat in ("colors", "abstract"):
        got = out[(out["layer"] == 0) & (out["category"] == cat)]["share"].iloc[0]
        sel = (shares["layer"] == 0) & (shares["category"] == cat)
        vals = [shares[sel & (shares["model"] == m)]["share"].sum() for m in VITS]
        assert got == pytest.approx(np.mean(vals))
    sums = out.groupby("layer")["share"].sum()
    assert np.allclose(sums, 1.0)
    # all 9 categories for every layer, in canonical order
    assert list(out[out["layer"] == 0]["category"]) == CATS


def test_category_shares_zero_fills_and_keeps_values(data, tmp_path: Path) -> None:
    out = F.plot_category_shares(data["shares"], ["clip", "vit"], tmp_path / "c.pdf")
    assert list(dict.fromkeys(out["model"])) == ["clip", "vit"]
    shares = _shares_df().set_index(["model", "layer", "category"])["share"]
    for _, r in out.iterrows():
        assert r["share"] == pytest.approx(shares.get((r["model"], r["layer"], r["category"]), 0.0))
    assert len(out) == 2 * 2 * len(CATS)


def test_concepts_per_layer_csv_is_input_subset(data, tmp_path: Path) -> None:
    out = F.plot_concepts_per_layer(data["concepts"], ["mae", "vit"], tmp_path / "c.pdf")
    src = _concepts_df()
    expect = pd.concat([src[src.model == "mae"], src[src.model == "vit"]], ignore_index=True)
    pd.testing.assert_frame_equal(out, expect, check_dtype=False)


def test_missing_models_are_skipped_with_warning(data, tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="resnet_cub"):
        F.plot_concepts_per_layer(data["concepts"], ["vit", "resnet_cub"], tmp_path / "a.pdf")
    ft = dict(FINETUNED, resnet_cub=("resnet", "cub"), mae_cub=("mae", "cub"))
    with pytest.warns(UserWarning, match="mae_cub"):
        out = F.plot_finetuned_category_shares(data["shares"], ft, tmp_path / "b.pdf")
    # resnet row is still drawn (pretrained only); mae row has its pretrained model only
    assert set(out["model"]) == {"vit", "vit_cub", "clip", "clip_bloodmnist", "resnet", "mae"}
    with pytest.warns(UserWarning, match="nonexistent"):
        F.plot_score_histograms(
            {"vit": data["labels"], "x": data["labels"].parent / "nonexistent.csv"},
            tmp_path / "h.pdf",
        )
    shares_wo = _shares_df().query("model != 'vit_cub'")
    shares_wo.to_csv(tmp_path / "s.csv", index=False)
    with pytest.warns(UserWarning, match="panel left empty"):
        out = F.plot_appendix("vit_cub", data["concepts"], tmp_path / "s.csv", tmp_path / "ap.pdf")
    assert set(out["quantity"]) == {"n_concepts"}


def test_no_model_left_raises(data, tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="none of the models"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            F.plot_category_shares(data["shares"], ["nope"], tmp_path / "x.pdf")
    with pytest.raises(InputDataError, match="does not exist"):
        F.plot_concepts_per_layer(tmp_path / "missing.csv", VITS, tmp_path / "x.pdf")
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"model": ["vit"], "layer": [0]}).to_csv(bad, index=False)
    with pytest.raises(InputDataError, match="n_concepts"):
        F.plot_concepts_per_layer(bad, VITS, tmp_path / "x.pdf")


def test_example_units_selects_top_units(data, tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="layer 5"):
        out = F.plot_example_units(data["labels"], data["index"], [0, 1, 5], 2, tmp_path / "e.pdf")
    units = out.drop_duplicates(["layer", "unit"])[["layer", "unit"]].values.tolist()
    assert units == [[0, 1], [0, 2], [1, 0], [1, 2]]  # ties broken by lower unit first
    first = out[(out["layer"] == 1) & (out["unit"] == 0)]
    assert first["sample"].tolist() == [7, 6, 5, 4, 3]
    assert first["sample_id"].tolist()[0] == "part/img7.png"
    assert first["layer_name"].iloc[0] == "blocks.1"
    with pytest.raises(ConfigError, match="layers"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            F.plot_example_units(data["labels"], data["index"], [7], 1, tmp_path / "f.pdf")


def test_example_units_unknown_sample_is_clear(data, tmp_path: Path) -> None:
    lab = pd.read_csv(data["labels"])
    lab.loc[0, "images"] = "[99 1 2 3 4]"
    lab.loc[0, "similarity"] = 9.0
    lab.to_csv(tmp_path / "l.csv", index=False)
    with pytest.raises(InputDataError, match="sample 99"):
        F.plot_example_units(tmp_path / "l.csv", data["index"], [0], 1, tmp_path / "e.pdf")


def test_score_histograms_counts(data, tmp_path: Path) -> None:
    out = F.plot_score_histograms({"vit": data["labels"]}, tmp_path / "h.pdf", bins=5)
    assert out["count"].sum() == 6 and len(out) == 5
    assert out["bin_left"].iloc[0] == pytest.approx(0.1)
    assert out["bin_right"].iloc[-1] == pytest.approx(0.9)


def test_image_complexity_accepts_several_csvs(data, tmp_path: Path) -> None:
    df = pd.read_csv(data["complexity"])
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    df[df.model == "vit"].to_csv(a, index=False)
    df[df.model == "clip"].drop(columns="n_images").to_csv(b, index=False)
    out = F.plot_image_complexity([a, b], ["vit", "clip"], tmp_path / "c.pdf")
    assert list(dict.fromkeys(out["model"])) == ["vit", "clip"]


def test_style_colours_are_fixed_and_distinct() -> None:
    colours = [style.category_color(c) for c in style.CATEGORIES]
    assert len(set(colours)) == len(colours)
    assert style.model_color("vit_cub") == style.model_color("vit")
    assert style.model_color("somethingelse") == style.model_color("somethingelse")
    assert style.model_name("dinov2_bloodmnist") == "DINOv2 (BloodMNIST)"
    assert sorted(
        ["resnet", "vit_cub", "clip", "vit", "zzz", "vit_bloodmnist"], key=style.model_sort_key
    ) == ["vit", "vit_cub", "vit_bloodmnist", "clip", "resnet", "zzz"]


@pytest.mark.skipif(
    not (REFERENCE / "vit.csv").is_file(),
    reason=f"authors' reference labels not available at {REFERENCE}",
)
def test_score_histogram_on_reference_labels(tmp_path: Path) -> None:
    out = F.plot_score_histograms({"vit": REFERENCE / "vit.csv"}, tmp_path / "h.pdf")
    scores = pd.read_csv(REFERENCE / "vit.csv")["similarity"].to_numpy(float)
    edges = np.linspace(scores.min(), scores.max(), 41)
    expected, _ = np.histogram(scores, bins=edges)
    assert (out["model"] == "vit").all()
    assert out["count"].tolist() == expected.tolist()  # bin by bin, not just the total
    np.testing.assert_allclose(out["bin_left"], edges[:-1])
    np.testing.assert_allclose(out["bin_right"], edges[1:])
    assert out["count"].sum() == 12 * 768
    assert pd.read_csv(tmp_path / "h.csv").equals(out)  # the source CSV beside the figure


def test_finetuning_means_from_the_tidy_csvs(data, tmp_path: Path) -> None:
    """Figs. 7-8: numpy means per condition; categories a model lacks count as 0."""
    counts = pd.read_csv(data["concepts"])
    shares = pd.read_csv(data["shares"])
    fig8 = F.plot_finetuning_concepts_per_layer(data["concepts"], CONDITIONS, tmp_path / "8.pdf")
    n_layers = LAYERS["vit"]
    assert (
        fig8["condition"].tolist()
        == ["pretrained"] * n_layers + ["cub"] * n_layers + ["bloodmnist"] * 3
    )
    vit = counts[counts.model == "vit"].sort_values("layer")["n_concepts"].to_numpy()
    clip = counts[counts.model == "clip"].sort_values("layer")["n_concepts"].to_numpy()
    assert fig8[fig8.condition == "pretrained"]["n_concepts"].tolist() == (
        np.mean([vit, clip], axis=0).tolist()
    )
    fig7 = F.plot_finetuning_category_shares(data["shares"], CONDITIONS, tmp_path / "7.pdf")
    got = fig7.set_index(["condition", "layer", "category"])["share"]
    for layer in range(n_layers):
        for cat in CATS:
            values = [
                shares[(shares.model == m) & (shares.layer == layer) & (shares.category == cat)]
                for m in ("vit", "clip")
            ]
            expected = np.mean([float(v["share"].sum()) for v in values])
            assert got[("pretrained", layer, cat)] == expected
    with pytest.raises(ConfigError, match="finetuning_mean"):
        F.plot_finetuning_category_shares(data["shares"], {}, tmp_path / "x.pdf")
