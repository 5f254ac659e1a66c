"""The synthetic probe images of the tiny offline config."""

from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image

from vitconcepts.synthetic import PATTERNS, make_synthetic_images


def _digest(folder) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.png")):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_deterministic_and_complete(tmp_path):
    a = make_synthetic_images(tmp_path / "a", n=20, size=24, seed=3)
    b = make_synthetic_images(tmp_path / "b", n=20, size=24, seed=3)
    c = make_synthetic_images(tmp_path / "c", n=20, size=24, seed=4)
    assert len(list(a.rglob("*.png"))) == 20
    assert {p.name for p in a.iterdir()} == set(PATTERNS)
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)


def test_images_have_the_requested_size_and_differ(tmp_path):
    folder = make_synthetic_images(tmp_path, n=10, size=32, seed=0)
    arrays = [np.asarray(Image.open(p)) for p in sorted(folder.rglob("*.png"))]
    assert all(a.shape == (32, 32, 3) for a in arrays)
    assert len({a.tobytes() for a in arrays}) == 10
