"""The unit atlas: its data, its pages in headless Chromium, and `snakemake atlas`."""

from __future__ import annotations

import html
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
        "m",
        inputs["labels"],
        out / "m.html",
        inputs["topk"],
        inputs["categories"],
        summary,
        reliability_csv=inputs["reliability"],
        other_pages=[("mlp units", "m.mlp.html")],
    )
    # a second model, and an extra unit kind of the first (no reliability file for it)
    second = B.synthetic_inputs(root / "in2", n_layers=2, n_units=30, n_samples=30, seed=1)
    A.build_model_page("m2", second["labels"], out / "m2.html", second["topk"])
    kind = B.synthetic_inputs(root / "in3", n_layers=3, n_units=50, n_samples=30, seed=2)
    A.build_model_page(
        "m",
        kind["labels"],
        out / "m.mlp.html",
        kind["topk"],
        kind="mlp",
        other_pages=[("default units", "m.html")],
    )
    pages = [
        A.AtlasPage("m", inputs["labels"]),
        A.AtlasPage("m2", second["labels"]),
        A.AtlasPage("m", kind["labels"], "mlp"),
    ]
    A.build_index(pages, out / "index.html", probe="synthetic")
    return {"out": out, "second": second, "kind": kind, **inputs}


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
    page = (tmp_path / "site" / "vit.html").read_text()
    assert "labels without probe images" in page
    # no activations, so no reliability: the filter is disabled and the page says why
    assert data["reliability"] is False and 'name="reliable" disabled' in page
    assert "no reliability (q, held-out, stability): published labels come without" in page


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
    # a link to a card deep in the list opens at that card's chunk, the ones above on request
    dom = B.browser_dom(tmp_path / "big.html", "layer=3&unit=190")
    status = B.page_status(dom)
    assert status["focus"] == str(3 * 200 + 190) and status["messages"] == []
    rows = [row for row, _ in B.page_cards(dom)]
    assert rows[0] == 3 * 200 + 96 and 3 * 200 + 190 in rows and int(status["rendered"]) < 200
    assert "show the 96 matching units before these" in dom


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
    for href in ("m.html", "m2.html", "m.mlp.html"):
        assert f'<a href="{href}">' in dom, href
    assert B.page_status(dom)["messages"] == []


def test_card_data_carries_q_stability_and_stable_concepts(site):
    data = read_data(site["out"] / "data" / "m.js")
    table = pd.read_csv(site["reliability"])
    assert data["reliability"] is True
    assert data["q"] == pytest.approx(list(table["q_null"]), rel=1e-3)
    assert data["stab"] == pytest.approx(list(table["stability"]), rel=1e-3)
    assert data["hr"] == pytest.approx(list(table["heldout_correlation"]), rel=1e-3)
    assert data["auprc"] == pytest.approx(list(table["heldout_auprc"]), rel=1e-3)
    assert data["chance"] == pytest.approx(list(table["auprc_chance"]), rel=1e-3)
    strings = data["strings"]
    first = json.loads(table["stable_concepts"][0])
    assert [[strings[c], s] for c, s in data["stable"][0]] == first
    # a page without a reliability file (published labels, or a kind not assessed) has none
    kind = read_data(site["out"] / "data" / "m.mlp.js")
    assert kind["reliability"] is False and "q" not in kind and kind["kind"] == "mlp"


def test_reliability_rows_must_cover_the_labels(site, tmp_path):
    short = tmp_path / "rel.csv"
    pd.read_csv(site["reliability"]).iloc[:-3].to_csv(short, index=False)
    with pytest.raises(InputDataError, match=r"rel\.csv has no row for 3 units"):
        A.model_data("m", site["labels"], reliability_csv=short)


def _reliable(table: pd.DataFrame) -> pd.Series:
    ratio = table["heldout_auprc"] / table["auprc_chance"]
    return (table["q_null"] < A.RELIABLE_Q) & (ratio >= A.RELIABLE_AUPRC_RATIO)


