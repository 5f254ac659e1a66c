"""Benchmark: what storing activations as float16 costs the labels (share of units whose label
changes, and overlap of each unit's top-100 images), against float32 as the authors kept them.

``dump.dtype: float16`` rounds every stored activation to 11 significant bits. soft-WPMI
(the paper's method, ``vitconcepts.labeling.soft_wpmi`` with the paper's parameters top_k 100,
a 10, lam 1, p 0.998 -> 0.97) reads each unit's top-100 images *in rank order* and weights
them by rank, so rounding that creates ties or swaps neighbours can change the label.

Simulated at the size of one ViT-B layer on the paper's probe (768 units; 50,000 images and
20,000 concepts by default; the paper has 113,305 images): no real activations are
available offline, so the inputs are generated with the structure that matters here.

* Images are mixtures of ``--factors`` latent factors with heavy-tailed, sparse loadings.
* CLIP-like embeddings (512-d, L2-normalised): images and concepts are noisy projections of
  the same factors plus a modality offset, so image-concept cosine similarities sit around
  0.2 with a spread of a few hundredths, as CLIP ViT-B/16's do; concepts are sparse
  mixtures of 1-3 factors, so several concepts compete for each unit, as in a real concept set.
  ``random`` concepts (the other concept scenario) are random directions with the same
  similarity statistics, unrelated to the images: every concept is then nearly as good as
  the next for every unit, so labels hinge on small score differences (pessimistic bound).
* Unit activations: sparse mixtures of the same factors plus noise (correlated across units
  and with the images' content), heavy-tailed; each unit is then given its own scale sigma_u
  and offset mu_u. float16's rounding step is relative to |value|, so what matters is the
  ratio |mu_u| / sigma_u: the CLS token of early ViT blocks varies little across images
  around a large learned constant. Two scenarios bracket this: ``centred`` (mu_u = 0: only the
  relative spacing of the top activations matters) and ``offset`` (|mu_u| / sigma_u
  log-uniform in [0.1, 100], as from the first to the last block); ``large_offset``
  (log-uniform in [10, 1000], not run by default) shows how the cost grows when units vary
  very little around their offset.

float16 is simulated exactly as the pipeline stores it (``ncstream``: values rounded to
float16, read back as float32); both sides then run the same ``soft_wpmi`` on the same lazy
``EmbeddingSimilarity`` as the label_units rule. Not part of the test suite. Run::

    .venv/bin/python benchmarks/bench_float16_labels.py  # ~3 CPU-min; 11 min on a busy 2-core box
    .venv/bin/python benchmarks/bench_float16_labels.py --images 5000 --concepts 2000  # quick
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch

#: |mu_u| / sigma_u ranges (log-uniform) of the offset scenarios
OFFSET_RATIOS = {"offset": (0.1, 100.0), "large_offset": (10.0, 1000.0)}
PAPER_PARAMS = {"top_k": 100, "a": 10, "lam": 1, "p_start": 0.998, "p_end": 0.97, "min_prob": 1e-7}


def heavy(shape: tuple[int, ...], g: torch.Generator, power: float = 1.5) -> torch.Tensor:
    """Symmetric heavy-tailed noise: sign(x) |x|^power of a standard normal."""
    x = torch.randn(*shape, generator=g)
    return x.sign() * x.abs().pow(power)


def make_clip(n_images: int, n_concepts: int, n_factors: int, g: torch.Generator):
    """Latent image factors, CLIP-like image and concept embeddings (normalised, 512-d)."""
    dim = 512

    def unit(x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.normalize(x, dim=-1)

    z = heavy((n_images, n_factors), g) * (torch.rand(n_images, n_factors, generator=g) < 0.3)
    basis = unit(torch.randn(n_factors, dim, generator=g))
    shared, image_side, text_side = unit(torch.randn(3, dim, generator=g))  # modality gap
    image = (
        0.6 * unit(z @ basis)
        + 0.45 * shared
        + 0.6 * image_side
        + 0.4 * unit(torch.randn(n_images, dim, generator=g))
    )
    mix = torch.zeros(n_concepts, n_factors)
    for c in range(n_concepts):
        k = int(torch.randint(1, 4, (1,), generator=g))
        idx = torch.randperm(n_factors, generator=g)[:k]
        mix[c, idx] = torch.rand(k, generator=g) + 0.2
    text = (
        0.6 * unit(mix @ basis)
        + 0.45 * shared
        + 0.6 * text_side
        + 0.4 * unit(torch.randn(n_concepts, dim, generator=g))
    )
    random_text = (  # the same norms and offsets, no relation to the images' content
        0.6 * unit(torch.randn(n_concepts, dim, generator=g))
        + 0.45 * shared
        + 0.6 * text_side
        + 0.4 * unit(torch.randn(n_concepts, dim, generator=g))
    )
    return z, unit(image), {"factor": unit(text), "random": unit(random_text)}


def make_units(z: torch.Tensor, n_units: int, scenario: str, g: torch.Generator) -> torch.Tensor:
    """[images, units] activations: sparse factor mixtures + noise, per-unit scale/offset."""
    n_images, n_factors = z.shape
    loading = torch.randn(n_factors, n_units, generator=g) * (
        torch.rand(n_factors, n_units, generator=g) < 6 / n_factors
    )
    h = z @ loading + 0.5 * heavy((n_images, n_units), g)
    h = (h - h.mean(0)) / h.std(0).clamp_min(1e-6)
    sigma = torch.exp(torch.randn(n_units, generator=g))  # log-normal unit scales
    if scenario == "centred":
        mu = torch.zeros(n_units)
    else:
        low, high = OFFSET_RATIOS[scenario]
        ratio = torch.exp(torch.empty(n_units).uniform_(math.log(low), math.log(high), generator=g))
        mu = ratio * sigma * torch.where(torch.rand(n_units, generator=g) < 0.5, -1.0, 1.0)
    return mu + sigma * h


def compare(image, text, acts32: torch.Tensor) -> dict[str, float]:
    from vitconcepts.labeling import EmbeddingSimilarity, soft_wpmi, top_image_indices

    acts16 = acts32.half().float()  # what dump.dtype: float16 stores and read_layer returns
    similarity = EmbeddingSimilarity(image, text)
    t0 = time.perf_counter()
    scores32 = soft_wpmi(similarity, acts32, **PAPER_PARAMS)
    t1 = time.perf_counter()
    scores16 = soft_wpmi(similarity, acts16, **PAPER_PARAMS)
    labels32, labels16 = scores32.argmax(1), scores16.argmax(1)
    k = PAPER_PARAMS["top_k"]
    top32, top16 = top_image_indices(acts32, k), top_image_indices(acts16, k)
    overlap = torch.tensor(
        [len(set(a.tolist()) & set(b.tolist())) / k for a, b in zip(top32, top16, strict=True)]
    )
    order_changed = (top32 != top16).any(1).float().mean()
    sorted16 = acts16.gather(0, top16.T)  # [k, units] values of each unit's top-k
    ties = (sorted16[1:] == sorted16[:-1]).any(0).float().mean()
    # label changes counted only where the float32 label is not itself a near-tie
    top2 = scores32.topk(2, dim=1).values
    return {
        "label_changed": float((labels32 != labels16).float().mean()),
        "top100_overlap": float(overlap.mean()),
        "top100_overlap_min": float(overlap.min()),
        "top100_order_changed": float(order_changed),
        "units_with_ties_in_top100": float(ties),
        "median_label_margin_f32": float((top2[:, 0] - top2[:, 1]).median()),
        "soft_wpmi_seconds": t1 - t0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=768)
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--concepts", type=int, default=20_000)
    parser.add_argument("--factors", type=int, default=256)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--scenarios",
        nargs="+",
        choices=["centred", *OFFSET_RATIOS],
        default=["centred", "offset"],
    )
    parser.add_argument("--concept-kinds", nargs="+", default=["factor", "random"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"soft-WPMI {PAPER_PARAMS}; {args.units} units x {args.images} images x "
        f"{args.concepts} concepts; float32 vs float16-rounded activations"
    )
    results = []
    for seed in args.seeds:
        g = torch.Generator().manual_seed(seed)
        z, image, texts = make_clip(args.images, args.concepts, args.factors, g)
        for kind in args.concept_kinds:
            cos = image[:2000] @ texts[kind].T
            print(
                f"seed {seed}, {kind} concepts: image-concept cosine similarity mean "
                f"{cos.mean():.3f}, sd {cos.std():.3f}, "
                f"per-image max {cos.max(1).values.mean():.3f}"
            )
            for scenario in args.scenarios:
                acts = make_units(z, args.units, scenario, torch.Generator().manual_seed(seed + 1))
                row = {
                    "seed": seed,
                    "concepts": kind,
                    "scenario": scenario,
                    **compare(image, texts[kind], acts),
                }
                results.append(row)
                print(
                    f"  {scenario:8s} label changed float32->float16: {row['label_changed']:.1%}"
                    f" of units; mean top-100 overlap {row['top100_overlap']:.1%} "
                    f"(min {row['top100_overlap_min']:.0%}); top-100 order changed in "
                    f"{row['top100_order_changed']:.1%}; ties in top-100 "
                    f"{row['units_with_ties_in_top100']:.1%}  [{row['soft_wpmi_seconds']:.0f} s]",
                    flush=True,
                )
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
