"""Rule plot_finetuned_concepts_per_layer: one paper figure (PDF, PNG and its source CSV)."""

import _use_checkout  # noqa: F401  (this checkout's vitconcepts first)

from vitconcepts.figures import plot_finetuned_concepts_per_layer
from vitconcepts.rule_job import rule_log

with rule_log(snakemake):
    plot_finetuned_concepts_per_layer(
        snakemake.input.counts, snakemake.params.pairs, snakemake.output.pdf
    )
