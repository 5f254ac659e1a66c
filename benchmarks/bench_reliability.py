"""Benchmark: the cost of one ``label_reliability`` pass against one labeling pass.

Both sides score the same layer side by side in one process, with ``soft_wpmi`` on
``EmbeddingSimilarity`` (what ``label_units`` and ``assess_labels`` run: similarity rows computed
on demand from the CLIP embeddings) on the CPU: random CLIP-like normalised 512-d embeddings,
Gaussian activations. The reliability pass is 1 labeling + ``n_boot`` bootstrap labelings +
2 split-half labelings (the held-out folds label each half once; scoring the other half and the
``n_null`` permutations of the held-out correlation touch only ``[images, units]`` arrays), so
its expected ratio is about ``3 + n_boot`` (a half costs as much as the full probe: soft-WPMI's
cost is set by units x concepts x top_k, not by the number of images); the printout states it
beside the measured one. Before issue 19 the null relabelled ``n_null`` permuted copies of the
layer (``3 + n_null + n_boot`` labelings; 26.5 measured at 5,000 x 2,000 x 64).

Not part of the test suite. Run::

    .venv/bin/python benchmarks/bench_reliability.py                       # 5,000 x 2,000 x 64
    .venv/bin/python benchmarks/bench_reliability.py --images 113305 --concepts 20000 \\
        --units 768 --device cuda                                          # the paper's size
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from vitconcepts.labeling import EmbeddingSimilarity, resolve_device, soft_wpmi
from vitconcepts.reliability import label_reliability


def make_inputs(n_images: int, n_concepts: int, n_units: int, device: torch.device, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    image = torch.nn.functional.normalize(torch.randn(n_images, 512, generator=g), dim=1)
    text = torch.nn.functional.normalize(torch.randn(n_concepts, 512, generator=g), dim=1)
    activations = torch.randn(n_images, n_units, generator=g)
    return EmbeddingSimilarity(image.to(device), text.to(device)), activations


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--concepts", type=int, default=2000)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--top-k", type=int, default=100)
    parser.add_argument("--n-null", type=int, default=10)
    parser.add_argument("--n-boot", type=int, default=20)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    similarity, activations = make_inputs(args.images, args.concepts, args.units, device)
    params = {"top_k": args.top_k}

    soft_wpmi(similarity, activations[:, :4], **params, device=device)  # warm-up
    _sync(device)

    def label_pass() -> float:
        start = time.perf_counter()
        scores = soft_wpmi(similarity, activations, **params, device=device)
        scores.argmax(dim=1).cpu()
        _sync(device)
        return time.perf_counter() - start

    # one label pass is short and noisy on a shared CPU: the median of three before and
    # three after the reliability pass
    label_times = [label_pass() for _ in range(3)]

    start = time.perf_counter()
    frame = label_reliability(
        similarity,
        activations,
        params=params,
        n_null=args.n_null,
        n_boot=args.n_boot,
        seed=0,
        device=device,
    )
    _sync(device)
    reliability_s = time.perf_counter() - start
    label_times += [label_pass() for _ in range(3)]
    label_s = statistics.median(label_times)
    expected = 1 + args.n_boot + 2
    print(
        json.dumps(
            {
                "device": device.type,
                "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
                "threads": torch.get_num_threads(),
                "images": args.images,
                "concepts": args.concepts,
                "units": args.units,
                "top_k": args.top_k,
                "n_null": args.n_null,
                "n_boot": args.n_boot,
                "label_pass_s": round(label_s, 3),
                "reliability_pass_s": round(reliability_s, 3),
                "ratio": round(reliability_s / label_s, 2),
                "labelings_in_the_pass": expected,
                "ratio_per_labeling": round(reliability_s / label_s / expected, 3),
                "units_q_below_0.05": int((frame["q_null"] < 0.05).sum()),
                "median_heldout_correlation": round(
                    float(frame["heldout_correlation"].median()), 4
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
