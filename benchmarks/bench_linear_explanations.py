"""Benchmark: Linear Explanations of one layer, against CLIP-Dissect labeling of the same
layer and against a plain per-unit loop of the same algorithm.

Three sides on one layer of 768 units, 5,000 probe images and 2,000 concepts (random
CLIP-like 512-d embeddings, Gaussian activations), run one after the other in this process:

* ``label_units``: ``soft_wpmi`` on an ``EmbeddingSimilarity`` (what rule label_units runs);
* ``linear``: ``linear_explanations`` on the same lazy similarity (what rule explain_units
  runs): batched over units, tiled over images;
* ``loop``: the same algorithm written unit by unit: standardised features materialised
  once, then per unit an OMP (a least-squares refit per step) and the greedy search with one
  least-squares fit and one validation correlation per candidate set, on the data. Timed on
  ``--loop-units`` units and scaled linearly to the layer (stated in the output).

Not part of the test suite. Run::

    .venv/bin/python benchmarks/bench_linear_explanations.py            # a few minutes, 2 cores
    .venv/bin/python benchmarks/bench_linear_explanations.py --images 2000 --loop-units 4
"""

from __future__ import annotations

import argparse
import time

import torch

from vitconcepts.labeling import (
    EmbeddingSimilarity,
    linear_explanations,
    probe_split,
    soft_wpmi,
)


def make_layer(n_images: int, n_concepts: int, n_units: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    image = torch.nn.functional.normalize(torch.randn(n_images, 512, generator=g), dim=1)
    text = torch.nn.functional.normalize(torch.randn(n_concepts, 512, generator=g), dim=1)
    return image, text, torch.randn(n_images, n_units, generator=g)


def _corr(x: torch.Tensor, y: torch.Tensor) -> float:
    x, y = x - x.mean(), y - y.mean()
    return float((x @ y) / (x.norm() * y.norm() + 1e-30))


def _fit(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.linalg.lstsq(z, (y - y.mean())[:, None]).solution[:, 0]


def loop_unit(z_tr, z_val, y_tr, y_val, max_concepts=10, tolerance=0.02, width=10):
    """One unit, straightforwardly: OMP candidates, then LE's greedy search."""
    residual, picked = y_tr - y_tr.mean(), []
    for _ in range(max_concepts):
        score = (z_tr.T @ residual).abs()
        score[picked] = -1
        picked.append(int(score.argmax()))
        residual = y_tr - y_tr.mean() - z_tr[:, picked] @ _fit(z_tr[:, picked], y_tr)
    score = (z_tr.T @ residual).abs()
    score[picked] = -1
    candidates = picked + score.topk(width).indices.tolist()
    chosen, bad, best = [], set(), 0.0
    while len(chosen) < max_concepts:
        pool = [c for c in candidates if c not in chosen and c not in bad][:width]
        pick, pick_corr = None, best
        for c in pool:
            cols = chosen + [c]
            corr = _corr(z_val[:, cols] @ _fit(z_tr[:, cols], y_tr), y_val)
            if chosen and corr - best < tolerance:
                bad.add(c)
            elif corr > pick_corr or not chosen and pick is None:
                pick, pick_corr = c, corr
        if pick is None:
            break
        chosen.append(pick)
        best = pick_corr
    return chosen, best


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=5_000)
    parser.add_argument("--concepts", type=int, default=2_000)
    parser.add_argument("--units", type=int, default=768)
    parser.add_argument("--loop-units", type=int, default=8)
    args = parser.parse_args()
    image, text, acts = make_layer(args.images, args.concepts, args.units)
    lazy = EmbeddingSimilarity(image, text)
    t_label, _ = timed(lambda: soft_wpmi(lazy, acts))
    t_linear, frame = timed(lambda: linear_explanations(lazy, acts))

    def loop():
        train, val, _test = probe_split(args.images)
        sim = image @ text.T
        mean, std = sim[train].mean(0), sim[train].std(0)
        z = (sim - mean) / std
        for u in range(args.loop_units):
            loop_unit(z[train], z[val], acts[train, u], acts[val, u])

    t_loop, _ = timed(loop)
    t_loop_layer = t_loop / args.loop_units * args.units
    print(
        f"one layer: {args.images} images x {args.concepts} concepts x {args.units} units, "
        f"{torch.get_num_threads()} threads, CPU"
    )
    print(f"label_units (soft_wpmi, lazy similarity)  {t_label:9.2f} s")
    print(f"linear_explanations (batched, tiled)      {t_linear:9.2f} s")
    print(
        f"per-unit loop of the same algorithm       {t_loop_layer:9.2f} s  (timed on "
        f"{args.loop_units} units: {t_loop:.2f} s, scaled to {args.units})"
    )
    print(f"ratio linear / label_units: {t_linear / t_label:.2f}")
    print(f"ratio loop / linear: {t_loop_layer / t_linear:.1f}")
    print(f"mean explanation length: {frame['concepts'].map(len).mean():.2f} (noise units)")


if __name__ == "__main__":
    main()
