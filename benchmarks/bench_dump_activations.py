"""Benchmark dump_activations: peak memory flat in N, wall time close to a bare forward pass.

Runs (each in a fresh subprocess, so ``ru_maxrss`` is the peak of that run alone):

1. ``dump_activations`` over N and over 4N generated images -> peak RSS of each and the ratio
   (target: flat, ratio ~1.0; storing all activations in memory would add
   ``layers * units * 4 bytes`` per sample).
2. the same images through the same DataLoader and model with no hooks and no writes (bare
   forward) vs a full ``dump_activations`` -> wall-time ratio (target <= 1.15). Both are
   repeated and the fastest run of each is kept.

Usage: ``.venv/bin/python benchmarks/bench_dump_activations.py [--n 1000] [--image-size 64]``
The default model is a 12-block ViT-Tiny (timm, random init) at a small input size so the
whole benchmark takes a few minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import psutil


def model_entry(image_size: int) -> dict:
    return {
        "source": "timm",
        "weights": "vit_tiny_patch16_224",
        "arch": "vit",
        "pretrained": False,
        "model_kwargs": {"img_size": image_size},
        "input_size": image_size,
    }


def make_probe(folder: Path, n: int, image_size: int) -> Path:
    """n random PNGs in 10 class folders, indexed with build_probe_index."""
    from PIL import Image

    from vitconcepts.probe import build_probe_index

    rng = np.random.default_rng(0)
    images = folder / "images"
    for i in range(n):
        cls = images / f"class_{i % 10}"
        cls.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (image_size + 8, image_size + 16, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(cls / f"{i:06d}.png")
    out = folder / "probe"
    build_probe_index(
        "bench",
        [{"kind": "image_folder", "path": str(images)}],
        out / "index.csv",
        out / "index.json",
        out,
    )
    return out / "index.csv"


def child(args: argparse.Namespace) -> None:
    """One measurement in this process; prints a JSON line."""
    import torch

    from vitconcepts.activations import dump_activations
    from vitconcepts.models import build_transform, load_model, resolve_model_spec
    from vitconcepts.probe import ProbeDataset

    torch.set_num_threads(args.threads)
    spec = resolve_model_spec("bench", model_entry(args.image_size))
    options = dict(batch_size=args.batch_size, num_workers=args.num_workers)
    result: dict = {"mode": args.child}
    # Warm up (imports, thread pool, kernel selection) so both modes time the steady state.
    warm = load_model(spec)
    with torch.inference_mode():
        for _ in range(2):
            warm(torch.randn(args.batch_size, 3, args.image_size, args.image_size))
    del warm
    result["rss_before_mb"] = psutil.Process().memory_info().rss / 2**20
    cpu_start = time.process_time()
    if args.child == "dump":
        out = Path(args.work) / f"acts_{time.time_ns()}.nc"
        if args.trace:
            tracemalloc.start()
        start = time.perf_counter()
        dump_activations(
            spec,
            args.index,
            None,
            out,
            dtype="float16",
            shard_size=args.shard_size,
            device="cpu",
            threads=args.threads,
            **options,
        )
        result["seconds"] = time.perf_counter() - start
        result["cpu_seconds"] = time.process_time() - cpu_start
        if args.trace:
            result["python_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        out.unlink()
    else:  # bare forward: same model, transform and DataLoader; no hooks, no writes
        start = time.perf_counter()
        model = load_model(spec)
        loader = torch.utils.data.DataLoader(
            ProbeDataset(args.index, build_transform(spec, model)), shuffle=False, **options
        )
        with torch.inference_mode():
            for images, _ in loader:
                model(images)
        result["seconds"] = time.perf_counter() - start
        result["cpu_seconds"] = time.process_time() - cpu_start
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run_child(mode: str, index: Path, args: argparse.Namespace, trace: bool = False) -> dict:
    command = [
        sys.executable,
        __file__,
        *(["--trace"] if trace else []),
        "--child",
        mode,
        "--index",
        str(index),
        "--work",
        args.work,
        "--image-size",
        str(args.image_size),
        "--batch-size",
        str(args.batch_size),
        "--shard-size",
        str(args.shard_size),
        "--threads",
        str(args.threads),
        "--num-workers",
        str(args.num_workers),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="N (memory runs use N and 4N)")
    parser.add_argument("--only", choices=["all", "memory", "time"], default="all")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--shard-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--work", default=None)
    parser.add_argument("--child", choices=["dump", "bare"], default=None)
    parser.add_argument("--index", default=None)
    parser.add_argument("--trace", action="store_true", help="child: tracemalloc peak")
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    with tempfile.TemporaryDirectory(dir=args.work) as work:
        args.work = work
        small = make_probe(Path(work) / "n", args.n, args.image_size)
        print(
            f"model: 12-block ViT-Tiny (192 units/layer), input {args.image_size}px, "
            f"batch {args.batch_size}, shard {args.shard_size}, {args.threads} threads"
        )
        if args.only in ("all", "memory"):
            report_memory(small, make_probe(Path(work) / "4n", 4 * args.n, args.image_size), args)
        if args.only in ("all", "time"):
            report_time(small, args)


def report_memory(small: Path, large: Path, args: argparse.Namespace) -> None:
    """Peak RSS of dumps over N and 4N images."""
    mem_small = run_child("dump", small, args, trace=True)
    mem_large = run_child("dump", large, args, trace=True)
    for label, run in ((f" N={args.n}", mem_small), (f"4N={4 * args.n}", mem_large)):
        print(
            f"peak RSS {label}: {run['peak_rss_mb']:.1f} MB (dump's own increment over "
            f"the warmed-up process: {run['peak_rss_mb'] - run['rss_before_mb']:.1f} MB; "
            f"Python-heap peak {run['python_peak_mb']:.1f} MB; {run['seconds']:.1f} s)"
        )
    increment = [r["peak_rss_mb"] - r["rss_before_mb"] for r in (mem_small, mem_large)]
    print(
        f"RSS ratio 4N/N: {mem_large['peak_rss_mb'] / mem_small['peak_rss_mb']:.3f} "
        f"(increments {increment[1]:.1f} vs {increment[0]:.1f} MB; keeping the activations "
        f"of the 3N extra samples in memory would add {3 * args.n * 12 * 192 * 4 / 2**20:.1f}"
        " MB)"
    )


def report_time(timed: Path, args: argparse.Namespace) -> None:
    """Wall and CPU time of dump_activations vs a bare forward pass over the same images."""
    runs: dict[str, list[dict]] = {"bare": [], "dump": []}
    for _ in range(args.repeats):  # interleaved, to share the machine's load fairly
        for mode in runs:
            runs[mode].append(run_child(mode, timed, args))
    for key, what in (("seconds", "wall"), ("cpu_seconds", "CPU (all threads)")):
        bare = min(r[key] for r in runs["bare"])
        dump = min(r[key] for r in runs["dump"])
        listed = {m: ", ".join(f"{r[key]:.2f}" for r in rs) for m, rs in runs.items()}
        print(
            f"{what} time: bare forward {bare:.2f} s, dump_activations {dump:.2f} s, "
            f"ratio {dump / bare:.3f} (target <= 1.15; runs bare {listed['bare']}; "
            f"dump {listed['dump']})"
        )


if __name__ == "__main__":
    main()
