"""The claims table: one row per claim, model and labeler, with intervals and controls.

:func:`claims_table` takes one labeler's label frames (per model), the category map, the
models' roles and, when the labels were computed, each model's bootstrap resamples of the
probe (a list of label frames, one per resample, the same resamples for every model); the
table it returns has :data:`CLAIM_COLUMNS`. A second labeler goes through the same function
with its own frames and ``labeler=``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..uncertainty import LEVEL, percentile_interval
from . import _statistics as st
from ._labelers import flag_agreement
from ._verdict import verdict

CLAIM_COLUMNS = (
    "claim",
    "model",
    "labeler",
    "statistic",
    "value",
    "ci_low",
    "ci_high",
    "threshold",
    "n_boot",
    "control_value",
    "control_holds",
    "verdict",
    "labelers_agree",
)
#: The claims in the order the paper makes them.
CLAIMS = (
    "early_colors_textures",
    "late_objects_organisms",
    "concepts_rise_with_depth",
    "pretraining_shapes_categories",
    "finetuning_reduces_concepts",
    "finetuning_shifts_categories",
)
LABELERS = ("clip_dissect", "linear")

Frames = Mapping[str, pd.DataFrame]


def _k(frame: pd.DataFrame) -> int:
    """How many layers "first" and "last" mean for this model (three, fewer in a model of
    three layers or fewer: :func:`~vitconcepts.claims.edge_layers`)."""
    return len(st.edge_layers(int(frame["layer_index"].max()) + 1)[0])


def _n_layers(k: int) -> str:
    return f"{k} layer" if k == 1 else f"{k} layers"


@dataclass(frozen=True)
class ClaimRoles:
    """Which models each claim is about.

    ``vits``: the pretrained ViTs (``analysis.vits``); ``models``: every analysed model
    (concepts_rise_with_depth, the CNN included); ``finetuned``: ``{finetuned: (base,
    dataset)}``; ``controls``: ``{random-init control: the model it controls}``."""

    vits: Sequence[str]
    models: Sequence[str]
    finetuned: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    controls: Mapping[str, str] = field(default_factory=dict)

    def control_of(self, model: str) -> str | None:
        return next((c for c, base in self.controls.items() if base == model), None)


@dataclass(frozen=True)
class _Spec:
    claim: str
    model: str
    statistic: str
    compute: Callable[[Frames], float]
    needs: tuple[str, ...]
    side: int = 1
    control: tuple[str, ...] | None = None  # the models standing in for ``needs``


def _per_model_specs(roles: ClaimRoles, mapping, frames: Frames) -> list[_Spec]:
    specs = []
    for model in roles.vits:
        K = _k(frames[model])  # noqa: N806
        ctl = roles.control_of(model)
        specs.append(
            _Spec(
                "early_colors_textures",
                model,
                f"share(colors + textures), first {_n_layers(K)} minus last {K}",
                lambda f, m=model: st.early_minus_late(f[m], st.EARLY_CATEGORIES, mapping),
                (model,),
                1,
                (ctl,) if ctl else None,
            )
        )
        specs.append(
            _Spec(
                "late_objects_organisms",
                model,
                f"share(objects + organisms), last {_n_layers(K)} minus first {K}",
                lambda f, m=model: -st.early_minus_late(f[m], st.LATE_CATEGORIES, mapping),
                (model,),
                1,
                (ctl,) if ctl else None,
            )
        )
    for model in roles.models:
        ctl = roles.control_of(model)
        specs.append(
            _Spec(
                "concepts_rise_with_depth",
                model,
                "Spearman rho(layer, unique concepts)",
                lambda f, m=model: st.concepts_depth_rho(f[m]),
                (model,),
                1,
                (ctl,) if ctl else None,
            )
        )
    return specs


def _finetuning_specs(roles: ClaimRoles, mapping, frames: Frames) -> list[_Spec]:
    specs = []
    for model, (base, dataset) in roles.finetuned.items():
        K = _k(frames[model])  # noqa: N806
        specs.append(
            _Spec(
                "finetuning_reduces_concepts",
                model,
                f"unique concepts in the last layer minus {base}'s",
                lambda f, m=model, b=base: float(
                    st.last_layer_concepts(f[m]) - st.last_layer_concepts(f[b])
                ),
                (model, base),
                -1,
            )
        )
        categories = st.DATASET_CATEGORIES.get(str(dataset).lower())
        if categories is None:
            continue
        specs.append(
            _Spec(
                "finetuning_shifts_categories",
                model,
                f"share({' + '.join(categories)}), last {_n_layers(K)}, minus {base}'s",
                lambda f, m=model, b=base, c=categories: (
                    st.late_share(f[m], c, mapping) - st.late_share(f[b], c, mapping)
                ),
                (model, base),
                1,
            )
        )
    return specs


def _draws(spec: _Spec, boots: Mapping[str, Sequence[pd.DataFrame]], models=None):
    """The statistic on every bootstrap resample (empty when a model has none)."""
    models = models or spec.needs
    if not all(boots.get(m) for m in models):
        return np.array([])
    n = min(len(boots[m]) for m in models)
    stand_in = dict(zip(spec.needs, models, strict=True))
    return np.array(
        [spec.compute({need: boots[stand_in[need]][b] for need in spec.needs}) for b in range(n)]
    )


def _interval(draws: np.ndarray, level: float) -> tuple[float, float]:
    finite = draws[np.isfinite(draws)] if draws.size else draws
    return percentile_interval(finite, level)


def _row(spec, frames, boots, labeler, level, threshold=0.0):
    value = spec.compute(frames)
    draws = _draws(spec, boots)
    low, high = _interval(draws, level)
    control_value, control_holds = float("nan"), False
    if spec.control and all(c in frames for c in spec.control):
        stand_in = {need: frames[c] for need, c in zip(spec.needs, spec.control, strict=True)}
        control_value = spec.compute(stand_in)
        c_low, c_high = _interval(_draws(spec, boots, spec.control), level)
        control_holds = verdict(control_value, c_low, c_high, spec.side, threshold) == "holds"
    return {
        "claim": spec.claim,
        "model": spec.model,
        "labeler": labeler,
        "statistic": spec.statistic,
        "value": value,
        "ci_low": low,
        "ci_high": high,
        "threshold": threshold,
        "n_boot": len(draws),
        "control_value": control_value,
        "control_holds": bool(control_holds),
        "verdict": verdict(value, low, high, spec.side, threshold),
    }


def _pretraining_row(frames, boots, mapping, roles, labeler, level, seed):
    """Cramér's V over the ViTs' last layers, against a permutation null and the controls."""
    vits = [m for m in roles.vits if m in frames]
    spec = _Spec(
        "pretraining_shapes_categories",
        "all",
        f"Cramér's V(model, category), last {_n_layers(_k(frames[vits[0]]))} of the ViTs",
        lambda f: st.pretraining_v({m: f[m] for m in vits}, mapping),
        tuple(vits),
    )
    null = st.permutation_null({m: frames[m] for m in vits}, mapping, seed=seed)
    row = _row(spec, frames, boots, labeler, level, threshold=null)
    controls = [roles.control_of(m) for m in vits]
    controls = [c for c in controls if c and c in frames]
    if len(controls) >= 2:
        control_v = st.pretraining_v({c: frames[c] for c in controls}, mapping)
        row["control_value"] = control_v
        # as large a V among random-init networks: the differences are architectural
        floor = row["ci_low"] if math.isfinite(row["ci_low"]) else row["value"]
        row["control_holds"] = bool(math.isfinite(control_v) and control_v >= floor)
    return row


def claims_table(
    frames: Frames,
    mapping: Mapping[str, str],
    roles: ClaimRoles,
    boots: Mapping[str, Sequence[pd.DataFrame]] | None = None,
    labeler: str = "clip_dissect",
    level: float = LEVEL,
    seed: int = 0,
) -> pd.DataFrame:
    """Every claim that ``roles`` and ``frames`` allow, as a :data:`CLAIM_COLUMNS` table.

    ``frames``: ``{model: label frame}`` of the analysed models and their controls;
    ``boots``: ``{model: [label frame per bootstrap resample]}`` (omit for published labels:
    no intervals, the sign decides the verdict). Claims about models absent from ``frames``
    are left out."""
    boots = boots or {}
    roles = ClaimRoles(
        [m for m in roles.vits if m in frames],
        [m for m in roles.models if m in frames],
        {m: p for m, p in roles.finetuned.items() if m in frames and p[0] in frames},
        {c: b for c, b in roles.controls.items() if c in frames},
    )
    specs = _per_model_specs(roles, mapping, frames) + _finetuning_specs(roles, mapping, frames)
    rows = [_row(spec, frames, boots, labeler, level) for spec in specs]
    if len(roles.vits) >= 2:
        rows.append(_pretraining_row(frames, boots, mapping, roles, labeler, level, seed))
    table = pd.DataFrame(rows, columns=list(CLAIM_COLUMNS))
    return _in_claim_order(table)


def _in_claim_order(table: pd.DataFrame) -> pd.DataFrame:
    """Rows by claim (:data:`CLAIMS` order), then model (first appearance in the claim), then
    labeler (:data:`LABELERS` order): a claim's two labelers on one model sit together."""
    claim = table["claim"].map({c: i for i, c in enumerate(CLAIMS)})
    model = table.groupby("claim")["model"].transform(
        lambda s: s.map({m: i for i, m in enumerate(dict.fromkeys(s))})
    )
    labeler = table["labeler"].map({name: i for i, name in enumerate(LABELERS)})
    keys = pd.DataFrame({"c": claim, "m": model, "l": labeler.fillna(len(LABELERS))})
    table = table.loc[keys.sort_values(["c", "m", "l"], kind="stable").index]
    return flag_agreement(table.reset_index(drop=True))[list(CLAIM_COLUMNS)]


def combine_labelers(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """One :data:`CLAIM_COLUMNS` table of several labelers' :func:`claims_table` results,
    each claim and model's labelers together, ``labelers_agree`` set."""
    tables = [t for t in tables if not t.empty]
    if not tables:
        return pd.DataFrame(columns=list(CLAIM_COLUMNS))
    return _in_claim_order(pd.concat(tables, ignore_index=True))
