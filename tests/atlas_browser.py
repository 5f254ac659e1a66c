"""Test helpers for the unit atlas: headless Chromium (the DOM a page leaves after its scripts
ran, screenshots, counting cards in a screenshot, reading ``#atlas-status``) and a consistent
set of synthetic atlas inputs (probe images and index, labels, top-k file, categories).

Used by tests/test_atlas.py and benchmarks/bench_atlas.py; not part of the package.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vitconcepts.errors import InputDataError

PathLike = str | Path

#: Background colour of a unit card (``--card`` in atlas.css): screenshots count cards by it.
CARD_RGB = (0xFC, 0xFC, 0xFD)


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary (``$CHROMIUM`` first), or None."""
    env = os.environ.get("CHROMIUM")
    if env and shutil.which(env):
        return shutil.which(env)
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _chromium_cmd(chromium: str | None, *args: str, width: int = 1280, height: int = 1600):
    binary = chromium or find_chromium()
    if not binary:
        raise InputDataError(
            "No Chromium was found (looked for $CHROMIUM, chromium, chromium-browser, "
            "google-chrome).",
            "install it: apt-get install -y chromium (bash .ci/install does).",
        )
    return [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--allow-file-access-from-files",
        f"--window-size={width},{height}",
        *args,
    ]


def _url(path: PathLike, fragment: str = "") -> str:
    url = Path(path).resolve().as_uri()
    return f"{url}#{fragment}" if fragment else url


def browser_dom(
    page: PathLike,
    fragment: str = "",
    budget_ms: int | None = 20000,
    chromium: str | None = None,
    timeout: float = 120,
    width: int = 1280,
    height: int = 1600,
) -> str:
    """The DOM of ``page`` (``#fragment`` appended) after headless Chromium ran its scripts
    (``--virtual-time-budget`` lets timers, observers and image loads settle; ``budget_ms=0``
    dumps right after the load event, with real time in the page, for timings)."""
    budget = [f"--virtual-time-budget={budget_ms}"] if budget_ms else []
    cmd = _chromium_cmd(
        chromium,
        *budget,
        "--dump-dom",
        _url(page, fragment),
        width=width,
        height=height,
    )
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc.stdout


def browser_screenshot(
    page: PathLike,
    out_png: PathLike,
    fragment: str = "",
    budget_ms: int = 20000,
    chromium: str | None = None,
    width: int = 1280,
    height: int = 1600,
    timeout: float = 120,
) -> Path:
    """Save a ``width`` x ``height`` screenshot of ``page`` (headless Chromium)."""
    out = Path(out_png).resolve()
    cmd = _chromium_cmd(
        chromium,
        f"--virtual-time-budget={budget_ms}",
        "--hide-scrollbars",
        f"--screenshot={out}",
        _url(page, fragment),
        width=width,
        height=height,
    )
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or not out.is_file():
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return out


def count_cards(screenshot_png: PathLike, min_area: int = 3000) -> int:
    """Number of unit cards visible in a screenshot: connected regions of the card
    background colour :data:`CARD_RGB` of at least ``min_area`` pixels."""
    from PIL import Image
    from scipy import ndimage

    with Image.open(screenshot_png) as img:
        pixels = np.asarray(img.convert("RGB"))
    mask = np.all(pixels == np.asarray(CARD_RGB, dtype=np.uint8), axis=2)
    labelled, n = ndimage.label(mask)
    if n == 0:
        return 0
    areas = np.bincount(labelled.ravel())[1:]
    return int((areas >= min_area).sum())


def page_cards(dom: str) -> list[tuple[int, str]]:
    """``[(data row, label)]`` of every card in a dumped DOM, in page order."""
    found = re.findall(
        r'<article class="card(?: focus)?" data-row="(\d+)"><div class="head">'
        r'<span class="label">(.*?)</span>',
        dom,
    )
    return [(int(row), html.unescape(label)) for row, label in found]


def page_status(dom: str) -> dict[str, Any]:
    """The ``#atlas-status`` element of a dumped DOM: its data attributes and error list."""
    match = re.search(r'<div id="atlas-status"([^>]*)>(.*?)</div>', dom, re.S)
    if not match:
        raise ValueError("the page has no #atlas-status element")
    attrs = dict(re.findall(r'data-([\w-]+)="([^"]*)"', match.group(1)))
    text = html.unescape(match.group(2)).strip()
    attrs["messages"] = json.loads(text) if text else []
    return attrs


# --------------------------------------------------------------------------- synthetic inputs


