"""The Snakemake workflow itself: lint, formatting, DAG planning, early errors, tiny runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_copy import (
    ROOT,
    TINY_CONFIG,
    copy_workflow,
    planned_jobs,
    reference_run,
    run_snakemake,
)

PAPER_MODELS = 13
PAPER_CONTROLS = 5  # vit_random, dinov2_random, clip_random, mae_random, resnet_random
SHARED_REFERENCE = ROOT.parent / "shared" / "paper-reference"


def job_counts(output: str) -> dict[str, int]:
    """{rule: number of planned jobs} of a dry run (the target rule `all` left out)."""
    counts: dict[str, int] = {}
    for rule, _ in planned_jobs(output):
        if rule != "all":
            counts[rule] = counts.get(rule, 0) + 1
    return counts


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("workflow"))


def test_lint_is_clean():
    result = run_snakemake(ROOT, "--lint")
    assert "Congratulations, your workflow is in a good condition" in result.stdout + result.stderr


def test_snakefmt_is_clean():
    files = ["Snakefile", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "rules").glob("*.smk"))]
    result = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_ruff_is_clean():
    for args in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout[-3000:]


def test_paper_dag_plans_without_network_or_imagenet(workflow_copy):
    result = run_snakemake(workflow_copy, "-n", "--cores", "all")
    jobs = job_counts(result.stdout + result.stderr)
    # the 13 paper models and the random-init controls of vit, dinov2, clip, mae and resnet
    # (a control's download_model writes a manifest without files)
    assert jobs["download_model"] == PAPER_MODELS + PAPER_CONTROLS, jobs
    # one forward pass a model: the four pretrained ViTs also write their mlp units
    # (units: [cls, mlp]) through their kind set's dump rule, and label both kinds
    networks = PAPER_MODELS + PAPER_CONTROLS
    assert jobs["dump_activations"] + jobs["dump_activations_mlp"] == networks, jobs
    assert jobs["dump_activations_mlp"] == 4, jobs
    assert jobs["label_units"] == networks + 4, jobs
    assert jobs["assess_labels"] == networks + 4, jobs
    assert jobs["plot_random_control"] == 1, jobs
    # Linear Explanations of every labelled model and kind, and the labelers figure
    assert jobs["explain_units"] == networks + 4, jobs
    for rule in ("prepare_probe", "embed_images", "build_paper", "plot_labelers"):
        assert jobs[rule] == 1, (rule, jobs)
    # the 20k concepts, and the ImageNet class names of the final-layer check (resnet's fc)
    assert jobs["embed_concepts"] == jobs["concept_set"] == 2, jobs
    for rule in ("dump_logits", "label_final_layer", "check_final_layer", "table_final_layer"):
        assert jobs[rule] == 1, (rule, jobs)
    assert jobs["plot_appendix"] == PAPER_MODELS
    # Broden's annotations: one presence file, every labelled model and unit kind scored
    assert jobs["score_ground_truth"] == networks + 4, jobs
    for rule in ("broden_presence", "summarise_ground_truth", "plot_ground_truth"):
        assert jobs[rule] == 1, (rule, jobs)
    assert jobs["table_ground_truth"] == 1
    assert jobs["compare_with_published"] == PAPER_MODELS - 1  # resnet_cub is not published
    assert jobs["table_reproduction_agreement"] == 1
    assert jobs["claims"] == jobs["table_claims"] == 1, jobs
    expected = {"plot_example_units", "plot_image_complexity", "table_categoriser_agreement"}
    expected |= {"plot_finetuning_category_shares", "plot_finetuning_concepts_per_layer"}
    assert expected <= set(jobs)
    validity = ("plot_concepts_per_layer_valid", "plot_category_shares_valid")
    for rule in (*validity, "plot_heldout_correlation"):
        assert jobs[rule] == 1, (rule, jobs)
    assert not (workflow_copy / "results").exists()


def test_published_dag_needs_no_model_or_probe(workflow_copy, tmp_path):
    result = run_snakemake(
        workflow_copy,
        "-n",
        "--cores",
        "all",
        "--configfile",
        "config/published.yaml",
        "--config",
        f"published_labels={tmp_path}",
    )
    jobs = job_counts(result.stdout + result.stderr)
    assert jobs["fetch_published_labels"] == 12
    computed = {"download_model", "dump_activations", "dump_activations_mlp", "label_units"}
    assert not (computed | {"prepare_probe", "assess_labels"}) & set(jobs)
    assert "plot_example_units" not in jobs  # no probe images with published labels
    assert not {"assess_labels", "plot_reliability", "table_reliability"} & set(jobs)
    assert not {"plot_heldout_correlation", "plot_category_shares_valid"} & set(jobs)
    assert not {"explain_units", "plot_labelers"} & set(jobs)  # no activations to explain
    assert (
        jobs["plot_finetuning_category_shares"] == jobs["plot_finetuning_concepts_per_layer"] == 1
    )
    assert "compare_with_published" not in jobs
    # no activations, and no Broden label list configured (ground_truth.broden_labels)
    assert not {"broden_presence", "score_ground_truth", "plot_ground_truth"} & set(jobs)


def test_unknown_model_source_stops_before_any_job(workflow_copy, tmp_path):
    config = yaml.safe_load((workflow_copy / TINY_CONFIG).read_text())
    config["models"]["tiny_vit"]["source"] = "keras"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    result = run_snakemake(
        workflow_copy, "--cores", "1", "--configfile", str(bad), check=False, timeout=300
    )
    assert result.returncode != 0
    assert "models.tiny_vit.source" in result.stderr
    assert "'keras'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (workflow_copy / "resources").exists()


def test_missing_imagenet_path_stops_prepare_probe_with_clear_message(workflow_copy):
    result = run_snakemake(
        workflow_copy,
        "--cores",
        "1",
        "resources/probes/imagenet_broden/index.csv",
        check=False,
        timeout=300,
    )
    assert result.returncode != 0
    log = workflow_copy / "logs/prepare_probe/imagenet_broden.log"
    message = log.read_text() if log.exists() else result.stderr
    assert "imagenet_val" in message
    assert not (workflow_copy / "resources/probes/imagenet_broden/index.csv").exists()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """The whole tiny offline DAG to paper/main.pdf (the session's shared reference run)."""
    if shutil.which("latexmk") is None:
        pytest.skip("latexmk is not installed (bash .ci/install installs Debian's texlive)")
    return reference_run(tmp_path_factory)


@pytest.mark.slow
def test_tiny_config_runs_to_the_paper(tiny_run):
    assert (tiny_run / "paper/main.pdf").stat().st_size > 10_000
    labels = pd.read_csv(tiny_run / "results/labels/test/tiny_vit.csv")
    assert list(labels.columns) == ["layer", "unit", "description", "similarity", "images"]
    assert len(labels) == 2 * 32  # 2 blocks x 32 units
    counts = pd.read_csv(tiny_run / "paper/figures/concepts_per_layer.csv")
    assert list(counts.columns) == ["model", "layer", "n_concepts"]
    assert set(counts.model) == {"tiny_vit", "tiny_vit_ft", "tiny_cnn"}
    shares = pd.read_csv(tiny_run / "paper/figures/category_shares.csv")
    assert list(shares.columns) == ["model", "layer", "category", "share"]
    sums = shares.groupby(["model", "layer"])["share"].sum()
    assert (sums <= 1 + 1e-9).all()  # concepts without any category count in none
    for figure in ("example_units", "image_complexity", "appendix_tiny_cnn"):
        assert (tiny_run / f"paper/figures/{figure}.png").exists()
    finetuning = pd.read_csv(tiny_run / "paper/figures/finetuning_concepts_per_layer.csv")
    assert list(finetuning.columns) == ["condition", "layer", "n_concepts"]
    assert finetuning["condition"].tolist() == ["pretrained"] * 2 + ["cub"] * 2


@pytest.mark.slow
def test_tiny_run_draws_each_model_beside_its_random_init_control(tiny_run):
    """tiny_vit_random is labelled and assessed, stays out of the main figures and stands
    beside tiny_vit in random_control (every measure, both networks, both layers)."""
    from vitconcepts.controls import CONTROL_COLUMNS, MEASURES

    for folder in ("labels", "reliability"):
        assert (tiny_run / f"results/{folder}/test/tiny_vit_random.csv").exists()
    counts = pd.read_csv(tiny_run / "paper/figures/concepts_per_layer.csv")
    assert "tiny_vit_random" not in set(counts.model)
    table = pd.read_csv(tiny_run / "paper/figures/random_control.csv")
    assert list(table.columns) == CONTROL_COLUMNS
    assert set(zip(table.model, table.control, strict=True)) == {("tiny_vit", "tiny_vit_random")}
    assert set(table.measure) == set(MEASURES)
    assert len(table) == len(MEASURES) * 2 * 2  # measures x (trained, random) x 2 layers
    concepts = table[table.measure == "n_concepts"]
    assert ((concepts.low <= concepts.value + 1) & (concepts.value <= concepts.high + 1)).all()
    assert (tiny_run / "paper/figures/random_control.pdf").stat().st_size > 1000


@pytest.mark.slow
def test_tiny_run_assesses_every_label(tiny_run):
    """assess_labels ran for every labelled model; the appendix figures and table exist."""
    from vitconcepts.formats import RELIABILITY_COLUMNS, read_boot, read_reliability

    config = yaml.safe_load((tiny_run / TINY_CONFIG).read_text())
    # the tiny probe: its synthetic patterns and its synthetic Broden photos (96 images)
    half = sum(part["n"] for part in config["probes"]["test"]["parts"]) // 2
    for model in config["models"]:
        frame = read_reliability(tiny_run / f"results/reliability/test/{model}.csv")
        labels = pd.read_csv(tiny_run / f"results/labels/test/{model}.csv")
        assert list(frame.columns[: len(RELIABILITY_COLUMNS)]) == list(RELIABILITY_COLUMNS)
        assert len(frame) == len(labels)
        assert frame["stability"].between(0, 1).all()
        # p_null is that of the held-out correlation: undefined (NaN) only where it is
        assert frame["p_null"].isna().equals(frame["heldout_correlation"].isna())
        assert frame["p_null"].dropna().between(0, 1).all()
        heldout = frame[["heldout_correlation", "heldout_auprc", "auprc_chance"]]
        assert list(frame.columns[len(RELIABILITY_COLUMNS) - 3 : len(RELIABILITY_COLUMNS)]) == list(
            heldout.columns
        )  # the held-out columns end the CSV
        # 96 images, top_k 8: both halves are large enough, every column is defined
        # (the correlation too, unless a unit is constant on a half: a dead channel)
        assert heldout["heldout_auprc"].between(0, 1).all()
        correlation = heldout["heldout_correlation"]
        assert correlation.notna().mean() > 0.9 and correlation.dropna().between(-1, 1).all()
        # alpha 0.01 of a half (48 images): 1 positive
        assert (heldout["auprc_chance"] == 1 / half).all()
        boot = read_boot(tiny_run / f"results/reliability/test/{model}_boot.nc")
        assert boot.n_boot == 20  # the schema's default
        assert (tiny_run / f"results/reliability/test/{model}.csv.provenance.json").is_file()
    for figure in (
        "reliability",
        "concepts_per_layer_ci",
        "category_shares_ci",
        "category_shares_significant",
        "concepts_per_layer_valid",
        "category_shares_valid",
        "heldout_correlation",
    ):
        assert (tiny_run / f"paper/figures/{figure}.pdf").is_file(), figure
        assert (tiny_run / f"paper/figures/{figure}.csv").is_file(), figure
    summary = pd.read_csv(tiny_run / "paper/figures/reliability.csv")
    controls = {m for m, e in config["models"].items() if e.get("control_of")}
    assert set(summary["model"]) == set(config["models"]) - controls  # in random_control
    heldout = pd.read_csv(tiny_run / "paper/figures/heldout_correlation.csv")
    assert list(heldout.columns[:5]) == [
        "model",
        "layer",
        "n_units",
        "n_defined",
        "median_heldout_correlation",
    ]
    assert set(heldout["model"]) == set(config["models"]) - controls
    assert heldout["median_heldout_correlation"].between(-1, 1).all()
    valid = pd.read_csv(tiny_run / "paper/figures/concepts_per_layer_valid.csv")
    assert set(valid["rule"]) == {"median", "valid"}
    ci = pd.read_csv(tiny_run / "paper/figures/concepts_per_layer_ci.csv")
    assert (ci["low"] <= ci["high"]).all()
    assert r"\vctablehere{reliability}" in (tiny_run / "paper/generated.tex").read_text()
    assert (tiny_run / "paper/tables/reliability.tex").is_file()


@pytest.mark.slow
def test_tiny_run_scores_labels_against_broden(tiny_run):
    """The tiny probe's synthetic Broden part: its annotations read exactly, every labelled
    model scored against them, the appendix figure, table and section."""
    from vitconcepts.formats import GROUND_TRUTH_COLUMNS, read_ground_truth, read_presence
    from vitconcepts.synthetic import make_synthetic_broden

    config = yaml.safe_load((tiny_run / TINY_CONFIG).read_text())
    part = config["probes"]["test"]["parts"][-1]
    assert part["kind"] == "synthetic_broden"
    _, truth = make_synthetic_broden(tiny_run / "planted", part["n"], part["size"], part["seed"])
    presence = read_presence(tiny_run / "results/ground_truth/test/presence.npz")
    assert np.array_equal(presence.presence, truth)
    for model in config["models"]:
        frame = read_ground_truth(tiny_run / f"results/ground_truth/test/{model}.csv")
        labels = pd.read_csv(tiny_run / f"results/labels/test/{model}.csv")
        assert list(frame.columns[: len(GROUND_TRUTH_COLUMNS)]) == list(GROUND_TRUTH_COLUMNS)
        assert len(frame) == len(labels) and frame["best_name"].isin(presence.names).all()
    figure = pd.read_csv(tiny_run / "paper/figures/ground_truth.csv")
    assert {"tiny_vit", "tiny_cnn"} <= set(figure["model"]) <= set(config["models"])
    assert (tiny_run / "paper/figures/ground_truth.pdf").is_file()
    assert (tiny_run / "paper/tables/ground_truth.csv").is_file()
    assert r"\vctablehere{ground_truth}" in (tiny_run / "paper/generated.tex").read_text()
    text = subprocess.run(
        ["pdftotext", str(tiny_run / "paper/main.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Labels against human annotations" in text
    assert "NetDissect" in text


@pytest.mark.slow
def test_tiny_run_tests_the_claims(tiny_run):
    """claims.csv: every claim on the tiny models under both labelers (CLIP-Dissect: probe
    resamples; Linear Explanations: units resampled), with intervals and controls."""
    from vitconcepts.claims import CLAIM_COLUMNS, VERDICTS

    config = yaml.safe_load((tiny_run / TINY_CONFIG).read_text())
    claims = pd.read_csv(tiny_run / "paper/tables/claims.csv")
    assert list(claims.columns) == list(CLAIM_COLUMNS)
    assert (tiny_run / "paper/tables/claims.csv.provenance.json").is_file()
    assert set(claims["labeler"]) == {"clip_dissect", "linear"}
    assert set(claims["verdict"]) <= set(VERDICTS)
    clip, linear = (
        claims[claims["labeler"] == name].reset_index() for name in ("clip_dissect", "linear")
    )
    assert list(clip[["claim", "model"]].itertuples(index=False)) == list(
        linear[["claim", "model"]].itertuples(index=False)
    )  # the same claims on the same models
    assert claims["labelers_agree"].notna().all()  # every pair flagged (True or False)
    flagged = claims.groupby(["claim", "model"])["labelers_agree"].nunique()
    assert (flagged == 1).all()  # both rows of a pair carry the same flag
    linear_defined = linear.dropna(subset=["ci_low"])
    assert len(linear_defined) >= len(linear) - 2 and (linear_defined["n_boot"] == 20).all()
    assert np.isfinite(linear_defined[["ci_low", "ci_high"]].to_numpy()).all()
    assert (linear_defined["ci_low"] <= linear_defined["ci_high"]).all()
    rows = clip.set_index(["claim", "model"])
    for key in [
        ("early_colors_textures", "tiny_vit"),
        ("late_objects_organisms", "tiny_vit_ft"),
        ("concepts_rise_with_depth", "tiny_cnn"),
        ("pretraining_shapes_categories", "all"),
        ("finetuning_reduces_concepts", "tiny_vit_ft"),
        ("finetuning_shifts_categories", "tiny_vit_ft"),  # dataset cub
    ]:
        assert key in rows.index, key
    assert (claims["n_boot"] == 20).all()
    defined = clip.dropna(subset=["ci_low"])
    assert len(defined) >= len(clip) - 2  # a constant count has no rank correlation
    assert (defined["ci_low"] <= defined["ci_high"]).all()
    controls = {k: e["control_of"] for k, e in config["models"].items() if e.get("control_of")}
    assert not set(controls) & set(claims["model"])  # controls are beside, not in, the rows
    for base in controls.values():
        assert pd.notna(rows.loc[("early_colors_textures", base), "control_value"])
    generated = (tiny_run / "paper/generated_claims.tex").read_text()
    assert "bootstrap resamples" in generated and r"\vcclaimsentences" in generated
    assert "units resampled" in generated and "under Linear Explanations" in generated
    assert r"\vctablehere{claims}" in (tiny_run / "paper/generated.tex").read_text()


@pytest.mark.slow
def test_tiny_run_explains_every_unit_with_linear_explanations(tiny_run):
    """explain_units wrote LE's CSV layout for every model; the labelers figure compares the
    two labelers on the same test images, per model and layer."""
    from vitconcepts.formats import LINEAR_SCORES, read_linear

    config = yaml.safe_load((tiny_run / TINY_CONFIG).read_text())
    max_concepts = config["linear_explanations"]["max_concepts"]
    for model in config["models"]:
        path = tiny_run / f"results/linear/test/{model}.csv"
        wide = pd.read_csv(path, keep_default_na=False)
        k = sum(c.startswith("concept") for c in wide.columns)
        expected = ["layer", "unit", *(f"concept{i}" for i in range(k))]
        expected += [*(f"weight{i}" for i in range(k)), "bias", *LINEAR_SCORES]
        assert list(wide.columns) == expected and 1 <= k <= max_concepts
        frame = read_linear(path)
        labels = pd.read_csv(tiny_run / f"results/labels/test/{model}.csv")
        assert len(frame) == len(labels) and (frame["concepts"].map(len) >= 1).all()
        assert frame["test_correlation"].between(-1, 1).all()
        assert (tiny_run / f"results/linear/test/{model}.csv.provenance.json").is_file()
        assert not (tiny_run / f"results/linear/test/{model}.csv.partial").exists()
    figure = pd.read_csv(tiny_run / "paper/figures/labelers.csv")
    assert set(figure["model"]) == set(config["models"])
    assert set(figure["labeler"]) == {"clip_dissect", "linear"}
    assert (tiny_run / "paper/figures/labelers.pdf").is_file()
    assert r"\vcfigurehere{labelers}" in (tiny_run / "paper/generated.tex").read_text()


@pytest.mark.slow
def test_tiny_run_says_its_clip_scorer_is_random(tiny_run):
    """.test/config.yaml scores with `pretrained: false`: every output downstream says so."""
    import json

    import xarray as xr
    from PIL import Image

    note = "random CLIP scorer: labels are not meaningful"
    with xr.open_dataset(tiny_run / "results/clip/test/tiny_clip.nc") as ds:
        assert json.loads(ds.attrs["provenance"])["clip"]["random_clip_scorer"] == note
    sidecars = [
        "results/labels/test/tiny_vit.csv",
        "paper/figures/concepts_per_layer.csv",
        "paper/figures/category_shares.csv",
        "paper/figures/finetuning_category_shares.csv",
        "paper/figures/concepts_per_layer.pdf",
        "paper/tables/category_shares.tex",
    ]
    for name in sidecars:
        record = json.loads((tiny_run / f"{name}.provenance.json").read_text())
        assert record["random_clip_scorer"] == note, name
    pngs = sorted((tiny_run / "paper/figures").glob("*.png"))
    assert len(pngs) >= 10
    for png in pngs:
        with Image.open(png) as image:
            assert image.text.get("Description") == note, png.name
    assert r"\vcwarningtrue" in (tiny_run / "paper/generated.tex").read_text()
    text = subprocess.run(
        ["pdftotext", str(tiny_run / "paper/main.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"Warning: {note}." in text


@pytest.mark.slow
def test_finished_paper_has_nothing_to_do(tiny_run):
    result = run_snakemake(tiny_run, "-n", "--cores", "2", "--configfile", TINY_CONFIG)
    assert job_counts(result.stdout + result.stderr) == {}
    assert "Nothing to be done" in result.stdout + result.stderr


@pytest.mark.slow
def test_one_figure_rebuilds_alone(tiny_run, tmp_path):
    work = tmp_path / "wf"
    shutil.copytree(tiny_run, work, symlinks=True)
    (work / "paper/figures/concepts_per_layer.pdf").unlink()
    target = "paper/figures/concepts_per_layer.pdf"
    result = run_snakemake(work, "-n", "--cores", "2", target, "--configfile", TINY_CONFIG)
    assert job_counts(result.stdout + result.stderr) == {"plot_concepts_per_layer": 1}


@pytest.mark.slow
def test_published_labels_run_to_the_paper(tmp_path):
    if not SHARED_REFERENCE.is_dir():
        pytest.skip(f"the authors' published labels are not at {SHARED_REFERENCE}")
    if shutil.which("latexmk") is None:
        pytest.skip("latexmk is not installed (bash .ci/install installs Debian's texlive)")
    workdir = copy_workflow(tmp_path)
    run_snakemake(
        workdir,
        "--cores",
        "2",
        "--configfile",
        "config/published.yaml",
        "--config",
        f"published_labels={SHARED_REFERENCE}",
    )
    counts = pd.read_csv(workdir / "paper/figures/concepts_per_layer.csv")
    assert set(counts.model) == {
        "vit",
        "dinov2",
        "clip",
        "mae",
        "resnet",
        "vit_cub",
        "vit_bloodmnist",
        "dinov2_cub",
        "dinov2_bloodmnist",
        "clip_cub",
        "clip_bloodmnist",
        "resnet_bloodmnist",
    }
    assert len(counts[counts.model == "vit"]) == 12
    assert len(counts[counts.model == "resnet"]) == 5
    assert (workdir / "paper/main.pdf").stat().st_size > 50_000
    # every row equals the authors' notebook (recomputed independently in
    # test_notebook_figures.py), and a pretrained scorer leaves no random-scorer stamp
    import test_notebook_figures as nb

    figures = workdir / "paper/figures"
    files = {
        "concepts_per_layer": figures / "concepts_per_layer.csv",
        "category_shares": figures / "category_shares.csv",
        "fig7": figures / "finetuning_category_shares.csv",
        "fig8": figures / "finetuning_concepts_per_layer.csv",
    }
    nb.test_concepts_per_layer_fig2(files)
    nb.test_category_shares_fig3_every_category(files)
    nb.test_figure7_finetuning_category_shares(files)
    nb.test_figure8_finetuning_concepts_per_layer(files)
    assert "vcwarningtrue" not in (workdir / "paper/generated.tex").read_text()
    text = subprocess.run(
        ["pdftotext", str(workdir / "paper/main.pdf"), "-"], capture_output=True, text=True
    ).stdout
    flat = " ".join(text.split())
    assert "Not available in this configuration" in flat
    # the unit kinds' appendix section is there and says why its figure is not
    section = flat.split("Beyond the CLS token", 1)[1]
    assert "Not available in this configuration" in section[:300], section[:300]
    assert "only the CLS token" in section[:800], section[:800]
    from test_claims_published import check_claims_csv

    check_claims_csv(workdir / "paper/tables/claims.csv")
    assert (workdir / "paper/tables/claims.csv.provenance.json").is_file()
    after_abstract = flat.split("Abstract", 1)[1]
    assert after_abstract.index("Claims") < after_abstract.index("Method")
    assert "the sign of each statistic decides its verdict" in flat
    assert "not produced)" not in flat  # missing parts are explained in sentences
    sidecar = (figures / "finetuning_category_shares.csv.provenance.json").read_text()
    assert "random_clip_scorer" not in sidecar
