"""Stage 5: forward hooks on the layers -> ``{kind: {layer: Tensor[batch, units]}}``.

Unit kinds (``ModelSpec.units``; :data:`~._spec.UNIT_KINDS` per architecture), each read off
one forward pass:

* ``cls``: the block output at the CLS token (token 0), the paper's units;
* ``patch_mean``: the block output averaged over the patch tokens (the CLS and any register
  tokens left out; for a masked MAE the kept patches, the sequence its encoder sees);
* ``mlp``: the block's MLP hidden units after the activation function (the input of the
  MLP's output projection), at the CLS token;
* ``mlp_mean``: the same hidden units averaged over the patch tokens;
* ``spatial_mean``: a CNN stage's output averaged over its spatial positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from ._layers import validate_layers
from ._masking import TimmPatchMask, mask_noise
from ._spec import UNIT_KINDS, ModelSpec

#: kind -> (what is hooked: the block's output or its MLP hidden units, how tokens are pooled)
KIND_SOURCES = {
    "cls": ("block", "cls"),
    "patch_mean": ("block", "patch_mean"),
    "mlp": ("mlp", "cls"),
    "mlp_mean": ("mlp", "patch_mean"),
    "spatial_mean": ("block", "spatial_mean"),
}
#: the MLP's output projection inside a block, whose input is the hidden units after the
#: activation: timm and transformers >= 5 (ViT, DINOv2, CLIP, ViTMAE), transformers 4's
#: ViT/ViTMAE, DINOv2's SwiGLU feed-forward
MLP_PROJECTIONS = ("mlp.fc2", "output.dense", "mlp.weights_out")


class _StopForward(Exception):
    """Raised by the last hook: nothing after the last analysed layer needs computing."""


def pool_output(output: Any, units: str = "cls", prefix: int = 1) -> torch.Tensor:
    """A layer output -> [batch, units] float32.

    ``units``: ``cls`` (token 0), ``patch_mean`` (mean over the tokens after the ``prefix``
    CLS/register tokens) or ``spatial_mean`` (a CNN map's spatial mean; for tokens, the mean
    of all of them).
    """
    if isinstance(output, tuple | list):
        output = output[0]
    elif not isinstance(output, torch.Tensor) and hasattr(output, "last_hidden_state"):
        output = output.last_hidden_state
    if output.ndim == 4:
        pooled = output.mean(dim=(2, 3))
    elif output.ndim == 3:
        if units == "cls":
            pooled = output[:, 0]
        elif units == "patch_mean":
            pooled = output[:, prefix:].mean(dim=1)
        else:
            pooled = output.mean(dim=1)
    elif output.ndim == 2:
        pooled = output
    else:
        raise ValueError(f"cannot pool a layer output of shape {tuple(output.shape)}")
    return pooled.float()


def prefix_tokens(model: nn.Module) -> int:
    """Tokens before the patches: timm's ``num_prefix_tokens``, else CLS + registers (HF)."""
    count = getattr(model, "num_prefix_tokens", None)
    if count is not None:
        return int(count)
    config = getattr(model, "config", None)
    vision = getattr(config, "vision_config", None) or config
    return 1 + int(getattr(vision, "num_register_tokens", 0) or 0)


def mlp_projection(spec: ModelSpec, model: nn.Module, layer: str) -> str:
    """The module path of ``layer``'s MLP output projection (its input: the hidden units)."""
    modules = dict(model.named_modules())
    for name in MLP_PROJECTIONS:
        if f"{layer}.{name}" in modules:
            return f"{layer}.{name}"
    children = [n.removeprefix(f"{layer}.") for n in modules if n.startswith(f"{layer}.")]
    raise ConfigError(
        f"models.{spec.key}.units asks for MLP hidden units, but layer {layer!r} of "
        f"{type(model).__name__} has none of the MLP projections "
        f"{', '.join(MLP_PROJECTIONS)} (its modules: {', '.join(children[:8]) or 'none'}).",
        f"list transformer blocks in models.{spec.key}.layers (or remove it for the default "
        f"blocks), or drop mlp and mlp_mean from models.{spec.key}.units.",
    )


def check_kinds(spec: ModelSpec, kinds: Sequence[str]) -> tuple[str, ...]:
    allowed = UNIT_KINDS[spec.arch]
    bad = [kind for kind in kinds if kind not in allowed]
    if bad or not kinds:
        raise ConfigError(
            f"models.{spec.key}.units: {', '.join(map(repr, bad)) or 'no kind'} cannot be "
            f"extracted from a {spec.arch}; its unit kinds are {', '.join(allowed)}.",
            f"set models.{spec.key}.units to a list of those.",
        )
    return tuple(kinds)


