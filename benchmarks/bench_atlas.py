"""Benchmark: the unit atlas at the size of one ViT-B's MLP neurons (12 layers x 3,072 =
36,864 units a page; ``--units 768`` for the CLS units, 9,216).

Builds a model page from synthetic labels, top-k concepts and reliability
(``synthetic_inputs`` of ``tests/atlas_browser.py``: 10 ranked concepts a unit out of 20,000,
q, stability and stable concepts, top images drawn from a probe of ``--images`` generated
images, thumbnails made as in the rule) and the index page over it, then prints

* page weight: the HTML (inline CSS/JS) and the model's data script, the index page and its
  search data, and the thumbnails;
* time until the first cards show in headless Chromium: ``performance.now()`` when the page's
  first chunk of cards has been laid out (the page writes it into ``#atlas-status``; real
  time since navigation start, data script parsing included), against the same page asked to
  render every card at once (``#all=1``, eager images): the ratio is what incremental
  rendering buys;
* time to first cards of a link from the index's search to a unit deep in the last layer
  (``#layer=11&unit=3000``: the page opens at that card's chunk and scrolls to it);
* the index's concept search over the page's units (``data-search-ms``);
* Chromium's wall time per page load (process start to DOM dump), and for an empty page.

Each page is loaded ``--repeat`` times; medians are printed. Not part of the test suite. Run::

    .venv/bin/python benchmarks/bench_atlas.py              # ~3 min on 2 cores
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))  # atlas_browser: headless Chromium, synthetic inputs

import atlas_browser as B  # noqa: E402

from vitconcepts import atlas as A  # noqa: E402


def load(page: Path, fragment: str, repeat: int, timeout: float = 300) -> tuple[dict, float]:
    runs, walls = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        dom = B.browser_dom(page, fragment, budget_ms=0, timeout=timeout)
        walls.append(time.perf_counter() - t0)
        runs.append(B.page_status(dom))
    status = runs[-1]
    for key in ("first-ms", "focus-ms", "search-ms"):
        if key in status:
            status[key] = statistics.median(float(r[key]) for r in runs)
    if any(r["messages"] for r in runs):
        raise SystemExit(f"page errors: {[r['messages'] for r in runs]}")
    return status, statistics.median(walls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--units", type=int, default=3072)
    parser.add_argument("--concepts", type=int, default=20000)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--all-timeout", type=float, default=240, help="seconds for the #all=1 load"
    )
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
            "vit",
            inputs["labels"],
            site / "vit.mlp.html",
            inputs["topk"],
            inputs["categories"],
            reliability_csv=inputs["reliability"],
            kind="mlp",
        )
        t_page = time.perf_counter() - t0
        t0 = time.perf_counter()
        A.build_index([A.AtlasPage("vit", inputs["labels"], "mlp")], site / "index.html")
        t_index = time.perf_counter() - t0
        empty = site / "empty.html"
        empty.write_text('<!doctype html><div id="atlas-status" data-first-ms="0"></div>')

        n_units = args.layers * args.units
        html_bytes = (site / "vit.mlp.html").stat().st_size
        data_bytes = (site / "data" / "vit.mlp.js").stat().st_size
        index_bytes = (site / "index.html").stat().st_size
        index_data = (site / "data" / "index.js").stat().st_size
        weight = html_bytes + data_bytes
        thumb_bytes = sum(p.stat().st_size for p in (site / "thumbs").glob("*.jpg"))
        print(
            f"atlas page of {n_units} units ({args.layers} layers x {args.units}), "
            f"{args.concepts} concepts, {args.images} probe images"
        )
        print(
            f"  inputs generated in {t_inputs:.1f} s; thumbnails {n_thumbs} in {t_thumbs:.1f} s; "
            f"page built in {t_page:.2f} s, index in {t_index:.2f} s"
        )
        print(
            f"  page weight: html {html_bytes / 1e3:.1f} kB + data {data_bytes / 1e6:.2f} MB "
            f"= {weight / 1e6:.2f} MB ({weight / n_units:.0f} B/unit)"
        )
        print(
            f"  index: html {index_bytes / 1e3:.1f} kB + search data {index_data / 1e6:.2f} MB "
            f"({index_data / n_units:.0f} B/unit)"
        )
        print(
            f"  thumbnails: {n_thumbs} x {thumb_bytes / max(n_thumbs, 1) / 1e3:.1f} kB "
            f"= {thumb_bytes / 1e6:.1f} MB ({A.THUMB_PX} px JPEG q{A.THUMB_QUALITY}), loaded lazily"
        )

        _, wall_empty = load(empty, "", args.repeat)
        page = site / "vit.mlp.html"
        lazy, wall_lazy = load(page, "", args.repeat)
        try:  # every card and its images at once: a minute or more at 36,864 units
            full, wall_full = load(page, "all=1", 1, timeout=args.all_timeout)
        except subprocess.TimeoutExpired:
            full, wall_full = None, args.all_timeout
        last, unit = args.layers - 1, args.units - 72
        deep, wall_deep = load(page, f"layer={last}&unit={unit}", args.repeat)
        if deep["focus"] == "-1":
            raise SystemExit(f"the deep link to layer {last} unit {unit} found no card")
        word = "word1"
        search, wall_search = load(site / "index.html", f"q={word}", args.repeat)
        print(f"  headless Chromium, median of {args.repeat} loads:")
        print(
            f"    incremental (default): first {lazy['rendered']} cards after "
            f"{lazy['first-ms']:.0f} ms "
            f"(process wall {wall_lazy:.2f} s)"
        )
        if full is None:
            print(f"    all at once (#all=1):  not done after {args.all_timeout:.0f} s")
        else:
            print(
                f"    all at once (#all=1, 1 load):  all {full['rendered']} cards after "
                f"{full['first-ms']:.0f} ms "
                f"(process wall {wall_full:.2f} s)"
            )
        print(
            f"    deep link (#layer={last}&unit={unit}): {deep['rendered']} cards rendered, "
            f"its card shown after {deep['focus-ms']:.0f} ms (process wall {wall_deep:.2f} s)"
        )
        print(
            f"    index search q={word}: {search['matching']} units in "
            f"{search['search-ms']:.0f} ms (process wall {wall_search:.2f} s)"
        )
        print(f"    empty page:            process wall {wall_empty:.2f} s")
        if full is not None:
            print(
                f"  ratio all-at-once / incremental time to first cards: "
                f"{full['first-ms'] / lazy['first-ms']:.1f}x"
            )


if __name__ == "__main__":
    main()
