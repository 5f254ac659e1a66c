"""Rule plot_ground_truth: the labels against Broden's annotations per layer (appendix)."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.figures import plot_ground_truth
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    plot_ground_truth(snakemake.input.summary, snakemake.params.models, snakemake.output.pdf)
