"""Rule plot_finetuning_category_shares: paper Fig. 7 (PDF, PNG and its source CSV)."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.figures import plot_finetuning_category_shares
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    plot_finetuning_category_shares(
        snakemake.input.shares, snakemake.params.conditions, snakemake.output.pdf
    )
