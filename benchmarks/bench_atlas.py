"""Benchmark: the unit atlas at the paper's size (one ViT-B: 12 layers x 768 = 9,216 units).

Builds a model page from synthetic labels and top-k concepts
(``synthetic_inputs`` of ``tests/atlas_browser.py``: 9,216 units, 10 ranked concepts each
out of 20,000, top images drawn from a probe of ``--images`` generated images, thumbnails
made as in the rule), then prints

* page weight: the HTML (inline CSS/JS) and the model's data script, and the thumbnails;
* time until the first cards show in headless Chromium: ``performance.now()`` when the page's
  first chunk of cards has been laid out (the page writes it into ``#atlas-status``; real
  time since navigation start, data script parsing included), against the same page asked to
  render every card at once (``#all=1``, eager images): the ratio is what incremental
  rendering buys;
* Chromium's wall time per page load (process start to DOM dump), and for an empty page.

Each page is loaded ``--repeat`` times; medians are printed. Not part of the test suite. Run::

    .venv/bin/python benchmarks/bench_atlas.py              # ~2 min on 2 cores
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))  # atlas_browser: headless Chromium, synthetic inputs

import atlas_browser as B  # noqa: E402

from vitconcepts import atlas as A  # noqa: E402


def load(page: Path, fragment: str, repeat: int) -> tuple[dict, float]:
    runs, walls = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        dom = B.browser_dom(page, fragment, budget_ms=0, timeout=300)
        walls.append(time.perf_counter() - t0)
        runs.append(B.page_status(dom))
    status = runs[-1]
    status["first-ms"] = statistics.median(float(r["first-ms"]) for r in runs)
    if any(r["messages"] for r in runs):
        raise SystemExit(f"page errors: {[r['messages'] for r in runs]}")
    return status, statistics.median(walls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--units", type=int, default=768)
    parser.add_argument("--concepts", type=int, default=20000)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if B.find_chromium() is None:
        raise SystemExit("no Chromium found (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        inputs = B.synthetic_inputs(
            tmp / "in",
            n_layers=args.layers,
            n_units=args.units,
            n_samples=args.images,
            n_concepts=args.concepts,
            n_rank=10,
            image_size=160,
            model="vit",
        )
        t_inputs = time.perf_counter() - t0
        site = tmp / "site"
        t0 = time.perf_counter()
        n_thumbs = A.make_thumbnails(
            [inputs["labels"]], inputs["index"], site / "thumbs", threads=2
        )
        t_thumbs = time.perf_counter() - t0
        t0 = time.perf_counter()
        A.build_model_page(
            "vit", inputs["labels"], site / "vit.html", inputs["topk"], inputs["categories"]
        )
        t_page = time.perf_counter() - t0
        empty = site / "empty.html"
        empty.write_text('<!doctype html><div id="atlas-status" data-first-ms="0"></div>')

        n_units = args.layers * args.units
        html_bytes = (site / "vit.html").stat().st_size
        data_bytes = (site / "data" / "vit.js").stat().st_size
        weight = html_bytes + data_bytes
        thumb_bytes = sum(p.stat().st_size for p in (site / "thumbs").glob("*.jpg"))
        print(
            f"atlas page of {n_units} units ({args.layers} layers x {args.units}), "
            f"{args.concepts} concepts, {args.images} probe images"
        )
        print(
            f"  inputs generated in {t_inputs:.1f} s; thumbnails {n_thumbs} in {t_thumbs:.1f} s; "
            f"page built in {t_page:.2f} s"
        )
        print(
            f"  page weight: html {html_bytes / 1e3:.1f} kB + data {data_bytes / 1e6:.2f} MB "
            f"= {weight / 1e6:.2f} MB ({weight / n_units:.0f} B/unit)"
        )
        print(
            f"  thumbnails: {n_thumbs} x {thumb_bytes / max(n_thumbs, 1) / 1e3:.1f} kB "
            f"= {thumb_bytes / 1e6:.1f} MB ({A.THUMB_PX} px JPEG q{A.THUMB_QUALITY}), loaded lazily"
        )

        _, wall_empty = load(empty, "", args.repeat)
        lazy, wall_lazy = load(site / "vit.html", "", args.repeat)
        full, wall_full = load(site / "vit.html", "all=1", args.repeat)
        print(f"  headless Chromium, median of {args.repeat} loads:")
        print(
            f"    incremental (default): first {lazy['rendered']} cards after "
            f"{lazy['first-ms']:.0f} ms "
            f"(process wall {wall_lazy:.2f} s)"
        )
        print(
            f"    all at once (#all=1):  all {full['rendered']} cards after "
            f"{full['first-ms']:.0f} ms "
            f"(process wall {wall_full:.2f} s)"
        )
        print(f"    empty page:            process wall {wall_empty:.2f} s")
        print(
            f"  ratio all-at-once / incremental time to first cards: "
            f"{full['first-ms'] / lazy['first-ms']:.1f}x"
        )


if __name__ == "__main__":
    main()