def _synthetic_probe(out: Path, n_samples: int, image_size: int, rng) -> Path:
    """``n_samples`` two-colour PNGs under ``out/images`` and their probe index."""
    from PIL import Image

    (out / "images").mkdir(parents=True, exist_ok=True)
    paths = []
    for s in range(n_samples):
        path = out / "images" / f"img_{s:05d}.png"
        if not path.is_file():
            colour = rng.integers(0, 256, size=3, dtype=np.uint8)
            pixels = np.broadcast_to(colour, (image_size, image_size + 8, 3)).copy()
            pixels[: image_size // 2, : image_size // 2] = 255 - colour
            Image.fromarray(pixels).save(path)
        paths.append(str(path.resolve()))
    index = out / "index.csv"
    pd.DataFrame(
        {
            "sample": range(n_samples),
            "sample_id": [f"synthetic/{s}" for s in range(n_samples)],
            "path": paths,
            "part": "synthetic",
        }
    ).to_csv(index, index=False)
    return index


def _write_synthetic_topk(path: Path, layers, concepts, ci, sc, top) -> None:
    import xarray as xr

    xr.Dataset(
        {
            "concept_index": (("layer", "unit", "rank"), ci),
            "score": (("layer", "unit", "rank"), np.ascontiguousarray(sc)),
            "top_images": (("layer", "unit", "image_rank"), top),
        },
        coords={
            "layer": np.asarray(layers, dtype=object),
            "concept": np.asarray(concepts, dtype=object),
            "n_units": (("layer",), np.full(len(layers), ci.shape[1])),
        },
    ).to_netcdf(path)


def _write_synthetic_reliability(path: Path, rows, rng) -> None:
    """A reliability CSV for ``rows`` (layer, unit, label, ...): q, held-out numbers and
    stability drawn so that some units are reliable (q < 0.05 and held-out AUPRC >= 2 x
    chance) and some are significant with an AUPRC at chance; stable concepts the label and,
    for unstable units, a runner-up."""
    from vitconcepts.formats import RELIABILITY_COLUMNS, format_stable_concepts, write_reliability

    out = []
    for i, (layer, unit, label, score, _) in enumerate(rows):
        q = float(rng.choice([0.001, 0.02, 0.2, 0.8]))
        stability = float(rng.choice([0.3, 0.55, 0.95]))
        stable = [(label, stability)]
        if stability < 0.9:
            stable.append((f"other{i % 7}", round(1 - stability, 2)))
        auprc = float(rng.choice([0.01, 0.03, 0.2]))
        heldout = (round(float(rng.uniform(-0.1, 0.6)), 3), auprc, 0.01)
        out.append((layer, unit, 0, label, score, q / 2, q, stability, stable, *heldout))
    frame = pd.DataFrame(out, columns=list(RELIABILITY_COLUMNS))
    frame["stable_concepts"] = frame["stable_concepts"].map(format_stable_concepts)
    write_reliability(frame, path)


def synthetic_inputs(
    out_dir: PathLike,
    n_layers: int = 2,
    n_units: int = 8,
    n_samples: int = 20,
    n_concepts: int = 30,
    n_rank: int = 6,
    image_size: int = 40,
    seed: int = 0,
    model: str = "synthetic",
) -> dict[str, Path]:
    """Write a consistent set of atlas inputs for tests and benchmarks: probe images and
    index, a labels CSV and top-k file (random labels over ``word<i>`` concepts, layers
    ``blocks.<i>``), a reliability CSV and a categories CSV. Returns ``{labels, topk,
    reliability, categories, index}``."""
    from vitconcepts.categories import CATEGORIES
    from vitconcepts.formats import format_images

    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    index = _synthetic_probe(out, n_samples, image_size, rng)
    concepts = [f"word{i}" for i in range(n_concepts)]
    ci = np.stack(
        [
            np.stack([rng.choice(n_concepts, n_rank, replace=False) for _ in range(n_units)])
            for _ in range(n_layers)
        ]
    ).astype(np.int32)
    sc = np.sort(rng.random((n_layers, n_units, n_rank)).astype(np.float32), axis=2)[..., ::-1]
    top = np.stack(
        [
            np.stack([rng.choice(n_samples, 5, replace=False) for _ in range(n_units)])
            for _ in range(n_layers)
        ]
    )
    layers = [f"blocks.{i}" for i in range(n_layers)]
    rows = [
        (layers[li], u, concepts[ci[li, u, 0]], float(sc[li, u, 0]), format_images(top[li, u]))
        for li in range(n_layers)
        for u in range(n_units)
    ]
    labels = out / f"{model}.csv"
    pd.DataFrame(rows, columns=["layer", "unit", "description", "similarity", "images"]).to_csv(
        labels, index=False
    )
    topk = out / f"{model}_topk.nc"
    _write_synthetic_topk(topk, layers, concepts, ci, sc, top)
    reliability = out / f"{model}.reliability.csv"
    _write_synthetic_reliability(reliability, rows, rng)
    categories = out / "categories.csv"
    pd.DataFrame(
        {
            "concept": concepts,
            "category": [CATEGORIES[i % len(CATEGORIES)] for i in range(n_concepts)],
            "source": "curated",
        }
    ).to_csv(categories, index=False)
    return {
        "labels": labels,
        "topk": topk,
        "reliability": reliability,
        "categories": categories,
        "index": index,
    }
