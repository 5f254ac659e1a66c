"""Rule plot_reliability: per-layer share of significant labels, stability, split halves."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.figures import plot_reliability
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    models = snakemake.params.models
    plot_reliability(
        {m: snakemake.input[f"{m}_csv"] for m in models},
        {m: snakemake.input[f"{m}_boot"] for m in models},
        models,
        snakemake.output.pdf,
    )
