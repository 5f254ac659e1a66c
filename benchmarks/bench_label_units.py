"""Benchmark: vectorised ``labeling.soft_wpmi`` against a per-unit loop of the same formula.

Three sides: ``vectorised`` (soft_wpmi on the dense similarity matrix, the public API),
``label_units`` (soft_wpmi on ``EmbeddingSimilarity``: what the label_units rule runs, rows
computed on demand from the CLIP embeddings) and ``loop`` (the per-unit loop).

Problem size of one full ViT-B labeling pass on this CPU: 9,216 units (12 layers x 768)
x 20,000 concepts x 20,000 probe images, random inputs (normalised random embeddings -> cosine
similarities, Gaussian activations). Each side runs in its own subprocess so that its peak
resident memory (``ru_maxrss``) is its own; both include the same inputs (similarity matrix
20k x 20k float32 = 1.6 GB, activations 20k x 9,216 float32 = 0.74 GB).

The loop side is the straightforward implementation (as in CLIP-Dissect): the full softmax
matrix, then for each unit gather its top-k rows and sum the log terms, then the log prior.
It is timed on ``--loop-units`` units and extrapolated to all units (stated in the output);
its output matrix ``[units, concepts]`` is allocated in full so its memory is real.

Not part of the test suite. Run::

    .venv/bin/python benchmarks/bench_label_units.py            # ~5 min on 2 cores
    .venv/bin/python benchmarks/bench_label_units.py --units 2048 --loop-units 64  # quick
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time

import torch


def make_embeddings(n_images: int, n_concepts: int, n_units: int, seed: int = 0):
    """Random but CLIP-like normalised 512-d image and concept embeddings, and activations."""
    g = torch.Generator().manual_seed(seed)
    image = torch.nn.functional.normalize(torch.randn(n_images, 512, generator=g), dim=1)
    text = torch.nn.functional.normalize(torch.randn(n_concepts, 512, generator=g), dim=1)
    activations = torch.randn(n_images, n_units, generator=g)
    return image, text, activations


def make_inputs(n_images: int, n_concepts: int, n_units: int, seed: int = 0):
    """The soft_wpmi API's inputs: the [images, concepts] cosine similarities, activations."""
    image, text, activations = make_embeddings(n_images, n_concepts, n_units, seed)
    similarity = image @ text.T
    del image, text
    return similarity, activations


def rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def loop_soft_wpmi_rows(
    similarity, activations, units, top_k=100, a=10, lam=1, p_start=0.998, p_end=0.97, min_prob=1e-7
):
    """Per-unit loop (the naive way). Computes rows ``units`` of log p(c|u) into a full
    ``[U, C]`` matrix, then the log prior over all rows and the scores."""
    probs = torch.softmax(a * similarity, dim=1)  # full [images, concepts]
    inds = torch.topk(activations, k=top_k, dim=0).indices  # [k, U]
    p = (p_start - torch.arange(top_k) / top_k * (p_start - p_end)).unsqueeze(1)
    n_units, n_concepts = activations.shape[1], similarity.shape[1]
    log_pcu = torch.zeros(n_units, n_concepts)
    t0 = time.perf_counter()
    for u in units:
        rows = probs.gather(0, inds[:, u : u + 1].expand(-1, n_concepts))
        log_pcu[u] = torch.sum(torch.log(1 + p * (rows - 1) + min_prob), dim=0)
    loop_seconds = time.perf_counter() - t0
    log_pc = torch.logsumexp(log_pcu, dim=0) - math.log(n_units)
    scores = log_pcu - lam * log_pc
    return scores, loop_seconds


