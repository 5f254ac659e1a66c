"""vitconcepts.validity and its appendix figures: Figs. 1-2 over the valid units, the median
held-out correlation per layer."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vitconcepts import validity
from vitconcepts.categories import CATEGORIES
from vitconcepts.figures import (
    plot_category_shares_valid,
    plot_concepts_per_layer_valid,
    plot_heldout_correlation,
)
from vitconcepts.formats import RELIABILITY_COLUMNS, write_reliability

WORDS = ["red", "blue", "dog", "cat"]


def reliability_table(path, rng, n_layers=2, n_units=8):
    rows = []
    for layer in range(n_layers):
        for unit in range(n_units):
            q = [0.01, 0.01, 0.5, np.nan][unit % 4]
            auprc = [0.5, 0.015, 0.5, np.nan][unit % 4]  # 50x, 1.5x chance, 50x, undefined
            chance = np.nan if np.isnan(auprc) else 0.01
            r = np.nan if np.isnan(auprc) else float(rng.uniform(0, 0.5))
            label = WORDS[(unit + layer) % 4]
            rows.append((f"blocks.{layer}", unit, 0, label, 1.0, q, q, 0.9, "[]", r, auprc, chance))
    frame = pd.DataFrame(rows, columns=list(RELIABILITY_COLUMNS))
    return write_reliability(frame, path)


def test_valid_units_need_q_and_auprc_over_twice_chance():
    frame = pd.DataFrame(
        {
            "q_null": [0.01, 0.01, 0.2, np.nan, 0.01],
            "heldout_auprc": [0.03, 0.019, 0.5, 0.5, np.nan],
            "auprc_chance": [0.01, 0.01, 0.01, 0.01, np.nan],
        }
    )
    assert validity.valid_units(frame).tolist() == [True, False, False, False, False]


def test_validity_figures_and_their_source_csvs(tmp_path):
    rng = np.random.default_rng(0)
    csvs = {m: reliability_table(tmp_path / f"{m}.csv", rng) for m in ("vit", "dinov2")}
    models = list(csvs)
    concepts = pd.DataFrame(
        {"model": np.repeat(models, 2), "layer": [0, 1] * 2, "n_concepts": [4, 3, 4, 2]}
    )
    concepts.to_csv(tmp_path / "concepts.csv", index=False)
    shares = pd.DataFrame(
        [(m, layer, c, 0.1) for m in models for layer in (0, 1) for c in CATEGORIES],
        columns=["model", "layer", "category", "share"],
    )
    shares.to_csv(tmp_path / "shares.csv", index=False)
    organisms = "natural elements and organisms"
    categories = pd.DataFrame(
        {"concept": WORDS, "category": ["colors"] * 2 + [organisms] * 2, "source": "curated"}
    )
    categories.to_csv(tmp_path / "categories.csv", index=False)

    out = tmp_path / "figs"
    counted = plot_concepts_per_layer_valid(tmp_path / "concepts.csv", csvs, models, out / "c.pdf")
    valid = counted[counted["rule"] == "valid"]
    # valid units: unit % 4 == 0 (q 0.01, 50x chance), two per layer, labels WORDS[(u + l) % 4]
    assert valid["n_units"].tolist() == [2, 2, 2, 2]
    assert valid["n_concepts"].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert set(counted["rule"]) == {"median", "valid"}
    assert (out / "c.csv").is_file() and (out / "c.png").is_file()

    by_rule = plot_category_shares_valid(
        tmp_path / "shares.csv", csvs, tmp_path / "categories.csv", models, out / "s.pdf"
    )
    layer0 = by_rule[(by_rule["rule"] == "valid") & (by_rule["layer"] == 0)]
    assert layer0.set_index(["model", "category"])["share"][("vit", "colors")] == 1.0
    assert (out / "s.csv").is_file()

    summary = plot_heldout_correlation(csvs, models, out / "heldout_correlation.pdf")
    assert list(summary.columns) == list(validity.HELDOUT_SUMMARY_COLUMNS)
    assert summary["n_defined"].tolist() == [6] * 4  # unit % 4 == 3 is undefined
    assert summary["share_valid"].tolist() == [0.25] * 4
    written = pd.read_csv(out / "heldout_correlation.csv")
    assert written["median_heldout_correlation"].between(0, 0.5).all()
    assert (out / "heldout_correlation.pdf").is_file()
