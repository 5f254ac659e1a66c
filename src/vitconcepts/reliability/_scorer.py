"""One labeling method bound to its params and device, with its concept prior kept apart.

``soft_wpmi`` and ``wpmi`` score ``log p(c|u) - lam * log p(c)`` where
``log p(c) = logsumexp_u log p(c|u) - log U`` is taken over the layer's units. Run with
``lam=0`` they return ``log p(c|u)`` alone (the "raw" score); :meth:`LayerScorer.prior` turns
raw scores into ``lam * log p(c)``. For the other methods the prior is zero and raw = score.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..labeling import method_and_params

#: Methods whose score subtracts ``lam * log p(c)`` (a prior over the layer's units).
PRIOR_METHODS = ("soft_wpmi", "wpmi")


@dataclass(frozen=True)
class LayerScorer:
    method: str
    params: dict[str, Any]
    device: torch.device

    @classmethod
    def build(cls, method: str, params: dict[str, Any] | None, device: torch.device):
        _, params = method_and_params(method, params)  # checks the method and its params
        return cls(method, params, device)

    @property
    def lam(self) -> float:
        if self.method not in PRIOR_METHODS:
            return 0.0
        fn, _ = method_and_params(self.method, None)
        return float(self.params.get("lam", inspect.signature(fn).parameters["lam"].default))

    def raw(self, similarity, activations: Tensor) -> Tensor:
        """``[units, concepts]``: ``log p(c|u)`` for the prior methods, else the score."""
        fn, _ = method_and_params(self.method, None)
        params = dict(self.params)
        if self.method in PRIOR_METHODS:
            params["lam"] = 0.0
        return fn(similarity, activations, **params, device=self.device)

    def prior(self, raw: Tensor) -> Tensor:
        """``[concepts]``: ``lam * log p(c)`` of the units of ``raw`` (zeros without a prior)."""
        if self.lam == 0.0:
            return torch.zeros(raw.shape[1], dtype=raw.dtype, device=raw.device)
        return (torch.logsumexp(raw, dim=0) - math.log(raw.shape[0])).mul_(self.lam)

    def best(self, similarity, activations: Tensor) -> tuple[np.ndarray, np.ndarray, Tensor]:
        """Each unit's best concept index and score, as a labeling of these units gives them,
        and the raw scores ``[units, concepts]``."""
        raw = self.raw(similarity, activations)
        score, index = (raw - self.prior(raw)).max(dim=1)
        return index.cpu().numpy(), score.float().cpu().numpy(), raw