@needs_chromium
def test_cards_show_reliability_and_the_reliable_only_filter(site):
    table = pd.read_csv(site["reliability"])
    dom = B.browser_dom(site["out"] / "m.html", "all=1")
    cards = re.findall(r'<article class="card" data-row="(\d+)">(.*?)</article>', dom)
    row, text = next((int(r), t) for r, t in cards if int(r) == 0)
    stable = json.loads(table["stable_concepts"][row])
    assert f"stability {table['stability'][row]:.3f}" in text
    assert f"r {table['heldout_correlation'][row]:.3f}" in text
    ratio = table["heldout_auprc"][row] / table["auprc_chance"][row]
    assert f"AUPRC {table['heldout_auprc'][row]:.3f} = {ratio:.1f}\u00d7 chance" in text
    assert re.search(r'<span class="q"[^>]*>q [0-9.e-]+</span>', text)
    for concept, share in stable:
        assert f"{concept} <b>{round(100 * share)}%</b>" in text
    # reliable only: exactly the units with q < 0.05 and held-out AUPRC >= 2 x chance (not
    # every significant unit: some have an AUPRC at chance); the hash keeps it
    reliable = _reliable(table)
    assert 0 < reliable.sum() < (table["q_null"] < A.RELIABLE_Q).sum() < len(table)
    dom = B.browser_dom(site["out"] / "m.html", "reliable=1&all=1")
    status = B.page_status(dom)
    assert status["reliable"] == "1" and "reliable=1" in status["hash"]
    rows = [r for r, _ in B.page_cards(dom)]
    assert rows == list(table.index[reliable])
    unreliable = int(table.index[~reliable][0])
    assert unreliable not in rows
    assert status["messages"] == [] and status["matching"] == str(reliable.sum())
    # a page without reliability: no q on its cards, the filter disabled with a note
    dom = B.browser_dom(site["out"] / "m.mlp.html", "reliable=1&all=1")
    status = B.page_status(dom)
    assert status["reliable"] == "0" and status["matching"] == "150"
    assert 'name="reliable" disabled' in dom and 'id="reliability-note"' in dom
    assert not re.search(r'<div class="rel(?: ok)?">', dom) and status["messages"] == []


@needs_chromium
def test_index_search_finds_a_concept_in_two_models_and_opens_its_card(site):
    first = pd.read_csv(site["labels"])
    second = pd.read_csv(site["second"]["labels"])
    shared = sorted(set(first["description"]) & set(second["description"]))[0]
    dom = B.browser_dom(site["out"] / "index.html", f"q={shared}&exact=1")
    status = B.page_status(dom)
    expected = (first["description"] == shared).sum() + (second["description"] == shared).sum()
    kind = pd.read_csv(site["kind"]["labels"])
    expected += (kind["description"] == shared).sum()
    assert status["matching"] == str(expected) and status["messages"] == []
    assert re.findall(r'<section class="hit" data-page="([^"]+)"', dom)[:2] == ["m.html", "m2.html"]
    links = re.findall(r'<a class="unit-link" href="m2\.html#([^"]+)"', dom)
    assert len(links) == (second["description"] == shared).sum()
    fragment = html.unescape(links[-1])
    target = second[second["description"] == shared].iloc[-1]
    assert fragment == f"layer={target['layer'][-1]}&q={shared}&unit={target['unit']}"
    page = B.browser_dom(site["out"] / "m2.html", fragment)
    status = B.page_status(page)
    row = int(target.name)
    assert status["focus"] == str(row) and status["messages"] == []
    assert f'<article class="card focus" data-row="{row}">' in page
    # substring search without "whole label" finds at least as many
    dom = B.browser_dom(site["out"] / "index.html", f"q={shared[:-1]}")
    assert int(B.page_status(dom)["matching"]) >= expected


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


