"""Rule plot_heldout_correlation: median held-out correlation of the labels per layer."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.figures import plot_heldout_correlation
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    models = snakemake.params.models
    plot_heldout_correlation(
        {m: snakemake.input[f"{m}_csv"] for m in models},
        models,
        snakemake.output.pdf,
    )
