"""Which torch device a step runs on: one rule for every step (dump, embed, label)."""

from __future__ import annotations

import torch

DeviceLike = str | torch.device | None


def resolve_device(device: DeviceLike = "auto") -> torch.device:
    """``"auto"``, ``""`` or None -> CUDA when available, else CPU; anything else as given.

    ``""`` counts as ``auto`` because that is what an empty ``device:`` in the config or an
    empty ``--device`` on a command line means.
    """
    if device is None or (isinstance(device, str) and device in ("", "auto")):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
