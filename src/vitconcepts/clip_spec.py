"""What a ``clip_models`` entry names: the open_clip model, its pretrained tag and settings.

A CLIP entry is ``config["clip_models"][key]``: ``{arch, pretrained, seed}`` (``vitconcepts.clip``
describes them). Everything here is read from the open_clip configs alone (no weights); it
imports nothing of the pixel side, so ``vitconcepts.pixels`` can derive CLIP's recipe from it.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .provenance import sha256_json


def model_name(clip_entry: Mapping[str, Any]) -> str:
    """The open_clip model name of an entry; a config-dict ``arch`` is registered first."""
    import open_clip

    arch = clip_entry.get("arch")
    if isinstance(arch, Mapping):
        if not all(k in arch for k in ("embed_dim", "vision_cfg", "text_cfg")):
            raise ConfigError(
                "The `arch` of a clip_models entry is a dict but lacks embed_dim, vision_cfg or "
                "text_cfg.",
                "set `arch:` of that entry under `clip_models:` in your config file to an "
                "open_clip model name (e.g. ViT-B-16) or a full open_clip model config.",
            )
        name = f"vitconcepts-{sha256_json(dict(arch))[:16]}"
        if open_clip.get_model_config(name) is None:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / f"{name}.json"
                path.write_text(json.dumps(dict(arch)))
                open_clip.add_model_config(path)
        return name
    if not isinstance(arch, str) or not arch:
        raise ConfigError(
            f"The `arch` of a clip_models entry is {arch!r}.",
            "set `arch:` of that entry under `clip_models:` in your config file to an "
            "open_clip model name such as ViT-B-16.",
        )
    name = arch.replace("/", "-")
    if open_clip.get_model_config(name) is None:
        raise ConfigError(
            f"The `arch` {arch!r} of a clip_models entry is not an open_clip model.",
            "set `arch:` of that entry under `clip_models:` in your config file to a name "
            "from open_clip.list_models(), e.g. ViT-B-16.",
        )
    return name


def pretrained_tag(clip_entry: Mapping[str, Any]) -> str | None:
    """The open_clip tag, or None for an explicit ``pretrained: false`` (random init).

    A missing, null or empty ``pretrained`` is a ConfigError: a scorer must never be random
    by accident (``check_clip_models`` in rules/plan_config.py says the same before any job).
    """
    tag = clip_entry.get("pretrained")
    if tag is False:
        return None
    if isinstance(tag, str) and tag.strip():
        return tag
    state = "missing" if "pretrained" not in clip_entry else repr(tag)
    raise ConfigError(
        f"clip_models.<key>.pretrained is {state} for the CLIP entry with arch "
        f"{clip_entry.get('arch')!r}: a randomly initialised scorer gives meaningless labels.",
        "set `pretrained: openai` (or another open_clip tag), or `pretrained: false` for a "
        "random scorer in tests.",
    )


def tag_cfg(name: str, tag: str | None) -> dict[str, Any]:
    import open_clip

    return dict(open_clip.get_pretrained_cfg(name, tag) or {}) if tag else {}


def embedding_dim(clip_entry: Mapping[str, Any]) -> int:
    """Width of the joint embedding space of a CLIP entry."""
    import open_clip

    return int(open_clip.get_model_config(model_name(clip_entry))["embed_dim"])
