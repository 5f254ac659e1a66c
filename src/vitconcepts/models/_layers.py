"""Stage 3: the layer names of a :class:`ModelSpec` -> module paths of the network."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..errors import ConfigError
from ._spec import ModelSpec, normalise_layer_name


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
