"""Rule plot_category_shares_vit_mean: one paper figure (PDF, PNG and its source CSV)."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.figures import plot_category_shares_vit_mean
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    plot_category_shares_vit_mean(
        snakemake.input.shares, snakemake.params.models, snakemake.output.pdf
    )
