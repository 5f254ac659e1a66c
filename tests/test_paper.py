"""paper/main.tex compiles with latexmk from generated figures and tables (any subset)."""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vitconcepts import figures as F
from vitconcepts import paper as P
from vitconcepts import tables as T
from vitconcepts.errors import VitconceptsError

PAPER = Path(__file__).resolve().parents[1] / "paper"

needs_latex = pytest.mark.skipif(
    shutil.which("latexmk") is None or shutil.which("pdfinfo") is None,
    reason="latexmk/pdfinfo not installed (Debian: latexmk texlive-latex-extra poppler-utils)",
)


def _pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    return int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.M).group(1))


def _paper_dir(tmp_path: Path) -> Path:
    paper = tmp_path / "paper"
    (paper / "figures").mkdir(parents=True)
    (paper / "tables").mkdir()
    shutil.copy(PAPER / "main.tex", paper)
    shutil.copy(PAPER / "refs.bib", paper)
    return paper


def _inputs(d: Path) -> dict[str, Path]:
    cats = ["colors", "textures and materials", "objects and machines", "names"]
    models = {"vit": 2, "clip": 2, "resnet": 2, "vit_cub": 2}
    conc = [(m, layer, 5 + 3 * layer) for m, n in models.items() for layer in range(n)]
    shares = [
        (m, layer, c, s)
        for m, n in models.items()
        for layer in range(n)
        for c, s in zip(cats, (0.4, 0.3, 0.2, 0.1), strict=True)
    ]
    p = {"concepts": d / "concepts_per_layer.csv", "shares": d / "category_shares.csv"}
    pd.DataFrame(conc, columns=["model", "layer", "n_concepts"]).to_csv(p["concepts"], index=False)
    pd.DataFrame(shares, columns=["model", "layer", "category", "share"]).to_csv(
        p["shares"], index=False
    )
    p["agreement"] = d / "agreement.csv"
    pd.DataFrame(
        [("colors", 3, 2, 0.5, 0.66, 0.57), ("overall", 3, 2, 0.66, 0.66, 0.66)],
        columns=["category", "n", "correct", "precision", "recall", "f1"],
    ).to_csv(p["agreement"], index=False)
    p["labels"] = d / "labels.csv"
    rng = np.random.default_rng(0)
    pd.DataFrame(
        [
            (f"blocks.{i}", u, "red_&_blue", float(rng.random()), "[0 1 2 3 4]")
            for i in range(2)
            for u in range(4)
        ],
        columns=["layer", "unit", "description", "similarity", "images"],
    ).to_csv(p["labels"], index=False)
    return p


