"""Linear Explanations (Oikarinen & Weng, ICML 2024): each unit as a short weighted sum of
concepts, chosen on training images and scored on held-out ones. Pure math on tensors.

Definitions (as Trustworthy-ML-Lab/Linear-Explanations does, with closed-form fits):

* a seeded split of the probe images into train / validation / test (``split`` fractions);
* features ``z = (similarity - mean) / std`` with mean and std over the *training* images;
* candidates per unit: orthogonal matching pursuit (OMP) on the training images, run for
  ``max_concepts`` steps, then the ``width`` concepts most correlated with the last residual
  (LE ranks by an elastic-net fit instead; OMP orders near-synonyms apart because once one is
  in, the other no longer correlates with the residual);
* greedy forward search (LE's ``greedy_search``): among the ``width`` best remaining
  candidates, add the concept whose least-squares fit (on the training images, with an
  intercept) most raises the validation correlation; a candidate that raises it by less than
  ``tolerance`` is dropped for good; stop when none is left or at ``max_concepts``; an
  explanation has at least one concept;
* ``weights`` are the least-squares coefficients on the standardised features (activation
  units per training standard deviation of the concept's similarity), ``bias`` the intercept
  (the unit's training mean, as the features are centred on the training images);
* ``val_correlation`` / ``test_correlation``: Pearson between the unit and the fitted sum on
  the validation / test images (``test_correlation`` is LE's "simulation correlation").

Memory and flops (``N`` images, ``C`` concepts, ``U`` units, ``K = max_concepts``,
``P = K + width`` candidates per unit; paper: N = 113,305, C = 20,000, U = 768, K = 10):

* the ``[N, C]`` similarity is never held: it is read (or, for an
  :class:`EmbeddingSimilarity`, computed) one block of image rows at a time and standardised
  in that block, ``rows x C`` floats (the block follows the free memory, at most 4,096 rows);
* passes over the training images, each one ``[rows, C]`` block matmul at a time:
  mean/std (``N C``), ``X^T Y`` (``2 N C U`` flops, ``[C, U]`` float64 = 123 MB), then one
  pass per OMP step for the Gram columns of the concepts picked in that step (``2 N C M``
  flops, ``M <= U`` new concepts; the columns, ``[C, <= K U]`` float32, up to 615 MB, are the
  largest object); a last pass over all images gathers each unit's ``P`` candidate columns
  and accumulates their moments per split (``[U, P, P]`` per split, 2 N U P^2 flops);
* OMP residual correlations for all units at once: ``X^T Y - G B`` with ``B`` the sparse
  ``[M, U]`` coefficients (``2 C M U`` flops per step); the greedy search then works on the
  ``[U, P, P]`` moments only: ``U x width`` batched solves of at most ``K x K`` systems.

At the paper's size that is about (K + 2) x 2 N C U = 42 TFLOP per layer, dominated by the
dense matmuls (seconds on a GPU); memory stays below ~1 GB beyond the row block.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from ..device import DeviceLike
from ._similarity import EmbeddingSimilarity
from ._tiling import blocks, free_memory_bytes

#: Columns of :func:`linear_explanations`' frame.
LINEAR_COLUMNS = ("unit", "concepts", "weights", "bias", "val_correlation", "test_correlation")
#: Most image rows of the similarity held at once.
MAX_ROW_BLOCK = 4096
#: Ridge added to the (unit-diagonal) training covariance: near-synonyms stay solvable.
RIDGE = 1e-6


def probe_split(
    n_images: int, seed: int = 0, split: Sequence[float] = (0.6, 0.2, 0.2)
) -> tuple[Tensor, Tensor, Tensor]:
    """Sorted train / validation / test image indices: a seeded permutation cut by ``split``."""
    fractions = [float(f) for f in split]
    if len(fractions) != 3 or min(fractions) <= 0 or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"split must be three positive fractions summing to 1; got {split}")
    n_train, n_val = int(round(fractions[0] * n_images)), int(round(fractions[1] * n_images))
    if min(n_train, n_val, n_images - n_train - n_val) < 3:
        raise ValueError(f"{n_images} images are too few to split {split} (3 per part at least)")
    perm = torch.randperm(n_images, generator=torch.Generator().manual_seed(int(seed)))
    parts = perm[:n_train], perm[n_train : n_train + n_val], perm[n_train + n_val :]
    return tuple(p.sort().values for p in parts)  # type: ignore[return-value]


def _rows(similarity, rows: Tensor, dev: torch.device) -> Tensor:
    """``similarity[rows]`` as float32 on ``dev`` (dense tensor or EmbeddingSimilarity)."""
    if isinstance(similarity, EmbeddingSimilarity):
        block = similarity.index_select(0, rows.to(similarity.device))
    else:
        block = torch.as_tensor(similarity)[rows.to(torch.as_tensor(similarity).device)]
    return block.to(device=dev, dtype=torch.float32)


class _Features:
    """Standardised similarity rows, computed one image block at a time."""

    def __init__(self, similarity, train: Tensor, dev: torch.device) -> None:
        self.similarity, self.dev = similarity, dev
        n_concepts = similarity.shape[1]
        per_row = 4 * 4 * max(1, n_concepts)
        self.step = int(max(1, min(MAX_ROW_BLOCK, free_memory_bytes(dev) // per_row)))
        total = torch.zeros(n_concepts, dtype=torch.float64, device=dev)
        squares = torch.zeros_like(total)
        for r0, r1 in blocks(len(train), self.step):
            block = _rows(similarity, train[r0:r1], dev).double()
            total += block.sum(0)
            squares += block.square().sum(0)
        mean = total / len(train)
        var = (squares / len(train) - mean.square()).clamp_min(0) * len(train) / (len(train) - 1)
        std = var.sqrt()
        self.mean = mean.float()
        self.inv_std = torch.where(std > 1e-12, 1.0 / std, torch.zeros_like(std)).float()

    def blocks(self, rows: Tensor):
        """``(row slice, standardised [len, C] block)`` over ``rows``."""
        for r0, r1 in blocks(len(rows), self.step):
            block = _rows(self.similarity, rows[r0:r1], self.dev)
            yield r0, r1, block.sub_(self.mean).mul_(self.inv_std)


def _cross(features: _Features, train: Tensor, targets: Tensor) -> Tensor:
    """``Z_train^T (y - mean y) / n`` for ``targets [n_train, k]``: ``[C, k]`` float64."""
    out = torch.zeros(features.mean.shape[0], targets.shape[1], dtype=torch.float64)
    out = out.to(features.dev)
    for r0, r1, z in features.blocks(train):
        out += (z.T @ targets[r0:r1]).double()
    return out / len(train)


def _omp(features, train, cross: Tensor, n_steps: int, width: int) -> Tensor:
    """``[U, n_steps + width]`` candidate concepts per unit: OMP order, then the ``width``
    best of the last residual. Gram columns are computed for the picked concepts only."""
    n_concepts, n_units = cross.shape
    dev = cross.device
    picked = torch.empty(n_units, 0, dtype=torch.long, device=dev)
    columns = torch.empty(n_concepts, 0, dtype=torch.float64, device=dev)  # Gram columns
    slot = torch.full((n_concepts,), -1, dtype=torch.long, device=dev)  # concept -> column
    residual = cross.clone()
    units = torch.arange(n_units, device=dev)
    for step in range(n_steps + 1):
        score = residual.abs().T  # [U, C]
        if step:
            score.scatter_(1, picked, -1.0)
        if step == n_steps:
            extra = score.topk(min(width, n_concepts - step), dim=1).indices
            return torch.cat([picked, extra], 1)
        picked = torch.cat([picked, score.argmax(1, keepdim=True)], 1)
        new = torch.unique(picked[:, -1])
        new = new[slot[new] < 0]
        if len(new):
            fresh = torch.zeros(n_concepts, len(new), dtype=torch.float64, device=dev)
            for _r0, _r1, z in features.blocks(train):
                fresh += (z.T @ z[:, new]).double()
            slot[new] = torch.arange(columns.shape[1], columns.shape[1] + len(new), device=dev)
            columns = torch.cat([columns, fresh / len(train)], 1)
        cols = slot[picked]  # [U, t]
        gram = columns[picked.unsqueeze(2), cols.unsqueeze(1)]  # [U, t, t]
        eye = torch.eye(gram.shape[1], dtype=gram.dtype, device=dev)
        beta = torch.linalg.solve(gram + RIDGE * eye, cross.T.gather(1, picked))  # [U, t]
        coeff = torch.zeros(columns.shape[1], n_units, dtype=torch.float64, device=dev)
        where = (cols.reshape(-1), units.repeat_interleave(cols.shape[1]))
        coeff.index_put_(where, beta.reshape(-1))
        residual = cross - columns @ coeff
    raise AssertionError("unreachable")


def _moments(features, split_rows, acts: Tensor, candidates: Tensor) -> list[dict[str, Tensor]]:
    """Per split: covariances ``zz [U, P, P]``, ``zy [U, P]``, ``yy [U]`` and means of each
    unit's candidate features and activations (one pass over all images)."""
    dev = candidates.device
    n_units, n_cand = candidates.shape
    out = []
    for rows in split_rows:
        s = {
            "z": torch.zeros(n_units, n_cand, dtype=torch.float64, device=dev),
            "zz": torch.zeros(n_units, n_cand, n_cand, dtype=torch.float64, device=dev),
            "zy": torch.zeros(n_units, n_cand, dtype=torch.float64, device=dev),
            "y": torch.zeros(n_units, dtype=torch.float64, device=dev),
            "yy": torch.zeros(n_units, dtype=torch.float64, device=dev),
        }
        for r0, r1, z in features.blocks(rows):
            y = acts[rows[r0:r1]].to(dev, torch.float64)  # [b, U]
            zc = z.double().T[candidates]  # [U, P, b]
            s["z"] += zc.sum(2)
            s["zz"] += zc @ zc.transpose(1, 2)
            s["zy"] += (zc @ y.T.unsqueeze(2)).squeeze(2)
            s["y"] += y.sum(0)
            s["yy"] += y.square().sum(0)
        n = float(len(rows))
        mz, my = s["z"] / n, s["y"] / n
        out.append(
            {
                "zz": s["zz"] / n - mz.unsqueeze(2) * mz.unsqueeze(1),
                "zy": s["zy"] / n - mz * my.unsqueeze(1),
                "yy": (s["yy"] / n - my.square()).clamp_min(0),
                "mz": mz,
                "my": my,
            }
        )
    return out


