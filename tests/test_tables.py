"""Tables: booktabs fragments with the right numbers, escaped text, deterministic output."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from vitconcepts import paper as P
from vitconcepts import tables as T
from vitconcepts.errors import InputDataError, VitconceptsError


def _rows(tex: Path) -> list[list[str]]:
    """Body rows of a generated tabular, split into stripped cells."""
    lines = tex.read_text().splitlines()
    start = lines.index(r"\midrule") + 1
    end = lines.index(r"\bottomrule")
    return [
        [c.strip() for c in line.removesuffix(r" \\").split(" & ")]
        for line in lines[start:end]
        if line != r"\midrule"
    ]


def test_latex_escape() -> None:
    assert T.latex_escape("a_b & 50% #1 $x$ {y} ~^\\") == (
        r"a\_b \& 50\% \#1 \$x\$ \{y\} \textasciitilde{}\textasciicircum{}\textbackslash{}"
    )
    assert T.latex_escape(None) == "--"
    assert T.latex_escape(float("nan")) == "--"
    assert T.latex_escape("plain") == "plain"


MODELS = {
    "vit": {"source": "timm", "weights": "vit_base_patch16_224.orig_in21k", "arch": "vit"},
    "dinov2": {
        "source": "timm",
        "weights": "vit_base_patch14_dinov2.lvd142m",
        "arch": "vit",
        "model_kwargs": {"img_size": 224},
    },
    "resnet_cub": {
        "source": "transformers",
        "weights": "teresas/resnet-50-cub",
        "arch": "cnn",
        "finetuned_from": "resnet",
        "dataset": "cub",
        "layers": ["conv1", "layer1", "layer2"],
        "units": "64-512",
    },
}


def test_table_models(tmp_path: Path) -> None:
    labels = tmp_path / "vit.csv"
    rows = [
        (f"blocks.{layer}", u, "red", 0.1, "[0 1 2 3 4]") for layer in range(2) for u in range(3)
    ]
    pd.DataFrame(rows, columns=["layer", "unit", "description", "similarity", "images"]).to_csv(
        labels, index=False
    )
    out = T.table_models(MODELS, tmp_path / "models.tex", {"vit": labels})
    text = out.read_text()
    assert r"\toprule" in text and r"\bottomrule" in text and "_" not in text.replace(r"\_", "")
    rows = _rows(out)
    assert [r[0] for r in rows] == [
        r"\texttt{vit}",
        r"\texttt{dinov2}",
        r"\texttt{resnet\_\allowbreak{}cub}",
    ]
    vit, dino, rcub = rows
    assert vit[4:6] == ["2", "3"]  # from the label CSV: 2 layers of 3 units
    assert dino[4:6] == ["--", "--"] and "224" in dino[6]
    assert rcub[4:6] == ["3", "64-512"] and rcub[7] == r"\texttt{resnet}" and rcub[8] == "cub"
    assert len({len(r) for r in rows}) == 1 and len(rows[0]) == 9


def test_table_concepts_per_layer(tmp_path: Path) -> None:
    csv = tmp_path / "c.csv"
    pd.DataFrame(
        [("vit_cub", 0, 5), ("vit", 0, 10), ("vit", 1, 12), ("resnet", 0, 3), ("vit_cub", 1, 7)],
        columns=["model", "layer", "n_concepts"],
    ).to_csv(csv, index=False)
    out = T.table_concepts_per_layer(csv, tmp_path / "c.tex")
    assert _rows(out) == [["ViT", "10", "12"], ["ViT (CUB)", "5", "7"], ["ResNet-50", "3", "--"]]
    assert "model & 0 & 1" in out.read_text()


def test_table_category_shares_thirds(tmp_path: Path) -> None:
    rows = []
    for layer in range(6):  # thirds: 0-1, 2-3, 4-5
        rows += [("vit", layer, "colors", 0.1 * layer), ("vit", layer, "abstract", 0.05)]
    rows += [("mae", 0, "colors", 0.5), ("mae", 1, "names", 0.25)]  # 2 layers: no late third
    csv = tmp_path / "s.csv"
    pd.DataFrame(rows, columns=["model", "layer", "category", "share"]).to_csv(csv, index=False)
    out = T.table_category_shares(csv, tmp_path / "s.tex")
    body = _rows(out)
    header = out.read_text().splitlines()[4]
    cols = [c.strip() for c in header.removesuffix(r" \\").split(" & ")]
    assert cols[:3] == ["model", "layers", "colors"] and len(cols) == 2 + 9
    ci, ai, ni = cols.index("colors"), cols.index("abstract"), cols.index("names")
    vit = body[:3]
    assert [r[1] for r in vit] == ["early (0--1)", "middle (2--3)", "late (4--5)"]
    assert [r[ci] for r in vit] == ["5.0", "25.0", "45.0"]
    assert [r[ai] for r in vit] == ["5.0", "5.0", "5.0"]
    assert vit[0][cols.index("textures")] == "0.0"
    mae = body[3:]
    assert mae[0][0] == "MAE" and mae[1][0] == ""
    assert mae[0][ci] == "50.0" and mae[1][ni] == "25.0"
    assert mae[2][1] == "late" and set(mae[2][2:]) == {"--"}


def test_table_categoriser_agreement(tmp_path: Path) -> None:
    csv = tmp_path / "a.csv"
    pd.DataFrame(
        [
            ("overall", 20, 15, 0.75, 0.75, 0.75),
            ("objects and machines", 10, 8, 0.8, 0.9, 0.8470588),
            ("colors", 10, 7, 0.7, 0.6, float("nan")),
        ],
        columns=["category", "n", "correct", "precision", "recall", "f1"],
    ).to_csv(csv, index=False)
    out = T.table_categoriser_agreement(csv, tmp_path / "a.tex")
    assert _rows(out) == [
        ["colors", "10", "7", "0.700", "0.600", "--"],
        ["objects and machines", "10", "8", "0.800", "0.900", "0.847"],
        ["overall", "20", "15", "0.750", "0.750", "0.750"],
    ]
    lines = out.read_text().splitlines()
    assert lines[lines.index(r"\bottomrule") - 2] == r"\midrule"  # rule above overall


def test_tables_are_deterministic_and_validate(tmp_path: Path) -> None:
    csv = tmp_path / "c.csv"
    pd.DataFrame([("vit", 0, 1)], columns=["model", "layer", "n_concepts"]).to_csv(csv, index=False)
    a = T.table_concepts_per_layer(csv, tmp_path / "a.tex").read_bytes()
    b = T.table_concepts_per_layer(csv, tmp_path / "b.tex").read_bytes()
    assert a == b
    with pytest.raises(InputDataError, match="share"):
        T.table_category_shares(csv, tmp_path / "x.tex")


def test_write_generated_tex(tmp_path: Path) -> None:
    out = P.write_generated_tex(
        [
            "figures/concepts_per_layer.pdf",
            "appendix_vit_cub",
            "appendix_resnet",
            "appendix_vit",
            "extra_thing",
        ],
        ["tables/models.tex", "my_table"],
        tmp_path / "generated.tex",
    )
    text = out.read_text()
    assert r"\vcfigurehere{concepts_per_layer}" in text
    assert r"\vctablehere{models}" in text and r"\vctablehere{my_table}" in text
    app = text[text.index(r"\vcappendixfigures") : text.index(r"\vcextrafigures")]
    order = [app.index(f"{{appendix_{m}}}") for m in ("vit", "vit_cub", "resnet")]
    assert order == sorted(order)  # canonical model order, finetuned after base
    assert r"ViT (CUB) (\texttt{vit\_cub})" in app
    assert r"\vcfigure{extra_thing}" in text and r"\vctable{my_table}" in text
    assert r"\vcfigure{concepts_per_layer}" not in text  # placed by main.tex itself
    again = P.write_generated_tex(
        [
            "extra_thing",
            "appendix_vit",
            "appendix_resnet",
            "concepts_per_layer",
            "appendix_vit_cub",
        ],
        ["my_table", "models"],
        tmp_path / "again.tex",
    )
    assert again.read_bytes() == out.read_bytes()
    with pytest.raises(VitconceptsError, match="characters"):
        P.write_generated_tex(["bad name{}"], [], tmp_path / "x.tex")
