"""Rule plot_example_units: one paper figure (PDF, PNG and its source CSV)."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.figures import plot_example_units
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    plot_example_units(
        snakemake.input.labels,
        snakemake.input.index,
        snakemake.params.layers,
        snakemake.params.units_per_layer,
        snakemake.output.pdf,
    )
