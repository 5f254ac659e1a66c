"""The paper's target networks as data, and a check that a built network is one of them.

Weights cannot be checked without downloading them, but the architecture can: every fact
below is copied from the checkpoint's public ``config.json`` on the Hugging Face hub (URL in
``config_url``) and read against the transformers modeling file that runs it
(``modeling_file``); ``docs/fidelity.md`` lists them with their sources.

* :data:`PAPER_ARCHITECTURES` maps each paper checkpoint (hub id, or timm name for the
  ResNet) to its :class:`Architecture`: the hub config values needed to build the network
  offline (``hf_config``, real sizes) and the facts that distinguish it from look-alikes
  (activation function, layer-norm eps, patch and position-embedding grid, layer scale,
  mask ratio, number of blocks, width).
* :func:`identity_mismatches` reads those facts off any built network (transformers or timm)
  and lists where they differ; :func:`check_identity` raises a ConfigError naming them.
  timm's ``vit_base_patch16_clip_224.openai`` (GELU, not QuickGELU), its DINOv2 (position
  embeddings resampled to 16x16 at load), its MAE and its ``orig_in21k`` ViT (layer-norm eps
  1e-6, not transformers' 1e-12) fail it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .errors import ConfigError

HUB = "https://huggingface.co"
TRANSFORMERS_SRC = "https://github.com/huggingface/transformers/blob/main/src/transformers/models"


@dataclass(frozen=True)
class Architecture:
    """Facts of one paper network, from its hub config (see ``docs/fidelity.md``)."""

    weights: str  # hub id (transformers) or timm name
    source: str  # timm | transformers
    arch: str  # vit | cnn
    model_class: str  # the class the authors' code path builds
    config_url: str
    modeling_file: str
    hf_config: dict[str, Any] = field(default_factory=dict)  # builds it offline (real sizes)
    hidden_act: str | None = None
    layer_norm_eps: float | None = None
    image_size: int | None = None  # the size the position-embedding table was trained for
    patch_size: int | None = None
    num_blocks: int | None = None
    hidden_size: int | None = None
    layerscale: bool | None = None
    mask_ratio: float = 0.0
    # how the position table meets a 224 input: "none" (table is 14x14 already) or
    # "runtime_bicubic" (37x37 table interpolated in every forward, bicubic, no antialias)
    pos_embed_resize: str = "none"
    stage_widths: tuple[int, ...] | None = None  # CNN: conv1 and the four stages
    stage_depths: tuple[int, ...] | None = None

    @property
    def n_positions(self) -> int | None:
        """Rows of the position-embedding table: one per patch of ``image_size`` + CLS."""
        if self.image_size is None or self.patch_size is None:
            return None
        return (self.image_size // self.patch_size) ** 2 + 1


_VIT_ENCODER = {
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
    "num_channels": 3,
    "qkv_bias": True,
}
_SIZES = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")


def _vision(
    hidden_act: str, layer_norm_eps: float, image_size: int = 224, patch_size: int = 16, **rest
) -> dict[str, Any]:
    """The hub config keys of a ViT encoder that tell the paper networks apart."""
    return {
        "hidden_act": hidden_act,
        "layer_norm_eps": layer_norm_eps,
        "image_size": image_size,
        "patch_size": patch_size,
        **rest,
    }


def _hub_vit(
    weights: str, model_class: str, modeling: str, hf_config: dict, **facts
) -> Architecture:
    """A transformers ViT whose facts are read from (the vision part of) its hub config."""
    vision = hf_config.get("vision_config", hf_config)
    return Architecture(
        weights=weights,
        source="transformers",
        arch="vit",
        model_class=model_class,
        config_url=f"{HUB}/{weights}/blob/main/config.json",
        modeling_file=f"{TRANSFORMERS_SRC}/{modeling}",
        hf_config=hf_config,
        hidden_act=vision["hidden_act"],
        layer_norm_eps=vision["layer_norm_eps"],
        image_size=vision["image_size"],
        patch_size=vision["patch_size"],
        num_blocks=vision["num_hidden_layers"],
        hidden_size=vision["hidden_size"],
        layerscale="layerscale_value" in vision,
        mask_ratio=vision.get("mask_ratio", 0.0),
        **facts,
    )


PAPER_ARCHITECTURES: dict[str, Architecture] = {
    a.weights: a
    for a in (
        _hub_vit(
            "google/vit-base-patch16-224-in21k",
            "ViTForImageClassification",
            "vit/modeling_vit.py",
            {"model_type": "vit", **_VIT_ENCODER, **_vision("gelu", 1e-12)},
        ),
        _hub_vit(
            "facebook/dinov2-base",
            "Dinov2ForImageClassification",
            "dinov2/modeling_dinov2.py",
            {
                "model_type": "dinov2",
                **{k: v for k, v in _VIT_ENCODER.items() if k != "intermediate_size"},
                "mlp_ratio": 4,
                **_vision("gelu", 1e-6, 518, 14),
                "layerscale_value": 1.0,
                "drop_path_rate": 0.0,
                "use_swiglu_ffn": False,
            },
            pos_embed_resize="runtime_bicubic",
        ),
        _hub_vit(
            "openai/clip-vit-base-patch16",
            "CLIPForImageClassification",
            "clip/modeling_clip.py",
            {
                "model_type": "clip",
                "projection_dim": 512,
                "vision_config": {
                    **{k: _VIT_ENCODER[k] for k in _SIZES},
                    **_vision("quick_gelu", 1e-5),
                    "projection_dim": 512,
                    "dropout": 0.0,
                    "attention_dropout": 0.0,
                },
            },
        ),
        _hub_vit(
            "facebook/vit-mae-base",
            "ViTMAEForPreTraining",
            "vit_mae/modeling_vit_mae.py",
            {
                "model_type": "vit_mae",
                **_VIT_ENCODER,
                **_vision("gelu", 1e-12),
                "mask_ratio": 0.75,
                "decoder_hidden_size": 512,
                "decoder_num_hidden_layers": 8,
                "decoder_num_attention_heads": 16,
                "decoder_intermediate_size": 2048,
                "norm_pix_loss": False,
            },
        ),
        Architecture(
            weights="resnet50.tv_in1k",
            source="timm",
            arch="cnn",
            model_class="ResNet",
            config_url="https://download.pytorch.org/models/resnet50-0676ba61.pth",
            modeling_file="https://github.com/huggingface/pytorch-image-models/blob/main/timm/models/resnet.py",
            stage_widths=(64, 256, 512, 1024, 2048),
            stage_depths=(3, 4, 6, 3),
        ),
    )
}


def paper_architecture(weights: str) -> Architecture | None:
    """The paper architecture of a weights id (hub id or timm name), or None."""
    return PAPER_ARCHITECTURES.get(str(weights).removeprefix("hf-hub:"))


# -- reading facts off a built network -------------------------------------------------------
_ACTIVATIONS = {
    "gelu": lambda x: torch.nn.functional.gelu(x),
    "gelu_tanh": lambda x: torch.nn.functional.gelu(x, approximate="tanh"),
    "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x),
    "relu": torch.relu,
    "silu": torch.nn.functional.silu,
}


def _activation_name(module: nn.Module) -> str:
    """Which function an activation module computes, judged by its values on [-4, 4]."""
    x = torch.linspace(-4, 4, 81)
    with torch.no_grad():
        y = module(x)
    for name, fn in _ACTIVATIONS.items():
        if torch.allclose(y, fn(x), atol=1e-5):
            return name
    return type(module).__name__


def _is_vision(name: str) -> bool:
    """Module paths of the image encoder (not CLIP's text tower or MAE's decoder)."""
    return "text" not in name and "decoder" not in name


def _blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    for name, module in model.named_modules():
        is_list = name in ("blocks", "layers") or name.endswith(
            ("encoder.layer", "encoder.layers", ".layers")
        )
        if is_list and _is_vision(name) and isinstance(module, nn.ModuleList | nn.Sequential):
            return list(module.named_children())
    return []


def _activations(block: nn.Module) -> set[str]:
    found = set()
    for module in block.modules():
        kind = type(module).__name__.lower()
        if list(module.children()) or any(True for _ in module.parameters(recurse=False)):
            continue
        if "gelu" in kind or "activation" in kind or kind in ("relu", "silu", "swish"):
            found.add(_activation_name(module))
    return found


def _position_rows(model: nn.Module) -> int | None:
    tensors = list(model.named_parameters()) + list(model.named_buffers())
    for name, value in tensors:
        if not _is_vision(name):
            continue
        if name.endswith(("position_embeddings", "pos_embed", "position_embedding.weight")):
            return int(value.shape[-2] if value.ndim == 3 else value.shape[0])
    return None


def _patch_size(model: nn.Module) -> int | None:
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d) and _is_vision(name) and module.kernel_size[0] > 1:
            if tuple(module.kernel_size) == tuple(module.stride):
                return int(module.kernel_size[0])
    return None


def _mask_ratio(model: nn.Module) -> float:
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "mask_ratio"):
        return float(config.mask_ratio)
    return float(getattr(getattr(model, "patch_drop", None), "ratio", 0.0) or 0.0)


def vit_facts(model: nn.Module) -> dict[str, Any]:
    """The architecture facts of a ViT, read off the built network (transformers or timm)."""
    blocks = _blocks(model)
    norms = [m for n, m in model.named_modules() if isinstance(m, nn.LayerNorm) and _is_vision(n)]
    first = blocks[0][1] if blocks else nn.Module()
    acts = _activations(first)
    return {
        "hidden_act": acts.pop() if len(acts) == 1 else (sorted(acts) or None),
        "layer_norm_eps": sorted({float(m.eps) for m in norms}),
        "patch_size": _patch_size(model),
        "position_rows": _position_rows(model),
        "num_blocks": len(blocks),
        "hidden_size": next(
            (int(m.normalized_shape[0]) for m in first.modules() if isinstance(m, nn.LayerNorm)),
            None,
        ),
        "layerscale": any("layerscale" in type(m).__name__.lower() for m in first.modules()),
        "mask_ratio": _mask_ratio(model),
    }


def cnn_facts(model: nn.Module) -> dict[str, Any]:
    """Stem width, stage widths and depths of a torchvision-style ResNet."""
    modules = dict(model.named_modules())
    if "conv1" not in modules or not all(f"layer{i}" in modules for i in range(1, 5)):
        return {"stage_widths": None, "stage_depths": None}
    widths = [int(modules["conv1"].out_channels)]
    depths = []
    for i in range(1, 5):
        stage = modules[f"layer{i}"]
        convs = [m for m in stage[-1].modules() if isinstance(m, nn.Conv2d)]
        widths.append(int(convs[-1].out_channels))
        depths.append(len(stage))
    return {"stage_widths": tuple(widths), "stage_depths": tuple(depths)}


def identity_mismatches(model: nn.Module, reference: Architecture) -> list[str]:
    """Where ``model`` differs from ``reference``: one phrase per fact, empty when it is it."""
    if reference.arch == "cnn":
        got = cnn_facts(model)
        return [
            f"{name} is {got[name]}, expected {getattr(reference, name)}"
            for name in ("stage_widths", "stage_depths")
            if got[name] != getattr(reference, name)
        ]
    got = vit_facts(model)
    expected = {
        "hidden_act": reference.hidden_act,
        "layer_norm_eps": [reference.layer_norm_eps],
        "patch_size": reference.patch_size,
        "position_rows": reference.n_positions,
        "num_blocks": reference.num_blocks,
        "hidden_size": reference.hidden_size,
        "layerscale": reference.layerscale,
        "mask_ratio": reference.mask_ratio,
    }
    problems = []
    for name, want in expected.items():
        have = got[name]
        if name == "layer_norm_eps":
            same = len(have) == 1 and math.isclose(have[0], want[0], rel_tol=1e-6)
        elif name == "mask_ratio":
            same = math.isclose(have, want)
        else:
            same = have == want
        if not same:
            problems.append(f"{name} is {have}, expected {want}")
    return problems


def check_identity(
    spec: Any, model: nn.Module, reference: Architecture | str | None = None
) -> Architecture:
    """Raise ConfigError unless ``model`` has the documented facts of the paper network.

    ``reference`` defaults to the paper architecture of ``spec.weights``; a string names a key
    of :data:`PAPER_ARCHITECTURES`. Returns the reference checked against.
    """
    if isinstance(reference, str):
        reference = PAPER_ARCHITECTURES[reference]
    if reference is None:
        reference = paper_architecture(spec.weights)
        if reference is None:
            raise ConfigError(
                f"models.{spec.key}.weights {spec.weights!r} is not one of the paper's "
                f"networks ({', '.join(PAPER_ARCHITECTURES)}), so it has no documented facts.",
                "call check_identity with reference=<one of those ids>.",
            )
    problems = identity_mismatches(model, reference)
    if problems:
        raise ConfigError(
            f"models.{spec.key}: the network built from {spec.source} {spec.weights!r} is not "
            f"the paper's {reference.weights} ({reference.model_class}): "
            f"{'; '.join(problems)} (facts from {reference.config_url}, docs/fidelity.md).",
            f"use source: {reference.source}, weights: {reference.weights}"
            + (f", mask_ratio: {reference.mask_ratio}" if reference.mask_ratio else "")
            + f" for models.{spec.key}.",
        )
    return reference


def paper_hf_config(weights: str) -> Mapping[str, Any] | None:
    """The hub config values of a paper transformers checkpoint (None for other ids)."""
    reference = paper_architecture(weights)
    if reference is None or reference.source != "transformers":
        return None
    return copy.deepcopy(reference.hf_config)


def check_paper_model(spec: Any, model: nn.Module) -> list[str]:
    """Run :func:`check_identity` when ``spec.weights`` is a paper network (dump time).

    Architecture mismatches raise; a different ``mask_ratio`` is a deliberate choice of the
    user (e.g. MAE without masking), so it is returned as a warning instead of raised.
    Returns the warnings (empty for other networks).
    """
    reference = paper_architecture(spec.weights)
    if reference is None or reference.source != spec.source:
        return []
    problems = identity_mismatches(model, reference)
    warnings = [p for p in problems if p.startswith("mask_ratio ")]
    if len(warnings) < len(problems):
        check_identity(spec, model, reference)
    return [
        f"models.{spec.key}: {w} ({reference.weights} as the authors ran it); activations "
        "will not be comparable with the paper's."
        for w in warnings
    ]
