"""What the rule scripts read off the config as a whole.

The workflow's parse-time checks and derived lists (analysed models, finetuned pairs, data
paths) are in rules/plan_config.py and rules/plan_inputs.py (standard library only); the
checks that need the library run at the start of rule scripts (:mod:`vitconcepts.preflight`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def random_clip_scorer(config: Mapping[str, Any]) -> bool:
    """True when this run's labels come from a randomly initialised CLIP scorer.

    That is: labels are computed (not the authors' published ones) and the entry of
    `clip_model` says `pretrained: false`.
    """
    if config.get("labels_source") == "published":
        return False
    entry = config.get("clip_models", {}).get(config.get("clip_model"), {})
    return entry.get("pretrained") is False
