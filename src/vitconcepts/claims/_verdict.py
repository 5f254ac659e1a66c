"""Verdicts: does an interval (or, without resamples, a value) support a claim?"""

from __future__ import annotations

import math

VERDICTS = ("holds", "contradicted", "inconclusive")


def verdict(value: float, low: float, high: float, side: int = 1, threshold: float = 0.0) -> str:
    """``holds`` when the interval ``[low, high]`` lies beyond ``threshold`` on the claimed
    ``side`` (+1: above, -1: below), ``contradicted`` when it lies beyond it on the other
    side, else ``inconclusive``. Without an interval (``low``/``high`` NaN: published labels,
    no resamples) the value's side decides. A NaN value or threshold is ``inconclusive``."""
    if not (math.isfinite(value) and math.isfinite(threshold)):
        return "inconclusive"
    if not (math.isfinite(low) and math.isfinite(high)):
        low = high = value
    low, high = side * (low - threshold), side * (high - threshold)
    low, high = min(low, high), max(low, high)
    if low > 0:
        return "holds"
    if high < 0:
        return "contradicted"
    return "inconclusive"
