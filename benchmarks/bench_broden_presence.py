"""Benchmark the ground-truth stage at Broden's size: reading the masks, the presence file,
scoring one layer.

Writes a Broden-format folder of N images with 112 x 112 mask PNGs (Broden's ``sh x sw``
for its 224-pixel photos): a colour, an object and a material mask per image and a part mask
on every third image, each a blocky map of 4-12 label numbers drawn from 1..1,197 (numbers
above 255 use the G channel), plus a scene number. Photos are not written (the presence
reader never opens them). Then, side by side in one run:

1. :func:`vitconcepts.ground_truth.broden_presence` with 1 thread and with ``--threads``
   (2 on the paper's machine): images/s, projected to Broden's 63,305 images;
2. peak resident memory of the process (``ru_maxrss``) after reading;
3. the presence file (:func:`vitconcepts.formats.write_presence`) of a 63,305 x 1,197
   matrix with the measured density: bytes on disk, and the time to write and read it;
4. :func:`vitconcepts.ground_truth.score_labels` on one ViT-B layer (768 units) over the N
   images, projected linearly to 63,305 images per layer.

Usage: ``.venv/bin/python benchmarks/bench_broden_presence.py [--n 3000] [--threads 2]``

Measured (n = 3000, shared 2-core CPU, masks in the page cache): 1,242 images/s on 1 thread,
1,396 on 2 (1.12x): 63,305 images in ~0.8 min; peak RSS 164 MiB; the presence file of
63,305 x 1,197 at the measured density (2.3 %) is 2.2 MiB (72 MiB as bool in memory), written
in 0.8 s, read in 0.1 s; score_labels ~16 s per 768-unit layer at 63,305 images (every label
naming a Broden concept: the worst case).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from vitconcepts.formats import BrodenPresence, read_presence, write_presence
from vitconcepts.ground_truth import broden_presence, score_labels

BRODEN_IMAGES = 63_305
BRODEN_LABELS = 1_197
MASK = 112


def _mask(path: Path, rng: np.random.Generator) -> None:
    labels = rng.integers(1, BRODEN_LABELS + 1, size=int(rng.integers(4, 13)))
    cells = rng.choice(labels, size=(8, 8))
    grid = np.kron(cells, np.ones((MASK // 8, MASK // 8), dtype=np.int64))
    pixels = np.zeros((MASK, MASK, 3), dtype=np.uint8)
    pixels[..., 0], pixels[..., 1] = grid % 256, grid // 256
    Image.fromarray(pixels).save(path)


def make_broden(root: Path, n: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    (root / "images" / "b").mkdir(parents=True)
    lines = ["number,name,category,frequency,coverage,syns"]
    lines += [f"{i},concept{i}-c,color({i}),1,0.1," for i in range(1, BRODEN_LABELS + 1)]
    (root / "label.csv").write_text("\n".join(lines) + "\n")
    rows = ["image,split,ih,iw,sh,sw,color,object,part,material,scene,texture"]
    for i in range(n):
        cells = []
        for category in ("color", "object", "part", "material"):
            if category == "part" and i % 3:
                cells.append("")
                continue
            name = f"b/{i:06d}_{category}.png"
            _mask(root / "images" / name, rng)
            cells.append(name)
        scene = str(int(rng.integers(1, BRODEN_LABELS + 1)))
        rows.append(f"b/{i:06d}.jpg,train,224,224,{MASK},{MASK}," + ",".join(cells) + f",{scene},")
    (root / "index.csv").write_text("\n".join(rows) + "\n")
    return root


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="images to generate")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root, t_make = timed(lambda: make_broden(Path(tmp) / "broden1_224", args.n))
        n_masks = len(list((root / "images" / "b").glob("*.png")))
        print(f"generated {args.n} images, {n_masks} masks of {MASK}x{MASK} in {t_make:.1f} s")
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        data, t1 = timed(lambda: broden_presence(root, threads=1))
        data, tn = timed(lambda: broden_presence(root, threads=args.threads))
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        for label, seconds in (("1 thread", t1), (f"{args.threads} threads", tn)):
            rate = args.n / seconds
            print(
                f"broden_presence, {label}: {seconds:.2f} s = {rate:.0f} images/s; "
                f"63,305 images: {BRODEN_IMAGES / rate / 60:.1f} min"
            )
        print(f"speed-up {args.threads} threads / 1 thread: {t1 / tn:.2f}x")
        print(f"peak RSS: {rss1:.0f} MiB (before reading: {rss0:.0f} MiB)")
        density = float(data.presence.mean())
        rng = np.random.default_rng(1)
        full = rng.random((BRODEN_IMAGES, BRODEN_LABELS)) < density
        images = [f"b/{i:06d}.jpg" for i in range(BRODEN_IMAGES)]
        full_data = BrodenPresence(images, [f"c{i}" for i in range(BRODEN_LABELS)], full)
        out = Path(tmp) / "presence.npz"
        _, t_write = timed(lambda: write_presence(out, full_data))
        _, t_read = timed(lambda: read_presence(out))
        print(
            f"presence file, 63,305 x 1,197 at density {density:.4f}: "
            f"{out.stat().st_size / 2**20:.1f} MiB on disk (bool in memory: "
            f"{full.nbytes / 2**20:.0f} MiB); write {t_write:.2f} s, read {t_read:.2f} s"
        )
        acts = rng.standard_normal((args.n, 768)).astype(np.float32)
        labels = [f"concept{i % BRODEN_LABELS + 1}" for i in range(768)]
        _, t_score = timed(
            lambda: score_labels(acts, data.presence, data.names, labels, alpha=0.01)
        )
        print(
            f"score_labels, one layer of 768 units x {args.n} images: {t_score:.2f} s; "
            f"x 63,305 images: ~{t_score * BRODEN_IMAGES / args.n:.0f} s a layer"
        )


if __name__ == "__main__":
    main()