class ActivationExtractor:
    """Forward hooks on ``spec``'s layers (module docstring).

    ``extractor.extract(x)`` -> ``{kind: {layer: Tensor[batch, units]}}`` for every kind in
    ``kinds`` (default: ``spec.units``), all from one forward pass; ``extractor(x)`` -> the
    first kind's ``{layer: Tensor}``. ``samples`` (probe sample indices of the batch) seeds
    MAE patch masking per sample, so a resumed dump masks exactly as an uninterrupted one.
    The forward pass stops after the last analysed layer.
    """

    def __init__(
        self, model: nn.Module, spec: ModelSpec, kinds: Sequence[str] | None = None
    ) -> None:
        self.model, self.spec = model, spec
        self.kinds = check_kinds(spec, spec.units if kinds is None else kinds)
        self.layers = validate_layers(spec, model)
        self.prefix = prefix_tokens(model) if spec.arch == "vit" else 0
        self._outputs: dict[tuple[str, str], torch.Tensor] = {}
        self._expected = len(self.kinds) * len(self.layers)
        modules = dict(model.named_modules())
        self._handles = []
        for layer in self.layers:
            block = [k for k in self.kinds if KIND_SOURCES[k][0] == "block"]
            mlp = [k for k in self.kinds if KIND_SOURCES[k][0] == "mlp"]
            if block:
                hook = self._hook(layer, block, output_of=True)
                self._handles.append(modules[layer].register_forward_hook(hook))
            if mlp:
                projection = modules[mlp_projection(spec, model, layer)]
                hook = self._hook(layer, mlp, output_of=False)
                self._handles.append(projection.register_forward_pre_hook(hook))
        self._hf_mae = spec.source == "transformers" and hasattr(
            getattr(model, "config", None), "mask_ratio"
        )
        self._offset = 0
        self._active = False

    def _hook(self, layer: str, kinds: Sequence[str], output_of: bool):
        """A hook storing ``layer``'s ``kinds``: from a module's output, or its input."""

        def store(tensor: Any) -> None:
            if not self._active:  # the model is used outside the extractor
                return
            for kind in kinds:
                pooling = KIND_SOURCES[kind][1]
                self._outputs[kind, layer] = pool_output(tensor, pooling, self.prefix)
            if len(self._outputs) == self._expected:
                raise _StopForward

        if output_of:
            return lambda module, inputs, output: store(output)
        return lambda module, inputs: store(inputs[0])

    def _forward_kwargs(self, images: torch.Tensor, samples: torch.Tensor) -> dict[str, Any]:
        """MAE's per-sample masking noise (HF) or sample indices (timm's patch mask)."""
        kwargs: dict[str, Any] = {}
        if self._hf_mae:
            config = self.model.config
            n_patches = (config.image_size // config.patch_size) ** 2
            kwargs["noise"] = mask_noise(self.spec.seed, samples, n_patches).to(images.device)
        mask = getattr(self.model, "patch_drop", None)
        if isinstance(mask, TimmPatchMask):
            mask.samples = samples
        return kwargs

    def extract(
        self, images: torch.Tensor, samples: torch.Tensor | None = None
    ) -> dict[str, dict[str, torch.Tensor]]:
        """``{kind: {layer: Tensor[batch, units]}}`` of one batch (one forward pass)."""
        if samples is None:
            samples = torch.arange(self._offset, self._offset + len(images))
        self._offset = int(samples.max()) + 1 if len(samples) else self._offset
        kwargs = self._forward_kwargs(images, samples)
        self._outputs = {}
        self._active = True
        try:
            with torch.inference_mode():
                self.model(images, **kwargs)
        except _StopForward:
            pass
        finally:
            self._active = False
        outputs, self._outputs = self._outputs, {}
        missing = sorted(
            {layer for layer in self.layers for k in self.kinds if (k, layer) not in outputs}
        )
        if missing:
            raise RuntimeError(f"layers {missing} were not run by the forward pass")
        return {k: {layer: outputs[k, layer] for layer in self.layers} for k in self.kinds}

    def _keys(self) -> list[tuple[str, str]]:
        return [(kind, layer) for kind in self.kinds for layer in self.layers]

    def __call__(
        self, images: torch.Tensor, samples: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        return self.extract(images, samples)[self.kinds[0]]

    def remove(self) -> None:
        """Remove the hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
