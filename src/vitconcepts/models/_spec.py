"""Stage 1: ``config["models"][key]`` -> :class:`ModelSpec`, every default filled in."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..constants import MODEL_SOURCES, SCHEMA_PATH
from ..errors import ConfigError

ARCHS = ("vit", "cnn")
#: the unit kinds of each architecture, the paper's (the default, always written) first;
#: rules/plan_config.py holds the same table for the workflow (tests check they agree)
UNIT_KINDS = {"vit": ("cls", "patch_mean", "mlp", "mlp_mean"), "cnn": ("spatial_mean",)}
UNITS = ("cls", "spatial_mean", "patch_mean", "mlp", "mlp_mean")
PREPROCESSING = ("paper", "native")


@dataclass(frozen=True)
class ModelSpec:
    """Everything that defines a target model's activations (see ``config.schema.yaml``)."""

    key: str
    source: str
    weights: str
    arch: str
    layers: tuple[str, ...] | None = None  # None: the architecture's default layers
    units: tuple[str, ...] = ("cls",)  # unit kinds, the architecture's default first
    preprocessing: str = "paper"
    mask_ratio: float | None = None  # None: the checkpoint's own (ViTMAE's config), else 0
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
        record["units"] = list(self.units)
        return record

    @property
    def default_kind(self) -> str:
        """The paper's units of this architecture (``cls`` or ``spatial_mean``)."""
        return self.units[0]


@functools.cache
def model_entry_keys() -> tuple[str, ...] | None:
    """The keys a ``models.<key>`` entry may have, read off ``config.schema.yaml``.

    None when the schema is not at hand (an installed package outside a checkout): the
    Snakefile's schema walk has then already checked the keys.
    """
    if not SCHEMA_PATH.is_file():
        return None
    import yaml

    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    entry = schema["properties"]["models"]["additionalProperties"]
    return tuple(entry["properties"])


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


def _check_known_keys(key: str, entry: Mapping[str, Any]) -> None:
    known = model_entry_keys()
    unknown = sorted(set(entry) - set(known)) if known is not None else []
    if unknown:
        raise ConfigError(
            f"models.{key} has unknown keys {', '.join(unknown)}; "
            f"known keys are {', '.join(known)}.",
            f"remove or rename them in models.{key}.",
        )


def _layers(entry: Mapping[str, Any]) -> tuple[str, ...] | None:
    layers = entry.get("layers")
    if layers is None:
        return None
    if isinstance(layers, str):
        layers = layers.split(",")
    return tuple(normalise_layer_name(x) for x in layers if str(x).strip()) or None


def _units(key: str, entry: Mapping[str, Any], arch: str) -> tuple[str, ...]:
    """``units`` (a list, or a comma-separated string) -> kinds in canonical order, the
    architecture's default first (it is always written: the paper's figures read it)."""
    value = entry.get("units")
    if value is None:
        listed: list[str] = []
    elif isinstance(value, str):
        listed = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, Sequence):
        listed = [str(part).strip() for part in value]
    else:
        listed = [repr(value)]
    allowed = UNIT_KINDS[arch]
    bad = [kind for kind in listed if kind not in allowed]
    if bad:
        example = "[cls, mlp]" if arch == "vit" else "[spatial_mean]"
        raise ConfigError(
            f"models.{key}.units lists {', '.join(map(repr, bad))}, which "
            f"{'is not a unit kind' if len(bad) == 1 else 'are not unit kinds'} of a {arch} "
            f"(models.{key}.arch); a {arch} has {', '.join(allowed)}.",
            f"set models.{key}.units to a list of those (e.g. {example}), or remove it for "
            f"the paper's [{allowed[0]}].",
        )
    return tuple(kind for kind in allowed if kind == allowed[0] or kind in listed)


def _mask_ratio(key: str, entry: Mapping[str, Any], arch: str) -> float | None:
    """The entry's `mask_ratio`; None (missing or null) keeps the checkpoint's own value."""
    if entry.get("mask_ratio") is None:
        return None
    mask_ratio = float(entry["mask_ratio"])
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
    return mask_ratio


def _weights(key: str, entry: Mapping[str, Any]) -> str:
    weights = entry.get("weights")
    if not weights or not isinstance(weights, str):
        raise ConfigError(
            f"models.{key}.weights is missing.",
            f"set models.{key}.weights to a timm model name (e.g. vit_base_patch16_224."
            "orig_in21k) or a Hugging Face hub id.",
        )
    return weights


def _random_init_config(key: str, entry: Mapping[str, Any], source: str) -> dict | None:
    """The hf_config a transformers entry is built from without weights: its own, or for a
    ``random_init`` copy of a paper checkpoint that checkpoint's config (known offline)."""
    if entry.get("hf_config"):
        return dict(entry["hf_config"])
    if source != "transformers" or not entry.get("random_init", False):
        return None
    from ..paper_architectures import paper_hf_config

    known = paper_hf_config(str(entry.get("weights", "")))
    if known is None:
        raise ConfigError(
            f"models.{key}.random_init is true but {entry.get('weights')!r} is not one of the "
            "paper's checkpoints, whose architecture is known offline.",
            f"add models.{key}.hf_config with the checkpoint's config.json values "
            "(model_type, hidden_size, num_hidden_layers, ...).",
        )
    return dict(known)


def _pretrained(key: str, entry: Mapping[str, Any], source: str) -> bool:
    if entry.get("random_init", False):
        return False  # the control: the architecture of `weights`, seeded random weights
    pretrained = entry.get("pretrained", True)
    if not isinstance(pretrained, bool):
        raise ConfigError(f"models.{key}.pretrained must be true or false, not {pretrained!r}.")
    if source == "transformers" and not pretrained and not entry.get("hf_config"):
        raise ConfigError(
            f"models.{key}.pretrained is false but models.{key}.hf_config is empty.",
            "a randomly initialised transformers model needs hf_config "
            "(e.g. {model_type: vit, hidden_size: 32, ...}).",
        )
    return pretrained


def resolve_model_spec(key: str, entry: Mapping[str, Any]) -> ModelSpec:
    """Check ``config["models"][key]`` and fill in defaults; raise ConfigError naming the key."""
    _check_known_keys(key, entry)
    source = _choice(key, "source", entry.get("source", "timm"), MODEL_SOURCES)
    arch = _choice(key, "arch", entry.get("arch"), ARCHS)
    weights = _weights(key, entry)
    units = _units(key, entry, arch)
    layers = _layers(entry)
    mask_ratio = _mask_ratio(key, entry, arch)
    pretrained = _pretrained(key, entry, source)
    preprocessing = _choice(
        key, "preprocessing", entry.get("preprocessing", "paper"), PREPROCESSING
    )
    hf_config = _random_init_config(key, entry, source)
    return ModelSpec(
        key=key,
        source=source,
        weights=weights,
        arch=arch,
        layers=layers,
        units=units,
        preprocessing=preprocessing,
        mask_ratio=mask_ratio,
        pretrained=pretrained,
        model_kwargs=dict(entry.get("model_kwargs") or {}),
        hf_config=dict(hf_config) if hf_config else None,
        input_size=int(entry.get("input_size", 224) or 224),
        seed=int(entry.get("seed", 0) or 0),
        revision=entry.get("revision"),
    )