def _fit(train: dict[str, Tensor], chosen: Tensor) -> Tensor:
    """Least-squares weights ``[..., k]`` for candidate positions ``chosen [U, ..., k]``."""
    n_units = chosen.shape[0]
    flat = chosen.reshape(n_units, -1, chosen.shape[-1])  # [U, S, k]
    u = torch.arange(n_units, device=chosen.device)[:, None, None, None]
    gram = train["zz"][u, flat.unsqueeze(3), flat.unsqueeze(2)]  # [U, S, k, k]
    rhs = train["zy"][torch.arange(n_units, device=chosen.device)[:, None, None], flat]
    eye = torch.eye(chosen.shape[-1], dtype=gram.dtype, device=gram.device)
    beta = torch.linalg.solve(gram + RIDGE * eye, rhs.unsqueeze(-1)).squeeze(-1)
    return beta.reshape(chosen.shape)


def _correlation(part: dict[str, Tensor], chosen: Tensor, beta: Tensor) -> Tensor:
    """Pearson of ``sum_j beta_j z_j`` with the unit on one split, from its moments."""
    n_units = chosen.shape[0]
    flat = chosen.reshape(n_units, -1, chosen.shape[-1])
    b = beta.reshape(flat.shape)
    u = torch.arange(n_units, device=chosen.device)[:, None, None]
    cov = (part["zy"][u, flat] * b).sum(-1)
    zz = part["zz"][u[..., None], flat.unsqueeze(3), flat.unsqueeze(2)]
    var = torch.einsum("usi,usij,usj->us", b, zz, b).clamp_min(0)
    denom = (var * part["yy"][:, None]).sqrt()
    corr = torch.where(denom > 1e-300, cov / denom.clamp_min(1e-300), torch.zeros_like(cov))
    return corr.reshape(chosen.shape[:-1])


