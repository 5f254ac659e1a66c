"""Agreement of two label files: constructed cases, the published files, the paper outputs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.stats import spearmanr

from vitconcepts.agreement import compare_labels, compare_with_published, main
from vitconcepts.errors import InputDataError
from vitconcepts.figures import plot_reproduction_agreement
from vitconcepts.formats import format_images
from vitconcepts.tables import table_reproduction_agreement

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "paper-reference"
WORDS = ["red", "green", "blue", "dog", "cat", "car", "tree", "sky", "grass", "house"]


def make_labels(layers=("blocks.0", "blocks.1", "blocks.2"), units=8, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for layer in layers:
        for unit in range(units):
            images = rng.choice(100, size=5, replace=False)
            rows.append(
                (layer, unit, str(rng.choice(WORDS)), float(rng.random()), format_images(images))
            )
    return pd.DataFrame(rows, columns=["layer", "unit", "description", "similarity", "images"])


def write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_file_against_itself_agrees_fully(tmp_path):
    labels = write(make_labels(), tmp_path / "a.csv")
    table = compare_labels(labels, labels)
    assert list(table["layer"]) == [0, 1, 2]
    assert list(table["n_units"]) == [8, 8, 8]
    for column in ("label_match", "similarity_spearman", "top_images_jaccard"):
        assert np.allclose(table[column], 1.0), column
    assert table["semantic_match"].isna().all()  # no concept embeddings given


def test_layers_matched_by_position_and_rows_in_any_order_within_a_layer(tmp_path):
    ours = make_labels()
    theirs = ours.copy()
    theirs["layer"] = theirs["layer"].str.replace("blocks.", "vit.encoder.layer.")
    # shuffle rows within each layer, layers stay in network order
    theirs = pd.concat(
        [
            theirs[theirs.layer == name].sample(frac=1, random_state=1)
            for name in theirs.layer.unique()
        ],
        ignore_index=True,
    )
    assert not theirs["unit"].is_monotonic_increasing
    table = compare_labels(write(ours, tmp_path / "a.csv"), write(theirs, tmp_path / "b.csv"))
    assert np.allclose(table["label_match"], 1.0)
    assert np.allclose(table["top_images_jaccard"], 1.0)
    assert np.allclose(table["similarity_spearman"], 1.0)


def test_permuted_units_give_the_share_of_chance_matches(tmp_path):
    ours = make_labels(units=40)
    theirs = ours.copy()
    rng = np.random.default_rng(3)
    for layer in ours["layer"].unique():
        rows = np.flatnonzero(theirs["layer"] == layer)
        perm = rng.permutation(rows)
        theirs.loc[rows, ["description", "similarity", "images"]] = ours.loc[
            perm, ["description", "similarity", "images"]
        ].to_numpy()
    table = compare_labels(write(ours, tmp_path / "a.csv"), write(theirs, tmp_path / "b.csv"))
    for i, layer in enumerate(ours["layer"].unique()):
        a, b = ours[ours.layer == layer], theirs[theirs.layer == layer]
        expected = (a["description"].to_numpy() == b["description"].to_numpy()).mean()
        assert table.loc[i, "label_match"] == pytest.approx(expected)
        rho = spearmanr(a["similarity"], b["similarity"].astype(float)).statistic
        assert table.loc[i, "similarity_spearman"] == pytest.approx(rho)
        assert table.loc[i, "label_match"] < 1.0


def test_known_number_of_changed_labels(tmp_path):
    ours = make_labels(units=10)
    theirs = ours.copy()
    changed = {0: 0, 1: 3, 2: 10}  # layer position -> labels changed
    for position, n in changed.items():
        rows = np.flatnonzero(theirs["layer"] == f"blocks.{position}")[:n]
        theirs.loc[rows, "description"] = "never-a-label"
    table = compare_labels(write(ours, tmp_path / "a.csv"), write(theirs, tmp_path / "b.csv"))
    assert list(table["label_match"]) == pytest.approx([1.0, 0.7, 0.0])
    assert np.allclose(table["top_images_jaccard"], 1.0)


def test_top_image_jaccard_of_a_known_overlap(tmp_path):
    ours = make_labels(layers=("l0",), units=2)
    ours["images"] = ["[1 2 3 4 5]", "[1 2 3 4 5]"]
    theirs = ours.copy()
    theirs["images"] = ["[1 2 3 4 6]", "[6 7 8 9 10]"]  # 4/6 and 0/10
    table = compare_labels(write(ours, tmp_path / "a.csv"), write(theirs, tmp_path / "b.csv"))
    assert table.loc[0, "top_images_jaccard"] == pytest.approx((4 / 6 + 0) / 2)
    no_images = write(ours.drop(columns="images"), tmp_path / "c.csv")
    assert np.isnan(compare_labels(no_images, tmp_path / "b.csv").loc[0, "top_images_jaccard"])


def test_semantic_match_uses_concept_embeddings_and_skips_unknown_labels(tmp_path):
    concepts = ["red", "green", "dog"]
    emb = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 2.0]], dtype=np.float32)  # dog not normalised
    nc = tmp_path / "concepts.nc"
    xr.Dataset(
        {"embedding": (("concept", "dim"), emb)},
        coords={"concept": np.array(concepts, dtype=object)},
    ).to_netcdf(nc)
    ours = pd.DataFrame(
        {
            "layer": ["l0"] * 3,
            "unit": [0, 1, 2],
            "description": ["red", "red", "dog"],
            "similarity": [0.1, 0.2, 0.3],
        }
    )
    theirs = ours.assign(description=["red", "green", "unknown-word"])
    table = compare_labels(
        write(ours, tmp_path / "a.csv"), write(theirs, tmp_path / "b.csv"), concept_emb_nc=nc
    )
    assert table.loc[0, "semantic_units"] == 2  # the unit labelled unknown-word is left out
    assert table.loc[0, "semantic_match"] == pytest.approx((1.0 + 0.6) / 2)


def test_mismatched_shapes_name_both_files(tmp_path):
    a = write(make_labels(), tmp_path / "ours.csv")
    fewer_layers = write(make_labels(layers=("x.0", "x.1")), tmp_path / "theirs.csv")
    with pytest.raises(InputDataError, match="ours.csv.*3 layers.*theirs.csv.*2 layers"):
        compare_labels(a, fewer_layers)
    fewer_units = make_labels()
    fewer_units = fewer_units[~((fewer_units.layer == "blocks.1") & (fewer_units.unit == 7))]
    b = write(fewer_units, tmp_path / "short.csv")
    with pytest.raises(InputDataError, match=r"Layer 1 .*8 units in .*ours.csv.*7 units in"):
        compare_labels(a, b)


def test_command_line_prints_and_writes_the_table(tmp_path, capsys):
    a = write(make_labels(), tmp_path / "a.csv")
    out = tmp_path / "out" / "agreement.csv"
    assert main([str(a), str(a), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "label_match" in printed and "1.000" in printed
    assert list(pd.read_csv(out)["label_match"]) == [1.0, 1.0, 1.0]
    assert main([str(a), str(tmp_path / "missing.csv")]) == 2
    assert "missing.csv" in capsys.readouterr().err


def test_paper_figure_and_table(tmp_path):
    a = write(make_labels(), tmp_path / "a.csv")
    b = write(make_labels(seed=5), tmp_path / "b.csv")
    csvs = {}
    for model, theirs in (("vit", a), ("vit_cub", b)):
        csvs[model] = tmp_path / "agreement" / f"{model}.csv"
        compare_with_published(a, theirs, csvs[model])
        assert (tmp_path / "agreement" / f"{model}.csv.provenance.json").is_file()
    pdf = tmp_path / "figures" / "reproduction_agreement.pdf"
    data = plot_reproduction_agreement(csvs, pdf)
    assert pdf.is_file() and pdf.with_suffix(".png").is_file()
    source = pd.read_csv(pdf.with_suffix(".csv"))
    assert len(source) == len(data) == 6
    tex = table_reproduction_agreement(pdf.with_suffix(".csv"), tmp_path / "t.tex").read_text()
    assert r"\toprule" in tex and "ViT" in tex
    assert "1.000" in tex  # vit against itself


@pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"published labels not at {REFERENCE}")
def test_published_vit_against_itself_and_against_vit_cub():
    vit, vit_cub = REFERENCE / "vit.csv", REFERENCE / "vit_cub.csv"
    itself = compare_labels(vit, vit)
    assert len(itself) == 12
    assert (itself["label_match"] == 1.0).all()
    table = compare_labels(vit, vit_cub)
    a = pd.read_csv(vit, keep_default_na=False)
    b = pd.read_csv(vit_cub, keep_default_na=False)
    a["pos"] = pd.factorize(a["layer"])[0]
    b["pos"] = pd.factorize(b["layer"])[0]
    merged = a.merge(b, on=["pos", "unit"], suffixes=("_a", "_b"), validate="one_to_one")
    expected = (merged["description_a"] == merged["description_b"]).groupby(merged["pos"]).mean()
    assert list(table["label_match"]) == list(expected)
    assert 0 < table["label_match"].min() < table["label_match"].max() < 1


@pytest.mark.skipif(
    shutil.which("latexmk") is None or shutil.which("pdftotext") is None,
    reason="latexmk/pdftotext not installed (Debian: latexmk texlive-latex-extra poppler-utils)",
)
def test_appendix_shows_agreement_only_when_produced(tmp_path):
    from vitconcepts import paper as vpaper

    root = Path(__file__).resolve().parents[1] / "paper"

    def build(with_agreement: bool) -> str:
        paper = tmp_path / f"paper_{with_agreement}"
        (paper / "figures").mkdir(parents=True)
        (paper / "tables").mkdir()
        shutil.copy(root / "main.tex", paper)
        shutil.copy(root / "refs.bib", paper)
        figures, tabs = [], []
        if with_agreement:
            a = write(make_labels(), tmp_path / "a.csv")
            csv = compare_with_published(a, a, tmp_path / "agreement" / "vit.csv")
            assert len(csv) == 3
            pdf = plot_reproduction_agreement(
                {"vit": tmp_path / "agreement" / "vit.csv"},
                paper / "figures" / "reproduction_agreement.pdf",
            )
            assert len(pdf) == 3
            table_reproduction_agreement(
                paper / "figures" / "reproduction_agreement.csv",
                paper / "tables" / "reproduction_agreement.tex",
            )
            figures, tabs = ["reproduction_agreement"], ["reproduction_agreement"]
        vpaper.write_generated_tex(figures, tabs, paper / "generated.tex")
        out = vpaper.build_paper(paper / "main.tex", paper / "main.pdf")
        return subprocess.run(
            ["pdftotext", str(out), "-"], capture_output=True, text=True, check=True
        ).stdout

    text = build(True)
    assert "Agreement with the published labels" in text
    assert "1.000" in text
    assert "reproduction_agreement" not in text  # no "was not produced" note
    assert "Agreement with the published labels" not in build(False)
