"""Benchmark: each documented deviation from the authors against the noise floor of the labels.

The floor is how many labels change when the probe images themselves are resampled
(bootstrap with replacement, ``vitconcepts.reliability.label_reliability``: 1 - mean
stability). Beside it, the share of labels that change under

* ``float16 storage``: activations rounded to float16 (``dump.dtype: float16``);
* ``float16 CLIP scorer``: image and concept embeddings rounded to float16 before they are
  normalised and scored (``clip_embedding.dtype: float16``, the authors' CUDA scorer);
* ``MAE noise seed``: a small ViTMAE (transformers, random weights, 75 % masking) dumped
  twice through ``vitconcepts.models.ActivationExtractor`` with two per-image noise seeds
  (ours is seeded per probe image, the authors' was not);
* ``bf16 autocast``: the same MAE under ``torch.autocast(bfloat16)`` (``dump.autocast: bf16``);
* on a GPU only, ``TF32 matmuls`` for the MAE forward, with the dump speed-up they give.

Simulated activations as in ``bench_float16_labels.py`` (the ``offset`` scenario: CLIP-like
embeddings of latent factors, units mixing the same factors with per-unit scale and offset);
the MAE sees images drawn from the same factors, so its units relate to the concepts as real
units do. Every labeling is soft-WPMI with the paper's parameters. Not part of the test suite::

    .venv/bin/python benchmarks/bench_label_noise_floor.py  # 16.5 min, shared busy 2-core CPU
    .venv/bin/python benchmarks/bench_label_noise_floor.py --images 2000 --concepts 500  # 4 min
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import torch
from bench_float16_labels import PAPER_PARAMS, make_clip, make_units

MAE_CONFIG = {
    "model_type": "vit_mae",
    "image_size": 32,
    "patch_size": 4,
    "num_channels": 3,
    "hidden_size": 192,
    "num_hidden_layers": 4,
    "num_attention_heads": 3,
    "intermediate_size": 768,
    "decoder_hidden_size": 32,
    "decoder_num_hidden_layers": 1,
    "decoder_num_attention_heads": 2,
    "decoder_intermediate_size": 64,
}


def best_concepts(similarity, acts: torch.Tensor) -> torch.Tensor:
    from vitconcepts.labeling import soft_wpmi

    return soft_wpmi(similarity, acts, **PAPER_PARAMS, device="cpu").argmax(dim=1)


def changed(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a != b).float().mean())


def floor(similarity, acts: torch.Tensor, n_boot: int) -> float:
    """Share of labels that change under a bootstrap resample of the probe (mean over
    ``n_boot`` resamples)."""
    from vitconcepts.reliability import label_reliability

    frame = label_reliability(
        similarity, acts, params=PAPER_PARAMS, n_null=1, n_boot=n_boot, seed=0, device="cpu"
    )
    return float(1.0 - frame["stability"].mean())


def mae_images(z: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """[images, 3, 32, 32] pictures of the latent factors: smooth random patterns mixed by
    each image's factor loadings, plus pixel noise."""
    n_factors = z.shape[1]
    coarse = torch.randn(n_factors, 3, 8, 8, generator=g)
    patterns = torch.nn.functional.interpolate(coarse, size=32, mode="bilinear")
    images = torch.einsum("nf,fchw->nchw", z, patterns)
    images = images + 0.3 * torch.randn(images.shape, generator=g)
    return (images - images.mean()) / images.std()


def mae_dump(images, seed: int, autocast: str = "none", batch: int = 500) -> list[torch.Tensor]:
    """CLS units of every block of the small ViTMAE (weights seeded 0; mask noise ``seed``)."""
    from vitconcepts.models import ActivationExtractor, load_model, resolve_model_spec

    entry = {
        "source": "transformers",
        "weights": "tiny-vit-mae",
        "arch": "vit",
        "pretrained": False,
        "hf_config": MAE_CONFIG,
        "input_size": 32,
        "mask_ratio": 0.75,
        "seed": 0,
    }
    spec = resolve_model_spec("mae", entry)
    device = images.device
    model = load_model(spec).to(device)
    extractor = ActivationExtractor(model, replace(spec, seed=seed))
    out: dict[str, list[torch.Tensor]] = {}
    for start in range(0, len(images), batch):
        samples = torch.arange(start, min(start + batch, len(images)))
        with torch.autocast(device.type, torch.bfloat16, enabled=autocast == "bf16"):
            layers = extractor(images[samples], samples)
        for layer, acts in layers.items():
            out.setdefault(layer, []).append(acts.float().cpu())
    extractor.remove()
    return [torch.cat(parts) for parts in out.values()]


