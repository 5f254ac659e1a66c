"""Rule plot_appendix: one paper figure (PDF, PNG and its source CSV)."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.figures import plot_appendix
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    plot_appendix(
        snakemake.wildcards.model,
        snakemake.input.counts,
        snakemake.input.shares,
        snakemake.output.pdf,
    )
