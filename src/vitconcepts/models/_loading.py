"""Stage 2: a :class:`ModelSpec` -> the network (timm or transformers), eval mode."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, InputDataError
from ..provenance import sha256_file
from ._masking import install_timm_masking
from ._spec import ModelSpec

# transformers classes tried in order, like the authors (AutoModelForImageClassification,
# AutoModelForPreTraining for MAE) so that their module paths (``vit.encoder.layer.0``) exist.
HF_AUTO_CLASSES = ("AutoModelForImageClassification", "AutoModelForPreTraining", "AutoModel")


def read_manifest(manifest_path: str | Path | None) -> dict[str, Any]:
    """The manifest written by download_model (empty dict when there is none)."""
    if manifest_path is None:
        return {}
    path = Path(manifest_path)
    if not path.exists():
        raise InputDataError(
            f"Model manifest {path} does not exist.",
            f"build it first: `snakemake {path.parent} --cores 1` (rule download_model).",
        )
    return json.loads(path.read_text())


def _weights_path(spec: ModelSpec, manifest: Mapping[str, Any], folder: Path) -> Path:
    rel = manifest.get("weights_file")
    if not rel:
        raise InputDataError(
            f"models.{spec.key}: the manifest in {folder} lists no weights file "
            "(it was written for a randomly initialised model).",
            f"delete the folder (`rm -r {folder}`) and run the same snakemake command again "
            "(download_model fetches the weights; the entry must not say pretrained: false).",
        )
    path = folder / rel
    expected = manifest.get("weights_sha256")
    if not path.exists() or (expected and sha256_file(path) != expected):
        raise InputDataError(
            f"models.{spec.key}: weights file {path} is missing or does not match the sha256 "
            f"{expected} recorded in its manifest.",
            f"delete the folder (`rm -r {folder}`) and run the same snakemake command again "
            "(download_model fetches the weights anew).",
        )
    return path


def _init_fixed_embeddings(model: nn.Module) -> nn.Module:
    """Run the embeddings' own initialisation that ``from_config`` skips: ViTMAE's fixed
    sin-cos position table and its normal(0.02) CLS token (transformers marks the patch
    projection initialised first, and ``ViTMAEEmbeddings.initialize_weights`` then returns
    early, leaving both at zero: a random MAE without positions)."""
    for module in model.modules():
        if type(module).__name__ == "ViTMAEEmbeddings":
            projection = module.patch_embeddings.projection
            if getattr(projection, "_is_hf_initialized", False):
                projection._is_hf_initialized = False
            with torch.no_grad():
                module.initialize_weights()
    return model


def _hf_model(spec: ModelSpec, source: str | Path | None) -> nn.Module:
    """Build a transformers model from a local folder or (random init) from hf_config."""
    import transformers

    # float32 always: transformers 5 loads in the checkpoint's dtype by default ("auto").
    if source is None:
        config = transformers.AutoConfig.for_model(**copy.deepcopy(spec.hf_config or {}))
    else:
        config = transformers.AutoConfig.from_pretrained(source)
    if hasattr(config, "mask_ratio") and spec.mask_ratio is not None:
        config.mask_ratio = spec.mask_ratio  # ViTMAE: 0.0 keeps every patch; None its own
    errors = []
    for name in HF_AUTO_CLASSES:
        auto = getattr(transformers, name)
        try:
            if source is None:
                return _init_fixed_embeddings(auto.from_config(config, dtype=torch.float32))
            return auto.from_pretrained(source, config=config, dtype=torch.float32)
        except ValueError as error:  # this auto class does not know the model type
            errors.append(f"{name}: {error}")
    raise ConfigError(
        f"models.{spec.key}: transformers cannot build model type "
        f"{getattr(config, 'model_type', '?')!r} ({'; '.join(errors)[:300]}).",
        f"check models.{spec.key}.weights / hf_config.",
    )


def load_model(spec: ModelSpec, manifest_path: str | Path | None = None) -> nn.Module:
    """The network of ``spec`` in eval mode with gradients off.

    Pretrained weights come from the files listed in ``manifest_path`` (checked against their
    sha256); ``spec.pretrained is False`` gives a random init seeded with ``spec.seed``.
    """
    torch.manual_seed(spec.seed)
    if spec.pretrained:
        manifest = read_manifest(manifest_path)
        folder = Path(manifest_path).parent  # type: ignore[arg-type]
    if spec.source == "timm":
        import timm

        try:
            if spec.pretrained:
                file = _weights_path(spec, manifest, folder)
                model = timm.create_model(
                    spec.weights,
                    pretrained=True,
                    pretrained_cfg_overlay={"file": str(file)},
                    **spec.model_kwargs,
                )
            else:
                model = timm.create_model(spec.weights, pretrained=False, **spec.model_kwargs)
        except RuntimeError as error:
            if "Unknown model" not in str(error):
                raise
            raise ConfigError(
                f"models.{spec.key}.weights {spec.weights!r} is not a timm model name ({error}).",
                "use a name from timm.list_models(), e.g. vit_base_patch16_224.orig_in21k.",
            ) from error
        if spec.mask_ratio:  # None or 0: timm models mask nothing
            install_timm_masking(spec, model)
    else:
        model = _hf_model(spec, folder if spec.pretrained else None)
    model.eval()
    model.requires_grad_(False)
    return model
