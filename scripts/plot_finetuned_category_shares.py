"""Rule plot_finetuned_category_shares: one paper figure (PDF, PNG and its source CSV)."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.figures import plot_finetuned_category_shares
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    plot_finetuned_category_shares(
        snakemake.input.shares, snakemake.params.pairs, snakemake.output.pdf
    )
