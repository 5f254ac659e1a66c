"""Deterministic synthetic data: a probe set of coloured patterns drawn with PIL, and a small
Broden-format folder with planted annotations (:func:`make_synthetic_broden`).

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


# -- a Broden-format folder (NetDissect's broden1_224 layout) with planted annotations ----------
#: (number, label.csv name, category, synonyms) of the synthetic Broden: colours, objects, a
#: part, materials, scenes and textures; numbers above 255 need the mask's G channel, and
#: ``orange`` is both a colour and an object, as in Broden.
BRODEN_LABELS = (
    (1, "red-c", "color", ""),
    (2, "green-c", "color", ""),
    (3, "blue-c", "color", ""),
    (4, "orange-c", "color", ""),
    (10, "dog", "object", "domestic dog;Canis familiaris"),
    (11, "car", "object", "auto;automobile;machine;motorcar"),
    (12, "grass", "object", ""),
    (13, "orange", "object", ""),
    (20, "wheel", "part", ""),
    (300, "wood", "material", ""),
    (301, "glass", "material", ""),
    (310, "kitchen-s", "scene", "kitchen"),
    (311, "street-s", "scene", ""),
    (320, "striped", "texture", ""),
    (321, "dotted", "texture", ""),
)
BRODEN_MASKED = ("color", "object", "part", "material")


def _broden_label_csv(root: Path) -> None:
    lines = ["number,name,category,frequency,coverage,syns"]
    for number, name, category, syns in BRODEN_LABELS:
        lines.append(f'{number},{name},{category}(1),1,0.1,"{syns}"')
    (root / "label.csv").write_text("\n".join(lines) + "\n")
    categories = sorted({c for _, _, c, _ in BRODEN_LABELS})
    (root / "category.csv").write_text(
        "name,first,last,count,frequency\n" + "".join(f"{c},1,1,1,1\n" for c in categories)
    )


def _broden_mask(path: Path, numbers: list[int], size: int, rng: np.random.Generator) -> None:
    """A mask PNG: each number fills a random rectangle (R = n % 256, G = n // 256), and
    pixel (0, k) of the k-th number, so that every number survives the overlaps."""
    pixels = np.zeros((size, size, 3), dtype=np.uint8)
    colours = [(number % 256, number // 256, 0) for number in numbers]
    for colour in colours:
        x0, y0 = (int(v) for v in rng.integers(0, size - 2, size=2))
        x1, y1 = x0 + int(rng.integers(2, size - x0 + 1)), y0 + int(rng.integers(2, size - y0 + 1))
        pixels[y0:y1, x0:x1] = colour
    for k, colour in enumerate(colours):
        pixels[0, k] = colour
    Image.fromarray(pixels).save(path)


def make_synthetic_broden(
    out_dir: str | Path, n: int = 32, size: int = 32, seed: int = 0
) -> tuple[Path, np.ndarray]:
    """Write a Broden-format folder ``out_dir/broden1_224`` of ``n`` photos (JPEG,
    ``size`` x ``size``) with masks (``size // 2``), scenes and textures; return the folder
    and the planted truth ``[image, label]`` (bool, :data:`BRODEN_LABELS` order).

    Each image gets each concept with probability 0.3 (a concept is never absent from all
    images); masked concepts go to one mask per category, later rectangles overwriting
    earlier ones except for one guaranteed pixel each. The same arguments give the same files.
    """
    root = Path(out_dir) / "broden1_224"
    folder = root / "images" / "synth"
    folder.mkdir(parents=True, exist_ok=True)
    _broden_label_csv(root)
    rng = np.random.default_rng(seed)
    truth = rng.random((n, len(BRODEN_LABELS))) < 0.3
    truth[np.arange(len(BRODEN_LABELS)) % n, np.arange(len(BRODEN_LABELS))] = True
    mask_size = max(4, size // 2)
    rows = ["image,split,ih,iw,sh,sw,color,object,part,material,scene,texture"]
    for i in range(n):
        cells = {}
        for category in (*BRODEN_MASKED, "scene", "texture"):
            numbers = [
                number
                for j, (number, _, cat, _) in enumerate(BRODEN_LABELS)
                if cat == category and truth[i, j]
            ]
            if not numbers:
                cells[category] = ""
            elif category in BRODEN_MASKED:
                name = f"synth/{i:05d}_{category}.png"
                _broden_mask(root / "images" / name, numbers, mask_size, rng)
                cells[category] = name
            else:
                cells[category] = ";".join(str(x) for x in numbers)
        colour = PALETTE[list(PALETTE)[i % len(PALETTE)]]
        _draw(PATTERNS[i % len(PATTERNS)], colour, (128, 128, 128), size, rng).save(
            folder / f"{i:05d}.jpg", quality=90
        )
        meta = f"synth/{i:05d}.jpg,train,{size},{size},{mask_size},{mask_size}"
        rows.append(meta + "," + ",".join(cells[c] for c in (*BRODEN_MASKED, "scene", "texture")))
    (root / "index.csv").write_text("\n".join(rows) + "\n")
    return root, truth
