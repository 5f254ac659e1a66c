"""Stage 5: forward hooks on the layers -> ``{layer: Tensor[batch, units]}``."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ._layers import validate_layers
from ._masking import TimmPatchMask, mask_noise
from ._spec import ModelSpec


class _StopForward(Exception):
    """Raised by the last hook: nothing after the last analysed layer needs computing."""


def pool_output(output: Any, units: str) -> torch.Tensor:
    """A layer output -> [batch, units] float32: CLS token (ViT) or spatial mean (CNN)."""
    if isinstance(output, tuple | list):
        output = output[0]
    elif not isinstance(output, torch.Tensor) and hasattr(output, "last_hidden_state"):
        output = output.last_hidden_state
    if output.ndim == 4:
        pooled = output.mean(dim=(2, 3))
    elif output.ndim == 3:
        pooled = output[:, 0] if units == "cls" else output.mean(dim=1)
    elif output.ndim == 2:
        pooled = output
    else:
        raise ValueError(f"cannot pool a layer output of shape {tuple(output.shape)}")
    return pooled.float()


class ActivationExtractor:
    """Forward hooks on ``spec``'s layers; ``extractor(x)`` -> ``{layer: Tensor[batch, units]}``.

    ``samples`` (probe sample indices of the batch) seeds MAE patch masking per sample, so a
    resumed dump masks exactly as an uninterrupted one. The forward pass stops after the last
    analysed layer.
    """

    def __init__(self, model: nn.Module, spec: ModelSpec) -> None:
        self.model, self.spec = model, spec
        self.layers = validate_layers(spec, model)
        self._outputs: dict[str, torch.Tensor] = {}
        modules = dict(model.named_modules())
        self._handles = [
            modules[name].register_forward_hook(self._hook(name)) for name in self.layers
        ]
        self._hf_mae = spec.source == "transformers" and hasattr(
            getattr(model, "config", None), "mask_ratio"
        )
        self._offset = 0
        self._active = False

    def _hook(self, name: str):
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            if not self._active:  # the model is used outside the extractor
                return
            self._outputs[name] = pool_output(output, self.spec.units)
            if len(self._outputs) == len(self.layers):
                raise _StopForward

        return hook

    def __call__(
        self, images: torch.Tensor, samples: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        if samples is None:
            samples = torch.arange(self._offset, self._offset + len(images))
        self._offset = int(samples.max()) + 1 if len(samples) else self._offset
        kwargs: dict[str, Any] = {}
        if self._hf_mae:
            config = self.model.config
            n_patches = (config.image_size // config.patch_size) ** 2
            kwargs["noise"] = mask_noise(self.spec.seed, samples, n_patches).to(images.device)
        mask = getattr(self.model, "patch_drop", None)
        if isinstance(mask, TimmPatchMask):
            mask.samples = samples
        self._outputs = {}
        self._active = True
        try:
            with torch.inference_mode():
                self.model(images, **kwargs)
        except _StopForward:
            pass
        finally:
            self._active = False
        missing = [name for name in self.layers if name not in self._outputs]
        if missing:
            raise RuntimeError(f"layers {missing} were not run by the forward pass")
        outputs, self._outputs = self._outputs, {}
        return {name: outputs[name] for name in self.layers}

    def remove(self) -> None:
        """Remove the hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