def test_extra_unit_kind_gets_its_own_atlas_page(tmp_path):
    """`units: [cls, mlp]` on tiny_vit: a page tiny_vit.mlp.html from the mlp labels, built
    alone by naming it; `atlas` plans it beside the default pages."""
    import yaml

    work = copy_workflow(tmp_path / "wf")
    overlay = tmp_path / "kinds.yaml"
    overlay.write_text(yaml.safe_dump({"models": {"tiny_vit": {"units": ["cls", "mlp"]}}}))
    page = "atlas/test/tiny_vit.mlp.html"
    args = ("-n", "--cores", "1", "--configfile", TINY_CONFIG, str(overlay))
    result = run_snakemake(work, page, *args)
    out = result.stdout + result.stderr
    jobs = [rule for rule, _ in planned_jobs(out)]
    assert jobs.count("atlas_kind_page") == 1 and "atlas_index" not in jobs
    assert "results/labels/test/tiny_vit.mlp.csv" in out
    result = run_snakemake(work, "atlas", *args)
    jobs = [rule for rule, _ in planned_jobs(result.stdout + result.stderr)]
    # the 3 models and the control tiny_vit_random
    assert (
        jobs.count("atlas_kind_page") == 1 and jobs.count("atlas_page") == 4
    )  # 3 models, 1 control


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
    # the search finds a unit by its label or by a concept of its Linear Explanation
    from vitconcepts.formats import read_linear

    explained = read_linear(tiny_atlas / f"results/linear/{config['probe']}/{model}.csv")
    in_explanation = explained["concepts"].map(lambda cs: any(word in str(c) for c in cs))
    expected = int((labels["description"].str.contains(word, regex=False) | in_explanation).sum())
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


# --------------------------------------------------------------------------- Linear Explanations


@pytest.fixture(scope="module")
def linear_site(tmp_path_factory) -> dict:
    """A model page and index with Linear Explanations: each unit explained by its label and
    one more concept (one with a word to escape), so a concept only explanations carry is
    searchable."""
    from vitconcepts.formats import write_linear

    root = tmp_path_factory.mktemp("atlas_linear")
    inputs = B.synthetic_inputs(root / "in", n_layers=2, n_units=6, n_samples=20, model="m")
    labels = pd.read_csv(inputs["labels"])
    extra = ["<b>$x$</b>" if u == 0 else "zebra-only" for u in labels["unit"]]
    frame = pd.DataFrame(
        {
            "layer": labels["layer"],
            "unit": labels["unit"],
            "concepts": [(d, e) for d, e in zip(labels["description"], extra, strict=True)],
            "weights": [(0.82, -0.41)] * len(labels),
            "bias": 0.1,
            "val_correlation": 0.5,
            "test_correlation": 0.456,
            "label_test_correlation": 0.2,
        }
    )
    linear = write_linear(frame, root / "in" / "linear.csv")
    out = root / "site"
    A.build_model_page("m", inputs["labels"], out / "m.html", linear_csv=linear, images=False)
    A.build_index([A.AtlasPage("m", inputs["labels"], None, linear)], out / "index.html")
    return {"out": out, "labels": labels, "linear": linear}


def test_card_data_carries_the_explanation_and_its_test_correlation(linear_site):
    data = read_data(linear_site["out"] / "data" / "m.js")
    strings, labels = data["strings"], linear_site["labels"]
    assert data["linear"] is True and data["expl_corr"] == [0.456] * len(labels)
    first = [[strings[c], w] for c, w in data["expl"][0]]
    assert first == [[labels["description"][0], 0.82], ["<b>$x$</b>", -0.41]]


def test_index_search_finds_units_by_their_explanation(linear_site):
    text = (linear_site["out"] / "data" / "index.js").read_text(encoding="utf-8")
    index = json.loads(text[len("window.ATLAS_INDEX=") : -2])
    page = index["pages"][0]
    sid = index["strings"].index("zebra-only")
    flat = dict((s, units) for s, units in page["expl"])[sid]
    assert len(flat) // 2 == (linear_site["labels"]["unit"] != 0).sum()
    assert sid not in {s for s, _ in page["labels"]}


@needs_chromium
def test_cards_show_the_explanation_escaped_and_search_finds_it(linear_site):
    page = B.browser_dom(linear_site["out"] / "m.html", "q=zebra")
    assert B.page_status(page)["messages"] == []
    assert int(B.page_status(page)["matching"]) == (linear_site["labels"]["unit"] != 0).sum()
    assert "0.82\u00b7" in page and "r 0.456" in page and "<b>$x$</b>" not in page
    dom = B.browser_dom(linear_site["out"] / "index.html", "q=zebra-only&exact=1")
    status = B.page_status(dom)
    assert status["messages"] == []
    assert status["matching"] == str((linear_site["labels"]["unit"] != 0).sum())
    assert 'class="unit-link via-expl"' in dom
