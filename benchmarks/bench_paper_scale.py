"""The full paper's cost, measured: decode-once speed-up, label_units at paper size, projection.

Generates N JPEGs of ImageNet's typical size (500x375 or 375x500, quality 90), then measures
side by side, in one run, on one device:

* ``dump_activations`` of a random-init ResNet-50 and ViT-B/16 (the paper's architectures)
  from the JPEGs, and from a pixel cache (``vitconcepts.pixels``) built once for both;
  the activations of the two paths are compared (identical on CPU; on CUDA too unless
  cuDNN picks nondeterministic kernels);
* ``soft_wpmi`` labeling of ``--label-layers`` layers of 768 units over ``--label-n``
  images x ``--concepts`` concepts (paper: 113,305 x 20,000, 12 layers), with the device
  memory plan and peak;
* optionally (``--bf16-n``) the effect of ``dump.autocast: bf16`` on the labels;

and prints the projection for the whole paper (13 target models: 10 ViTs, 3 ResNet-50s, and
the CLIP scorer's image pass, taken as one more ViT-B/16 pass from the JPEGs since its recipe
is its own; label_units per model = measured per-layer time x 12 layers).

    PYTHONPATH=src python benchmarks/bench_paper_scale.py --direct --n 512          # CPU
    PYTHONPATH=src python benchmarks/bench_paper_scale.py --direct --n 20000 \\
        --label-n 113305 --label-layers 3 --bf16-n 4096 --json out.json            # GPU

``--snakemake`` runs the real rules instead (two copies of the workflow on the generated
probe, ``pixel_cache: false`` and ``true``) and reads the per-rule wall times from
Snakemake's benchmark files. ``--direct`` needs only torch, timm, torchvision, netCDF4
(+ cftime), xarray, pandas, pillow, tqdm, psutil.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

PAPER_N = 113_305
PAPER_CONCEPTS = 20_000
PAPER_VITS, PAPER_CNNS = 10, 3
VIT_LAYERS, UNITS = 12, 768
RESNET50 = {"source": "timm", "weights": "resnet50", "arch": "cnn", "pretrained": False}
VIT_B16 = {"source": "timm", "weights": "vit_base_patch16_224", "arch": "vit", "pretrained": False}


# -- generated probe ------------------------------------------------------------------------
def _write_jpegs(args: tuple[str, int, int]) -> int:
    from PIL import Image

    folder, start, stop = args
    for i in range(start, stop):
        path = Path(folder) / f"img_{i:06d}.jpg"
        if path.exists():
            continue
        rng = np.random.default_rng(i)
        w, h = (500, 375) if i % 4 else (375, 500)
        # smooth colour field + texture: decodes like a photo (~100 KB at q90)
        small = rng.integers(0, 256, size=(h // 25 + 1, w // 25 + 1, 3), dtype=np.uint8)
        base = np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC), dtype=np.int16)
        noise = rng.normal(0, 12, size=(h, w, 1)).astype(np.int16)
        pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
        tmp = path.with_suffix(".tmp")
        Image.fromarray(pixels).save(tmp, format="JPEG", quality=90)
        os.replace(tmp, path)
    return stop - start


def generate_probe(work: Path, n: int, workers: int) -> Path:
    """``n`` JPEGs in ``work/images/synthetic/`` and a probe index; returns index.csv."""
    import pandas as pd

    from vitconcepts.provenance import sha256_json

    folder = work / "images" / "synthetic"
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    step = 256
    jobs = [(str(folder), s, min(n, s + step)) for s in range(0, n, step)]
    with ProcessPoolExecutor(max(1, workers)) as pool:
        list(pool.map(_write_jpegs, jobs))
    paths = [str(folder / f"img_{i:06d}.jpg") for i in range(n)]
    size = sum(os.path.getsize(p) for p in paths[: min(n, 200)]) / min(n, 200)
    took = time.perf_counter() - t0
    print(f"probe: {n} JPEGs ({size / 1e3:.0f} KB each on average) in {took:.1f} s", flush=True)
    probe = work / "probe"
    probe.mkdir(parents=True, exist_ok=True)
    ids = [f"synthetic/{Path(p).name}" for p in paths]
    pd.DataFrame({"sample": range(n), "sample_id": ids, "path": paths, "part": "synthetic"}).to_csv(
        probe / "index.csv", index=False
    )
    (probe / "index.json").write_text(
        json.dumps({"probe": "bench", "n": n, "sha256": sha256_json([ids, n])})
    )
    return probe / "index.csv"


# -- direct mode ----------------------------------------------------------------------------
def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(label: str, fn, device, results: dict) -> object:
    _sync(device)
    t0 = time.perf_counter()
    value = fn()
    _sync(device)
    results[label] = time.perf_counter() - t0
    print(f"  {label:<28s} {results[label]:8.2f} s", flush=True)
    return value


def _max_diff(a: Path, b: Path) -> float:
    import xarray as xr

    from vitconcepts.formats import read_layer

    with xr.open_dataset(a) as x, xr.open_dataset(b) as y:
        return max(
            float(np.max(np.abs(read_layer(x, i) - read_layer(y, i))))
            for i in range(x.sizes["layer"])
        )


def bench_dumps(index_csv: Path, work: Path, args, device, results: dict) -> dict:
    """JPEG vs pixel-cache dumps of ResNet-50 and ViT-B/16, side by side."""
    import torch

    from vitconcepts.activations import dump_activations
    from vitconcepts.models import resolve_model_spec
    from vitconcepts.pixels import build_pixel_cache, paper_recipe

    options = {
        "dtype": "float16",
        "batch_size": args.batch_size,
        "shard_size": 1024,
        "num_workers": args.workers,
        "device": str(device),
        "complevel": args.complevel,
    }
    recipe = paper_recipe(224)
    pixels = work / "probe" / f"pixels_{recipe.key}.nc"
    for path in (pixels, *work.glob("acts_*.nc")):
        path.unlink(missing_ok=True)
    torch.backends.cudnn.benchmark = False
    print(
        f"decode-once, {args.n} images, batch {args.batch_size}, {args.workers} workers, "
        f"activation files at complevel {args.complevel}:"
    )
    _timed(
        "cache_pixels",
        lambda: build_pixel_cache(index_csv, recipe, pixels, num_workers=args.workers),
        device,
        results,
    )
    diffs = {}
    for name, entry in (("resnet50", RESNET50), ("vit_b16", VIT_B16)):
        spec = resolve_model_spec(name, entry)
        a, b = work / f"acts_{name}_jpeg.nc", work / f"acts_{name}_pixels.nc"
        for out, kw, source in ((a, {}, "JPEGs"), (b, {"pixels": pixels}, "pixels")):
            _timed(
                f"dump {name} from {source}",
                lambda s=spec, o=out, k=kw: dump_activations(s, index_csv, None, o, **options, **k),
                device,
                results,
            )
        diffs[name] = _max_diff(a, b)
        print(f"  {name}: max |JPEG - pixel cache| activation difference {diffs[name]:.3g}")
    results["max_abs_diff"] = diffs
    for name in ("resnet50", "vit_b16"):
        for source in ("JPEGs", "pixels"):
            rate = args.n / results[f"dump {name} from {source}"]
            print(f"  {name} from {source}: {rate:8.0f} images/s (incl. model set-up)")
    bench_writer(work, results, complevel=1)
    bench_writer(work, results, complevel=0)
    results["pixel_cache_bytes"] = pixels.stat().st_size
    return results


def bench_writer(work: Path, results: dict, shards: int = 3, complevel: int = 1) -> None:
    """The activation writer alone: 1024-image shards of a ViT-B/16 (12 x 768, float16).

    It runs in a thread beside the model; when it is slower than the model it bounds a pass.
    """
    from vitconcepts.ncstream import ShardedNetCDFWriter

    shard = 1024
    n = shard * shards
    path = work / "writer_probe.nc"
    path.unlink(missing_ok=True)
    rng = np.random.default_rng(0)
    block = rng.standard_normal((VIT_LAYERS, UNITS, shard)).astype(np.float16).astype(np.float32)
    writer = ShardedNetCDFWriter(
        path,
        dims={"layer": VIT_LAYERS, "unit": UNITS, "sample": n},
        coords={"sample": (("sample",), np.arange(n))},
        variables={"activations": (("layer", "unit", "sample"), "float16", (1, UNITS, shard))},
        stream_dim="sample",
        fingerprint="bench",
        complevel=complevel,
    )
    t0 = time.perf_counter()
    with writer:
        for i in range(shards):
            writer.write("activations", i * shard, block)
            writer.mark_done((i + 1) * shard)
        writer.finalize({})
    rate = n / (time.perf_counter() - t0)
    results[f"writer_images_per_s_vit_complevel{complevel}"] = rate
    print(
        f"  activation writer alone (ViT-B/16, 12 x 768, float16, complevel {complevel}): "
        f"{rate:8.0f} images/s"
    )
    path.unlink(missing_ok=True)


def bench_labels(args, device, results: dict) -> None:
    """soft_wpmi at (a fraction of) paper size on random embeddings/activations."""
    import torch

    from vitconcepts.labeling import (
        EmbeddingSimilarity,
        log_memory_plan,
        soft_wpmi,
        top_image_indices,
    )

    n, c, dim = args.label_n, args.concepts, 512
    gen = torch.Generator(device="cpu").manual_seed(0)
    image = torch.nn.functional.normalize(torch.randn(n, dim, generator=gen), dim=1).to(device)
    concept = torch.nn.functional.normalize(torch.randn(c, dim, generator=gen), dim=1).to(device)
    sim = EmbeddingSimilarity(image, concept)
    plan = log_memory_plan(device, n, c, UNITS, dim)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for layer in range(args.label_layers):
        acts = torch.randn(n, UNITS, generator=gen).to(device)
        _sync(device)
        t0 = time.perf_counter()
        scores = soft_wpmi(sim, acts, top_k=100, a=10, lam=1, device=device)
        torch.topk(scores, k=10, dim=1)
        top_image_indices(acts, 5)
        _sync(device)
        times.append(time.perf_counter() - t0)
        print(f"  label layer {layer}: {n} x {c} x {UNITS} in {times[-1]:.2f} s", flush=True)
        del scores, acts
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    per_layer = float(np.median(times))
    results["label"] = {
        "images": n,
        "concepts": c,
        "units_per_layer": UNITS,
        "layers_timed": args.label_layers,
        "seconds_per_layer": per_layer,
        "seconds_per_model_12_layers": per_layer * VIT_LAYERS,
        "paper_scale_factor": (PAPER_N / n) * (PAPER_CONCEPTS / c),
        "memory_plan_bytes": plan,
        "cuda_peak_bytes": peak,
    }
    peak_text = f", device peak {peak / 1e9:.2f} GB" if peak else ""
    print(
        f"label_units: {per_layer:.2f} s per 768-unit layer (median of {len(times)}), "
        f"{per_layer * VIT_LAYERS:.1f} s per 12-layer model{peak_text}",
        flush=True,
    )


def bench_bf16(index_csv: Path, work: Path, args, device, results: dict) -> None:
    """Labels of ViT-B/16 (random init) with float32 vs bf16 autocast activations."""
    import pandas as pd
    import torch

    from vitconcepts.activations import dump_activations
    from vitconcepts.formats import read_layer
    from vitconcepts.labeling import EmbeddingSimilarity, soft_wpmi
    from vitconcepts.models import resolve_model_spec
    from vitconcepts.pixels import paper_recipe

    n = min(args.bf16_n, args.n)
    index = pd.read_csv(index_csv).iloc[:n]
    small = work / "probe_bf16" / "index.csv"
    small.parent.mkdir(exist_ok=True)
    index.to_csv(small, index=False)
    (small.parent / "index.json").write_text((index_csv.parent / "index.json").read_text())
    spec = resolve_model_spec("vit_b16", VIT_B16)
    options = {
        "dtype": "float32",
        "batch_size": args.batch_size,
        "num_workers": args.workers,
        "complevel": args.complevel,
    }
    pixels = work / "probe" / f"pixels_{paper_recipe(224).key}.nc"
    use_pixels = pixels.exists() and n == args.n
    kw = {"pixels": pixels} if use_pixels else {}
    out = {}
    for mode in ("none", "bf16"):
        path = work / f"acts_bf16check_{mode}.nc"
        path.unlink(missing_ok=True)
        _timed(
            f"dump vit_b16 autocast={mode}",
            lambda p=path, m=mode: dump_activations(
                spec, small, None, p, device=str(device), autocast=m, **options, **kw
            ),
            device,
            results,
        )
        out[mode] = path
    gen = torch.Generator().manual_seed(1)
    c = min(args.concepts, 20000)
    sim = EmbeddingSimilarity(
        torch.nn.functional.normalize(torch.randn(n, 512, generator=gen), dim=1).to(device),
        torch.nn.functional.normalize(torch.randn(c, 512, generator=gen), dim=1).to(device),
    )
    same, total, top1_images = 0, 0, 0
    rel = []
    import xarray as xr

    with xr.open_dataset(out["none"]) as a, xr.open_dataset(out["bf16"]) as b:
        for i in range(a.sizes["layer"]):
            x, y = read_layer(a, i), read_layer(b, i)
            rel.append(float(np.abs(x - y).max() / (np.abs(x).max() + 1e-12)))
            tx, ty = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
            k = min(100, n)
            lx = soft_wpmi(sim, tx, top_k=k, device=device).argmax(1)
            ly = soft_wpmi(sim, ty, top_k=k, device=device).argmax(1)
            same += int((lx == ly).sum())
            total += len(lx)
            top1_images += int((tx.argmax(0) == ty.argmax(0)).sum())
    results["bf16"] = {
        "images": n,
        "concepts": c,
        "units": total,
        "top1_concept_unchanged": same / total,
        "top1_image_unchanged": top1_images / total,
        "max_rel_activation_change_per_layer": rel,
        "speedup": results["dump vit_b16 autocast=none"] / results["dump vit_b16 autocast=bf16"],
    }
    print(
        f"bf16 autocast (random-init ViT-B/16, {n} images, {c} concepts): top-1 concept "
        f"unchanged for {same}/{total} units ({100 * same / total:.1f} %), top-1 image unchanged "
        f"for {100 * top1_images / total:.1f} %; dump {results['bf16']['speedup']:.2f}x faster",
        flush=True,
    )


def project(results: dict, n: int) -> dict:
    """Whole-paper projection (113,305 images; 10 ViT + 3 ResNet-50 passes + CLIP images)."""
    scale = PAPER_N / n
    vit_j, vit_p = results["dump vit_b16 from JPEGs"], results["dump vit_b16 from pixels"]
    cnn_j, cnn_p = results["dump resnet50 from JPEGs"], results["dump resnet50 from pixels"]
    cache = results["cache_pixels"]
    passes = PAPER_VITS + PAPER_CNNS
    jpeg_dumps = (PAPER_VITS * vit_j + PAPER_CNNS * cnn_j + vit_j) * scale
    cached_dumps = (cache + PAPER_VITS * vit_p + PAPER_CNNS * cnn_p + vit_j) * scale
    label = results.get("label")
    label_total = 0.0
    if label:
        per_model = label["seconds_per_model_12_layers"] * label["paper_scale_factor"]
        label_total = per_model * passes
    proj = {
        "scale_images": scale,
        "dumps_from_jpegs_s": jpeg_dumps,
        "dumps_with_pixel_cache_s": cached_dumps,
        "label_units_s": label_total,
        "total_from_jpegs_s": jpeg_dumps + label_total,
        "total_with_pixel_cache_s": cached_dumps + label_total,
        "speedup_per_pass": {"resnet50": cnn_j / cnn_p, "vit_b16": vit_j / vit_p},
        "speedup_amortised_13_passes": {
            "resnet50": passes * cnn_j / (cache + passes * cnn_p),
            "vit_b16": passes * vit_j / (cache + passes * vit_p),
        },
        "speedup_dumps_paper": jpeg_dumps / cached_dumps,
    }
    return proj


def print_summary(results: dict, proj: dict) -> None:
    print("\n== decode-once speed-up (side by side, same run) ==")
    for name in ("resnet50", "vit_b16"):
        print(
            f"  {name:<9s} one pass: {proj['speedup_per_pass'][name]:.2f}x   "
            f"13 passes incl. cache build: {proj['speedup_amortised_13_passes'][name]:.2f}x"
        )
    print(f"  all paper dumps (10 ViT + 3 CNN + CLIP): {proj['speedup_dumps_paper']:.2f}x")
    print(f"\n== projection for the whole paper ({PAPER_N} images, x{proj['scale_images']:.1f}) ==")
    print(f"  dumps from JPEGs        {proj['dumps_from_jpegs_s'] / 60:8.1f} min")
    print(f"  dumps with pixel cache  {proj['dumps_with_pixel_cache_s'] / 60:8.1f} min")
    print(f"  label_units, 13 models  {proj['label_units_s'] / 60:8.1f} min")
    print(f"  total from JPEGs        {proj['total_from_jpegs_s'] / 60:8.1f} min")
    print(f"  total with pixel cache  {proj['total_with_pixel_cache_s'] / 60:8.1f} min")


def device_name(device) -> str:
    import platform

    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def run_direct(args) -> dict:
    import torch

    from vitconcepts.device import resolve_device

    device = resolve_device(args.device)
    print(f"device: {device_name(device)}; torch {torch.__version__}", flush=True)
    work = Path(args.workdir)
    index_csv = generate_probe(work, args.n, args.gen_workers)
    results: dict = {"device": device_name(device), "n": args.n, "mode": "direct"}
    bench_dumps(index_csv, work, args, device, results)
    if args.label_layers > 0:
        bench_labels(args, device, results)
    proj = project(results, args.n)
    results["projection"] = proj
    print_summary(results, proj)
    if args.bf16_n > 0:
        bench_bf16(index_csv, work, args, device, results)
    return results


# -- snakemake mode -------------------------------------------------------------------------
def _bench_seconds(work: Path, rule: str) -> dict[str, float]:
    import pandas as pd

    found = {}
    for tsv in sorted((work / "results" / "benchmarks" / rule).rglob("*.tsv")):
        found[tsv.stem] = float(pd.read_csv(tsv, sep="\t")["s"].iloc[0])
    return found


def run_snakemake_mode(args) -> dict:
    """The real rules: two copies of the workflow (pixel_cache false / true) on the probe."""
    import yaml

    sys.path.insert(0, str(ROOT / "tests"))
    from workflow_copy import copy_workflow, run_snakemake

    work = Path(args.workdir)
    index_csv = generate_probe(work, args.n, args.gen_workers)
    images = index_csv.parent.parent / "images"
    config = yaml.safe_load((ROOT / ".test" / "config.yaml").read_text())
    config["probes"] = {"bench": {"parts": [{"kind": "image_folder", "path": str(images)}]}}
    config["probe"] = "bench"
    config["models"] = {
        "resnet50": {**RESNET50, "seed": 0},
        "vit_b16": {**VIT_B16, "seed": 0},
    }
    config["analysis"] = {
        "vits": ["vit_b16"],
        "cnn": "resnet50",
        "example_units": {"model": "vit_b16", "layers": [0, 11], "units_per_layer": 2},
    }
    config["dump"] = {
        "dtype": "float16",
        "batch_size": args.batch_size,
        "shard_size": 1024,
        "num_workers": args.workers,
        "device": args.device,
        "complevel": args.complevel,
    }
    targets = [f"results/activations/bench/{m}.nc" for m in config["models"]]
    results: dict = {"mode": "snakemake", "n": args.n, "device": args.device}
    cores = str(os.cpu_count() or 2)
    for mode in ("false", "true"):
        wf = copy_workflow(work / f"workflow_{mode}")
        config["pixel_cache"] = mode == "true"
        (wf / "bench_config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        t0 = time.perf_counter()
        run_snakemake(
            wf,
            "--configfile",
            "bench_config.yaml",
            "--cores",
            cores,
            *targets,
            log_name="bench.out",
            timeout=24 * 3600,
        )
        results[f"workflow pixel_cache={mode} wall"] = time.perf_counter() - t0
        for rule in ("prepare_probe", "cache_pixels", "dump_activations"):
            for key, seconds in _bench_seconds(wf, rule).items():
                print(f"  pixel_cache={mode:<5s} {rule:<16s} {key:<28s} {seconds:8.2f} s")
                if rule == "dump_activations":
                    source = "pixels" if mode == "true" else "JPEGs"
                    results[f"dump {key} from {source}"] = seconds
                elif rule == "cache_pixels":
                    results["cache_pixels"] = seconds
    proj = project(results, args.n)
    results["projection"] = proj
    print_summary(results, proj)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--direct", action="store_true", help="call the library (default)")
    mode.add_argument("--snakemake", action="store_true", help="run the real rules")
    parser.add_argument("--n", type=int, default=None, help="images (CPU 512, CUDA 20000)")
    parser.add_argument("--workdir", default="/tmp/vitconcepts_bench")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=None, help="CPU 32, CUDA 256")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--gen-workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--label-n", type=int, default=None, help="CPU: --n; CUDA 113305")
    parser.add_argument("--concepts", type=int, default=None, help="CPU 2000; CUDA 20000")
    parser.add_argument("--label-layers", type=int, default=None, help="CPU 1; CUDA 3")
    parser.add_argument("--bf16-n", type=int, default=0, help="images for the bf16 check")
    parser.add_argument("--complevel", type=int, default=1, help="dump.complevel (zlib)")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)

    import torch

    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if args.device == "cuda" and not torch.cuda.is_available():
        print("--device cuda but CUDA is not available", file=sys.stderr)
        return 2
    args.n = args.n or (20_000 if cuda else 512)
    args.batch_size = args.batch_size or (256 if cuda else 32)
    args.label_n = args.label_n or (PAPER_N if cuda else args.n)
    args.concepts = args.concepts or (PAPER_CONCEPTS if cuda else 2000)
    args.label_layers = 3 if cuda and args.label_layers is None else (args.label_layers or 1)
    if not cuda:
        print("CUDA is not available: running on the CPU at a reduced size", flush=True)
    t0 = time.perf_counter()
    results = run_snakemake_mode(args) if args.snakemake else run_direct(args)
    results["wall_s"] = time.perf_counter() - t0
    results["args"] = vars(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=float))
        print(f"results: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