def _subset(part: dict[str, Tensor], units: Tensor) -> dict[str, Tensor]:
    return {key: value[units] for key, value in part.items()}


def _candidate_positions(taken: Tensor, bad: Tensor, width: int) -> tuple[Tensor, Tensor]:
    """The first ``width`` positions per unit neither taken nor dropped, and which are real."""
    avail = ~taken & ~bad
    n_cand = avail.shape[1]
    first = avail & (avail.cumsum(1) <= width)
    key = torch.where(first, torch.arange(n_cand, device=avail.device), n_cand)
    order = key.sort(1).values[:, : min(width, n_cand)]
    return order.clamp_max(n_cand - 1), order < n_cand


def _greedy(moments, max_concepts: int, tolerance: float, width: int) -> tuple[Tensor, Tensor]:
    """LE's greedy forward search for all units at once: ``(positions [U, K], lengths [U])``."""
    train, val = moments[0], moments[1]
    n_units, n_cand = train["zy"].shape
    dev = train["zy"].device
    chosen = torch.zeros(n_units, max_concepts, dtype=torch.long, device=dev)
    lengths = torch.zeros(n_units, dtype=torch.long, device=dev)
    taken = torch.zeros(n_units, n_cand, dtype=torch.bool, device=dev)
    bad = torch.zeros_like(taken)
    best = torch.zeros(n_units, dtype=torch.float64, device=dev)
    active = torch.ones(n_units, dtype=torch.bool, device=dev)
    for step in range(min(max_concepts, n_cand)):
        pos, real = _candidate_positions(taken, bad, width)
        sets = torch.cat([chosen[:, None, :step].expand(-1, pos.shape[1], -1), pos[..., None]], 2)
        corr = _correlation(val, sets, _fit(train, sets))  # [U, W]
        if step == 0:  # an explanation has at least one concept
            good = real
        else:
            drop = real & (corr - best[:, None] < tolerance) & active[:, None]
            hit = torch.zeros(bad.shape, dtype=torch.int8, device=dev)
            bad |= hit.scatter_reduce_(1, pos, drop.to(torch.int8), "amax").bool()
            good = real & ~drop & (corr > best[:, None])
        score = torch.where(good, corr, torch.tensor(-torch.inf, dtype=corr.dtype, device=dev))
        pick = score.argmax(1)
        grow = active & good.any(1)
        units = grow.nonzero().squeeze(1)
        new = pos[units, pick[units]]
        chosen[units, step] = new
        taken[units, new] = True
        best[units] = corr[units, pick[units]]
        lengths[units] = step + 1
        active = grow
        if not active.any():
            break
    return chosen, lengths


