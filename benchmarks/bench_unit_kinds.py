"""Benchmark the unit kinds: dump throughput of ``units: [cls, mlp]`` relative to ``[cls]``.

Both kind sets come from one forward pass, so asking for the 36,864 MLP units of a ViT-B
beside its 9,216 CLS units should cost only the extra hook and the extra writing
(goal: wall time ratio <= 1.3). The two are measured side by side in one run: the same
generated probe, the same random ViT-B-sized model (timm ``vit_base_patch16_224``: 12 blocks,
768 wide, MLP 3,072), runs interleaved ``[cls]``, ``[cls, mlp]``, ... and the fastest of each
kept. On CPU always; on CUDA too when there is a GPU (the script says when there is none).

Usage: ``.venv/bin/python benchmarks/bench_unit_kinds.py [--n 48] [--image-size 224]``
(about three minutes on a 2-core CPU at the defaults).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_dump_activations import make_probe  # noqa: E402

KIND_SETS = (["cls"], ["cls", "mlp"])


def model_entry(image_size: int, units: list[str]) -> dict:
    return {
        "source": "timm",
        "weights": "vit_base_patch16_224",
        "arch": "vit",
        "pretrained": False,
        "model_kwargs": {"img_size": image_size},
        "input_size": image_size,
        "units": units,
    }


def time_dump(index: Path, work: Path, units: list[str], device: str, args) -> float:
    """Seconds of one ``dump_activations`` of ``units`` (float32, the paper's dtype)."""
    from vitconcepts.activations import dump_activations
    from vitconcepts.models import resolve_model_spec

    spec = resolve_model_spec("bench", model_entry(args.image_size, units))
    out = work / f"acts_{'_'.join(units)}_{time.time_ns()}.nc"
    start = time.perf_counter()
    dump_activations(
        spec,
        index,
        None,
        out,
        dtype="float32",
        batch_size=args.batch_size,
        shard_size=args.shard_size,
        device=device,
        threads=args.threads,
    )
    seconds = time.perf_counter() - start
    for path in work.glob(f"{out.stem}*"):
        path.unlink()
    return seconds


def measure(index: Path, work: Path, device: str, args) -> dict[str, list[float]]:
    """Interleaved runs of each kind set on ``device``, after one warm-up of each."""
    for units in KIND_SETS:
        time_dump(index, work, units, device, args)
    runs: dict[str, list[float]] = {"+".join(u): [] for u in KIND_SETS}
    for _ in range(args.repeats):
        for units in KIND_SETS:
            runs["+".join(units)].append(time_dump(index, work, units, device, args))
    return runs


def report(device: str, runs: dict[str, list[float]], n: int) -> float:
    cls, both = min(runs["cls"]), min(runs["cls+mlp"])
    listed = "; ".join(f"{k}: {', '.join(f'{s:.2f}' for s in v)} s" for k, v in runs.items())
    print(
        f"{device}: [cls] {n / cls:.2f} images/s, [cls, mlp] {n / both:.2f} images/s; "
        f"time ratio [cls, mlp] / [cls] = {both / cls:.3f} (goal <= 1.3; runs {listed})"
    )
    return both / cls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=48, help="generated probe images")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--shard-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--work", default=None)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        work = Path(tmp)
        index = make_probe(work / "probe", args.n, args.image_size)
        print(
            f"model: random ViT-B/16 (timm vit_base_patch16_224): 12 layers x 768 cls units, "
            f"12 x 3,072 mlp units; {args.n} images at {args.image_size}px, batch "
            f"{args.batch_size}, float32, {args.threads} threads"
        )
        devices = ["cpu"]
        if torch.cuda.is_available():
            devices.append("cuda")
        else:
            print("no GPU on this machine (torch.cuda.is_available() is False): CPU only")
        ratios = [report(d, measure(index, work, d, args), args.n) for d in devices]
    return 0 if all(r <= 1.3 for r in ratios) else 1


if __name__ == "__main__":
    sys.exit(main())
