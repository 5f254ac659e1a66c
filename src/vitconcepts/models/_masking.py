"""MAE-style patch masking, seeded per probe sample (used by loading and extraction)."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from ._spec import ModelSpec


def mask_noise(seed: int, samples: torch.Tensor, n_patches: int) -> torch.Tensor:
    """Per-sample uniform noise [batch, n_patches]: sample ``i`` always gets the same mask."""
    rows = [
        torch.rand(n_patches, generator=torch.Generator().manual_seed(seed * 1_000_003 + int(s)))
        for s in samples
    ]
    return torch.stack(rows)


def keep_random_patches(tokens: torch.Tensor, noise: torch.Tensor, ratio: float, prefix: int):
    """HF ViTMAE's ``random_masking`` applied to patch tokens; prefix (CLS) tokens kept."""
    head, patches = tokens[:, :prefix], tokens[:, prefix:]
    keep = int(patches.shape[1] * (1 - ratio))
    ids = torch.argsort(noise.to(tokens.device), dim=1)[:, :keep]
    kept = torch.gather(patches, 1, ids.unsqueeze(-1).expand(-1, -1, patches.shape[-1]))
    return torch.cat([head, kept], dim=1)


class TimmPatchMask(nn.Module):
    """Replaces timm's ``patch_drop``: drops ``ratio`` of the patch tokens, seeded per sample."""

    def __init__(self, ratio: float, prefix: int, seed: int) -> None:
        super().__init__()
        self.ratio, self.prefix, self.seed = ratio, prefix, seed
        self.samples: torch.Tensor | None = None

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        samples = self.samples if self.samples is not None else torch.arange(len(tokens))
        noise = mask_noise(self.seed, samples, tokens.shape[1] - self.prefix)
        return keep_random_patches(tokens, noise, self.ratio, self.prefix)


def install_timm_masking(spec: ModelSpec, model: nn.Module) -> None:
    if not hasattr(model, "patch_drop"):
        raise ConfigError(
            f"models.{spec.key}.mask_ratio is set but {type(model).__name__} has no "
            "patch_drop stage to mask.",
            "masking is supported for timm VisionTransformer models; set mask_ratio to 0.",
        )
    model.patch_drop = TimmPatchMask(spec.mask_ratio, model.num_prefix_tokens, spec.seed)