def _explain(moments, candidates: Tensor, chosen: Tensor, lengths: Tensor) -> pd.DataFrame:
    """The frame's rows: refit each unit's chosen set, score it on validation and test."""
    train, val, test = moments
    n_units = candidates.shape[0]
    rows: list[dict | None] = [None] * n_units
    for length in torch.unique(lengths).tolist():
        units = (lengths == length).nonzero().squeeze(1)
        sets = chosen[units, :length][:, None, :]  # [n, 1, k]
        parts = [_subset(p, units) for p in (train, val, test)]
        beta = _fit(parts[0], sets)
        val_corr = _correlation(parts[1], sets, beta)[:, 0]
        test_corr = _correlation(parts[2], sets, beta)[:, 0]
        mz = parts[0]["mz"].gather(1, sets[:, 0])
        bias = parts[0]["my"] - (mz * beta[:, 0]).sum(1)
        concepts = candidates[units].gather(1, sets[:, 0])
        for i, unit in enumerate(units.tolist()):
            w = beta[i, 0].cpu().numpy()
            order = np.argsort(-np.abs(w), kind="stable")
            rows[unit] = {
                "unit": unit,
                "concepts": tuple(int(c) for c in concepts[i].cpu().numpy()[order]),
                "weights": tuple(float(x) for x in w[order]),
                "bias": float(bias[i]),
                "val_correlation": float(val_corr[i]),
                "test_correlation": float(test_corr[i]),
            }
    return pd.DataFrame(rows, columns=list(LINEAR_COLUMNS))


