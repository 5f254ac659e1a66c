"""Checks of a whole config that JSON schema cannot express, and the model roles it defines.

The Snakefile calls :func:`check_config` right after ``validate(config, schema)``, so a bad
config stops before any job runs, with one paragraph naming the key and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import ConfigError

MODEL_SOURCES = ("timm", "transformers")


def _require_key(config: dict, section: str, key_name: str) -> None:
    key = config.get(key_name)
    choices = sorted(config.get(section, {}))
    if key not in config.get(section, {}):
        raise ConfigError(
            f"Config key `{key_name}` is {key!r}, which is not a key of `{section}` "
            f"(defined: {', '.join(choices) or 'none'}).",
            f"set `{key_name}` to one of those, or add an entry `{section}.{key}`.",
        )


def check_models(models: dict[str, dict[str, Any]]) -> None:
    """Check every model entry: known source, known parent for finetuned copies."""
    for key, entry in models.items():
        source = entry.get("source")
        if source not in MODEL_SOURCES:
            raise ConfigError(
                f"Config key `models.{key}.source` is {source!r}, an unknown model source.",
                f"use one of {', '.join(MODEL_SOURCES)} (timm for weights timm has, "
                "transformers for checkpoints only on the Hugging Face hub).",
            )
        parent = entry.get("finetuned_from")
        if parent is not None and parent not in models:
            raise ConfigError(
                f"Config key `models.{key}.finetuned_from` names {parent!r}, which is not a "
                "key of `models`.",
                f"use one of {', '.join(sorted(models))} or remove the key.",
            )
        if not key.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(
                f"Model key {key!r} under `models` contains characters other than letters, "
                "digits, '_' and '-'; it is used in file names.",
                "rename the model key.",
            )


def check_layers(models: dict[str, dict[str, Any]]) -> None:
    """Resolve every model entry, and check explicitly listed layers against the network.

    Layer names are checked on a weightless skeleton (built on torch's meta device, no
    download) for timm models, transformers models given as ``hf_config``, and the paper's
    hub checkpoints and their finetuned copies (built from the hub config values recorded in
    :data:`vitconcepts.identity.PAPER_ARCHITECTURES`); names of other hub checkpoints are
    checked by dump_activations before it reads any image.
    """
    from dataclasses import replace

    from .identity import paper_hf_config
    from .models import load_model, resolve_model_spec, validate_layers

    for key, entry in models.items():
        spec = resolve_model_spec(key, entry)
        if spec.layers is None:
            continue
        if spec.source == "transformers" and not spec.hf_config:
            parent = models.get(entry.get("finetuned_from") or "", {})
            known = paper_hf_config(spec.weights) or paper_hf_config(parent.get("weights", ""))
            if known is None:
                continue
            spec = replace(spec, hf_config=dict(known))
        import torch

        with torch.device("meta"):
            skeleton = load_model(replace(spec, pretrained=False, mask_ratio=0.0))
        validate_layers(spec, skeleton)


def check_roles(config: dict) -> None:
    """Check that the models named in `analysis` exist."""
    models = config["models"]
    analysis = config.get("analysis", {})
    named = [("analysis.vits", m) for m in analysis.get("vits", [])]
    named += [("analysis.finetuning_mean", m) for m in analysis.get("finetuning_mean", [])]
    if analysis.get("cnn"):
        named.append(("analysis.cnn", analysis["cnn"]))
    example = analysis.get("example_units", {}).get("model")
    if example:
        named.append(("analysis.example_units.model", example))
    for key, model in named:
        if model not in models:
            raise ConfigError(
                f"Config key `{key}` names model {model!r}, which is not a key of `models`.",
                f"use one of {', '.join(sorted(models))}.",
            )


def check_published(config: dict) -> None:
    """With labels_source: published, each analysed model needs a published labels entry."""
    local = config.get("published_labels", "")
    if local and not Path(local).is_dir():
        raise ConfigError(
            f"Config key `published_labels` is {local!r}, which is not a folder.",
            "point it at a folder holding the authors' files (e.g. vit.csv, "
            "words_per_category_curated.json), or leave it empty to download them.",
        )
    if config.get("labels_source") != "published":
        return
    published = config.get("published", {})
    if not published.get("labels"):
        raise ConfigError(
            "Config key `labels_source` is 'published' but `published.labels` is empty.",
            "add `published.labels.<model>: {path: results/<model>.csv}` entries, or set "
            "`labels_source: computed`.",
        )
    if not local and not published.get("base_url"):
        raise ConfigError(
            "Config key `published.base_url` is missing and `published_labels` is empty, so "
            "the authors' files can be neither downloaded nor read.",
            "set `published.base_url` or `--config published_labels=DIR`.",
        )


def check_concept_set(config: dict) -> None:
    """A concept set read off label files only makes sense for published labels."""
    key = config["concept_set"]
    if (
        config["concept_sets"][key]["kind"] == "labels"
        and config.get("labels_source") != "published"
    ):
        raise ConfigError(
            f"Config key `concept_sets.{key}.kind` is 'labels' (concepts read off the label "
            "files), but `labels_source` is 'computed': labels cannot be computed from "
            "concepts that come from the labels.",
            "use a concept set of kind url, file or wordfreq, or set `labels_source: published`.",
        )


def check_clip_models(config: dict) -> None:
    """Every CLIP scorer states its weights: an open_clip tag, or `pretrained: false`.

    A missing or null `pretrained` would silently build a randomly initialised scorer whose
    labels mean nothing, so it is an error; only an explicit `false` asks for random weights
    (tests), and that choice is stamped on every output (:func:`random_clip_scorer`).
    """
    for key, entry in config.get("clip_models", {}).items():
        tag = entry.get("pretrained")
        if tag is False or (isinstance(tag, str) and tag.strip()):
            continue
        state = "missing" if "pretrained" not in entry else f"{tag!r}"
        raise ConfigError(
            f"Config key `clip_models.{key}.pretrained` is {state}: the CLIP scorer's weights "
            "are not stated, and a randomly initialised scorer gives meaningless labels.",
            f"set `clip_models.{key}.pretrained: openai` (the paper's weights, or another "
            "open_clip tag of its arch), or `pretrained: false` for a random scorer in tests.",
        )


def random_clip_scorer(config: dict) -> bool:
    """True when this run's labels come from a randomly initialised CLIP scorer.

    That is: labels are computed (not the authors' published ones) and the entry of
    `clip_model` says `pretrained: false`.
    """
    if config.get("labels_source") == "published":
        return False
    entry = config.get("clip_models", {}).get(config.get("clip_model"), {})
    return entry.get("pretrained") is False


#: Stamp put on every output of a run whose labels come from a random CLIP scorer.
RANDOM_SCORER_NOTE = "random CLIP scorer: labels are not meaningful"


def check_complexity(config: dict) -> None:
    """`complexity.measure: learned` needs `complexity.scorer: module:function`."""
    from .complexity import LEARNED_HINT, LEARNED_NEEDS_SCORER

    complexity = config.get("complexity", {})
    if complexity.get("measure") == "learned":
        scorer = complexity.get("scorer")
        if not scorer:
            raise ConfigError(LEARNED_NEEDS_SCORER, LEARNED_HINT)
        module, sep, attr = str(scorer).rpartition(":")
        if not (sep and module and attr):
            raise ConfigError(
                f"Config key `complexity.scorer` is {scorer!r}, not of the form 'module:function'.",
                LEARNED_HINT,
            )


def check_config(config: dict) -> None:
    """Run every cross-key check; raise ConfigError with one paragraph on the first problem."""
    _require_key(config, "probes", "probe")
    _require_key(config, "concept_sets", "concept_set")
    _require_key(config, "clip_models", "clip_model")
    check_models(config["models"])
    check_layers(config["models"])
    check_roles(config)
    check_clip_models(config)
    check_complexity(config)
    check_published(config)
    check_concept_set(config)


def analysed_models(config: dict) -> list[str]:
    """Models whose labels enter the analysis, in config order.

    Computed labels: every model. Published labels: the models the authors published.
    """
    models = list(config["models"])
    if config.get("labels_source") == "published":
        published = config.get("published", {}).get("labels", {})
        models = [m for m in models if m in published]
    return models


def finetuned_pairs(config: dict) -> dict[str, tuple[str, str]]:
    """{finetuned model: (base model, dataset)} among the analysed models."""
    analysed = set(analysed_models(config))
    pairs = {}
    for key in analysed_models(config):
        entry = config["models"][key]
        base = entry.get("finetuned_from")
        if base and base in analysed:
            pairs[key] = (base, entry.get("dataset") or "finetuned")
    return pairs


def finetuning_conditions(config: dict) -> dict[str, list[str]]:
    """The models averaged per condition in the paper's Figs. 7 and 8.

    ``{"pretrained": bases, dataset: [finetuned copy of each base], ...}``, bases from
    ``analysis.finetuning_mean`` (the paper: vit, dinov2, clip), or when that list is empty
    the models of ``analysis.vits`` that have finetuned copies; datasets in config order,
    each list in base order (a base without a copy on a dataset is left out of that mean).
    Empty when no analysed model has finetuned copies.
    """
    pairs = finetuned_pairs(config)
    analysis = config.get("analysis", {})
    with_copies = {base for base, _ in pairs.values()}
    bases = list(analysis.get("finetuning_mean") or [])
    if not bases:
        bases = [m for m in analysis.get("vits", []) if m in with_copies]
    bases = [m for m in bases if m in analysed_models(config)]
    if not bases or not pairs:
        return {}
    copies: dict[str, dict[str, str]] = {}
    for model, (base, dataset) in pairs.items():
        if base in bases:
            copies.setdefault(dataset, {})[base] = model
    conditions = {"pretrained": bases}
    for dataset, by_base in copies.items():
        conditions[dataset] = [by_base[b] for b in bases if b in by_base]
    return conditions if len(conditions) > 1 else {}
