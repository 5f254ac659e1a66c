"""Constants shared across stages, written once (timm keeps its mean/std in one module too).

Only plain Python values live here: importing this module pulls in nothing outside the
standard library.
"""

from __future__ import annotations

from pathlib import Path

#: The config schema of the checkout (absent when the package is installed elsewhere).
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "config.schema.yaml"

#: ImageNet normalisation (torchvision / timm): the paper's preprocessing for every model.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

#: Stamped on every output, figure and the PDF when a CLIP scorer runs with random weights.
RANDOM_SCORER_NOTE = "random CLIP scorer: labels are not meaningful"

#: Where a target model's network comes from (``models.<key>.source``).
MODEL_SOURCES: tuple[str, ...] = ("timm", "transformers")
