"""The unit atlas: its data, its pages in headless Chromium, and `snakemake atlas`."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import atlas_browser as B
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from workflow_copy import TINY_CONFIG, copy_workflow, planned_jobs, reference_run, run_snakemake

from vitconcepts import atlas as A
from vitconcepts.errors import InputDataError

needs_chromium = pytest.mark.skipif(
    B.find_chromium() is None,
    reason="no Chromium (Debian: apt-get install chromium; bash .ci/install installs it)",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict:
    """A synthetic model (3 layers x 40 units, 30 probe images) built into an atlas."""
    root = tmp_path_factory.mktemp("atlas")
    inputs = B.synthetic_inputs(root / "in", n_layers=3, n_units=40, n_samples=30, model="m")
    out = root / "site"
    A.make_thumbnails([inputs["labels"]], inputs["index"], out / "thumbs")
    summary = root / "summary.png"
    Image.new("RGB", (200, 80), (30, 90, 200)).save(summary)
    A.build_model_page(
        "m", inputs["labels"], out / "m.html", inputs["topk"], inputs["categories"], summary
    )
    A.build_index({"m": inputs["labels"]}, out / "index.html", probe="synthetic")
    return {"out": out, **inputs}


def read_data(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("window.ATLAS_DATA=") and text.endswith(";\n")
    return json.loads(text[len("window.ATLAS_DATA=") : -2])


def test_page_data_holds_every_unit_with_its_runner_ups(site):
    data = read_data(site["out"] / "data" / "m.js")
    labels = pd.read_csv(site["labels"])
    strings = data["strings"]
    assert [strings[i] for i in data["label"]] == list(labels["description"])
    assert [L["units"] for L in data["layers"]] == [40, 40, 40]
    assert [L["name"] for L in data["layers"]] == ["blocks.0", "blocks.1", "blocks.2"]
    categories = pd.read_csv(site["categories"]).set_index("concept")["category"]
    assert [data["categories"][c] for c in data["cat"]] == list(categories[labels["description"]])
    # next best concepts: ranks 2.. of the top-k file, the label itself left out, scores falling
    for row in range(len(labels)):
        names = [strings[i] for i in data["next"][row]]
        assert labels["description"][row] not in names
        assert 1 <= len(names) <= A.N_NEXT
        assert data["next_score"][row] == sorted(data["next_score"][row], reverse=True)
    assert data["img"][0] == [int(x) for x in re.findall(r"\d+", labels["images"][0])]


def test_thumbnails_are_made_once_per_probe_image(site, tmp_path):
    thumbs = sorted((site["out"] / "thumbs").glob("*.jpg"))
    expected = A.top_image_samples([site["labels"]])
    assert sorted(int(p.stem) for p in thumbs) == expected
    with Image.open(thumbs[0]) as img:
        assert img.format == "JPEG" and img.size == (A.THUMB_PX, A.THUMB_PX)
    before = {p: p.stat().st_mtime_ns for p in thumbs}
    A.make_thumbnails([site["labels"], site["labels"]], site["index"], site["out"] / "thumbs")
    assert {p: p.stat().st_mtime_ns for p in thumbs} == before  # nothing remade


def test_top_image_missing_from_the_probe_names_both_files(site, tmp_path):
    index = pd.read_csv(site["index"]).iloc[:5]
    short = tmp_path / "index.csv"
    index.to_csv(short, index=False)
    with pytest.raises(InputDataError, match=r"m\.csv.*index\.csv"):
        A.make_thumbnails([site["labels"]], short, tmp_path / "thumbs")


def test_published_mode_builds_without_images_or_top_k(site, tmp_path):
    labels = pd.read_csv(site["labels"]).drop(columns="images")
    labels["layer"] = labels["layer"].str.replace("blocks.", "vit.encoder.layer.")
    csv = tmp_path / "vit.csv"
    labels.to_csv(csv, index=False)
    data = A.build_model_page("vit", csv, tmp_path / "site" / "vit.html", images=False)
    assert data["images"] is False and data["img"] == [] and data["next"] == []
    assert not (tmp_path / "site" / "thumbs").exists()
    assert "labels without probe images" in (tmp_path / "site" / "vit.html").read_text()


def test_page_is_self_contained(site):
    page = (site["out"] / "m.html").read_text()
    # nothing from the network: every src/href is relative (or a fragment)
    for url in re.findall(r'(?:src|href)="([^"]*)"', page):
        assert not re.match(r"^(https?:)?//", url), url
    assert '<script src="data/m.js">' in page
    assert "fetch(" not in page


@needs_chromium
def test_every_unit_has_a_card_and_its_images_load_in_chromium(site):
    dom = B.browser_dom(site["out"] / "m.html", "all=1")
    status = B.page_status(dom)
    labels = pd.read_csv(site["labels"])
    assert status["messages"] == [] and status["errors"] == "0"
    assert status["total"] == status["rendered"] == str(len(labels))
    assert [label for _, label in B.page_cards(dom)] == list(labels["description"])
    assert status["images-done"] == "1"
    assert status["images"] == str(5 * len(labels)) and status["broken"] == "0"
    assert len(re.findall(r'<section class="layer" id="layer-\d"', dom)) == 3


@needs_chromium
def test_a_missing_thumbnail_is_reported_as_broken(site, tmp_path):
    out = tmp_path / "site"
    shutil.copytree(site["out"], out)
    thumbs = sorted((out / "thumbs").glob("*.jpg"))
    thumbs[0].unlink()
    status = B.page_status(B.browser_dom(out / "m.html", "all=1"))
    uses = sum(
        int(thumbs[0].stem) in [int(x) for x in re.findall(r"\d+", v)]
        for v in pd.read_csv(site["labels"])["images"]
    )
    assert int(status["broken"]) == uses > 0


@needs_chromium
def test_large_pages_render_incrementally(tmp_path):
    inputs = B.synthetic_inputs(tmp_path / "in", n_layers=4, n_units=200, n_samples=10)
    A.build_model_page("big", inputs["labels"], tmp_path / "big.html", inputs["topk"], images=False)
    status = B.page_status(B.browser_dom(tmp_path / "big.html"))
    assert status["total"] == "800" and status["messages"] == []
    assert 0 < int(status["rendered"]) < 800  # only the first chunks, no image asked for yet
    assert float(status["first-ms"]) > 0


@needs_chromium
def test_filter_from_the_url_and_screenshot(site, tmp_path):
    labels = pd.read_csv(site["labels"])
    categories = pd.read_csv(site["categories"]).set_index("concept")["category"]
    labels["category"] = list(categories[labels["description"]])
    layer1 = labels[labels["layer"] == "blocks.1"]
    category = layer1["category"].value_counts().index[0]
    expected = layer1[layer1["category"] == category]
    fragment = f"layer=1&category={category.replace(' ', '+')}&all=1"
    dom = B.browser_dom(site["out"] / "m.html", fragment)
    status = B.page_status(dom)
    assert status["matching"] == status["rendered"] == str(len(expected))
    assert [label for _, label in B.page_cards(dom)] == list(expected["description"])
    # label text: substring, any case
    word = labels["description"][0]
    dom = B.browser_dom(site["out"] / "m.html", f"q={word.upper()}&all=1")
    assert {label for _, label in B.page_cards(dom)} == {
        x for x in labels["description"] if word in x
    }
    dom = B.browser_dom(site["out"] / "m.html", "q=no-such-label&all=1")
    status = B.page_status(dom)
    assert status["matching"] == status["rendered"] == "0" and status["messages"] == []
    assert "No unit matches these filters." in dom
    shot = B.browser_screenshot(
        site["out"] / "m.html", tmp_path / "shot.png", fragment, width=1400, height=2400
    )
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.std() > 10  # not blank
    assert B.count_cards(shot) == len(expected) > 0


@needs_chromium
def test_index_page_links_every_model(site):
    dom = B.browser_dom(site["out"] / "index.html")
    assert 'href="m.html"' in dom
    assert B.page_status(dom)["messages"] == []


# --------------------------------------------------------------------------- workflow


def test_published_atlas_plans_without_images(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    result = run_snakemake(
        work,
        "atlas",
        "-n",
        "--cores",
        "1",
        "--configfile",
        "config/published.yaml",
        "--config",
        f"published_labels={tmp_path}",
    )
    jobs = [rule for rule, _ in planned_jobs(result.stdout + result.stderr)]
    assert jobs.count("atlas_page") == 12
    assert "atlas_thumbnails" not in jobs and "label_units" not in jobs
    assert "atlas/published/index.html" in result.stdout + result.stderr


@pytest.fixture(scope="module")
def tiny_atlas(tmp_path_factory) -> Path:
    """`snakemake atlas` on a copy of the tiny reference run (labels already computed)."""
    work = tmp_path_factory.mktemp("tiny_atlas") / "wf"
    shutil.copytree(reference_run(tmp_path_factory), work, symlinks=True)
    run_snakemake(work, "atlas", "--cores", "2", "--configfile", TINY_CONFIG, timeout=900)
    return work


@pytest.mark.slow
@needs_chromium
def test_tiny_config_atlas_in_chromium(tiny_atlas, tmp_path):
    import yaml

    config = yaml.safe_load((tiny_atlas / TINY_CONFIG).read_text())
    site = tiny_atlas / "atlas" / config["probe"]
    index = B.browser_dom(site / "index.html")
    assert B.page_status(index)["messages"] == []
    for model in config["models"]:
        assert f'href="{model}.html"' in index
        labels = pd.read_csv(tiny_atlas / f"results/labels/{config['probe']}/{model}.csv")
        dom = B.browser_dom(site / f"{model}.html", "all=1")
        status = B.page_status(dom)
        assert status["messages"] == [], (model, status)
        assert [label for _, label in B.page_cards(dom)] == list(labels["description"]), model
        assert status["images"] == str(5 * len(labels)) and status["broken"] == "0", model
    # a filter, and a screenshot showing exactly the filtered cards
    model = next(iter(config["models"]))
    labels = pd.read_csv(tiny_atlas / f"results/labels/{config['probe']}/{model}.csv")
    word = labels["description"].value_counts().index[0]
    expected = int((labels["description"].str.contains(word, regex=False)).sum())
    status = B.page_status(B.browser_dom(site / f"{model}.html", f"q={word}&all=1"))
    assert status["matching"] == status["rendered"] == str(expected)
    shot = B.browser_screenshot(
        site / f"{model}.html", tmp_path / "tiny.png", f"q={word}&all=1", width=1400, height=2400
    )
    assert np.asarray(Image.open(shot).convert("L"), dtype=float).std() > 10
    assert B.count_cards(shot) == expected


@pytest.mark.slow
def test_tiny_run_compared_with_published_labels(tiny_atlas, tmp_path):
    """`snakemake agreement` with a 'published' copy of tiny_vit's labels, 5 labels changed."""
    import yaml

    work = tiny_atlas
    labels = pd.read_csv(work / "results/labels/test/tiny_vit.csv", keep_default_na=False)
    published = labels.copy()
    changed = published.index[published["layer"] == published["layer"].iloc[-1]][:5]
    published.loc[changed, "description"] = "not-a-concept"
    folder = tmp_path / "published"
    folder.mkdir()
    published.to_csv(folder / "tiny_vit.csv", index=False)
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(
        yaml.safe_dump(
            {
                "published_labels": str(folder),
                "published": {"labels": {"tiny_vit": {"path": "tiny_vit.csv"}}},
            }
        )
    )
    run_snakemake(
        work, "agreement", "--cores", "2", "--configfile", TINY_CONFIG, str(overlay), timeout=600
    )
    table = pd.read_csv(work / "results/agreement/test/tiny_vit.csv")
    n = labels.groupby("layer", sort=False).size().to_numpy()
    assert list(table["n_units"]) == list(n)
    assert list(table["label_match"]) == pytest.approx([1.0, 1 - 5 / n[-1]])
    # unchanged units have identical labels (cosine 1); the changed ones are not embedded
    assert list(table["semantic_units"]) == [n[0], n[-1] - 5]
    assert table["semantic_match"].to_numpy() == pytest.approx(1.0, abs=1e-5)
    assert (table["top_images_jaccard"] == 1.0).all()
    for name in ("figures/reproduction_agreement.pdf", "tables/reproduction_agreement.tex"):
        assert (work / "paper" / name).is_file(), name