def _as_activations(activations) -> Tensor:
    acts = torch.as_tensor(activations)
    return acts.float() if acts.dtype != torch.float64 else acts


def linear_explanations(
    similarity,
    activations,
    *,
    seed: int = 0,
    max_concepts: int = 10,
    tolerance: float = 0.02,
    width: int = 10,
    split: Sequence[float] = (0.6, 0.2, 0.2),
    device: DeviceLike = None,
) -> pd.DataFrame:
    """Linear Explanations of one layer's units (definitions and memory plan: module doc).

    ``similarity`` is ``[images, concepts]`` CLIP image-concept cosine similarities (a tensor,
    array or lazy :class:`EmbeddingSimilarity`), ``activations`` ``[images, units]``. Returns
    one row per unit: ``unit`` (column index), ``concepts`` (concept indices, largest
    ``|weight|`` first), ``weights`` (same order, on the standardised features), ``bias``,
    ``val_correlation`` and ``test_correlation``.
    """
    if max_concepts < 1 or width < 1:
        raise ValueError(f"max_concepts ({max_concepts}) and width ({width}) must be >= 1")
    acts = _as_activations(activations)
    if similarity.shape[0] != acts.shape[0]:
        raise ValueError(
            f"similarity has {similarity.shape[0]} images but activations have {acts.shape[0]}"
        )
    dev = torch.device(device) if device is not None else torch.device("cpu")
    parts = probe_split(acts.shape[0], seed, split)
    features = _Features(similarity, parts[0], dev)
    train_acts = acts[parts[0]].to(dev, torch.float32)
    train_acts = train_acts - train_acts.mean(0, keepdim=True)
    cross = _cross(features, parts[0], train_acts)
    n_steps = min(max_concepts, similarity.shape[1] - 1)
    candidates = _omp(features, parts[0], cross, n_steps, width)
    moments = _moments(features, parts, acts, candidates)
    chosen, lengths = _greedy(moments, max_concepts, tolerance, width)
    return _explain(moments, candidates, chosen, lengths)


def label_correlation(similarity, activations, concept_index, rows: Tensor) -> np.ndarray:
    """Pearson over ``rows`` between each unit's activation and the similarity of its one
    concept ``concept_index [units]`` (a CLIP-Dissect label scored like an explanation)."""
    acts = _as_activations(activations)
    concept_index = torch.as_tensor(np.asarray(concept_index), dtype=torch.long)
    dev = torch.device("cpu")
    x = torch.zeros(5, acts.shape[1], dtype=torch.float64)  # sums: x, y, xx, yy, xy
    for r0, r1 in blocks(len(rows), MAX_ROW_BLOCK):
        s = _rows(similarity, rows[r0:r1], dev)[:, concept_index].double()
        y = acts[rows[r0:r1]].double()
        x += torch.stack([s.sum(0), y.sum(0), s.square().sum(0), y.square().sum(0), (s * y).sum(0)])
    n = float(len(rows))
    cov = x[4] / n - x[0] * x[1] / n**2
    var = (x[2] / n - (x[0] / n) ** 2).clamp_min(0) * (x[3] / n - (x[1] / n) ** 2).clamp_min(0)
    corr = torch.where(var > 0, cov / var.sqrt().clamp_min(1e-300), torch.zeros_like(cov))
    return corr.numpy()
