"""Rule plot_image_complexity: one paper figure (PDF, PNG and its source CSV)."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.figures import plot_image_complexity
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    plot_image_complexity(
        snakemake.input.complexity,
        snakemake.params.models,
        snakemake.output.pdf,
        measure=snakemake.params.measure,
    )
