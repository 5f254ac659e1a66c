"""Project the device-hours of the full paper run from short measurements on this machine.

Measures, on whatever device ``--device`` picks (``auto``: CUDA when present), the real
library code at the paper's sizes with randomly initialised weights (same compute as the
real checkpoints):

* ``dump_activations`` for a ViT-B/16 and a ResNet-50 at 224 px over ``--images`` images;
* ``embed_images`` for CLIP ViT-B-16 over the same images, and ``embed_concepts`` over
  ``--concepts`` words;
* ``soft_wpmi`` for one 768-unit layer against 20,000 concepts over ``--label-images`` images;
* ``linear_explanations`` (Linear Explanations, rule explain_units) for one 768-unit layer
  against 20,000 concepts over ``--le-images`` images: its cost grows with images x concepts
  x units (dense matmuls over the training images), so it is scaled linearly in the images
  to the paper's probe and in the units to every labelled unit.

and scales each linearly to the paper: 113,305 probe images (ImageNet val 50,000 + Broden
63,305), 13 models (9 ViT-B + 4 ResNet-50), 20,000 concepts, 9,216 ViT units / 3,904 ResNet
units a model, plus the five random-init controls of config.yaml (``vit_random``,
``dinov2_random``, ``clip_random``, ``mae_random``: ViT-B; ``resnet_random``: ResNet-50), each
dumped and labelled like its model (the paper's units only), shown on rows of their own.
Image decoding is included (the images are 500×375 JPEGs, ImageNet's typical size). Prints a
table and the projected total in hours, labelled as a projection.

Usage: ``.venv/bin/python benchmarks/bench_paper_cost.py [--images 64] [--device auto]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

PAPER_IMAGES = 113_305
PAPER_CONCEPTS = 20_000
VIT_MODELS, RESNET_MODELS = 9, 4
VIT_CONTROLS, RESNET_CONTROLS = 4, 1  # models.<key>.random_init + control_of in config.yaml
VIT_LAYERS, VIT_UNITS = 12, 768
RESNET_UNITS = 64 + 256 + 512 + 1024 + 2048


def make_probe(folder: Path, n: int) -> Path:
    from PIL import Image

    from vitconcepts.probe import build_probe_index

    rng = np.random.default_rng(0)
    images = folder / "images" / "class"
    images.mkdir(parents=True)
    for i in range(n):
        pixels = rng.integers(0, 256, size=(375, 500, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(images / f"{i:05d}.jpg", quality=90)
    index = folder / "index.csv"
    build_probe_index(
        "bench",
        [{"kind": "image_folder", "path": str(folder / "images")}],
        index,
        folder / "index.json",
        folder / "work",
    )
    return index


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def linear_row(n_images: int, units: int, device: str) -> tuple[str, float, str, float]:
    """Linear Explanations of one ViT layer over ``n_images``, projected to the paper."""
    import torch

    from vitconcepts.labeling import EmbeddingSimilarity, linear_explanations

    generator = torch.Generator().manual_seed(0)
    image = torch.nn.functional.normalize(torch.randn(n_images, 512, generator=generator), dim=1)
    text = torch.nn.functional.normalize(
        torch.randn(PAPER_CONCEPTS, 512, generator=generator), dim=1
    )
    activations = torch.randn(n_images, VIT_UNITS, generator=generator)
    similarity = EmbeddingSimilarity(image.to(device), text.to(device))
    seconds = timed(lambda: linear_explanations(similarity, activations, device=device))
    per_unit = seconds / VIT_UNITS * PAPER_IMAGES / n_images  # at the paper's probe size
    return ("explain_units (LE, projected)", per_unit * 1000, "s / 1000 units", per_unit * units)


def control_rows(dump_per_image: dict[str, float], label_per_unit: float) -> list[tuple]:
    """The controls' rows: their dumps (``{arch: s / image}``) and labeling at paper size."""
    dump = dump_per_image["vit"] * VIT_CONTROLS + dump_per_image["cnn"] * RESNET_CONTROLS
    units = VIT_CONTROLS * VIT_LAYERS * VIT_UNITS + RESNET_CONTROLS * RESNET_UNITS
    name = f"{VIT_CONTROLS + RESNET_CONTROLS} controls"  # 4 ViT-B + 1 ResNet-50
    return [
        (f"dump_activations {name}", dump * 1000, "s / 1000 img", dump * PAPER_IMAGES),
        (f"label_units {name}", label_per_unit * 1000, "s / 1000 units", label_per_unit * units),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--concepts", type=int, default=1000)
    parser.add_argument("--label-images", type=int, default=20_000)
    parser.add_argument("--le-images", type=int, default=2_000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    import torch

    from vitconcepts.activations import dump_activations
    from vitconcepts.clip import download_clip, embed_concepts, embed_images
    from vitconcepts.device import resolve_device
    from vitconcepts.labeling import soft_wpmi
    from vitconcepts.models import resolve_model_spec

    device = resolve_device(args.device)
    work = Path(tempfile.mkdtemp(prefix="paper_cost_"))
    index = make_probe(work / "probe", args.images)
    rows, dump_per_image = [], {}

    for name, entry, count in (
        (
            "dump_activations ViT-B/16",
            {
                "source": "timm",
                "weights": "vit_base_patch16_224",
                "arch": "vit",
                "pretrained": False,
            },
            VIT_MODELS,
        ),
        (
            "dump_activations ResNet-50",
            {"source": "timm", "weights": "resnet50", "arch": "cnn", "pretrained": False},
            RESNET_MODELS,
        ),
    ):
        spec = resolve_model_spec(name.split()[-1].replace("/", ""), entry)
        out = work / f"{spec.key}.nc"
        seconds = timed(
            lambda spec=spec, out=out: dump_activations(
                spec,
                index,
                None,
                out,
                dtype="float16",
                batch_size=args.batch_size,
                shard_size=args.batch_size * 4,
                num_workers=2,
                device=device,
            )
        )
        per_image = seconds / args.images
        dump_per_image[entry["arch"]] = per_image
        rows.append((name, per_image * 1000, "s / 1000 img", per_image * PAPER_IMAGES * count))

    clip_entry = {"arch": "ViT-B-16", "pretrained": False, "seed": 0}
    clip_manifest = download_clip("bench", clip_entry, work / "clip")  # random init: no files
    seconds = timed(
        lambda: embed_images(
            clip_entry,
            clip_manifest,
            index,
            work / "clip.nc",
            batch_size=args.batch_size,
            device=device,
        )
    )
    rows.append(
        (
            "embed_images CLIP ViT-B-16",
            seconds / args.images * 1000,
            "s / 1000 img",
            seconds / args.images * PAPER_IMAGES,
        )
    )
    concepts = work / "concepts.txt"
    from vitconcepts.concepts import wordfreq_concepts

    concepts.write_text("\n".join(wordfreq_concepts(args.concepts, "en", 2)) + "\n")
    seconds = timed(
        lambda: embed_concepts(
            clip_entry, clip_manifest, concepts, work / "text.nc", batch_size=256, device=device
        )
    )
    rows.append(
        (
            "embed_concepts CLIP ViT-B-16",
            seconds / args.concepts * 1000,
            "s / 1000 concepts",
            seconds / args.concepts * PAPER_CONCEPTS,
        )
    )

    generator = torch.Generator().manual_seed(0)
    similarity = torch.rand(args.label_images, PAPER_CONCEPTS, generator=generator) * 0.4
    activations = torch.randn(args.label_images, VIT_UNITS, generator=generator)
    seconds = timed(lambda: soft_wpmi(similarity, activations, device=device))
    # soft_wpmi's cost is set by units x top_k x concepts, not by the number of images.
    per_unit = seconds / VIT_UNITS
    units = VIT_MODELS * VIT_LAYERS * VIT_UNITS + RESNET_MODELS * RESNET_UNITS
    rows.append(("label_units soft_wpmi", per_unit * 1000, "s / 1000 units", per_unit * units))
    rows.append(linear_row(args.le_images, units, device))
    rows += control_rows(dump_per_image, per_unit)

    print(
        f"device: {device} ({torch.cuda.get_device_name() if device == 'cuda' else 'CPU'},"
        f" {torch.get_num_threads()} threads); projection to the full paper, not a full run"
    )
    print(f"{'step':32s} {'measured':>12s} {'unit':18s} {'projected hours':>16s}")
    for name, value, unit, total in rows:
        print(f"{name:32s} {value:12.2f} {unit:18s} {total / 3600:16.2f}")
    total = sum(row[3] for row in rows) / 3600
    print(f"{'total (projection)':32s} {'':12s} {'':18s} {total:16.2f}")


if __name__ == "__main__":
    main()
