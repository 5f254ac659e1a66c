"""Seeded index draws (permutations, bootstrap resamples, split halves) and row selection.

Every draw comes from its own numpy stream ``SeedSequence([seed, stream, repeat])``, so a
draw depends only on the seed, its kind and its number: the same on every device, for every
layer and every model (the bootstrap resamples the *probe*, so all layers and models of one
run see the same resampled images), and adding repeats never changes the earlier ones.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from ..labeling import EmbeddingSimilarity

NULL_STREAM, BOOT_STREAM, SPLIT_STREAM = 0, 1, 2
#: Index elements drawn at once for the permutation null (bounds its memory: 128 MiB).
PERMUTATION_ELEMENTS = 1 << 24


def rng(seed: int, stream: int, repeat: int = 0) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), stream, int(repeat)]))


def permuted_columns(
    activations: Tensor, seed: int, repeat: int, stream: int = NULL_STREAM
) -> Tensor:
    """``activations`` with each column (unit) permuted across rows (images) independently."""
    n_images, n_units = activations.shape
    gen = rng(seed, stream, repeat)
    step = max(1, PERMUTATION_ELEMENTS // max(1, n_images))
    out = torch.empty_like(activations)
    for u0 in range(0, n_units, step):
        u1 = min(n_units, u0 + step)
        order = np.broadcast_to(np.arange(n_images, dtype=np.int64), (u1 - u0, n_images))
        index = torch.from_numpy(gen.permuted(order, axis=1).T.copy()).to(activations.device)
        torch.gather(activations[:, u0:u1], 0, index, out=out[:, u0:u1])
    return out


def bootstrap_rows(n_images: int, seed: int, n_boot: int) -> Iterator[np.ndarray]:
    """``n_boot`` resamples of ``range(n_images)`` with replacement, each of size ``n_images``."""
    for b in range(n_boot):
        yield rng(seed, BOOT_STREAM, b).integers(0, n_images, size=n_images, dtype=np.int64)


def split_halves(n_images: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint random halves of ``range(n_images)`` (sorted; the first has n // 2)."""
    order = rng(seed, SPLIT_STREAM).permutation(n_images)
    half = n_images // 2
    return np.sort(order[:half]), np.sort(order[half:])


def take_rows(similarity, rows: np.ndarray):
    """The ``[len(rows), concepts]`` similarity of the images ``rows`` (dense or lazy)."""
    if isinstance(similarity, EmbeddingSimilarity):
        index = torch.from_numpy(rows).to(similarity.image_emb.device)
        return EmbeddingSimilarity(
            similarity.image_emb.index_select(0, index), similarity.concept_emb
        )
    return similarity.index_select(0, torch.from_numpy(rows).to(similarity.device))
