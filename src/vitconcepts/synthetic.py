"""A deterministic synthetic probe set: coloured patterns drawn with PIL.

Used by the tiny offline config (``.test/config.yaml``) so the whole pipeline runs without
any download. Images fall into pattern classes (solid colour, stripes, checkerboard, disc,
noise) laid out as ImageFolder class folders, so the probe index orders them like any other
image folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

PALETTE = {
    "red": (220, 30, 30),
    "green": (30, 170, 60),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 40),
    "purple": (140, 40, 170),
    "orange": (245, 140, 20),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
}
PATTERNS = ("solid", "stripes", "checkerboard", "disc", "noise")


def _draw(pattern: str, fg: tuple, bg: tuple, size: int, rng: np.random.Generator) -> Image.Image:
    image = Image.new("RGB", (size, size), bg)
    draw = ImageDraw.Draw(image)
    if pattern == "solid":
        image.paste(fg, (0, 0, size, size))
    elif pattern == "stripes":
        width = int(rng.integers(2, max(3, size // 4)))
        for x in range(0, size, 2 * width):
            draw.rectangle((x, 0, x + width - 1, size), fill=fg)
    elif pattern == "checkerboard":
        cell = int(rng.integers(2, max(3, size // 4)))
        for y in range(0, size, cell):
            for x in range(0, size, cell):
                if (x // cell + y // cell) % 2 == 0:
                    draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=fg)
    elif pattern == "disc":
        radius = int(rng.integers(size // 6, size // 2))
        cx, cy = (int(v) for v in rng.integers(radius // 2, size - radius // 2, size=2))
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=fg)
    elif pattern == "noise":
        base = np.array(fg, dtype=np.float32)
        noise = rng.normal(0, 60, size=(size, size, 3))
        image = Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))
    else:  # pragma: no cover - PATTERNS is closed
        raise ValueError(pattern)
    return image


def make_synthetic_images(out_dir: str | Path, n: int = 64, size: int = 32, seed: int = 0) -> Path:
    """Write ``n`` PNG images of ``size``×``size`` pixels under ``out_dir/<pattern>/``.

    The same (n, size, seed) always gives byte-identical files. Returns ``out_dir``.
    """
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    colours = list(PALETTE)
    for i in range(n):
        pattern = PATTERNS[i % len(PATTERNS)]
        fg_name = colours[int(rng.integers(len(colours)))]
        bg_name = colours[int(rng.integers(len(colours)))]
        image = _draw(pattern, PALETTE[fg_name], PALETTE[bg_name], size, rng)
        folder = out / pattern
        folder.mkdir(parents=True, exist_ok=True)
        image.save(folder / f"{i:05d}_{fg_name}_on_{bg_name}.png", optimize=False)
    return out
