"""Benchmark prepare_probe's image check: full decode, serial vs threads, vs the old verify().

Writes N ImageNet-sized JPEGs (500x375, quality 90) and times, side by side in one run:

1. ``Image.verify()`` + sha256 (the old check: parses headers, decodes nothing; misses
   truncated JPEGs),
2. :func:`vitconcepts.probe.check_images` with 1 thread (full decode + RGB conversion),
3. the same with ``--threads`` threads.

Prints images/s of each, the ratios, and the projected time for the paper's 113,305 probe
images. Each timing is the fastest of ``--repeats`` runs.

Usage: ``.venv/bin/python benchmarks/bench_probe_check.py [--n 400] [--threads 4]``
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from vitconcepts.probe import check_images

PAPER_IMAGES = 113_305


def make_images(folder: Path, n: int) -> list[str]:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (375 // 5 + 1, 500 // 5 + 1, 3), dtype=np.uint8)
    paths = []
    for i in range(n):
        # smooth-ish content (upsampled noise + a shift) so JPEG sizes are photo-like
        pixels = np.kron(np.roll(base, i, axis=1), np.ones((5, 5, 1), np.uint8))[:375, :500]
        path = folder / f"{i:05d}.JPEG"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(str(path))
    return paths


def verify_only(paths: list[str]) -> None:
    for path in paths:
        data = Path(path).read_bytes()
        hashlib.sha256(data).hexdigest()
        with Image.open(path) as image:
            image.verify()


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_images(Path(tmp), args.n)
        size = sum(Path(p).stat().st_size for p in paths) / len(paths)
        t_verify = best_of(args.repeats, lambda: verify_only(paths))
        t_one = best_of(args.repeats, lambda: check_images(paths, threads=1, progress=False))
        t_many = best_of(
            args.repeats, lambda: check_images(paths, threads=args.threads, progress=False)
        )
    rate = {k: args.n / t for k, t in (("verify", t_verify), ("1", t_one), ("n", t_many))}
    print(f"{args.n} JPEGs 500x375, mean {size / 1024:.0f} KiB")
    print(f"verify() + sha256 (old check):   {rate['verify']:8.0f} img/s")
    print(f"full decode, 1 thread:           {rate['1']:8.0f} img/s")
    print(f"full decode, {args.threads} threads:          {rate['n']:8.0f} img/s")
    print(f"ratio full decode 1 thread / verify: {t_one / t_verify:.2f}x the time")
    print(f"speed-up {args.threads} threads vs 1: {t_one / t_many:.2f}x")
    print(
        f"projected for the paper's {PAPER_IMAGES} images: "
        f"{PAPER_IMAGES / rate['n'] / 60:.1f} min with {args.threads} threads here"
    )


if __name__ == "__main__":
    main()
