"""The Linear Explanations CSV: LE's own layout with concept words, plus held-out scores.

Columns: ``layer, unit, concept0..concept{k-1}, weight0..weight{k-1}, bias``, then
``val_correlation, test_correlation, label_test_correlation``. ``k`` is the longest
explanation in the file; a shorter one is padded with concept ``0`` and weight ``0``, as LE's
own files are (its ``simulate_correlation.py`` stops reading a row at the first concept
``0``). Concepts are ordered by ``|weight|``, largest first; weights are on the standardised
features (CLIP similarity minus its training mean, over its training standard deviation).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import InputDataError
from ..io_errors import require_columns

PathLike = str | Path

#: Scores after ``bias``: LE's validation and test ("simulation") correlation, and the test
#: correlation of the unit's CLIP-Dissect label on the same test images.
LINEAR_SCORES = ("val_correlation", "test_correlation", "label_test_correlation")
#: The in-memory frame :func:`read_linear` returns and :func:`write_linear` takes.
LINEAR_FRAME_COLUMNS = ("layer", "unit", "concepts", "weights", "bias", *LINEAR_SCORES)
#: Concept word LE pads a short explanation with.
PAD = "0"


def write_linear(frame: pd.DataFrame, out_csv: PathLike) -> Path:
    """Write :data:`LINEAR_FRAME_COLUMNS` (``concepts``/``weights`` tuples) in LE's layout."""
    missing = [c for c in LINEAR_FRAME_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"linear explanation frame lacks columns {missing}")
    k = max([1, *(len(c) for c in frame["concepts"])])
    wide = {"layer": list(frame["layer"]), "unit": [int(u) for u in frame["unit"]]}
    for i in range(k):
        wide[f"concept{i}"] = [c[i] if i < len(c) else PAD for c in frame["concepts"]]
    for i in range(k):
        wide[f"weight{i}"] = [float(w[i]) if i < len(w) else 0.0 for w in frame["weights"]]
    wide["bias"] = [float(b) for b in frame["bias"]]
    for column in LINEAR_SCORES:
        wide[column] = [float(v) for v in frame[column]]
    out = Path(out_csv)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(out) + ".part")
    pd.DataFrame(wide).to_csv(tmp, index=False, lineterminator="\n")
    tmp.replace(out)
    return out


def read_linear(csv: PathLike) -> pd.DataFrame:
    """Read a Linear Explanations CSV into :data:`LINEAR_FRAME_COLUMNS` (padding dropped)."""
    path = Path(csv)
    if not path.is_file():
        raise InputDataError(f"{path} does not exist.", "run the rule explain_units first.")
    wide = pd.read_csv(path, dtype=str, keep_default_na=False)
    require_columns(
        wide,
        ["layer", "unit", "concept0", "weight0", "bias", *LINEAR_SCORES],
        lambda missing: f"{path} lacks the columns {', '.join(missing)} of an explanation CSV.",
        f"delete {path} and rerun the rule explain_units.",
    )
    k = sum(1 for c in wide.columns if c.startswith("concept") and c[7:].isdigit())
    concepts, weights = [], []
    for _, row in wide.iterrows():
        words, values = [], []
        for i in range(k):
            if row[f"concept{i}"] == PAD:
                break
            words.append(row[f"concept{i}"])
            values.append(float(row[f"weight{i}"]))
        concepts.append(tuple(words))
        weights.append(tuple(values))
    frame = pd.DataFrame({"layer": wide["layer"], "unit": wide["unit"].astype(int)})
    frame["concepts"], frame["weights"] = concepts, weights
    frame["bias"] = wide["bias"].astype(float)
    for column in LINEAR_SCORES:
        frame[column] = pd.to_numeric(wide[column], errors="coerce")
    return frame


def linear_label_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A label frame of the explanations (as :func:`read_labels` gives, without images):
    ``layer, unit, description`` (the largest-``|weight|`` concept), ``similarity`` (the
    score column: ``test_correlation``), and ``test_correlation``, ``n_concepts``."""
    return pd.DataFrame(
        {
            "layer": frame["layer"].to_numpy(),
            "unit": frame["unit"].to_numpy(),
            "description": [c[0] if c else "" for c in frame["concepts"]],
            "similarity": frame["test_correlation"].to_numpy(),
            "test_correlation": frame["test_correlation"].to_numpy(),
            "n_concepts": [len(c) for c in frame["concepts"]],
        }
    )