@needs_latex
def test_paper_builds_from_generated_figures_and_tables(tmp_path: Path) -> None:
    paper = _paper_dir(tmp_path)
    p = _inputs(tmp_path)
    fig, tab = paper / "figures", paper / "tables"
    ft = {"vit_cub": ("vit", "cub")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dinov2/mae are absent from the tiny inputs
        F.plot_category_shares_vit_mean(
            p["shares"], ["vit", "clip", "mae"], fig / "category_shares_vit_mean.pdf"
        )
        F.plot_concepts_per_layer(
            p["concepts"], ["vit", "clip", "dinov2"], fig / "concepts_per_layer.pdf"
        )
    F.plot_category_shares_resnet(p["shares"], "resnet", fig / "category_shares_resnet.pdf")
    F.plot_finetuned_concepts_per_layer(p["concepts"], ft, fig / "finetuned_concepts_per_layer.pdf")
    F.plot_appendix("vit_cub", p["concepts"], p["shares"], fig / "appendix_vit_cub.pdf")
    F.plot_score_histograms({"vit": p["labels"]}, fig / "score_histograms.pdf")
    models = {"vit": {"source": "timm", "weights": "a_b.c", "arch": "vit"}}
    T.table_models(models, tab / "models.tex")
    T.table_concepts_per_layer(p["concepts"], tab / "concepts_per_layer.tex")
    T.table_category_shares(p["shares"], tab / "category_shares.tex")
    T.table_categoriser_agreement(p["agreement"], tab / "categoriser_agreement.tex")
    P.write_generated_tex(
        sorted(fig.glob("*.pdf")), sorted(tab.glob("*.tex")), paper / "generated.tex"
    )
    out = P.build_paper(paper / "main.tex", tmp_path / "out" / "paper.pdf", tmp_path / "build.log")
    assert out.is_file() and _pages(out) >= 4
    log = (paper / "main.log").read_text(errors="replace")
    assert not re.search(r"(Reference|Citation) `[^']*' on page \d+ undefined", log)
    assert (tmp_path / "build.log").read_text().startswith("$ ")
    text = subprocess.run(
        ["pdftotext", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "From Colors to Classes, reproduced" in text
    assert "not produced by this configuration" in text  # e.g. example_units is missing
    assert "ViT (CUB)" in text  # appendix caption
    assert "random CLIP scorer" not in text  # no warning without one


@needs_latex
def test_random_scorer_warning_on_title_page_and_every_page(tmp_path: Path) -> None:
    from vitconcepts.constants import RANDOM_SCORER_NOTE

    paper = _paper_dir(tmp_path)
    generated = P.write_generated_tex([], [], paper / "generated.tex", warning=RANDOM_SCORER_NOTE)
    assert r"\vcwarningtrue" in generated.read_text()
    out = P.build_paper(paper / "main.tex", paper / "main.pdf")
    pages = _pages(out)
    text = subprocess.run(
        ["pdftotext", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Warning: random CLIP scorer: labels are not meaningful." in text
    assert text.count(RANDOM_SCORER_NOTE) >= pages + 1  # the box plus every footer


@needs_latex
def test_paper_builds_with_nothing_generated(tmp_path: Path) -> None:
    paper = _paper_dir(tmp_path)
    out = P.build_paper(paper / "main.tex", paper / "main.pdf")
    assert _pages(out) >= 2


@needs_latex
def test_paper_build_failure_is_clear(tmp_path: Path) -> None:
    bad = tmp_path / "main.tex"
    bad.write_text("\\documentclass{article}\\begin{document}\\nosuchmacro\\end{document}\n")
    with pytest.raises(VitconceptsError, match="Undefined control sequence"):
        P.build_paper(bad, tmp_path / "main.pdf", tmp_path / "log.txt")


def test_missing_main_tex_is_clear(tmp_path: Path) -> None:
    with pytest.raises(VitconceptsError, match="does not exist"):
        P.build_paper(tmp_path / "main.tex", tmp_path / "x.pdf")


def test_main_tex_references_every_known_figure_and_table() -> None:
    text = (PAPER / "main.tex").read_text()
    for name in P.KNOWN_FIGURES:
        assert re.search(rf"\\vcfigure(\[[^]]*\])?\{{{name}\}}", text), name
    for name in P.KNOWN_TABLES:
        assert f"\\vctable{{{name}}}" in text, name
    for macro in (
        r"\vcappendixfigures",
        r"\vcextrafigures",
        r"\vcextratables",
        r"\input{generated}",
    ):
        assert macro in text


# -- no number typed into main.tex: every number of the prose comes from a generated macro --

#: Commands whose arguments are names, not prose (labels, refs, citations, files, figures).
_NAME_ARGS = re.compile(
    r"\\(label|ref|cite|vcref|vcfigure|vctable|vcifproduced|vcunlessproduced|input|"
    r"includegraphics|texttt|bibliography|bibliographystyle|setlength|renewcommand)\*?"
    r"(\[[^\]]*\])?\{[^{}]*\}"
)
#: References to the original paper's figures/tables ("cf. Fig.~3 of \cite{...}").
_REFERENCE = re.compile(r"\b(Figs?|Table|Eq|Sec)\.?~\d+")
#: Lengths and dimensions of layout commands ([2pt], 0.7\linewidth, 1pt).
_LENGTH = re.compile(
    r"-?\d*\.?\d+\s*(pt|em|ex|cm|mm|in)\b|-?\d*\.?\d+\\(linewidth|textwidth|textheight)"
)
#: A number: a digit not inside a name (ResNet-50, ViT-B/16, DINOv2, CUB-200-2011).
_NUMBER = re.compile(r"(?<![A-Za-z0-9\-/.])\d[\d.,]*")


def typed_numbers(tex: str) -> list[str]:
    """Numbers typed into the document body of ``tex`` (outside comments, the preamble,
    labels/refs/citations/file names, references to the original paper's figures and layout
    lengths), each with its context."""
    body = tex.split(r"\begin{document}", 1)[-1]
    body = re.sub(r"(?<!\\)%.*", "", body)
    for pattern in (_NAME_ARGS, _REFERENCE, _LENGTH):
        body = pattern.sub(" ", body)
    return [body[max(0, m.start() - 30) : m.end() + 10] for m in _NUMBER.finditer(body)]


def test_no_number_is_typed_into_main_tex() -> None:
    found = typed_numbers((PAPER / "main.tex").read_text())
    assert not found, (
        "numbers typed into paper/main.tex (put them in a generated macro, "
        f"vitconcepts.paper.number_macros or the claims' sentences): {found}"
    )


def test_the_number_check_fails_on_a_typed_number() -> None:
    tex = (PAPER / "main.tex").read_text()
    typed = tex.replace(r"\section{Method}", r"\section{Method} We found 42 concepts.", 1)
    assert len(typed_numbers(typed)) == 1
    assert typed_numbers(r"\begin{document}p $q<0.05$ x") == ["p $q<0.05$ x"]
    kept = r"\begin{document}ResNet-50, ViT-B/16 (cf.\ Fig.~3 of \cite{a1}) [2pt] 0.7\linewidth"
    assert typed_numbers(kept) == []


def test_every_number_macro_is_declared_in_main_tex() -> None:
    text = (PAPER / "main.tex").read_text()
    for line in P.number_macros():
        name = re.match(r"\\renewcommand\{(\\\w+)\}", line).group(1)
        assert rf"\newcommand{{{name}}}" in text, name
    values = P.number_macros()
    assert r"\renewcommand{\vcpaperconcepts}{20\,000}" in values  # the paper's, labelled


def test_number_constants_match_the_library() -> None:
    from vitconcepts.reliability import DEFAULT_ALPHA

    assert P.HELDOUT_TOP == DEFAULT_ALPHA


@needs_latex
def test_paper_opens_with_the_claims(tmp_path: Path) -> None:
    from vitconcepts import claims as C

    paper = _paper_dir(tmp_path)
    rows = [
        ("early_colors_textures", "vit", "clip_dissect", "s", 0.25, 0.1, 0.4, 0.0, 20, 0.01,
         False, "holds", False),
        ("early_colors_textures", "vit", "linear", "s", 0.05, -0.1, 0.2, 0.0, 20, 0.0,
         False, "inconclusive", False),
        ("concepts_rise_with_depth", "vit", "clip_dissect", "rho", 0.9, 0.8, 0.95, 0.0, 20,
         0.85, True, "holds", None),
    ]  # fmt: skip
    csv = tmp_path / "claims.csv"
    pd.DataFrame(rows, columns=list(C.CLAIM_COLUMNS)).to_csv(csv, index=False)
    C.write_claims_tex(csv, paper / "tables" / "claims.tex", paper / "generated_claims.tex")
    P.write_generated_tex([], ["claims"], paper / "generated.tex")
    out = P.build_paper(paper / "main.tex", paper / "main.pdf")
    text = " ".join(
        subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True).stdout.split()
    )
    after_abstract = text.split("Abstract", 1)[1]
    assert after_abstract.index("Claims") < after_abstract.index("Method")
    assert "0.25 [0.10, 0.40] (holds; random-init control 0.01)" in text
    assert "not specific to training" in text
    assert "under Linear Explanations: holds under CLIP-Dissect only" in text
    assert "??" not in text  # every number macro defined
