"""Where a pass's image batches come from: the probe's JPEGs or a pixel cache.

``ImageBatches`` is the batch source of :func:`vitconcepts.shard_loop.write_batches` for
``dump_activations`` and ``embed_images``: the JPEGs are decoded and preprocessed in the
loader's workers, or uint8 slabs of a pixel cache of the same recipe are read and normalised
on the device (identical tensors, ``vitconcepts.pixels``). Batches arrive as device tensors.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from .errors import ConfigError, InputDataError
from .formats import read_probe_index
from .pixels import PixelBatches, check_pixel_cache, pixel_loader, recipe_from_transform
from .probe import ProbeDataset


class ImageBatches:
    """The probe's images through ``transform`` (or its pixel cache ``pixels``) on ``device``.

    ``owner`` (whose preprocessing it is) and ``fix`` (what to do) word the error raised when
    ``transform`` cannot read a pixel cache.
    """

    def __init__(
        self,
        index_csv: str | Path,
        transform: Any,
        pixels: str | Path | None,
        device: torch.device,
        channels_last: bool = False,
        owner: str = "this model",
        fix: str = "set `pixel_cache: false`.",
    ) -> None:
        self.index_csv, self.transform, self.device = index_csv, transform, device
        self.channels_last = channels_last
        self.pixels = Path(pixels) if pixels else None
        self.normalise = None
        if self.pixels is not None:
            recipe = recipe_from_transform(transform)
            if recipe is None:
                raise ConfigError(
                    f"The preprocessing of {owner} ({transform}) is not a Resize/CenterCrop/"
                    f"ToTensor/Normalize pipeline, so it cannot read the pixel cache "
                    f"{self.pixels}.",
                    fix,
                )
            n = check_pixel_cache(self.pixels, recipe, index_csv)
            if n != len(read_probe_index(index_csv)):
                raise InputDataError(
                    f"The pixel cache {self.pixels} has {n} images, the probe index "
                    f"{index_csv} {len(read_probe_index(index_csv))}.",
                    f"delete {self.pixels} and rerun.",
                )
            self.normalise = recipe.normaliser(device)

    def _to_device(self, images: torch.Tensor) -> torch.Tensor:
        if self.normalise is not None:
            images = self.normalise(images)
        else:
            images = images.to(self.device, non_blocking=True)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images

    def first(self) -> torch.Tensor:
        """The first image as a batch of one (to check the model before the long pass)."""
        if self.pixels is not None:
            batches = PixelBatches(self.pixels, range(0, 1), 1)
            try:
                return self._to_device(batches[0][0])
            finally:
                batches.close()  # worker processes open their own handles
        return self._to_device(ProbeDataset(self.index_csv, self.transform, [0])[0][0][None])

    def batches(
        self, start: int, n: int, batch_size: int, num_workers: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``(images on the device, sample indices)`` of samples ``start .. n``, in order."""
        if self.pixels is not None:
            loader = pixel_loader(
                self.pixels, range(start, n), batch_size, num_workers, self.device
            )
        else:
            loader = torch.utils.data.DataLoader(
                ProbeDataset(self.index_csv, self.transform, samples=range(start, n)),
                batch_size=batch_size,
                shuffle=False,
                num_workers=num_workers,
                pin_memory=self.device.type == "cuda",
                persistent_workers=False,
            )
        for images, samples in loader:
            yield self._to_device(images), samples