def mae_rates(similarity, base: list[torch.Tensor], other: list[torch.Tensor]) -> float:
    """Share of the MAE's labels (all blocks) that differ between two dumps."""
    n_changed = n_units = 0
    for a, b in zip(base, other, strict=True):
        n_changed += int((best_concepts(similarity, a) != best_concepts(similarity, b)).sum())
        n_units += a.shape[1]
    return n_changed / n_units


def tf32_rates(similarity, images, base_labels) -> dict[str, float] | str:
    if not torch.cuda.is_available():
        return "no GPU on this machine: TF32 not measured"
    gpu_images = images.cuda()
    times = {}
    dumps = {}
    for tf32 in (False, True):
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        mae_dump(gpu_images[:1000], seed=0)  # warm-up
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        dumps[tf32] = mae_dump(gpu_images, seed=0, batch=2000)
        torch.cuda.synchronize()
        times[tf32] = time.perf_counter() - t0
    torch.backends.cuda.matmul.allow_tf32 = False
    return {
        "labels_changed": mae_rates(similarity, dumps[False], dumps[True]),
        "gpu_vs_cpu_fp32_labels_changed": mae_rates(similarity, base_labels, dumps[False]),
        "dump_speedup": times[False] / times[True],
    }


def run(args: argparse.Namespace) -> dict:
    from vitconcepts.clip import round_embeddings
    from vitconcepts.labeling import EmbeddingSimilarity

    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(args.seed)
    z, image, texts = make_clip(args.images, args.concepts, args.factors, g)
    text = texts["factor"]
    similarity = EmbeddingSimilarity(image, text)
    acts = make_units(z, args.units, "offset", g)
    t0 = time.perf_counter()
    base = best_concepts(similarity, acts)
    one = time.perf_counter() - t0
    rates = {"simulated": {}, "mae": {}}
    sim = rates["simulated"]
    sim["bootstrap resample (floor)"] = floor(similarity, acts, args.boot)
    sim["float16 storage"] = changed(base, best_concepts(similarity, acts.half().float()))
    scorer16 = EmbeddingSimilarity(
        round_embeddings(image, "float16"), round_embeddings(text, "float16")
    )
    sim["float16 CLIP scorer"] = changed(base, best_concepts(scorer16, acts))
    images = mae_images(z, g)
    mae0 = mae_dump(images, seed=0)
    mae = rates["mae"]
    mae["bootstrap resample (floor)"] = sum(
        floor(similarity, a, args.boot) * a.shape[1] for a in mae0
    ) / sum(a.shape[1] for a in mae0)
    mae["another MAE noise seed"] = mae_rates(similarity, mae0, mae_dump(images, seed=1))
    mae["bf16 autocast"] = mae_rates(similarity, mae0, mae_dump(images, seed=0, autocast="bf16"))
    mae["float16 storage"] = mae_rates(similarity, mae0, [a.half().float() for a in mae0])
    mae["TF32 matmuls (GPU)"] = tf32_rates(similarity, images, mae0)
    return {
        "size": {
            "images": args.images,
            "concepts": args.concepts,
            "simulated_units": args.units,
            "mae_units": sum(a.shape[1] for a in mae0),
            "bootstrap_resamples": args.boot,
        },
        "one_labeling_s": round(one, 2),
        "share_of_labels_changed": rates,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--concepts", type=int, default=2000)
    parser.add_argument("--units", type=int, default=384)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--boot", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    t0 = time.perf_counter()
    result = run(args)
    result["total_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result, indent=2))
    print("\nshare of labels that change (floor = bootstrap resample of the probe):")
    for scenario, values in result["share_of_labels_changed"].items():
        for name, value in values.items():
            shown = f"{100 * value:5.1f} %" if isinstance(value, float) else value
            print(f"  {scenario:9s}  {name:28s}  {shown}")


if __name__ == "__main__":
    main()
