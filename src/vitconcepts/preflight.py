"""Checks of the config that need the library, run at the start of the rule scripts that
depend on them, before any long work (the workflow's own parse-time checks, which need only
the config, are in rules/plan_config.py).

* :func:`check_model_layers` (download_model): listed layer names exist in the network.
* :func:`check_labeling_params` (label_units): `labeling.params` fit `labeling.method`.
* :func:`check_complexity` (image_complexity): `complexity.measure: learned` has a scorer.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .errors import ConfigError


def _suggest(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return close[0] if close else ""


def check_model_layers(key: str, models: Mapping[str, Mapping[str, Any]]) -> None:
    """Resolve model ``key`` of ``models`` and check its explicitly listed layers.

    Layer names are checked on a weightless skeleton (built on torch's meta device, no
    download) for timm models, transformers models given as ``hf_config``, and the paper's
    hub checkpoints and their finetuned copies (built from the hub config values recorded in
    :data:`vitconcepts.paper_architectures.PAPER_ARCHITECTURES`); names of other hub checkpoints are
    checked by dump_activations before it reads any image.
    """
    import torch

    from .models import load_model, resolve_model_spec, validate_layers
    from .paper_architectures import paper_hf_config

    entry = models[key]
    spec = resolve_model_spec(key, dict(entry))
    if spec.layers is None:
        return
    if spec.source == "transformers" and not spec.hf_config:
        parent = models.get(entry.get("finetuned_from") or "", {})
        known = paper_hf_config(spec.weights) or paper_hf_config(parent.get("weights", ""))
        if known is None:
            return
        spec = replace(spec, hf_config=dict(known))
    with torch.device("meta"):
        skeleton = load_model(replace(spec, pretrained=False, mask_ratio=0.0))
    validate_layers(spec, skeleton)


def check_labeling_params(config: Mapping[str, Any]) -> None:
    """`labeling.params` must be parameters of `labeling.method` (did-you-mean for typos)."""
    from .labeling import METHODS

    labeling = config.get("labeling") or {}
    method = labeling.get("method", "soft_wpmi")
    if method not in METHODS:
        return  # the schema's enum reports it
    allowed = [
        n
        for n in inspect.signature(METHODS[method]).parameters
        if n not in ("similarity", "activations", "device", "block_units")
    ]
    unknown = [str(k) for k in (labeling.get("params") or {}) if k not in allowed]
    if unknown:
        hints = [
            f"`labeling.params.{k}`"
            + (f" (did you mean `{g}`?)" if (g := _suggest(k, allowed)) else "")
            for k in unknown
        ]
        raise ConfigError(
            f"{', '.join(hints)}: labeling method {method!r} takes no such parameter (it "
            f"takes {', '.join(allowed)}).",
            "rename or remove them in the `labeling: params:` block of your config file, or "
            "change `labeling.method`.",
        )


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