def run_side(
    side: str, n_images: int, n_concepts: int, n_units: int, loop_units: int, threads: int
) -> dict:
    torch.set_num_threads(threads)
    if side == "label_units":
        image, text, activations = make_embeddings(n_images, n_concepts, n_units)
    else:
        similarity, activations = make_inputs(n_images, n_concepts, n_units)
    inputs_mb = rss_peak_mb()
    t0 = time.perf_counter()
    if side == "label_units":  # what the label_units rule runs: rows on demand
        from vitconcepts.labeling import EmbeddingSimilarity, soft_wpmi

        scores = soft_wpmi(EmbeddingSimilarity(image, text), activations)
        seconds = time.perf_counter() - t0
        result = {"seconds_all_units": seconds, "units_timed": n_units, "extrapolated": False}
    elif side == "vectorised":
        from vitconcepts.labeling import soft_wpmi

        scores = soft_wpmi(similarity, activations)
        seconds = time.perf_counter() - t0
        result = {"seconds_all_units": seconds, "units_timed": n_units, "extrapolated": False}
    else:
        units = list(range(loop_units))
        scores, loop_seconds = loop_soft_wpmi_rows(similarity, activations, units)
        total = time.perf_counter() - t0
        fixed = total - loop_seconds  # softmax, top-k, log prior: paid once
        seconds = fixed + loop_seconds / loop_units * n_units
        result = {
            "seconds_all_units": seconds,
            "units_timed": loop_units,
            "extrapolated": loop_units < n_units,
            "fixed_seconds": fixed,
            "seconds_per_unit": loop_seconds / loop_units,
        }
    assert scores.shape == (n_units, n_concepts)
    result.update(
        side=side,
        inputs_peak_mb=inputs_mb,
        peak_mb=rss_peak_mb(),
        units_per_second=n_units / result["seconds_all_units"],
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--concepts", type=int, default=20000)
    parser.add_argument("--units", type=int, default=9216)
    parser.add_argument(
        "--loop-units",
        type=int,
        default=192,
        help="units the per-unit loop is timed on (extrapolated to --units)",
    )
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument(
        "--side", choices=["vectorised", "label_units", "loop"], help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.side:
        result = run_side(
            args.side, args.images, args.concepts, args.units, args.loop_units, args.threads
        )
        print(json.dumps(result))
        return

    print(
        f"soft_wpmi, {args.units} units x {args.concepts} concepts x {args.images} images, "
        f"top_k=100, float32, CPU threads={args.threads}"
    )
    results = {}
    for side in ("vectorised", "label_units", "loop"):
        cmd = [sys.executable, __file__, "--side", side] + [
            f"--{k}={v}"
            for k, v in (
                ("images", args.images),
                ("concepts", args.concepts),
                ("units", args.units),
                ("loop-units", args.loop_units),
                ("threads", args.threads),
            )
        ]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results[side] = json.loads(out.strip().splitlines()[-1])
    vec, lazy, loop = results["vectorised"], results["label_units"], results["loop"]
    for r in (vec, lazy, loop):
        note = (
            f" (loop timed on {r['units_timed']} units, extrapolated to {args.units})"
            if r["extrapolated"]
            else ""
        )
        print(
            f"{r['side']:>11}: {r['units_per_second']:9.1f} units/s, "
            f"{r['seconds_all_units']:8.1f} s for all units{note}; peak RSS "
            f"{r['peak_mb'] / 1024:.2f} GiB (inputs alone {r['inputs_peak_mb'] / 1024:.2f} GiB)"
        )
    speedup = vec["units_per_second"] / loop["units_per_second"]
    mem_ratio = vec["peak_mb"] / loop["peak_mb"]
    extra_ratio = (vec["peak_mb"] - vec["inputs_peak_mb"]) / (
        loop["peak_mb"] - loop["inputs_peak_mb"]
    )
    print(
        f"speed-up {speedup:.1f}x; peak memory ratio {mem_ratio:.2f} "
        f"(memory beyond the inputs: ratio {extra_ratio:.2f})"
    )
    print(
        f"label_units path (soft_wpmi on similarity rows computed on demand from the "
        f"embeddings; its time includes those matmuls, the loop's excludes its full "
        f"similarity matmul): speed-up "
        f"{lazy['units_per_second'] / loop['units_per_second']:.1f}x; peak memory ratio "
        f"{lazy['peak_mb'] / loop['peak_mb']:.2f}"
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
