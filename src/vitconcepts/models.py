"""Target models: config -> ModelSpec -> loaded network -> per-layer unit activations.

* :func:`resolve_model_spec` turns ``config["models"][key]`` into a :class:`ModelSpec` with
  every default filled in and every value checked (``ConfigError`` naming the key).
* :func:`load_model` builds the network from the files listed in the manifest written by
  :func:`vitconcepts.download.download_model` (or randomly initialised for tests).
* :func:`validate_layers` resolves the layer names against the network (defaults per
  architecture; the authors' ``vit.encoder.layer[0]`` spelling is accepted).
* :func:`build_transform` gives the image preprocessing (``paper`` or the model's ``native``).
* :class:`ActivationExtractor` hooks the layers and returns ``{layer: Tensor[batch, units]}``:
  the CLS token (token 0) of a ViT block's output, or the spatial mean of a CNN stage's
  output, exactly as the authors' CLIP-Dissect hook did.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .constants import IMAGENET_MEAN, IMAGENET_STD
from .errors import ConfigError, InputDataError
from .provenance import sha256_file

SOURCES = ("timm", "transformers")
ARCHS = ("vit", "cnn")
UNITS = ("cls", "spatial_mean")
PREPROCESSING = ("paper", "native")
SPEC_KEYS = (
    "source",
    "weights",
    "arch",
    "layers",
    "units",
    "preprocessing",
    "mask_ratio",
    "pretrained",
    "model_kwargs",
    "hf_config",
    "input_size",
    "seed",
    "revision",
    "finetuned_from",
    "dataset",
)
# transformers classes tried in order, like the authors (AutoModelForImageClassification,
# AutoModelForPreTraining for MAE) so that their module paths (``vit.encoder.layer.0``) exist.
HF_AUTO_CLASSES = ("AutoModelForImageClassification", "AutoModelForPreTraining", "AutoModel")


@dataclass(frozen=True)
class ModelSpec:
    """Everything that defines a target model's activations (see ``config.schema.yaml``)."""

    key: str
    source: str
    weights: str
    arch: str
    layers: tuple[str, ...] | None = None  # None: the architecture's default layers
    units: str = "cls"
    preprocessing: str = "paper"
    mask_ratio: float = 0.0
    pretrained: bool = True
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    hf_config: dict[str, Any] | None = None
    input_size: int = 224
    seed: int = 0
    revision: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (for fingerprints and provenance)."""
        record = asdict(self)
        record["layers"] = list(self.layers) if self.layers is not None else None
        return record


def _choice(key: str, name: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ConfigError(
            f"models.{key}.{name} is {value!r}; allowed values are {', '.join(allowed)}.",
            f"set models.{key}.{name} in the config to one of them.",
        )
    return str(value)


def normalise_layer_name(name: str) -> str:
    """``vit.encoder.layer[0]`` -> ``vit.encoder.layer.0`` (the authors' spelling)."""
    return re.sub(r"\[(\d+)\]", r".\1", str(name).strip())


def resolve_model_spec(key: str, entry: Mapping[str, Any]) -> ModelSpec:
    """Check ``config["models"][key]`` and fill in defaults; raise ConfigError naming the key."""
    unknown = sorted(set(entry) - set(SPEC_KEYS))
    if unknown:
        raise ConfigError(
            f"models.{key} has unknown keys {', '.join(unknown)}; "
            f"known keys are {', '.join(SPEC_KEYS)}.",
            f"remove or rename them in models.{key}.",
        )
    source = _choice(key, "source", entry.get("source", "timm"), SOURCES)
    arch = _choice(key, "arch", entry.get("arch"), ARCHS)
    weights = entry.get("weights")
    if not weights or not isinstance(weights, str):
        raise ConfigError(
            f"models.{key}.weights is missing.",
            f"set models.{key}.weights to a timm model name (e.g. vit_base_patch16_224."
            "orig_in21k) or a Hugging Face hub id.",
        )
    units = entry.get("units") or ("cls" if arch == "vit" else "spatial_mean")
    units = _choice(key, "units", units, UNITS)
    layers = entry.get("layers")
    if layers is not None:
        if isinstance(layers, str):
            layers = layers.split(",")
        layers = tuple(normalise_layer_name(x) for x in layers if str(x).strip())
        if not layers:
            layers = None
    mask_ratio = float(entry.get("mask_ratio", 0.0) or 0.0)
    if not 0.0 <= mask_ratio < 1.0:
        raise ConfigError(
            f"models.{key}.mask_ratio is {mask_ratio}; it must be in [0, 1).",
            "use 0.0 (all patches) or e.g. 0.75 (MAE pre-training masking).",
        )
    if mask_ratio > 0 and arch != "vit":
        raise ConfigError(
            f"models.{key}.mask_ratio is {mask_ratio} but models.{key}.arch is {arch}.",
            "patch masking only applies to ViTs; set mask_ratio to 0.",
        )
    hf_config = entry.get("hf_config")
    pretrained = entry.get("pretrained", True)
    if not isinstance(pretrained, bool):
        raise ConfigError(f"models.{key}.pretrained must be true or false, not {pretrained!r}.")
    if source == "transformers" and not pretrained and not hf_config:
        raise ConfigError(
            f"models.{key}.pretrained is false but models.{key}.hf_config is empty.",
            "a randomly initialised transformers model needs hf_config "
            "(e.g. {model_type: vit, hidden_size: 32, ...}).",
        )
    return ModelSpec(
        key=key,
        source=source,
        weights=weights,
        arch=arch,
        layers=layers,
        units=units,
        preprocessing=_choice(
            key, "preprocessing", entry.get("preprocessing", "paper"), PREPROCESSING
        ),
        mask_ratio=mask_ratio,
        pretrained=pretrained,
        model_kwargs=dict(entry.get("model_kwargs") or {}),
        hf_config=dict(hf_config) if hf_config else None,
        input_size=int(entry.get("input_size", 224) or 224),
        seed=int(entry.get("seed", 0) or 0),
        revision=entry.get("revision"),
    )


# -- loading ---------------------------------------------------------------------------------
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


def _hf_model(spec: ModelSpec, source: str | Path | None) -> nn.Module:
    """Build a transformers model from a local folder or (random init) from hf_config."""
    import transformers

    # float32 always: transformers 5 loads in the checkpoint's dtype by default ("auto").
    if source is None:
        config = transformers.AutoConfig.for_model(**copy.deepcopy(spec.hf_config or {}))
    else:
        config = transformers.AutoConfig.from_pretrained(source)
    if hasattr(config, "mask_ratio"):
        config.mask_ratio = spec.mask_ratio  # ViTMAE: 0.0 keeps every patch
    errors = []
    for name in HF_AUTO_CLASSES:
        auto = getattr(transformers, name)
        try:
            if source is None:
                return auto.from_config(config, dtype=torch.float32)
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
        if spec.mask_ratio > 0:
            _install_timm_masking(spec, model)
    else:
        model = _hf_model(spec, folder if spec.pretrained else None)
    model.eval()
    model.requires_grad_(False)
    return model


# -- layers ----------------------------------------------------------------------------------
def _module_names(model: nn.Module) -> list[str]:
    return [name for name, _ in model.named_modules() if name]


def default_layers(spec: ModelSpec, model: nn.Module) -> list[str]:
    """The layers the paper analyses: every transformer block, or a CNN's stem + stages.

    ViT: ``blocks.i`` (timm), ``<prefix>.encoder.layer.i`` or, since transformers 5,
    ``<prefix>.layers.i`` (HF ViT/DINOv2/ViTMAE),
    ``vision_model.encoder.layers.i`` (HF CLIP). CNN: ``conv1, layer1..4`` (timm ResNet: the
    torchvision names of the authors' published resnet labels), ``<prefix>.embedder,
    <prefix>.encoder.stages.i`` (HF ResNet, as the authors' script), ``stem, stages.i``
    (other timm CNNs).
    """
    modules = dict(model.named_modules())
    prefix = getattr(model, "base_model_prefix", "")
    if spec.arch == "vit":
        for name, module in modules.items():
            is_block_list = name in ("blocks", "layers", f"{prefix}.layers") or name.endswith(
                ("encoder.layer", "encoder.layers")
            )
            if (
                is_block_list
                and "text" not in name
                and isinstance(module, nn.ModuleList | nn.Sequential)
            ):
                return [f"{name}.{child}" for child, _ in module.named_children()]
    else:
        if all(f"layer{i}" in modules for i in range(1, 5)) and "conv1" in modules:
            return ["conv1", "layer1", "layer2", "layer3", "layer4"]
        for name in modules:
            if name.endswith("encoder.stages"):
                prefix = name[: -len("encoder.stages")]
                stages = [f"{name}.{c}" for c, _ in modules[name].named_children()]
                return [f"{prefix}embedder", *stages]
        if "stem" in modules and "stages" in modules:
            return ["stem", *[f"stages.{c}" for c, _ in modules["stages"].named_children()]]
    raise ConfigError(
        f"models.{spec.key}: no default layers are known for this {spec.arch} "
        f"({type(model).__name__}).",
        f"list them in models.{spec.key}.layers (module paths such as "
        f"{', '.join(_module_names(model)[:6])}).",
    )


def _layer_aliases(name: str, prefix: str) -> list[str]:
    """Spellings of one layer across transformers versions and with/without base prefix."""
    spellings = [name]
    for old, new in (("encoder.layer.", "layers."), ("encoder.layers.", "layers.")):
        if old in name:
            spellings.append(name.replace(old, new))
        elif new in name:
            spellings.append(name.replace(new, old))
    aliases = []
    for spelling in spellings:
        aliases.append(spelling)
        if prefix:
            aliases += [f"{prefix}.{spelling}", spelling.removeprefix(f"{prefix}.")]
    return list(dict.fromkeys(aliases))


def _unique_suffix_match(spellings: Sequence[str], modules: set[str]) -> str | None:
    """The one module whose path equals a spelling up to leading wrapper components.

    E.g. ``vision_model.encoder.layers.1`` (CLIPForImageClassification) matches
    ``encoder.layers.1`` of a bare CLIPVisionModel; ambiguous matches give None.
    """
    hits = {
        module
        for module in modules
        for spelling in spellings
        if module.endswith("." + spelling) or spelling.endswith("." + module)
    }
    return hits.pop() if len(hits) == 1 else None


def validate_layers(spec: ModelSpec, model: nn.Module) -> list[str]:
    """Module paths of ``spec``'s layers in ``model``; ConfigError for names that do not exist.

    A name with or without the transformers base-model prefix (``vit.encoder.layer.0`` vs
    ``encoder.layer.0``), the pre-5.0 transformers spelling ``encoder.layer.i`` for the
    current ``layers.i``, and names that differ only by leading wrapper modules (when that
    match is unique) are accepted and mapped to the module the model has.
    """
    if spec.layers is None:
        return default_layers(spec, model)
    modules = set(_module_names(model))
    prefix = getattr(model, "base_model_prefix", "")
    resolved, bad = [], []
    for name in spec.layers:
        name = normalise_layer_name(name)
        spellings = _layer_aliases(name, prefix)
        found = next((c for c in spellings if c in modules), None) or _unique_suffix_match(
            spellings, modules
        )
        if found is None:
            bad.append(name)
        else:
            resolved.append(found)
    if bad:
        try:
            examples = default_layers(spec, model)
        except ConfigError:
            examples = _module_names(model)
        raise ConfigError(
            f"models.{spec.key}.layers: {', '.join(map(repr, bad))} "
            f"{'is not a module' if len(bad) == 1 else 'are not modules'} of "
            f"{type(model).__name__}; valid names include {', '.join(examples[:6])}.",
            f"fix models.{spec.key}.layers (module paths as in model.named_modules(); "
            "`layer[3]` is read as `layer.3`), or remove it to use the default layers.",
        )
    return resolved


# -- preprocessing ---------------------------------------------------------------------------
def build_transform(spec: ModelSpec, model: nn.Module):
    """PIL image -> float tensor [3, H, W] for ``spec.preprocessing``.

    ``paper``: Resize(256) (scaled with input_size), CenterCrop(input_size), ToTensor,
    Normalize(ImageNet mean/std), the authors' preprocessing for every model. ``native``: the
    model's own (timm data config, or the transformers image processor).
    """
    from torchvision import transforms

    if spec.preprocessing == "paper":
        size = spec.input_size
        return transforms.Compose(
            [
                transforms.Resize(round(size * 256 / 224)),
                transforms.CenterCrop(size),
                transforms.ToTensor(),
                transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
            ]
        )
    if spec.source == "timm":
        import timm.data

        config = timm.data.resolve_data_config({}, model=model)
        return timm.data.create_transform(**config)
    from transformers import AutoImageProcessor

    processor = AutoImageProcessor.from_pretrained(model.config._name_or_path)

    def hf_transform(image):
        return processor(images=image.convert("RGB"), return_tensors="pt")["pixel_values"][0]

    return hf_transform


# -- masking (MAE) ---------------------------------------------------------------------------
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


class _TimmPatchMask(nn.Module):
    """Replaces timm's ``patch_drop``: drops ``ratio`` of the patch tokens, seeded per sample."""

    def __init__(self, ratio: float, prefix: int, seed: int) -> None:
        super().__init__()
        self.ratio, self.prefix, self.seed = ratio, prefix, seed
        self.samples: torch.Tensor | None = None

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        samples = self.samples if self.samples is not None else torch.arange(len(tokens))
        noise = mask_noise(self.seed, samples, tokens.shape[1] - self.prefix)
        return keep_random_patches(tokens, noise, self.ratio, self.prefix)


def _install_timm_masking(spec: ModelSpec, model: nn.Module) -> None:
    if not hasattr(model, "patch_drop"):
        raise ConfigError(
            f"models.{spec.key}.mask_ratio is set but {type(model).__name__} has no "
            "patch_drop stage to mask.",
            "masking is supported for timm VisionTransformer models; set mask_ratio to 0.",
        )
    model.patch_drop = _TimmPatchMask(spec.mask_ratio, model.num_prefix_tokens, spec.seed)


# -- extraction ------------------------------------------------------------------------------
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
        if isinstance(mask, _TimmPatchMask):
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
